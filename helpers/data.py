"""Reviews from the source to a clean, balanced, reproducible train/test sample.

Stages, each a function a notebook or the command line calls:

1. ``locate``: find a source's file in a local folder, or download it (cached,
   verified) when the source has a public address.
2. ``load_reviews``: stream-parse it into one table ``id, text, summary, rating,
   given_label``, cleaning HTML and dropping what cannot be used, with a
   ``ParseReport`` saying what was dropped and why.
3. ``binary_labels``: ratings to 0/1 labels (``12v45``, ``1v5``, or ``given``).
4. ``balanced_sample``: the same number of reviews per class, disjoint train and
   test, chosen by a seeded hash of the text, so the same seed picks the same
   reviews on any machine and from any file layout of the same reviews.
5. ``write_split`` / ``read_split``: Parquet files plus ``manifest.json``,
   written to a temporary folder and renamed, so a failure leaves nothing half done.
   Beside the split, ``unlabelled.parquet`` keeps the reviews in neither split
   (including 3-star ones): text word2vec may learn from without touching the test set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.parsing import (
    DataError,
    ParseReport,
    parse_csv,
    parse_imdb_tar,
    parse_snap,
)

LABEL_SCHEMES = ("12v45", "1v5", "given")
DATA_DIR_VARIABLE = "REVIEWS_DATA_DIR"
HOME_VARIABLE = "REVIEWS_HOME"
# Relative to the project folder (``project_root``), wherever the process starts.
DEFAULT_DATA_DIR = Path("data/raw")
DEFAULT_CACHE_DIR = Path("data/cache")


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from and how to recognise and verify it."""

    name: str
    description: str
    format: str  # "snap" (key: value records), "csv" or "imdb" (tar.gz or CSV)
    url: str | None = None
    known_hash: str | None = None  # pooch notation: "sha256:…" or "md5:…"
    file_names: tuple[str, ...] = ()  # names looked for in a local data folder
    default_labels: str = "12v45"
    expected_reviews: int | None = None
    how_to_get: str = ""


SOURCES: dict[str, Source] = {
    "finefoods": Source(
        name="finefoods",
        description="SNAP Amazon Fine Food Reviews (McAuley & Leskovec 2013), 9-line records",
        format="snap",
        url="https://snap.stanford.edu/data/finefoods.txt.gz",
        # SNAP publishes no checksum; the gzip CRC checked while streaming
        # catches truncated or corrupt files, and the record count is reported.
        known_hash=None,
        file_names=("finefoods.txt.gz", "finefoods.txt", "finefoods_sample.txt.gz"),
        expected_reviews=568_454,
    ),
    "gourmet": Source(
        name="gourmet",
        description="Internet Archive amazon-reviews-1995-2013 Gourmet_Foods (the seed's source)",
        format="snap",
        url="https://archive.org/download/amazon-reviews-1995-2013/Gourmet_Foods.txt.gz",
        known_hash="sha256:2d4ef8fe1a934c5a9fc93e2fe19f3c2f69edef7b9c0a5c1b063bf1b694368fe1",
        file_names=("Gourmet_Foods.txt.gz", "Gourmet_Foods.txt"),
    ),
    "kaggle": Source(
        name="kaggle",
        description="Kaggle 'Amazon Fine Food Reviews' Reviews.csv (same reviews as finefoods)",
        format="csv",
        file_names=("Reviews.csv", "Reviews.csv.gz", "finefoods_reviews_sample.csv.gz"),
        how_to_get=(
            "Kaggle downloads need an account: get Reviews.csv from "
            "https://www.kaggle.com/datasets/snap/amazon-fine-food-reviews"
        ),
    ),
    "imdb": Source(
        name="imdb",
        description="Stanford Large Movie Review Dataset (Maas et al. 2011), 50,000 labelled",
        format="imdb",
        url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        known_hash="md5:7c2ac02c03563afcf9b574c7e56c153a",
        file_names=("aclImdb_v1.tar.gz", "imdb_train.csv.gz", "imdb.csv.gz", "imdb.csv"),
        default_labels="given",
    ),
    "csv": Source(
        name="csv",
        description="Any CSV file: name its text column and its rating or label column",
        format="csv",
        default_labels="12v45",
        how_to_get="Pass --path to the CSV file and name its columns.",
    ),
}


# --- locating and downloading -----------------------------------------------------


def project_root() -> Path:
    """The folder that ``data/raw``, ``data/cache`` and ``output`` are relative to.

    The same whichever folder the process starts in (Jupyter starts a notebook's
    kernel in ``notebooks/``):

    1. ``$REVIEWS_HOME``, when set;
    2. the clone this package is imported from (the folder holding ``helpers/`` and
       ``notebooks/``);
    3. pip-installed elsewhere: the nearest of the current folder and its parents that
       holds a ``data/`` folder, else the current folder.
    """
    home = os.environ.get(HOME_VARIABLE)
    if home:
        return Path(home).expanduser().resolve()
    clone = Path(__file__).resolve().parents[1]
    if (clone / "notebooks").is_dir() and (clone / "helpers").is_dir():
        return clone
    here = Path.cwd()
    return next((folder for folder in (here, *here.parents) if (folder / "data").is_dir()), here)


def project_path(path: str | Path) -> Path:
    """``path`` as is when absolute, else inside ``project_root()`` (``~`` expanded)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def data_dir_from_env() -> Path:
    """The local raw-data folder: ``$REVIEWS_DATA_DIR`` or ``data/raw``, in the project."""
    return project_path(os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)


def locate(
    source: str,
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = True,
) -> Path:
    """The file to parse for ``source``.

    An explicit ``path`` wins; then the first of the source's known file names
    found in ``data_dir`` (default ``$REVIEWS_DATA_DIR`` or ``data/raw``); then a
    verified, cached download into ``cache_dir`` (default ``data/cache``) when the
    source has a public address. The defaults are inside ``project_root()``.
    """
    spec = source_spec(source)
    if path is not None:
        found = Path(path).expanduser()
        if not found.is_file():
            raise DataError(f"{found}: no such file. Check the path, or leave it out to download.")
        return found
    folder = Path(data_dir) if data_dir is not None else data_dir_from_env()
    for name in spec.file_names:
        if (folder / name).is_file():
            return folder / name
    looked = f"no {' or '.join(spec.file_names) or 'file'} in {folder}"
    if spec.url is None:
        raise DataError(
            f"{spec.name}: {looked}. {spec.how_to_get} and put it there, or pass --path."
        )
    if not download:
        raise DataError(f"{spec.name}: {looked}, and downloading is switched off.")
    cache = Path(cache_dir) if cache_dir is not None else project_path(DEFAULT_CACHE_DIR)
    return fetch(spec, cache, folder, looked)


def fetch(spec: Source, cache_dir: str | Path, folder: Path, looked: str) -> Path:
    """Download ``spec.url`` into ``cache_dir`` (once), verifying its hash."""
    import pooch
    import requests

    file_name = spec.url.rsplit("/", 1)[-1]
    downloader = pooch.HTTPDownloader(progressbar=True, timeout=60)
    try:
        return Path(
            pooch.retrieve(
                spec.url,
                known_hash=spec.known_hash,
                fname=file_name,
                path=cache_dir,
                downloader=downloader,
            )
        )
    except ValueError as error:  # pooch's hash mismatch
        raise DataError(
            f"{spec.name}: the download from {spec.url} failed its checksum (truncated or "
            f"changed file); it was not kept. Try again, or put a good copy in the data folder."
        ) from error
    except (requests.RequestException, OSError) as error:
        raise DataError(
            f"{spec.name}: {looked}, and could not download {spec.url} "
            f"({type(error).__name__}: no network?). Put {file_name} in {folder}/ "
            f"(or point {DATA_DIR_VARIABLE} at a folder holding it) or pass --path."
        ) from error


def source_spec(source: str) -> Source:
    try:
        return SOURCES[source]
    except KeyError:
        raise DataError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}") from None


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_reviews(
    source: str,
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    encoding: str | None = None,
    text_column: str | None = None,
    rating_column: str | None = None,
    label_column: str | None = None,
    download: bool = True,
):
    """Locate and parse ``source``; returns ``(DataFrame[COLUMNS], ParseReport)``."""
    spec = source_spec(source)
    if source == "csv" and path is None:
        raise DataError("source 'csv' needs --path to the CSV file.")
    found = locate(source, path, data_dir, download=download)
    if spec.format == "snap":
        reviews, report = parse_snap(found, encoding or "latin-1", source)
        _check_record_count(spec, found, report)
        return reviews, report
    if spec.format == "imdb" and found.name.endswith(".tar.gz"):
        return parse_imdb_tar(found, source)
    if spec.format == "imdb":
        return parse_csv(
            found,
            text_column or "text",
            rating_column or "rating",
            label_column or "label",
            id_column="id",
            encoding=encoding or "utf-8",
            source=source,
        )
    if source == "kaggle":
        return parse_csv(
            found,
            text_column or "Text",
            rating_column or "Score",
            label_column,
            id_column="Id",
            summary_column="Summary",
            encoding=encoding or "utf-8",
            source=source,
        )
    return parse_csv(
        found,
        text_column or "text",
        rating_column,
        label_column,
        encoding=encoding or "utf-8",
        source=source,
    )


def _check_record_count(spec: Source, path: Path, report: ParseReport) -> None:
    """A file under the published name must hold the published number of records.

    SNAP publishes no checksum; a complete gzip stream that holds too few records
    (a partial copy, re-compressed) would otherwise pass silently.
    """
    published = spec.url.rsplit("/", 1)[-1] if spec.url else None
    if spec.expected_reviews and path.name == published and report.records != spec.expected_reviews:
        raise DataError(
            f"{path}: {report.records:,} records, but the published {published} has "
            f"{spec.expected_reviews:,}: the file is incomplete or not the original. Delete it "
            f"and download it again (a subset must have another name, passed with --path)."
        )


# --- labels and sampling ----------------------------------------------------------


def binary_labels(reviews: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Add an int ``label`` column (0 = negative, 1 = positive) and keep only the
    labelled rows: ``12v45`` (1–2 vs 4–5 stars, 3 dropped), ``1v5``, or ``given``
    (the source's own binary label, e.g. IMDB's pos/neg)."""
    if scheme not in LABEL_SCHEMES:
        raise DataError(
            f"unknown label scheme {scheme!r}: choose one of {', '.join(LABEL_SCHEMES)}"
        )
    if scheme == "given":
        if reviews["given_label"].isna().all():
            raise DataError(
                "this source has no binary labels of its own: use --labels 12v45 or 1v5"
            )
        labelled = reviews[reviews["given_label"].notna()].copy()
        labelled["label"] = labelled["given_label"].astype("int64")
        return labelled
    rating = reviews["rating"]
    if rating.isna().all():
        raise DataError("this source has no ratings: use --labels given")
    if rating.max() > 5:
        raise DataError(
            f"ratings go up to {rating.max():g}, not 5 stars: scheme {scheme!r} does not apply "
            f"(for IMDB use --labels given)"
        )
    negative, positive = ({1, 2}, {4, 5}) if scheme == "12v45" else ({1}, {5})
    labelled = reviews[rating.isin(negative | positive)].copy()
    labelled["label"] = labelled["rating"].isin(positive).astype("int64")
    return labelled


def _per_class(n: int | str, name: str) -> int | None:
    if n == "all":
        return None
    n = int(n)
    if n <= 0 or n % 2:
        raise DataError(
            f"--{name} must be a positive even number (half per class) or 'all', got {n}"
        )
    return n // 2


def balanced_sample(
    labelled: pd.DataFrame, n_train: int | str, n_test: int | str, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw ``n_train`` and ``n_test`` reviews, half from each class, disjoint.

    Which reviews are drawn depends only on the seed and the review texts (a
    seeded hash orders each class), not on file order, machine or library
    version. ``"all"`` for either size takes everything the smaller class has
    left (``"all"`` for both splits it half/half). Asking for more than there is
    raises ``DataError`` with the counts per class; it never returns fewer.
    """
    counts = labelled["label"].value_counts().reindex([0, 1], fill_value=0)
    available = int(counts.min())
    train_each, test_each = _per_class(n_train, "n-train"), _per_class(n_test, "n-test")
    if train_each is None and test_each is None:
        train_each = available // 2
        test_each = available - train_each
    elif train_each is None:
        train_each = available - test_each
    elif test_each is None:
        test_each = available - train_each
    if train_each + test_each > available or min(train_each, test_each) <= 0:
        raise DataError(
            f"asked for {n_train} train + {n_test} test reviews, i.e. "
            f"{max(train_each, 0) + max(test_each, 0):,} per class, but there are "
            f"{int(counts[0]):,} negative and {int(counts[1]):,} positive reviews. Ask for fewer, "
            f"or pass 'all' (e.g. --n-train all --n-test all) to split what there is half/half."
        )
    key = _seeded_keys(labelled["text"], seed)
    ordered = labelled.assign(_key=key).sort_values(["_key", "id"], kind="stable")
    train_parts, test_parts = [], []
    for label in (0, 1):
        rows = ordered[ordered["label"] == label]
        train_parts.append(rows.iloc[:train_each])
        test_parts.append(rows.iloc[train_each : train_each + test_each])

    def shuffled(parts: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(parts).sort_values("_key", kind="stable")
        return frame.drop(columns="_key").reset_index(drop=True)

    return shuffled(train_parts), shuffled(test_parts)


def _seeded_keys(texts: pd.Series, seed: int) -> pd.Series:
    """A seeded hash of each text: an order that depends on nothing but seed and text."""
    return texts.map(
        lambda text: hashlib.blake2b(f"{seed}\x00{text}".encode(), digest_size=8).hexdigest()
    )


# --- output -----------------------------------------------------------------------


def unlabelled_texts(
    reviews: pd.DataFrame, *splits: pd.DataFrame, limit: int | str = "all", seed: int = 42
) -> pd.DataFrame:
    """The reviews in none of ``splits``, as a one-column table ``text``, in file order.

    ``limit`` keeps at most that many ("all": every one), drawn like
    ``balanced_sample`` draws, by a seeded hash of the text. word2vec reads them all,
    and sentence splitting and training grow with them: the full Fine Foods file has
    565,000 besides a 1,480 / 1,480 split, about 45 million tokens.
    """
    used = set().union(*(split["text"] for split in splits))
    rest = reviews.loc[~reviews["text"].isin(used), ["text"]]
    if limit != "all" and len(rest) > int(limit):
        keys = _seeded_keys(rest["text"], seed)
        rest = rest.loc[keys.sort_values(kind="stable").index[: int(limit)]].sort_index()
    return rest.reset_index(drop=True)


def write_split(
    out_dir: str | Path,
    train: pd.DataFrame,
    test: pd.DataFrame,
    manifest: dict,
    unlabelled: pd.DataFrame | None = None,
) -> Path:
    """Write ``train.parquet``, ``test.parquet``, ``manifest.json`` (and
    ``unlabelled.parquet`` when given) into ``out_dir`` atomically: everything
    goes to a temporary sibling folder that replaces ``out_dir`` only once complete."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        train.to_parquet(staging / "train.parquet", index=False)
        test.to_parquet(staging / "test.parquet", index=False)
        if unlabelled is not None:
            unlabelled.to_parquet(staging / "unlabelled.parquet", index=False)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        if out_dir.exists():
            out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def read_split(data_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read what ``write_split`` wrote: ``(train, test, manifest)``."""
    data_dir = Path(data_dir)
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(
            f"{data_dir}: no manifest.json here. Make the split first "
            f"(notebook 01 or `python -m helpers data --out {data_dir}`)."
        )
    manifest = json.loads(manifest_path.read_text())
    return (
        pd.read_parquet(data_dir / "train.parquet"),
        pd.read_parquet(data_dir / "test.parquet"),
        manifest,
    )


def read_unlabelled(data_dir: str | Path) -> pd.Series:
    """Texts of the reviews in neither split (empty if the split has none)."""
    path = Path(data_dir) / "unlabelled.parquet"
    return pd.read_parquet(path)["text"] if path.is_file() else pd.Series([], dtype=str)


def class_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["label"].value_counts()
    return {"negative": int(counts.get(0, 0)), "positive": int(counts.get(1, 0))}


def prepare_split(
    source: str,
    out_dir: str | Path,
    labels: str | None = None,
    n_train: int | str = "all",
    n_test: int | str = "all",
    seed: int = 42,
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    unlabelled: int | str = "all",
    **parse_options,
) -> tuple[pd.DataFrame, pd.DataFrame, dict, pd.DataFrame]:
    """The whole data stage: locate, parse, label, sample, write.

    ``unlabelled`` caps the reviews in neither split that are kept for word2vec (see
    ``unlabelled_texts``). Returns ``(train, test, manifest, labelled)`` where
    ``labelled`` is every labelled review (for plots of the full distribution).
    """
    reviews, report = load_reviews(source, path=path, data_dir=data_dir, **parse_options)
    scheme = labels or source_spec(source).default_labels
    labelled = binary_labels(reviews, scheme)
    train, test = balanced_sample(labelled, n_train, n_test, seed)
    rest = unlabelled_texts(reviews, train, test, limit=unlabelled, seed=seed)
    manifest = make_manifest(report, scheme, seed, labelled, train, test, rest)
    write_split(out_dir, train, test, manifest, rest)
    return train, test, manifest, labelled


def make_manifest(
    report: ParseReport,
    scheme: str,
    seed: int,
    labelled: pd.DataFrame,
    train: pd.DataFrame,
    test: pd.DataFrame,
    unlabelled: pd.DataFrame,
) -> dict:
    """What a split was made from and how: enough to make it again and check it."""
    return {
        "source": report.source,
        "input": report.path,
        "input_sha256": sha256_of(report.path),
        "labels": scheme,
        "seed": seed,
        "parse": report.to_dict(),
        "labelled": class_counts(labelled),
        "train": class_counts(train),
        "test": class_counts(test),
        "unlabelled": len(unlabelled),
    }
