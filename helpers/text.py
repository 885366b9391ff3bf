"""Text to tensors: tokens, sentences, a vocabulary and padded integer arrays.

The BiLSTM reads a document as one row of word ids, ``(documents, max_words)``;
the HAN reads it as sentences of words, ``(documents, max_sentences,
words_per_sentence)``. A :class:`TextEncoder` holds the vocabulary and every
setting of that conversion and is saved next to the model, so that a new text
at prediction time goes through exactly the preprocessing the model was trained
on. Nothing here imports Keras: the arrays are plain NumPy and work the same on
every backend.
"""

import hashlib
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from itertools import chain
from pathlib import Path
from typing import Literal

import numpy as np

from helpers.data import DataError
from helpers.files import atomic_write, atomic_write_text
from helpers.sentences import split_documents, split_sentences

PAD = 0
OOV = 1
RESERVED = ("<pad>", "<oov>")  # cannot collide with a token: tokens have no "<"
ENCODER_FILE = "text_encoder.json"
FORMAT = "helpers.text.TextEncoder"
# Part of every cache key too: bump it when tokenisation or splitting changes.
FORMAT_VERSION = 1

Side = Literal["pre", "post"]
Kind = Literal["flat", "hierarchical"]

# Letters and digits in any script, with inner apostrophes kept ("don't", "kid's").
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``; punctuation and symbols are dropped."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def unusable_reason(text) -> str | None:
    """Why ``text`` cannot be classified, or None if it can.

    "no text" (missing: None, NaN, not a string), "empty" (only whitespace) or "no
    words" (only punctuation, symbols or emoji: every one of its rows would be
    padding). A text whose words are all unknown to a vocabulary is usable: it is
    encoded as out-of-vocabulary ids (see ``TextEncoder.known_word_share``).
    """
    if not isinstance(text, str):
        return "no text"
    if not text.strip():
        return "empty"
    if _TOKEN.search(text.lower()) is None:
        return "no words"
    return None


def usable_texts(texts: Iterable) -> np.ndarray:
    """Bool ``(texts,)``: True where ``unusable_reason`` finds nothing wrong."""
    return np.array([unusable_reason(text) is None for text in texts], dtype=bool)


def read_text_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, one review each.

    A binary, compressed, UTF-16 or otherwise non-UTF-8 file fails in one line
    (``DataError``) that names the file and says how to convert it; a byte-order
    mark is ignored.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read it ({error.strerror or error})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path} is UTF-16 text: save it as UTF-8, one review per line")
    if data.startswith((b"\x1f\x8b", b"PK\x03\x04", b"BZh", b"\xfd7zXZ")):
        raise DataError(f"{path} is compressed: extract the text file first, one review per line")
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError(
            f"{path} is a binary file (a NUL byte at offset {nul:,}), not text: "
            "give a UTF-8 text file with one review per line"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"{path} is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line:,}): "
            f"convert it, e.g. iconv -f latin1 -t utf-8 {path} > reviews.txt"
        ) from None
    return [line for line in text.splitlines() if line.strip()]


class Vocabulary:
    """Word ↔ id map: 0 is padding, 1 is out-of-vocabulary, words from 2 upward.

    Words are ordered by descending training frequency, ties alphabetically, so
    the same corpus always gives the same ids. ``counts[i]`` is the training
    count of word ``i``; ``counts[1]`` counts the training tokens left out.
    """

    def __init__(self, words: Sequence[str], counts: Sequence[int]):
        if tuple(words[:2]) != RESERVED or len(words) != len(counts):
            raise ValueError(f"a vocabulary starts with {RESERVED} and has one count per word")
        self.words = list(words)
        self.counts = [int(c) for c in counts]
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("a vocabulary cannot list a word twice")

    @classmethod
    def fit(cls, token_lists: Iterable[Sequence[str]], num_words: int) -> "Vocabulary":
        """Keep the ``num_words - 2`` most frequent tokens: ``num_words`` embedding rows."""
        return cls.from_counts(Counter(chain.from_iterable(token_lists)), num_words)

    @classmethod
    def from_counts(cls, frequency: Mapping[str, int], num_words: int) -> "Vocabulary":
        """:meth:`fit` from counts already made: ``frequency[word]`` tokens of ``word``."""
        if num_words < 3:
            raise ValueError(f"num_words={num_words}: need padding, OOV and at least one word")
        ranked = sorted(frequency.items(), key=lambda item: (-item[1], item[0]))
        kept = ranked[: num_words - 2]
        left_out = sum(frequency.values()) - sum(count for _, count in kept)
        return cls(
            [*RESERVED, *(word for word, _ in kept)],
            [0, left_out, *(count for _, count in kept)],
        )

    @property
    def size(self) -> int:
        """Number of ids, padding and OOV included: the embedding matrix's rows."""
        return len(self.words)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; unknown tokens become ``OOV``."""
        get = self.index.get
        return [get(token, OOV) for token in tokens]

    def coverage(self, token_lists: Iterable[Sequence[str]]) -> float:
        """Share of the tokens in ``token_lists`` that have their own id (not OOV)."""
        index = self.index
        total = known = 0
        for tokens in token_lists:
            total += len(tokens)
            known += sum(token in index for token in tokens)
        if total == 0:
            raise ValueError("no tokens to measure coverage on")
        return known / total

    def to_dict(self) -> dict:
        """JSON-safe form; :meth:`from_dict` reverses it."""
        return {"words": self.words, "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        return cls(data["words"], data["counts"])


class WordNumbering:
    """Ids given in order of first sight, with a count per id: a vocabulary in the making.

    It stands in for a :class:`Vocabulary` in a :class:`TextEncoder`, so a corpus too big
    to hold is encoded in one streaming pass, chunk by chunk, before its vocabulary is
    known (``helpers.shards``): padding, truncation and sentences do not depend on which
    id a word has, only on how many words there are. Once every text has been read,
    :meth:`vocabulary` ranks the counts as :meth:`Vocabulary.fit` does and returns the
    table that turns these provisional ids into the vocabulary's. Unlike a Vocabulary it
    keeps every distinct word seen (a dict entry each) and counts the words of every text
    it encodes, so encode each text once.
    """

    def __init__(self):
        self.index = {word: i for i, word in enumerate(RESERVED)}
        self.frequency: Counter = Counter()  # provisional id -> tokens seen

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Provisional ids of ``tokens``, a new one for each word not seen before."""
        index = self.index
        ids = [index.setdefault(token, len(index)) for token in tokens]
        self.frequency.update(ids)
        return ids

    def vocabulary(self, num_words: int) -> tuple[Vocabulary, np.ndarray]:
        """``(vocabulary, renumbering)``: the vocabulary :meth:`Vocabulary.fit` would fit
        on the tokens seen, and int32 ``(provisional ids,)`` mapping each provisional id
        to its id there (``OOV`` for the words left out, ``PAD`` stays ``PAD``)."""
        words = list(self.index)[len(RESERVED) :]
        counts = {word: self.frequency[self.index[word]] for word in words}
        vocabulary = Vocabulary.from_counts(counts, num_words)
        get = vocabulary.index.get
        renumbering = np.fromiter(
            (get(word, OOV) for word in self.index), dtype=np.int32, count=len(self.index)
        )
        return vocabulary, renumbering


@dataclass(frozen=True)
class EncodingStats:
    """What padding and truncation did to a batch of documents.

    ``lengths`` (documents,) counts the real (non-padding) ids kept per row, so
    it equals ``(array != 0).sum(...)`` and can drive length-aware batching.
    Hierarchical encodings also fill the sentence fields: ``sentence_counts``
    (documents,) sentences kept, ``sentence_lengths`` (documents, max_sentences)
    words kept per sentence row, aligned with the array (0 for padded rows).
    """

    documents: int
    documents_truncated: int  # lost at least one token
    documents_empty: int  # no token at all: a fully padded row
    tokens: int  # word tokens before truncation
    tokens_dropped: int
    lengths: np.ndarray
    sentences: int | None = None  # non-empty sentences before truncation
    sentences_dropped: int | None = None
    sentence_counts: np.ndarray | None = None
    sentence_lengths: np.ndarray | None = None

    def __str__(self) -> str:
        parts = [
            f"{self.documents_truncated:,} of {self.documents:,} documents truncated",
            f"{_share(self.tokens_dropped, self.tokens)} of {self.tokens:,} tokens dropped",
        ]
        if self.sentences is not None:
            dropped = _share(self.sentences_dropped, self.sentences)
            parts.append(f"{dropped} of {self.sentences:,} sentences dropped")
        if self.documents_empty:
            parts.append(f"{self.documents_empty:,} documents empty")
        return ", ".join(parts)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


@dataclass(frozen=True)
class TextEncoder:
    """A fitted vocabulary plus the settings that turn raw text into model inputs.

    ``max_words`` caps the BiLSTM's document; ``max_sentences`` and
    ``words_per_sentence`` cap the HAN's. ``truncating`` says which end of a
    long sequence is cut, ``padding`` which end gets the zeros. "post" padding
    is the default because TensorFlow's cuDNN LSTM needs right-padded input;
    the seed used Keras' ``pad_sequences`` default, "pre", for both.
    """

    vocabulary: Vocabulary
    max_words: int = 300
    max_sentences: int = 15
    words_per_sentence: int = 50
    padding: Side = "post"
    truncating: Side = "post"

    def __post_init__(self):
        for name in ("max_words", "max_sentences", "words_per_sentence"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("padding", "truncating"):
            if getattr(self, name) not in ("pre", "post"):
                raise ValueError(f"{name} must be 'pre' or 'post', not {getattr(self, name)!r}")

    @classmethod
    def fit(cls, texts: Iterable[str], num_words: int = 20_000, **settings) -> "TextEncoder":
        """Fit the vocabulary on ``texts``: the training texts only, never the test texts."""
        return cls(Vocabulary.fit(map(tokenize, texts), num_words), **settings)

    @property
    def num_words(self) -> int:
        """Embedding rows the model needs (smaller than asked if the corpus is small)."""
        return self.vocabulary.size

    def settings(self) -> dict:
        """The conversion settings, without the vocabulary."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "vocabulary"}

    def encode_documents(
        self, texts: Iterable[str], return_stats: bool = False
    ) -> np.ndarray | tuple[np.ndarray, EncodingStats]:
        """Word ids for the BiLSTM: int32 ``(documents, max_words)``, 0 = padding."""
        ids = [self._ids(text) for text in texts]
        array, kept, lengths = _pad(ids, self.max_words, self.padding, self.truncating)
        if not return_stats:
            return array
        return array, EncodingStats(
            documents=len(ids),
            documents_truncated=int((kept < lengths).sum()),
            documents_empty=int((kept == 0).sum()),
            tokens=int(lengths.sum()),
            tokens_dropped=int((lengths - kept).sum()),
            lengths=kept,
        )

    def encode_hierarchical(
        self,
        texts: Iterable[str],
        return_stats: bool = False,
        progress: bool = False,
        cache_dir: str | Path | None = None,
    ) -> np.ndarray | tuple[np.ndarray, EncodingStats]:
        """Word ids per sentence for the HAN: int32 ``(documents, max_sentences, words)``.

        ``words`` is ``words_per_sentence``. Sentences without a word token
        ("!!!") are skipped; sentences beyond ``max_sentences`` are dropped from
        the end ``truncating`` names; a padded sentence row is all zeros.
        Sentence splitting costs far more than the rest (about 1.5 ms a review):
        ``sentences.split_documents`` does it on every core, reuses the sentences
        cached in ``cache_dir`` (when given), and with ``progress`` shows a bar.
        """
        documents = [
            [ids for sentence in sentences if (ids := self._ids(sentence))]
            for sentences in split_documents(texts, cache_dir=cache_dir, progress=progress)
        ]
        counts = np.fromiter(map(len, documents), dtype=np.int64, count=len(documents))
        kept_counts = np.minimum(counts, self.max_sentences)
        sentences = list(
            chain.from_iterable(_cut(doc, self.max_sentences, self.truncating) for doc in documents)
        )
        rows, kept_words, _ = _pad(
            sentences, self.words_per_sentence, self.padding, self.truncating
        )

        shape = (len(documents), self.max_sentences)
        array = np.zeros((*shape, self.words_per_sentence), dtype=np.int32)
        sentence_lengths = np.zeros(shape, dtype=np.int64)
        slots = _slots(kept_counts, self.max_sentences, self.padding)
        array[slots] = rows
        sentence_lengths[slots] = kept_words
        if not return_stats:
            return array

        words = np.array([sum(map(len, doc)) for doc in documents], dtype=np.int64)
        lengths = sentence_lengths.sum(axis=1)
        return array, EncodingStats(
            documents=len(documents),
            documents_truncated=int((lengths < words).sum()),
            documents_empty=int((lengths == 0).sum()),
            tokens=int(words.sum()),
            tokens_dropped=int((words - lengths).sum()),
            lengths=lengths,
            sentences=int(counts.sum()),
            sentences_dropped=int((counts - kept_counts).sum()),
            sentence_counts=kept_counts,
            sentence_lengths=sentence_lengths,
        )

    def encode(
        self,
        texts: Iterable[str],
        kind: Kind,
        progress: bool = False,
        cache_dir: str | Path | None = None,
    ) -> tuple[np.ndarray, EncodingStats]:
        """``(array, stats)`` for ``kind`` "flat" (BiLSTM) or "hierarchical" (HAN).

        ``progress`` and ``cache_dir`` (sentences) apply to the hierarchical kind."""
        if kind == "flat":
            return self.encode_documents(texts, return_stats=True)
        if kind == "hierarchical":
            return self.encode_hierarchical(
                texts, return_stats=True, progress=progress, cache_dir=cache_dir
            )
        raise ValueError(f"kind must be 'flat' or 'hierarchical', not {kind!r}")

    def encode_text(self, text: str, kind: Kind) -> np.ndarray:
        """One new text as a batch of one: ``(1, max_words)`` or ``(1, max_sentences, words)``.

        Raises ``ValueError`` for a text with no word in it, which would be a
        fully padded row; a text whose words are all unknown is encoded (as OOV
        ids): check :meth:`known_word_share` to warn about it.
        """
        reason = unusable_reason(text)
        if reason == "empty":
            raise ValueError("empty text: nothing to classify")
        if reason is not None:
            raise ValueError(f"{reason} in text {str(text)[:40]!r}: nothing to classify")
        return self.encode([text], kind)[0]

    def sentence_slots(self, text: str) -> list[tuple[int, str, list[tuple[int, str]]]]:
        """Where each word of ``text`` lands in its ``encode_hierarchical`` row.

        One ``(sentence slot, sentence, [(word slot, token), …])`` per sentence that
        survives truncation, in reading order, so weights read off the
        ``(max_sentences, words_per_sentence)`` grid can be put back on the words.
        """
        sentences = [(s, t) for s in split_sentences(text) if (t := tokenize(s))]
        kept = _cut(sentences, self.max_sentences, self.truncating)
        first = self.max_sentences - len(kept) if self.padding == "pre" else 0
        placed = []
        for offset, (sentence, tokens) in enumerate(kept):
            words = _cut(tokens, self.words_per_sentence, self.truncating)
            start = self.words_per_sentence - len(words) if self.padding == "pre" else 0
            placed.append((first + offset, sentence, list(enumerate(words, start))))
        return placed

    def known_word_share(self, text: str) -> float:
        """Share of the words of ``text`` that the vocabulary knows (0.0 if no words)."""
        tokens = tokenize(text)
        return self.vocabulary.coverage([tokens]) if tokens else 0.0

    def _ids(self, text: str) -> list[int]:
        return self.vocabulary.encode(tokenize(text))

    def to_dict(self) -> dict:
        """JSON-safe form: format, version, settings and vocabulary."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "settings": self.settings(),
            "vocabulary": self.vocabulary.to_dict(),
        }

    def save(self, path: str | Path) -> Path:
        """Save as JSON to ``path``: a file, or a directory to hold ``text_encoder.json``."""
        return atomic_write_text(_encoder_path(path), json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> "TextEncoder":
        """Read an encoder written by :meth:`save`; a missing or foreign file fails in one line."""
        path = _encoder_path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the model directory must contain the encoder "
                "saved at training time (TextEncoder.save)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"its format is {data.get('format')!r}, not {FORMAT!r}")
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(
                    f"it is version {data.get('version')!r}, this code reads {FORMAT_VERSION}"
                )
            return cls(Vocabulary.from_dict(data["vocabulary"]), **data["settings"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"{path} is not a valid text encoder file ({error}): "
                "save the encoder again from the training run"
            ) from None


def _encoder_path(path: str | Path) -> Path:
    path = Path(path)
    return path / ENCODER_FILE if path.is_dir() else path


def _cut(sequence: list, limit: int, truncating: Side) -> list:
    """At most ``limit`` items, dropped from the end that ``truncating`` names."""
    return sequence[:limit] if truncating == "post" else sequence[-limit:]


def _slots(counts: np.ndarray, width: int, padding: Side) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every real item when row ``i`` holds ``counts[i]`` of ``width``."""
    rows = np.repeat(np.arange(len(counts)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    columns = np.arange(int(counts.sum())) - starts
    if padding == "pre":
        columns += np.repeat(width - counts, counts)
    return rows, columns


def _pad(
    sequences: list[list[int]], width: int, padding: Side, truncating: Side
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad/cut to int32 ``(len(sequences), width)`` in one scatter, not row by row.

    Returns the array, the kept lengths and the original lengths, both ``(n,)``.
    """
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    kept = np.minimum(lengths, width)
    values = chain.from_iterable(_cut(seq, width, truncating) for seq in sequences)
    array = np.zeros((len(sequences), width), dtype=np.int32)
    array[_slots(kept, width, padding)] = np.fromiter(values, dtype=np.int32, count=kept.sum())
    return array, kept, lengths


def encode_cached(
    encoder: TextEncoder,
    texts: Iterable[str],
    kind: Kind,
    cache_dir: str | Path,
    progress: bool = False,
) -> tuple[np.ndarray, EncodingStats]:
    """:meth:`TextEncoder.encode`, stored in ``cache_dir`` as .npz and reused.

    The file is keyed by a hash of the encoder (settings, vocabulary, format
    version), ``kind`` and the texts, so a changed input can never be served a
    stale array; repeated notebook runs skip tokenising and sentence splitting.
    Sentences split on the way are cached there too (``sentences.SentenceStore``),
    so another encoder, or word2vec, reuses them.
    """
    texts = list(texts)
    digest = hashlib.sha256(json.dumps(encoder.to_dict(), sort_keys=True).encode())
    digest.update(kind.encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    path = Path(cache_dir) / f"{kind}-{digest.hexdigest()[:20]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                stats = {
                    name: saved[name].item() if saved[name].ndim == 0 else saved[name]
                    for name in saved.files
                    if name != "array"
                }
                return saved["array"], EncodingStats(**stats)
        except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile):
            pass  # damaged (say, by an older version that wrote in place): encode again

    array, stats = encoder.encode(texts, kind, progress=progress, cache_dir=cache_dir)
    fields = {name: value for name, value in asdict(stats).items() if value is not None}

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:  # a file, so that savez adds no ".npz"
            np.savez(file, array=array, **fields)

    atomic_write(path, write)  # an interrupted run leaves no half-written cache
    return array, stats
