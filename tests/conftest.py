"""Shared fixtures. Real-data tests read ../shared/data (or $SHARED_DATA_DIR).

They skip when the folder is absent (a fresh clone) and fail instead when
REQUIRE_SHARED_DATA=1, which CI sets, so that they cannot silently not run.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    return Path(os.environ.get("SHARED_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of the real data files (finefoods_sample.txt.gz, imdb_train.csv.gz, …)."""
    folder = _shared_data_dir()
    if not (folder / "finefoods_reviews_sample.csv.gz").exists():
        if os.environ.get("REQUIRE_SHARED_DATA") == "1":
            pytest.fail(f"REQUIRE_SHARED_DATA=1 but the real data is not in {folder}")
        pytest.skip(f"real data not found in {folder}")
    return folder
