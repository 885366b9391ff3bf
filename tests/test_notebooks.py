"""Execute the whole notebook series once (the "smoke" preset, real data) and
check what each notebook wrote and printed, not just that it ran."""

import json
import re

import nbformat
import pytest

pytestmark = [pytest.mark.notebook, pytest.mark.shared_data]


@pytest.fixture(scope="module")
def series(shared_data, tmp_path_factory):
    from helpers.series import run_series

    out = tmp_path_factory.mktemp("series")
    result = run_series("smoke", out_dir=out, data_dir=shared_data)
    assert result.ok, f"{result.failed} failed: open it to see the error"
    return result


def printed(notebook_path) -> str:
    """Everything the notebook's code cells printed or displayed as text."""
    notebook = nbformat.read(notebook_path, as_version=4)
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_every_notebook_ran_and_has_an_html_copy(series):
    names = [p.name for p in series.executed]
    assert names == [
        "01_data.ipynb",
        "02_word2vec.ipynb",
        "03_lstm.ipynb",
        "04_han.ipynb",
        "05_backends.ipynb",
        "06_beyond_one_device.ipynb",
    ]
    for executed in series.executed:
        # The notebooks that run Keras name its backend and device; 01 and 02 use none.
        uses_keras = executed.name[:2] not in ("01", "02")
        assert ("backend tensorflow" in printed(executed)) == uses_keras
        assert ("device: CPU" in printed(executed)) == uses_keras
        assert executed.with_suffix(".html").stat().st_size > 10_000


def test_01_data_writes_the_balanced_split_and_its_figures(series):
    work = series.out_dir
    manifest = json.loads((work / "data" / "manifest.json").read_text())
    assert manifest["train"] == {"negative": 300, "positive": 300}
    assert manifest["test"] == {"negative": 100, "positive": 100}
    assert manifest["parse"]["kept"] == 9659 and manifest["labels"] == "1v5"
    for figure in ("01_ratings.png", "01_lengths.png", "01_sample_balance.png"):
        assert (work / "figures" / figure).stat().st_size > 5_000
    text = printed(work / "01_data.ipynb")
    assert "read 9,659 records" in text
    assert "train {'negative': 300, 'positive': 300}" in text
    assert "median" in text and "more than 300 words" in text


def test_runner_stops_at_once_without_data(tmp_path, monkeypatch, capsys):
    from helpers import data
    from helpers.cli import main

    offline = data.Source(
        name="finefoods", description="", format="snap",
        url="http://127.0.0.1:9/finefoods.txt.gz", file_names=("finefoods.txt.gz",),
    )  # fmt: skip
    monkeypatch.setitem(data.SOURCES, "finefoods", offline)
    out = tmp_path / "out"
    status = main(["run", "--preset", "smoke", "--data-dir", str(tmp_path), "--out", str(out)])
    assert status == 2
    assert "could not download" in capsys.readouterr().err
    assert not out.exists()


def test_02_word2vec_learns_vectors_with_sensible_neighbours(series):
    text = printed(series.out_dir / "02_word2vec.ipynb")
    assert "words got a 100-dimensional vector" in text
    assert re.search(r"embedding matrix \(\d{4}, 100\)", text)
    assert "coffee" in text and "tea" in text  # the neighbours table
    assert (series.out_dir / "figures" / "02_word_map.png").stat().st_size > 20_000


def metrics(model_dir) -> dict:
    return json.loads((model_dir / "metrics.json").read_text())


def test_03_lstm_trains_evaluates_and_saves(series):
    models = series.out_dir / "models"
    for name in ("original", "tuned"):
        assert metrics(models / f"lstm-{name}")["n"] == 200
        assert (models / f"lstm-{name}" / "model.keras").exists()
    # On the easy 1-vs-5 split, three epochs of the tuned recipe are clearly above chance.
    assert metrics(models / "lstm-tuned")["roc_auc"] > 0.7
    text = printed(series.out_dir / "03_lstm.ipynb")
    assert "trainable weights: 761,202" in text
    assert "identical predictions: True" in text
    assert "TF-IDF + logistic regression" in text
    for figure in ("03_training_curves", "03_roc_confusion", "03_word2vec_vs_random"):
        assert (series.out_dir / "figures" / f"{figure}.png").stat().st_size > 10_000


def test_04_han_trains_explains_and_reloads(series):
    models = series.out_dir / "models"
    assert metrics(models / "han-tuned")["roc_auc"] > 0.7
    text = printed(series.out_dir / "04_han.ipynb")
    assert "trainable weights: 942,102" in text
    assert "weight on padding: 0.0 | on empty sentences: 0.0" in text
    assert "identical predictions: True" in text
    assert "truncated: " in text and "of the words are in the vocabulary" in text
    html = (series.out_dir / "04_han.html").read_text()
    assert html.count("rgba(255,152,0,") > 50  # highlighted words of the example reviews
    for figure in ("04_training_curves", "04_roc_confusion"):
        assert (series.out_dir / "figures" / f"{figure}.png").stat().st_size > 10_000


def test_05_backends_benchmarks_every_case_and_plots_it(series):
    rows = json.loads((series.out_dir / "benchmark" / "results.json").read_text())["cases"]
    cases = {(row["backend"], row["model"], row["mask"], row["recipe"]) for row in rows}
    recipes = [(False, "padded"), (True, "padded"), (True, "fast")]
    assert cases == {
        (b, model, *recipe)
        for b in ("tensorflow", "jax", "torch")
        for model in ("lstm", "han")
        for recipe in recipes
    }
    assert all(row["status"] == "ok" and row["seconds_median"] > 0 for row in rows)
    assert (series.out_dir / "figures" / "05_backends.png").stat().st_size > 10_000
    text = printed(series.out_dir / "05_backends.ipynb")
    assert "cntk: retired" in text


def test_06_trains_on_two_devices_as_on_one(series):
    text = printed(series.out_dir / "06_beyond_one_device.ipynb")
    assert "TensorFlow: 2 logical CPU devices" in text
    assert "trained on 2 devices via tf.distribute.MirroredStrategy" in text
    gap = float(re.search(r"largest difference in the training loss: (\S+)", text).group(1))
    assert gap < 1e-4
    models = series.out_dir / "models"
    assert (models / "lstm-1-device" / "model.keras").exists()
    assert (models / "lstm-2-devices" / "model.keras").exists()
