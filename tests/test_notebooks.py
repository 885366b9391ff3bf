"""Execute the whole notebook series once (the "smoke" preset, real data) and
check what each notebook wrote and printed, not just that it ran."""

import json

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
    assert names[0] == "01_data.ipynb"
    for executed in series.executed:
        assert executed.with_suffix(".html").stat().st_size > 10_000


def test_01_data_writes_the_balanced_split_and_its_figures(series):
    work = series.out_dir
    manifest = json.loads((work / "data" / "manifest.json").read_text())
    assert manifest["train"] == manifest["test"] == {"negative": 200, "positive": 200}
    assert manifest["parse"]["kept"] == 9659 and manifest["labels"] == "12v45"
    for figure in ("01_ratings.png", "01_lengths.png", "01_sample_balance.png"):
        assert (work / "figures" / figure).stat().st_size > 5_000
    text = printed(work / "01_data.ipynb")
    assert "read 9,659 records" in text
    assert "train {'negative': 200, 'positive': 200}" in text
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
