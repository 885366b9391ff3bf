"""Stream parsers for the review formats, and the report of what they kept and dropped.

``parse_snap`` reads SNAP's ``finefoods.txt.gz`` and the Internet Archive's
``Gourmet_Foods.txt.gz`` (records of ``key: value`` lines), ``parse_csv`` any CSV (the
Kaggle ``Reviews.csv``, IMDB as a CSV), ``parse_imdb_tar`` Stanford's ``aclImdb_v1.tar.gz``.
Each returns one table ``id, text, summary, rating, given_label`` with its texts cleaned
of HTML (``clean_text``) and a ``ParseReport``; a damaged or wrong file is a one-line
``DataError``. ``helpers.data.load_reviews`` picks the parser for a source.
"""

from __future__ import annotations

import gzip
import html
import io
import re
import tarfile
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

COLUMNS = ["id", "text", "summary", "rating", "given_label"]

# Seconds a step runs before its progress bar shows: quick steps (the sample) stay quiet.
BAR_DELAY = 2.0

# A few bad records are dropped and reported; when most records are bad (rather
# than merely empty or duplicated) the file is not what the parser thinks it is.
MAX_BAD_SHARE = 0.5


class DataError(RuntimeError):
    """Bad or missing input; the message says what is wrong and what to do."""


@dataclass
class ParseReport:
    """What a parser read, kept and dropped (with the reason and a first example)."""

    source: str
    path: str
    records: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def drop(self, reason: str, where: str, count: int = 1) -> None:
        """Count ``count`` dropped records; ``where`` locates the first one."""
        self.dropped[reason] += count
        self.examples.setdefault(reason, where)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "path": self.path,
            "records": self.records,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "examples": self.examples,
            "seconds": round(self.seconds, 2),
        }

    def __str__(self) -> str:
        lines = [
            f"{self.source}: read {self.records:,} records from {self.path} "
            f"in {self.seconds:.1f} s, kept {self.kept:,}"
        ]
        for reason, count in self.dropped.most_common():
            lines.append(f"  dropped {count:,} ({reason}), first at {self.examples[reason]}")
        return "\n".join(lines)


# --- cleaning ---------------------------------------------------------------------

_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
# Spaces that change: a run of two or more, or a tab, NBSP etc. (a lone " " stays; matching
# only these is 3× faster than rewriting every space, which mattered at 568,454 reviews).
_SPACES = re.compile(r" [ \t\r\f\v\u00a0]+|[\t\r\f\v\u00a0][ \t\r\f\v\u00a0]*")
_MOJIBAKE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]")


def clean_text(raw: str) -> str:
    """Review text as a reader sees it: HTML breaks become newlines (kept as
    paragraph boundaries for sentence splitting), other tags go, entities are
    decoded, runs of spaces collapse, and so do blank lines and the spaces around
    a line break."""
    text = raw
    if "<" in text:
        text = _TAG.sub(" ", _BREAK.sub("\n", text))
    text = _SPACES.sub(" ", html.unescape(text))
    if "\n" in text:  # what re.sub(r"\s*\n\s*", "\n", text) does, in a third of the time
        text = "\n".join(line for part in text.split("\n") if (line := part.strip()))
    return text.strip()


# --- parsing ----------------------------------------------------------------------


class _CountingReader(io.RawIOBase):
    """A binary file that advances a progress bar by the bytes read from it."""

    def __init__(self, raw, bar: tqdm):
        self.raw, self.bar = raw, bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.raw.readinto(buffer)
        self.bar.update(count or 0)
        return count


@contextmanager
def _open_text(path: Path, encoding: str, progress: bool = False):
    """``path`` as text (gunzipped if ``.gz``); ``progress`` shows a bar over its bytes."""
    bar = tqdm(
        total=path.stat().st_size,
        desc=f"reading {path.name}",
        unit="B",
        unit_scale=True,
        disable=not progress,
        delay=BAR_DELAY,
    )
    with open(path, "rb") as raw, bar:
        binary = io.BufferedReader(_CountingReader(raw, bar))
        stream = gzip.GzipFile(fileobj=binary, mode="rb") if path.suffix == ".gz" else binary
        with io.TextIOWrapper(stream, encoding=encoding, newline="") as handle:
            yield handle


# What a damaged or mislabelled file raises while being streamed.
STREAM_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, tarfile.TarError, UnicodeDecodeError)


def _damaged(path: Path, error: Exception) -> DataError:
    if isinstance(error, UnicodeDecodeError):
        return DataError(
            f"{path}: not valid {error.encoding} text at byte {error.start} "
            f"(wrong encoding?). Pass the file's encoding, e.g. --encoding latin-1."
        )
    return DataError(
        f"{path}: the file is truncated or corrupt ({type(error).__name__}: {error}). "
        f"Delete it and download or copy it again."
    )


def _snap_records(
    path: Path, encoding: str, progress: bool = False
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, fields) per blank-line-separated ``key: value`` record."""
    record: dict[str, str] = {}
    start = 0
    with _open_text(path, encoding, progress) as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if record:
                    yield start, record
                    record = {}
                continue
            if not record:
                start = number
            key, sep, value = line.partition(": ")
            if not sep and line.endswith(":"):
                key, sep, value = line[:-1], ":", ""
            if not sep or "/" not in key:
                record.setdefault("__malformed__", f"line {number}")
                continue
            record[key] = value
    if record:
        yield start, record


def _check_snap_header(path: Path, encoding: str) -> None:
    """Refuse, in one line, a file that does not start like a SNAP reviews file."""
    with _open_text(path, encoding) as handle:
        try:
            first = handle.readline(200)
        except STREAM_ERRORS as error:
            raise _damaged(path, error) from error
    if not first.startswith("product/productId:"):
        raise DataError(
            f"{path}: does not look like a SNAP reviews file (its first line should start "
            f"'product/productId:', found {first[:40]!r}). Wrong file, or wrong --encoding?"
        )


def _snap_rows(path: Path, encoding: str, report: ParseReport, progress: bool) -> Iterator[tuple]:
    """One ``COLUMNS`` tuple per usable record, uncleaned; counts the rest in ``report``."""
    try:
        for line, record in _snap_records(path, encoding, progress):
            report.records += 1
            where = f"line {line}"
            text, score = record.get("review/text"), record.get("review/score")
            if "__malformed__" in record or text is None or score is None:
                report.drop("malformed record", where)
                continue
            try:
                rating = float(score)
            except ValueError:
                report.drop("non-numeric score", f"{where}: {score!r}")
                continue
            yield (str(report.records), text, record.get("review/summary", ""), rating, None)
    except STREAM_ERRORS as error:
        raise _damaged(path, error) from error


def parse_snap(
    path: str | Path, encoding: str = "latin-1", source: str = "finefoods", progress: bool = True
):
    """Parse SNAP/Internet Archive ``key: value`` review records (9 or 11 lines).

    Returns ``(DataFrame[COLUMNS], ParseReport)``. The file is streamed, so only
    the kept reviews are held in memory. ``progress`` shows bars (reading, cleaning)
    when a step lasts more than ``BAR_DELAY`` seconds: the full file, not the sample.
    """
    path = Path(path)
    _check_snap_header(path, encoding)
    report = ParseReport(source=source, path=str(path))
    started = time.perf_counter()
    rows = list(_snap_rows(path, encoding, report, progress))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return _finish(frame, report, started, progress)


def stream_snap(
    path: str | Path,
    encoding: str = "latin-1",
    source: str = "finefoods",
    chunk_size: int = 50_000,
    progress: bool = True,
) -> tuple[Iterator[pd.DataFrame], ParseReport]:
    """``parse_snap`` for files too big to hold: ``(chunks, report)``.

    ``chunks`` yields ``DataFrame[COLUMNS]`` of up to ``chunk_size`` reviews each, in file
    order, cleaned and filtered as ``parse_snap``'s table is: the chunks together hold
    exactly its rows. Only one chunk's texts are in memory at a time; duplicates are
    found by a 64-bit hash of each text kept so far (8 bytes a review, see
    ``SeenTexts``). ``report`` fills in as the chunks are read and is complete, and its
    checks made, once they are exhausted.
    """
    path = Path(path)
    _check_snap_header(path, encoding)
    report = ParseReport(source=source, path=str(path))

    def chunks() -> Iterator[pd.DataFrame]:
        started, seen = time.perf_counter(), SeenTexts()
        rows = _snap_rows(path, encoding, report, progress)
        while batch := list(islice(rows, chunk_size)):
            frame = _drop_unusable(_cleaned(pd.DataFrame(batch, columns=COLUMNS)), report, seen)
            report.kept += len(frame)
            if report.kept == len(frame):
                _check_encoding(frame, report)
            yield frame
        report.seconds = time.perf_counter() - started
        _check_counts(report)

    return chunks(), report


class SeenTexts:
    """The texts kept so far, as a sorted array of 64-bit hashes (8 bytes a text).

    Two different texts share a hash with odds of about n² / 2⁶⁵ (one in ten million for
    two million texts); the hash is Python's, which changes between processes, so the
    record is good for one streaming pass only.
    """

    def __init__(self):
        self.hashes = np.empty(0, dtype=np.int64)

    def duplicated(self, texts: pd.Series) -> pd.Series:
        """Bool per text: True if an earlier text in ``texts`` or one seen before is equal.
        The others are added to what has been seen."""
        hashes = np.fromiter(map(hash, texts), dtype=np.int64, count=len(texts))
        repeated = pd.Series(hashes).duplicated().to_numpy().copy()
        if len(self.hashes):
            places = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
            repeated |= self.hashes[places] == hashes
        new = np.sort(hashes[~repeated])
        self.hashes = np.insert(self.hashes, np.searchsorted(self.hashes, new), new)
        return pd.Series(repeated, index=texts.index)


def parse_csv(
    path: str | Path,
    text_column: str,
    rating_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    summary_column: str | None = None,
    encoding: str = "utf-8",
    source: str = "csv",
    positive_labels: Iterable[str] = ("1", "pos", "positive", "true"),
    progress: bool = True,
):
    """Parse a CSV with a text column and a rating and/or a binary label column.

    ``progress`` shows bars (reading, cleaning) on steps over ``BAR_DELAY`` seconds."""
    path = Path(path)
    if rating_column is None and label_column is None:
        raise DataError("name a rating column (--rating-column) or a label column (--label-column)")
    wanted = [c for c in (id_column, text_column, summary_column, rating_column, label_column) if c]
    try:
        header = list(pd.read_csv(path, nrows=0, encoding=encoding).columns)
    except (*STREAM_ERRORS, OSError) as error:
        raise _damaged(path, error) from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: not a readable CSV file ({error}).") from error
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(
            f"{path}: no column {', '.join(map(repr, missing))} (its columns are "
            f"{', '.join(header[:12])}). Name the right ones with --text-column/--rating-column/"
            f"--label-column."
        )
    report = ParseReport(source=source, path=str(path))
    positive = {p.lower() for p in positive_labels}
    parts = []
    started = time.perf_counter()
    try:
        chunks = pd.read_csv(
            path,
            usecols=wanted,
            dtype=str,
            keep_default_na=False,
            encoding=encoding,
            chunksize=50_000,
        )
        bar = tqdm(desc=f"reading {path.name}", unit="row", disable=not progress, delay=BAR_DELAY)
        for chunk in chunks:
            first_row = report.records + 2  # 1-based, after the header line
            report.records += len(chunk)
            bar.update(len(chunk))
            part = pd.DataFrame(
                {
                    "id": chunk[id_column] if id_column else (chunk.index + 1).astype(str),
                    "text": chunk[text_column],
                    "summary": chunk[summary_column] if summary_column else "",
                    "rating": float("nan"),
                    "given_label": None,
                }
            )
            if rating_column:
                rating = pd.to_numeric(chunk[rating_column].str.strip(), errors="coerce")
                bad = rating.isna()
                blank = chunk[rating_column].str.strip() == ""
                for kind, rows in (
                    ("missing score", bad & blank),
                    ("non-numeric score", bad & ~blank),
                ):
                    positions = rows.to_numpy().nonzero()[0]
                    if len(positions):
                        shown = chunk[rating_column].iloc[positions[0]]
                        report.drop(
                            kind, f"row {first_row + positions[0]}: {shown!r}", len(positions)
                        )
                part["rating"] = rating
                part = part[~bad]
            if label_column:
                labels = chunk.loc[part.index, label_column].str.strip().str.lower()
                part["given_label"] = labels.isin(positive).astype("int8")
            parts.append(part)
        bar.close()
    except STREAM_ERRORS as error:
        raise _damaged(path, error) from error
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: malformed CSV ({error}).") from error
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    return _finish(frame[COLUMNS], report, started, progress)


_IMDB_MEMBER = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def parse_imdb_tar(path: str | Path, source: str = "imdb", progress: bool = True):
    """Parse Stanford's ``aclImdb_v1.tar.gz`` (one review per file,
    ``train|test/pos|neg/ID_RATING.txt``; the unlabelled ``unsup`` part is skipped).
    ``progress`` shows bars (reading, cleaning) on steps over ``BAR_DELAY`` seconds."""
    path = Path(path)
    report = ParseReport(source=source, path=str(path))
    rows = []
    started = time.perf_counter()
    bar = tqdm(desc=f"reading {path.name}", unit="file", disable=not progress, delay=BAR_DELAY)
    try:
        with tarfile.open(path, "r:gz") as archive, bar:
            for member in archive:
                bar.update()
                match = _IMDB_MEMBER.search(member.name)
                if not member.isfile() or not match:
                    continue
                report.records += 1
                split, polarity, number, rating = match.groups()
                raw = archive.extractfile(member).read()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    report.drop("not UTF-8", member.name)
                    continue
                rows.append(
                    (
                        f"{split}/{polarity}/{number}",
                        text,
                        "",
                        float(rating),
                        int(polarity == "pos"),
                    )
                )
    except (*STREAM_ERRORS, OSError) as error:
        raise _damaged(path, error) from error
    if not report.records:
        raise DataError(f"{path}: no aclImdb/train|test/pos|neg/*.txt reviews inside.")
    return _finish(pd.DataFrame(rows, columns=COLUMNS), report, started, progress)


def _finish(frame: pd.DataFrame, report: ParseReport, started: float, progress: bool = False):
    """Clean texts, drop empties and duplicates, check the file made sense."""
    frame = _drop_unusable(_cleaned(frame, progress), report)
    report.kept = len(frame)
    report.seconds = time.perf_counter() - started
    _check_counts(report)
    _check_encoding(frame, report)
    return frame, report


def _cleaned(frame: pd.DataFrame, progress: bool = False) -> pd.DataFrame:
    """``frame`` with its texts and summaries cleaned (``clean_text``) and typed columns."""
    frame = frame.copy()
    texts = tqdm(
        frame["text"], desc="cleaning", unit="review", disable=not progress, delay=BAR_DELAY
    )
    frame["text"] = [clean_text(text) for text in texts]
    frame["summary"] = frame["summary"].map(clean_text)
    frame["rating"] = frame["rating"].astype("float64")
    frame["given_label"] = frame["given_label"].astype("Int8")
    return frame


def _drop_unusable(
    frame: pd.DataFrame, report: ParseReport, seen: SeenTexts | None = None
) -> pd.DataFrame:
    """Drop empty texts and repeated ones (of an earlier row, or of one in ``seen``)."""
    duplicated = seen.duplicated if seen is not None else lambda texts: texts.duplicated()
    for reason, unusable in (
        ("empty text", lambda f: f["text"] == ""),
        ("duplicate text", lambda f: duplicated(f["text"])),
    ):
        rows = unusable(frame)
        if rows.any():
            report.drop(reason, f"id {frame.loc[rows, 'id'].iloc[0]}", int(rows.sum()))
            frame = frame[~rows]
    return frame.reset_index(drop=True)


def _check_counts(report: ParseReport) -> None:
    """Refuse a file whose records are mostly bad, or that has no usable review."""
    bad = report.dropped["malformed record"] + report.dropped["non-numeric score"]
    if report.records and bad > MAX_BAD_SHARE * report.records:
        first_bad = report.examples.get("malformed record") or report.examples["non-numeric score"]
        raise DataError(
            f"{report.path}: {bad:,} of {report.records:,} records are malformed or have a "
            f"non-numeric score (first: {first_bad}). "
            f"Is this the right file for source {report.source!r}?"
        )
    if not report.kept:
        raise DataError(f"{report.path}: no usable reviews in the file ({report.records} records).")


def _check_encoding(frame: pd.DataFrame, report: ParseReport) -> None:
    """Refuse UTF-8 text read as Latin-1, judged on the first 2,000 texts."""
    if frame["text"].head(2000).str.contains(_MOJIBAKE).mean() > 0.02:
        raise DataError(
            f"{report.path}: texts contain UTF-8 read as Latin-1 ('Ã©'-style characters). "
            f"Pass --encoding utf-8."
        )
