"""What the solution scripts share: their command line and a small, easy split."""

import argparse
import tempfile
from pathlib import Path


def data_dir() -> str | None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", help="folder with the raw review files")
    return parser.parse_args().data_dir


def small_split(folder: str | None, n_train: int = 400):
    """(train, test) DataFrames: 1 vs 5 stars, ``n_train`` training and 200 test reviews."""
    from helpers import data

    out = Path(tempfile.mkdtemp()) / "data"
    data.prepare_split("finefoods", out, labels="1v5", n_train=n_train, n_test=200,
                       data_dir=folder)  # fmt: skip
    train, test, _ = data.read_split(out)
    return train, test, out
