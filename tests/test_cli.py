"""python -m helpers: train, evaluate and predict end to end, and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers.cli import main

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def trained(small_split, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    models = {}
    for model in ("lstm", "han"):
        models[model] = out / model
        args = ["train", "--model", model, "--config", "tuned", "--data", str(small_split),
                "--out", str(models[model]), "--epochs", "1"]  # fmt: skip
        assert main(args) == 0
    return models


def test_train_writes_a_complete_model_directory(trained, capsys):
    for model_dir in trained.values():
        names = {p.name for p in model_dir.iterdir()}
        assert {"model.keras", "text_encoder.json", "config.json", "history.csv",
                "metrics.json", "best.keras"} <= names  # fmt: skip
        metrics = json.loads((model_dir / "metrics.json").read_text())
        assert metrics["n"] == 200 and 0 <= metrics["accuracy"] <= 1


def test_evaluate_and_predict(trained, small_split, capsys):
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(trained["lstm"]),
                "--data",
                str(small_split / "test.parquet"),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.splitlines()[0])["n"] == 200
    assert (trained["lstm"] / "metrics-test.json").exists()
    assert (
        main(["predict", "--model", str(trained["lstm"]), "Lovely coffee.", "Awful stale chips."])
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split("\t")[0] in ("positive", "negative")


def test_predict_explain_json(trained, capsys):
    args = [
        "predict",
        "--model",
        str(trained["han"]),
        "--explain",
        "--format",
        "json",
        "Great tea. Fresh!",
    ]
    assert main(args) == 0
    (explained,) = json.loads(capsys.readouterr().out)
    assert [s["text"] for s in explained["sentences"]] == ["Great tea.", "Fresh!"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["predict", "--model", "{lstm}", ""], "nothing to classify"),
        (["predict", "--model", "{lstm}/missing", "x"], "no such model directory"),
        (["predict", "--model", "{lstm}", "--explain", "x"], "only the HAN"),
        (["evaluate", "--model", "{lstm}", "--data", "{lstm}/config.json"], "cannot read it"),
        (["evaluate", "--model", "{lstm}", "--data", "{lstm}/history.csv"], "needs columns"),
    ],
)
def test_bad_input_is_one_line_and_status_2(trained, capsys, args, message):
    args = [a.format(lstm=trained["lstm"]) for a in args]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_retired_backend_is_refused_before_keras_loads():
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "data", "--out", "x"],
        env={"KERAS_BACKEND": "theano", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "Theano's last release" in result.stderr and "Traceback" not in result.stderr


def test_best_checkpoint_is_the_model_itself_even_when_trained_packed(trained, small_split):
    """The tuned HAN trains through PackedHAN; best.keras must still be the plain HAN."""
    import keras

    from helpers.train import Classifier

    classifier = Classifier.load(trained["han"])
    best = keras.saving.load_model(trained["han"] / "best.keras")
    assert best.name == classifier.model.name == "han"
    ids = classifier.encode(["Great tea. Smooth and fresh.", "Stale. Would not buy again."])
    np.testing.assert_allclose(
        best.predict(ids, verbose=0), classifier.model.predict(ids, verbose=0), atol=1e-6
    )
