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


@pytest.fixture(scope="session")
def small_split(shared_data, tmp_path_factory) -> Path:
    """A real, easy split: 1 vs 5 stars, 400 training and 200 test reviews (with unlabelled)."""
    from helpers.data import prepare_split

    out = tmp_path_factory.mktemp("split") / "data"
    prepare_split("finefoods", out, labels="1v5", n_train=400, n_test=200, data_dir=shared_data)
    return out


def tiny_config(model: str, **changes):
    """The tuned recipe at toy sizes, so a model trains in seconds."""
    from helpers.models import named_config

    sizes = {"num_words": 2000, "embedding_dim": 16, "units": 8, "batch_size": 32, "epochs": 2}
    if model == "han":
        sizes |= {"context_dim": 8, "max_sentences": 8, "words_per_sentence": 24}
    else:
        sizes |= {"max_words": 120}
    return named_config(model, "tuned", **(sizes | changes))


@pytest.fixture(scope="session")
def tiny_models(small_split, tmp_path_factory) -> dict:
    """{"lstm": Classifier, "han": Classifier} trained briefly on ``small_split`` and saved."""
    from helpers.data import read_split
    from helpers.train import fit_classifier

    train, _, _ = read_split(small_split)
    out = tmp_path_factory.mktemp("models")
    return {
        model: fit_classifier(
            tiny_config(model), train["text"], train["label"], out / model, verbose=0
        )[0]
        for model in ("lstm", "han")
    }


def load_benchmark(name: str):
    """A script of benchmarks/ (``name`` without .py) imported as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"{name}_benchmark", REPO / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
