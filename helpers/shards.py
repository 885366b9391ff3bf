"""Encoded reviews in shards on disk, read batch by batch: a corpus larger than memory.

``write_shards`` streams a SNAP review file chunk by chunk (``parsing.stream_snap``),
labels each chunk (``data.binary_labels``) and encodes it as a config's text encoder
would (``text.TextEncoder.encode``), in one pass: the vocabulary is not known until the
last review is read, so each chunk is saved with provisional ids (``text.WordNumbering``)
and renumbered to the vocabulary at the end. A folder of shards holds

- ``ids-00000.npy``, ``ids-00001.npy``, …: int32 ``(rows, max_words)`` (flat, the BiLSTM)
  or ``(rows, max_sentences, words_per_sentence)`` (hierarchical, the HAN), one per chunk;
- ``labels.npy`` int64 ``(reviews,)`` (0 negative, 1 positive) and ``lengths.npy`` int64
  ``(reviews,)``, words (flat) or sentences (hierarchical) per review, for batches by
  length (``batches.document_lengths``);
- ``manifest.json``: counts, the text encoder, each shard's file and row range. It is
  written last, and removed first when a folder is written again, so a folder without
  it is one whose writing did not finish. Every file is written whole or not at all
  (``files.atomic_write``).

``open_shards`` reads a folder back as a ``ShardedCorpus`` whose ``ids`` (a
``ShardedIds``) index like the in-memory array (``ids[rows]``), reading only those rows
from the shards (``ShardFiles``), so ``batches.Batches`` and the recipes' batches
(``fast.TrimmedBatches``, ``fast.BucketedBatches``) train from disk. Memory then grows
with the batch, not with the corpus, apart from 16 bytes a review for labels and lengths.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.batches import document_lengths
from helpers.data import DataError, binary_labels, source_spec
from helpers.files import atomic_write, atomic_write_text
from helpers.models import model_kind
from helpers.parsing import stream_snap
from helpers.text import TextEncoder, WordNumbering
from helpers.train import text_encoder_for, training_data

MANIFEST = "manifest.json"
FORMAT = "helpers.shards"
FORMAT_VERSION = 1
LABELS, LENGTHS = "labels.npy", "lengths.npy"


def write_shards(
    config,
    review_file: str | Path,
    out_dir: str | Path,
    labels: str | None = None,
    chunk_size: int = 10_000,
    shard_rows: int = 100_000,
    source: str = "finefoods",
    encoding: str = "latin-1",
    progress: bool = True,
) -> ShardedCorpus:
    """Encode every labelled review of a SNAP ``review_file`` into shards in ``out_dir``.

    The vocabulary (``config.num_words``) is fitted on all those reviews, the sizes and
    padding are ``config``'s (``train.text_encoder_for``), and the layout is its model's
    (flat or hierarchical). ``labels`` is the scheme of ``data.binary_labels`` (default:
    the source's). Reviews are parsed and encoded ``chunk_size`` at a time, so memory
    holds one chunk's texts and ids (and one entry per distinct word); a shard holds the
    chunks' rows up to ``shard_rows`` or a little over (flat, 300 words: 1.2 kB a row).
    Returns the folder opened (``open_shards``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # from here on the folder is incomplete
    for old in [*out.glob("ids-*.npy"), *out.glob(".provisional-*.npy")]:
        old.unlink()
    kind = model_kind(config).text_layout
    scheme = labels or source_spec(source).default_labels
    numbering = WordNumbering()
    settings = text_encoder_for(config, ())  # the config's sizes and padding, no words yet
    provisional = dataclasses.replace(settings, vocabulary=numbering)
    chunks, report = stream_snap(review_file, encoding, source, chunk_size, progress)

    pending, label_parts, length_parts, totals = [], [], [], Counter()
    for chunk in chunks:
        labelled = binary_labels(chunk, scheme)
        if labelled.empty:
            continue
        ids, stats = provisional.encode(labelled["text"], kind, progress=progress)
        pending.append(out / f".provisional-{len(pending):05d}.npy")
        _save(pending[-1], ids)
        label_parts.append(labelled["label"].to_numpy(np.int64))
        length_parts.append(document_lengths(stats, kind).astype(np.int64))
        totals.update({k: v for k, v in dataclasses.asdict(stats).items() if type(v) is int})
    if not pending:
        raise DataError(f"{review_file}: no review has a label under scheme {scheme!r}.")

    vocabulary, renumbering = numbering.vocabulary(config.num_words)
    encoder = dataclasses.replace(settings, vocabulary=vocabulary)
    shards, start = [], 0
    for group in _groups(pending, shard_rows):
        name = f"ids-{len(shards):05d}.npy"
        rows = _renumbered(out / name, group, renumbering)
        shards.append({"file": name, "start": start, "stop": start + rows})
        start += rows
    labels_saved = _save(out / LABELS, np.concatenate(label_parts))
    _save(out / LENGTHS, np.concatenate(length_parts))
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "rows": start,
        "row_shape": list(ids.shape[1:]),
        "dtype": "int32",
        "labels": {
            "scheme": scheme,
            "negative": int((labels_saved == 0).sum()),
            "positive": int(labels_saved.sum()),
        },
        "encoding": dict(totals),
        "parse": report.to_dict(),
        "encoder": encoder.save(out).name,
        "shards": shards,
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return open_shards(out)


def _groups(paths: list[Path], rows: int) -> list[list[Path]]:
    """Consecutive provisional chunk files, cut into groups of at least ``rows`` rows
    (the last may hold fewer)."""
    groups, held = [[]], 0
    for path in paths:
        if held >= rows:
            groups, held = [*groups, []], 0
        groups[-1].append(path)
        held += len(np.load(path, mmap_mode="r"))
    return groups


def _renumbered(path: Path, chunks: list[Path], renumbering: np.ndarray) -> int:
    """Write the provisional ``chunks``, renumbered and one after the other, as one .npy
    file at ``path`` (whole or not at all), holding one chunk in memory at a time; the
    chunk files are deleted. Returns the number of rows written."""
    shapes = [np.load(chunk, mmap_mode="r").shape for chunk in chunks]
    rows = sum(shape[0] for shape in shapes)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.int32)),
        "fortran_order": False,
        "shape": (rows, *shapes[0][1:]),
    }

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            np.lib.format.write_array_header_1_0(file, header)
            for chunk in chunks:  # .npy data is the C-order bytes after the header
                renumbering[np.load(chunk)].tofile(file)

    atomic_write(path, write)
    for chunk in chunks:
        chunk.unlink()
    return rows


def _save(path: Path, array: np.ndarray) -> np.ndarray:
    """``np.save`` ``array`` to ``path``, whole or not at all; returns ``array``."""

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:  # a file, so that np.save adds no ".npy"
            np.save(file, array)

    atomic_write(path, write)
    return array


@dataclass
class ShardedCorpus:
    """A folder of shards, opened: what ``train.training_data`` needs, from disk."""

    folder: Path
    manifest: dict
    encoder: TextEncoder
    ids: ShardedIds  # (reviews, *row_shape), read row by row from the shards
    labels: np.ndarray  # (reviews,) int64, in memory
    lengths: np.ndarray  # (reviews,) int64 words or sentences, in memory

    def __len__(self) -> int:
        return len(self.ids)

    def training_data(self, config, seed: int = 0, validation_share: float = 0.1):
        """``train.training_data`` of this corpus: batches read from the shards."""
        return training_data(config, self.ids, self.labels, self.lengths, seed, validation_share)


def open_shards(folder: str | Path) -> ShardedCorpus:
    """Open a folder ``write_shards`` wrote; a missing or damaged one fails in one line."""
    folder = Path(folder)
    again = "write it again (helpers.shards.write_shards)"
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of shards: {again}.")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise DataError(
            f"{folder}: no {MANIFEST}, so not a complete folder of shards (was its writing "
            f"interrupted?): {again}."
        ) from None
    except (ValueError, OSError) as error:
        raise DataError(f"{folder / MANIFEST} is damaged ({error}): {again}.") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise DataError(
            f"{folder / MANIFEST}: not a version-{FORMAT_VERSION} {FORMAT} manifest: {again}."
        )
    try:
        encoder = TextEncoder.load(folder / manifest["encoder"])
        shape, rows = tuple(manifest["row_shape"]), manifest["rows"]
        shards = [(folder / s["file"], s["start"], s["stop"]) for s in manifest["shards"]]
    except (KeyError, TypeError, ValueError, FileNotFoundError) as error:
        raise DataError(f"{folder}: damaged ({error}): {again}.") from None
    files = ShardFiles(shards, shape, np.dtype(manifest.get("dtype", "int32")), again)
    labels, lengths = (_load(folder / name, (rows,), again) for name in (LABELS, LENGTHS))
    return ShardedCorpus(folder, manifest, encoder, ShardedIds(files), labels, lengths)


def _load(path: Path, shape: tuple, again: str) -> np.ndarray:
    """A small array (labels, lengths) read whole, checked against the manifest's count."""
    try:
        array = np.load(path)
    except FileNotFoundError:
        raise DataError(f"{path} is missing: {again}.") from None
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{path} is damaged ({error}): {again}.") from None
    if array.shape != shape:
        raise DataError(f"{path} holds {array.shape}, the manifest says {shape}: {again}.")
    return array


class ShardFiles:
    """The shards, checked once and then read a row at a time.

    ``shards``: ``(path, start, stop)`` per shard, its rows in the corpus. Each shard is a
    ``.npy`` file (``np.load(path, mmap_mode="r")`` maps it; that is how it is checked
    here), but rows are read with one positioned read each, into the batch, not through
    a memory map: a map keeps what it has read resident in this process, and on Linux a
    fault maps a whole folio of the file cache (up to megabytes) at once, so a random
    read of 6,400 rows left a 114 MB shard fully resident. Read this way, the file's
    pages stay in the kernel's cache, shared and reclaimable, and resident memory grows
    with the batch, not with the corpus.
    """

    def __init__(self, shards, row_shape: tuple, dtype: np.dtype, again: str):
        self.paths = [path for path, _, _ in shards]
        self.starts = np.array([start for _, start, _ in shards], dtype=np.int64)
        self.stops = np.array([stop for _, _, stop in shards], dtype=np.int64)
        if len(shards) == 0 or self.starts[0] != 0 or (self.starts[1:] != self.stops[:-1]).any():
            raise DataError(f"{self.paths[0].parent}: the manifest's row ranges do not tile.")
        self.row_shape, self.dtype, self.again = row_shape, dtype, again
        self.row_bytes = math.prod(row_shape) * dtype.itemsize
        self.offsets = [self._data_offset(*shard) for shard in shards]
        self.files = [open(path, "rb", buffering=0) for path in self.paths]  # noqa: SIM115

    def _data_offset(self, path: Path, start: int, stop: int) -> int:
        """Where the rows of shard ``path`` begin in its file, once its header (shape and
        dtype) and size are checked."""
        try:
            array = np.load(path, mmap_mode="r")  # reads the header; maps, reads no row
        except FileNotFoundError:
            raise DataError(f"{path}: shard missing: {self.again}.") from None
        except (ValueError, OSError, EOFError) as error:
            raise DataError(f"{path}: shard damaged ({error}): {self.again}.") from None
        expected = (int(stop - start), *self.row_shape)
        if array.shape != expected or array.dtype != self.dtype:
            raise DataError(
                f"{path}: shard holds {array.dtype} {array.shape}, the manifest says "
                f"{self.dtype} {expected}: {self.again}."
            )
        return array.offset

    @property
    def rows(self) -> int:
        return int(self.stops[-1])

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The corpus rows ``rows`` (int, in range), in that order: ``(len(rows), *row_shape)``."""
        shards = np.searchsorted(self.stops, rows, side="right")
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        places = out.reshape(len(rows), -1).view(np.uint8)  # one row's bytes each
        size = self.row_bytes
        for place, shard, row in zip(places, shards.tolist(), rows.tolist(), strict=True):
            file = self.files[shard]
            file.seek(self.offsets[shard] + (row - int(self.starts[shard])) * size)
            if file.readinto(place) != size:
                raise DataError(f"{self.paths[shard]}: shard cut short: {self.again}.")
        return out


class ShardedIds:
    """Encoded rows in shards on disk, indexed like the in-memory ids array.

    ``ids[rows]`` (an int, a slice, or an array of row numbers) reads just those rows:
    int32 ``(len(rows), *row_shape)``, a new array. ``ids.take(rows, axis=0)`` is a
    ``ShardedIds`` of those rows that reads nothing yet (``train.training_data`` splits
    off its validation rows so). Nothing reads the whole corpus into memory:
    ``np.asarray(ids)`` refuses.
    """

    def __init__(self, files: ShardFiles, rows: np.ndarray | None = None):
        self.files, self.rows = files, rows  # None: every row, in order

    def __len__(self) -> int:
        return self.files.rows if self.rows is None else len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.files.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.files.row_shape)

    @property
    def dtype(self) -> np.dtype:
        return self.files.dtype

    def _corpus_rows(self, index) -> np.ndarray:
        """The corpus row numbers of ``index`` into this view (numpy's rules, negatives too)."""
        positions = np.arange(len(self))[index]
        return positions if self.rows is None else self.rows[positions]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, tuple):
            raise IndexError("ShardedIds takes row numbers only: ids[rows], then index the array")
        rows = self._corpus_rows(index)
        if rows.ndim == 0:
            return self.files.read(rows[None])[0]
        return self.files.read(rows)

    def take(self, rows, axis: int = 0) -> ShardedIds:
        """The rows ``rows`` of this one, as a ``ShardedIds`` (nothing is read)."""
        if axis != 0:
            raise ValueError("ShardedIds.take picks rows: axis must be 0")
        return ShardedIds(self.files, self._corpus_rows(np.asarray(rows, dtype=np.int64)))

    def __array__(self, dtype=None, copy=None):
        gigabytes = math.prod(self.shape) * self.dtype.itemsize / 2**30
        raise TypeError(
            f"this would read all {len(self):,} rows of the shards into memory "
            f"({gigabytes:.1f} GiB), which the shards are there to avoid. Index rows "
            f"(ids[rows]) instead; the HAN's packed batches (recipe 'fast') need the array "
            f"in memory: train it from shards with recipe='bucketed' or 'padded'."
        )
