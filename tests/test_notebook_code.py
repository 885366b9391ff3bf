"""One copy of the truth: the code notebooks 03 and 04 teach is the package's code.

The cells tagged ``export`` in a notebook define functions and classes that the package
(``helpers/models.py``, ``layers.py``, ``configs.py``, ``train.py``) defines too. Their
source must be the same, and the models the notebooks build must compute what the
package's compute: the same weights in give the same predictions out. Edit one, copy it
onto the other.
"""

import ast
import dataclasses

import keras
import nbformat
import numpy as np
import pytest

from helpers.configs import HAN_CONFIGS, LSTM_CONFIGS
from helpers.models import build_han, build_lstm
from tests.conftest import REPO

PACKAGE = ("models.py", "layers.py", "configs.py", "train.py")
SMALL = {"num_words": 50, "embedding_dim": 8, "units": 6}


def exported_cells(notebook: str) -> list[str]:
    cells = nbformat.read(REPO / "notebooks" / notebook, as_version=4).cells
    return [c.source for c in cells if "export" in c.get("metadata", {}).get("tags", [])]


def definitions(source: str) -> dict[str, str]:
    """Each top-level function or class of ``source``, with its decorators, as text."""
    lines = source.splitlines()
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            start = node.lineno - 1 - len(node.decorator_list)
            found[node.name] = "\n".join(lines[start : node.end_lineno])
    return found


def package_definitions() -> dict[str, str]:
    found = {}
    for name in PACKAGE:
        found |= definitions((REPO / "helpers" / name).read_text())
    return found


@pytest.mark.parametrize(
    "notebook, expected",
    [
        ("03_lstm.ipynb", {"build_lstm", "make_optimizer", "compile_model", "train_model"}),
        ("04_han.ipynb", {"masked_softmax", "Attention", "build_han", "attention_model"}),
    ],
)
def test_exported_cells_are_the_packages_code(notebook, expected):
    theirs = {}
    for source in exported_cells(notebook):
        theirs |= definitions(source)
    assert set(theirs) == expected
    ours = package_definitions()
    for name, source in theirs.items():
        assert source == ours[name], (
            f"{notebook} defines {name} differently from the package: copy one onto the other"
        )


@pytest.fixture
def notebook_namespace():
    """Executes a notebook's export cells in a fresh namespace; restores Keras's registry
    of custom objects afterwards (the notebook's Attention registers itself)."""
    registry = keras.saving.get_custom_objects()
    saved = dict(registry)

    def run(notebook: str) -> dict:
        namespace: dict = {}
        for source in exported_cells(notebook):
            exec(compile(source, notebook, "exec"), namespace)
        return namespace

    yield run
    registry.clear()
    registry.update(saved)


def _same_predictions(ours: keras.Model, theirs: keras.Model, ids: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)  # fails if the notebook's model has other weights
    assert [w.path for w in theirs.weights] == [w.path for w in ours.weights]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(theirs(ids)), keras.ops.convert_to_numpy(ours(ids)), atol=1e-6
    )


@pytest.mark.parametrize("name", ["original", "tuned"])
def test_the_notebooks_lstm_is_the_packages(notebook_namespace, name):
    config = dataclasses.replace(LSTM_CONFIGS[name], **SMALL, max_words=12)
    ids = np.random.default_rng(1).integers(2, 50, (4, 12)).astype("int32")
    ids[1:, 7:] = 0
    theirs = notebook_namespace("03_lstm.ipynb")["build_lstm"](config)
    _same_predictions(build_lstm(config), theirs, ids)


@pytest.mark.parametrize("name", ["original", "tuned"])
def test_the_notebooks_han_is_the_packages(notebook_namespace, name):
    config = dataclasses.replace(
        HAN_CONFIGS[name], **SMALL, context_dim=5, max_sentences=3, words_per_sentence=6
    )
    ids = np.random.default_rng(2).integers(2, 50, (4, 3, 6)).astype("int32")
    ids[1:, 2:] = 0
    ids[:, :, 4:] = 0
    theirs = notebook_namespace("04_han.ipynb")["build_han"](config)
    _same_predictions(build_han(config), theirs, ids)
