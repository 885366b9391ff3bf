"""python -m helpers: train, evaluate and predict end to end, and one-line errors."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
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


@pytest.fixture(scope="module")
def imdb_layout(small_split, tmp_path_factory):
    """The test split as IMDB's CSV (id,label,rating,text with pos/neg), plus bad rows."""
    frame = pd.read_parquet(small_split / "test.parquet")[["text", "label"]].head(40)
    frame["label"] = frame["label"].map({0: "neg", 1: "pos"})
    bad = pd.DataFrame({"text": ["!!!", "", "Lovely tea."], "label": ["pos", "neg", ""]})
    frame = pd.concat([frame, bad], ignore_index=True)
    frame.insert(0, "id", range(len(frame)))
    frame.insert(2, "rating", 7)
    path = tmp_path_factory.mktemp("imdb") / "reviews.csv"
    frame.to_csv(path, index=False)
    return path


def test_evaluate_reads_pos_neg_labels_and_counts_the_rows_left_out(trained, imdb_layout, capsys):
    assert main(["evaluate", "--model", str(trained["lstm"]), "--data", str(imdb_layout)]) == 0
    captured = capsys.readouterr()
    metrics = json.loads(captured.out.splitlines()[0])
    assert metrics["n"] == 40 and 0 <= metrics["accuracy"] <= 1
    assert metrics["left_out"] == {"no words": 1, "empty": 1, "no label": 1}
    assert "note: 3 of 43 rows left out of the metrics (1 no words, 1 empty, 1 no label)" in (
        captured.err
    )
    saved = json.loads((trained["lstm"] / "metrics-reviews.json").read_text())
    assert saved == metrics


def _one_line_error(capsys, path, content: bytes, *args: str) -> str:
    """Run the command ``args`` + [path] on a file holding ``content``: it must fail with
    exit status 2 and a one-line error, which is returned."""
    path.write_bytes(content)
    assert main([*args, str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    return error


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "reviews.csv is empty: give a .csv or .parquet file with text and label columns"),
        (b"text,label\n", "reviews.csv has no rows: no reviews to evaluate"),
        (b"text,label\nGood.,pos\nBad.,maybe\n", "expected 0/1 or neg/pos (negative/positive, "
         "false/true), found 'maybe' (first in row 2)"),
        (b"text,label\nGood.,5\nBad.,1\n", "found '5' (first in row 1): star ratings?"),
        (b"text,label\n,1\n!!!,0\n", "no review can be scored: 2 of 2 rows left out of the "
         "metrics (1 empty, 1 no words)"),
        ("text,label\nCaf\u00e9,1\n".encode("latin-1"), "reviews.csv is not UTF-8 text"),
    ],
)  # fmt: skip
def test_evaluate_on_a_bad_file_is_one_line_and_status_2(
    trained, tmp_path, capsys, content, message
):
    error = _one_line_error(capsys, tmp_path / "reviews.csv", content, "evaluate", "--model",
                            str(trained["lstm"]), "--data")  # fmt: skip
    assert message in error


def test_evaluate_on_a_parquet_with_missing_texts_leaves_them_out(trained, tmp_path, capsys):
    path = tmp_path / "reviews.parquet"
    pd.DataFrame({"text": ["Great coffee.", None, "Stale chips."], "label": [1, 1, 0]}).to_parquet(
        path
    )
    assert main(["evaluate", "--model", str(trained["lstm"]), "--data", str(path)]) == 0
    metrics = json.loads(capsys.readouterr().out.splitlines()[0])
    assert metrics["n"] == 2 and metrics["left_out"] == {"no text": 1}


MEGABYTE_REVIEW = "The coffee was fresh and I liked it a lot. " * 24_000


@pytest.mark.parametrize("model", ["lstm", "han"])
def test_predict_answers_every_usable_line_and_marks_the_others(trained, tmp_path, capsys, model):
    lines = ["Lovely coffee.", "!!!", "\U0001f600\U0001f44d", "\u8fd9\u662f\u597d\u8336",
             MEGABYTE_REVIEW, "Awful stale chips."]  # fmt: skip
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["predict", "--model", str(trained[model]), "--input", str(path)]) == 0
    captured = capsys.readouterr()
    rows = [line.split("\t") for line in captured.out.splitlines()]
    assert len(rows) == 6
    for row in rows[:1] + rows[3:]:  # the label agrees with the (rounded) probability
        assert row[0] in {"positive", "negative"}
        if row[1] != "0.500":  # a model trained for one epoch can sit right at 0.5
            assert row[0] == ("positive" if float(row[1]) > 0.5 else "negative"), row
    assert rows[1] == ["unusable", "nan", "!!!", "unusable: no words"]
    assert rows[2][:2] == ["unusable", "nan"] and rows[2][3] == "unusable: no words"
    assert rows[3][3] == "no known words: the vocabulary knows none of them"
    assert rows[4][3].startswith("truncated: the model read ") and len(rows[5]) == 3
    assert captured.err.strip() == (
        "note: 2 of 6 texts unusable: no words; 1 of 6 texts no known words; 1 of 6 texts truncated"
    )


def test_predict_json_gives_null_for_an_unusable_text(trained, capsys):
    assert (
        main(["predict", "--model", str(trained["lstm"]), "--format", "json", "Good.", "?!"]) == 0
    )
    good, bad = json.loads(capsys.readouterr().out)
    assert 0 <= good["probability"] <= 1 and good["note"] == ""
    assert bad == {"text": "?!", "label": "unusable", "probability": None,
                   "note": "unusable: no words"}  # fmt: skip


def test_predict_explain_skips_a_text_without_words(trained, capsys):
    args = ["predict", "--model", str(trained["han"]), "--explain", "--format", "json",
            "Great tea. Fresh!", "!!!"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert [e["text"] for e in json.loads(captured.out)] == ["Great tea. Fresh!"]
    assert "note: 1 texts without words not explained" in captured.err


@pytest.mark.parametrize(
    "content, message",
    [
        ("Caf\u00e9 au lait.\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9 on line 1)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a binary file (a NUL byte at offset 8)"),
        (b"", "nothing to classify"),
        (b"!!!\n...\n", "nothing to classify"),
    ],
)
def test_predict_input_that_is_not_text_is_one_line_and_status_2(
    trained, tmp_path, capsys, content, message
):
    path = tmp_path / "reviews.txt"
    error = _one_line_error(capsys, path, content, "predict", "--model", str(trained["lstm"]),
                            "--input")  # fmt: skip
    assert message in error
    assert str(path) in error or message == "nothing to classify"


def test_a_model_folder_of_an_older_version_loads_with_a_note(trained, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(trained["lstm"], old)
    about = json.loads((old / "config.json").read_text())
    config = about["config"]
    config["rnn_masking"] = {"fast": "lengths", "padded": "keras"}[config.pop("recipe")]
    del config["batch_order"], config["ema_momentum"]  # fields that came later
    config["retired_option"] = True  # a field that went away
    (old / "config.json").write_text(json.dumps(about))
    assert main(["predict", "--model", str(old), "Lovely coffee."]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(("positive\t", "negative\t"))
    assert "rnn_masking='lengths' is now recipe='fast'" in captured.err
    assert "retired_option" in captured.err and "batch_order" in captured.err


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
