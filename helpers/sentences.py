"""Reviews to sentences: split once per review, in parallel, cached on disk.

Sentence splitting is the slowest step of the data stage: pysbd takes one or two
milliseconds a review, so the 568,454 reviews of the full Fine Foods file would take
a quarter of an hour on one core. ``split_documents`` therefore

- looks every review up in a cache on disk, keyed by a hash of its text (and of the
  splitter's version), so a review split once, for word2vec, for the HAN's encoding or
  for a histogram, is never split again, in this run or the next;
- splits the reviews it did not find in worker processes, a chunk of reviews at a
  time, and puts the sentences back in the order of the input.

``split_sentences`` is the one splitter: training, word2vec and prediction on a new
text all go through it, so a model always sees text cut the way it was trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pysbd
from tqdm.auto import tqdm

from helpers.files import atomic_write_text
from helpers.parsing import BAR_DELAY

# pysbd ships its rules (no download at run time); clean=False keeps the text as is.
_SEGMENTER = pysbd.Segmenter(language="en", clean=False)
# pysbd's time grows with the square of a line's length (a 300,000-character line takes
# 24 s), so longer lines are segmented a window at a time. No line of the real reviews
# is this long (IMDB's longest is 5,911 characters).
_SEGMENT_CHARS = 10_000
# Names the cache folder: bump the number when split_sentences changes what it returns.
SPLITTER = f"pysbd-{pysbd.__version__}-1"

CHUNK = 250  # reviews per task sent to a worker: about half a second of pysbd
SAVE_EVERY = 20_000  # reviews split between writes to the cache: an interruption loses less
# Below this many reviews to split, starting worker processes costs more than it saves.
PARALLEL_FROM = 2_000


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, stripped, empty ones dropped.

    A line break always ends a sentence (the data module turns ``<br />`` into
    newlines, and reviewers use them as paragraph breaks); within a line pysbd's
    English rules decide, so "Mr. Smith paid $3.50." stays one sentence.
    """
    return [
        sentence.strip()
        for line in text.splitlines()
        if line.strip()
        for sentence in _segment(line)
        if sentence.strip()
    ]


def _segment(line: str, window: int = _SEGMENT_CHARS) -> Iterable[str]:
    """pysbd's sentences of ``line``, in linear time: a long line is segmented ``window``
    characters at a time, keeping the complete sentences of each window and starting
    the next one at its last, unfinished sentence. Only a sentence longer than
    ``window`` is cut where the window ends."""
    while len(line) > window:
        complete = _SEGMENTER.segment(line[:window])[:-1]
        done = "".join(complete)
        if not complete or not line.startswith(done):
            complete, done = [line[:window]], line[:window]
        yield from complete
        line = line[len(done) :]
    yield from _SEGMENTER.segment(line)


def _split_chunk(texts: Sequence[str]) -> list[list[str]]:
    return [split_sentences(text) for text in texts]


def worker_count() -> int:
    """The CPU cores this process may use (its affinity mask, not the machine's count)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def split_documents(
    texts: Iterable[str],
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> list[list[str]]:
    """``split_sentences`` of every text, in the order of ``texts``.

    With ``cache_dir``, sentences are looked up in (and added to) its
    ``sentences-SPLITTER/`` folder, one entry per distinct review text. The reviews
    not found are split by ``workers`` processes (default: every core this process
    may use; 1 splits here, with no worker), ``CHUNK`` reviews per task, and saved to
    the cache every ``SAVE_EVERY`` reviews; the result is the same, in the same order,
    whatever the number of workers. ``progress`` shows a bar when splitting takes more
    than a couple of seconds.
    """
    texts = list(texts)
    keys = [text_key(text) for text in texts]
    store = SentenceStore(cache_dir) if cache_dir is not None else None
    found = store.get(set(keys)) if store else {}
    todo = {key: text for key, text in zip(keys, texts, strict=True) if key not in found}
    if todo:
        unsaved = {}
        split = _split_all(list(todo.values()), workers, progress)
        for key, sentences in zip(todo, split, strict=True):
            found[key] = unsaved[key] = sentences
            if store and len(unsaved) >= SAVE_EVERY:
                store.put(unsaved)
                unsaved = {}
        if store and unsaved:
            store.put(unsaved)
    return [found[key] for key in keys]


def _split_all(texts: list[str], workers: int | None, progress: bool) -> Iterator[list[str]]:
    """``split_sentences`` of each of ``texts``, in order, as the workers finish them."""
    workers = min(workers or worker_count(), -(-len(texts) // CHUNK))
    chunks = [texts[start : start + CHUNK] for start in range(0, len(texts), CHUNK)]
    bar = tqdm(
        total=len(texts),
        desc="splitting sentences",
        unit="review",
        disable=not progress,
        delay=BAR_DELAY,
    )
    with bar:
        if workers <= 1 or len(texts) < PARALLEL_FROM:
            yield from _with_bar(map(_split_chunk, chunks), bar)
            return
        # "spawn": a fresh interpreter per worker. Forking a process that has already
        # started TensorFlow's or JAX's threads can deadlock the child.
        context = get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            yield from _with_bar(pool.map(_split_chunk, chunks), bar)


def _with_bar(chunks: Iterator[list[list[str]]], bar: tqdm) -> Iterator[list[str]]:
    for chunk in chunks:  # pool.map yields in the order of the input
        bar.update(len(chunk))
        yield from chunk


def text_key(text: str) -> str:
    """The cache key of a review: a hash of its text (32 hex digits)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class SentenceStore:
    """Sentences of reviews on disk, keyed by ``text_key``: ``cache_dir/sentences-SPLITTER/``.

    The keys are spread over 256 JSON files by their first two hex digits, so a lookup
    reads only the files its keys fall in, and adding entries rewrites only those files,
    each atomically (``files.atomic_write``): an interrupted run leaves every file whole.
    Two processes adding to one file at once cannot damage it; one's entries may be
    lost and are split again when next needed. A damaged file counts as empty.
    """

    def __init__(self, cache_dir: str | Path):
        self.folder = Path(cache_dir) / f"sentences-{SPLITTER}"

    def _shard(self, prefix: str) -> Path:
        return self.folder / f"{prefix}.json"

    def _read(self, prefix: str) -> dict[str, list[str]]:
        try:
            entries = json.loads(self._shard(prefix).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, or damaged: split those reviews again
            return {}
        return entries if isinstance(entries, dict) else {}

    def get(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """The stored sentences of those ``keys`` that are in the store."""
        found = {}
        for prefix, wanted in _by_prefix(keys).items():
            entries = self._read(prefix)
            found |= {key: entries[key] for key in wanted if key in entries}
        return found

    def put(self, sentences: dict[str, list[str]]) -> None:
        """Add ``{key: sentences}`` to the store."""
        for prefix, keys in _by_prefix(sentences).items():
            entries = self._read(prefix) | {key: sentences[key] for key in keys}
            atomic_write_text(self._shard(prefix), json.dumps(entries, ensure_ascii=False))


def _by_prefix(keys: Iterable[str]) -> dict[str, list[str]]:
    groups = defaultdict(list)
    for key in keys:
        groups[key[:2]].append(key)
    return groups
