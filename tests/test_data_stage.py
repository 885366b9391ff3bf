"""benchmarks/data_stage.py on a small file: every step runs, the word2vec cap holds."""

import gzip
from pathlib import Path

import pytest

from helpers import data
from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def data_stage():
    return load_benchmark("data_stage")


@pytest.fixture
def snap_file(tmp_path) -> Path:
    records = []
    for n in range(80):
        score = (1, 2, 3, 4, 5)[n % 5]
        text = f"Review {n} of the tea. It tasted {'bad' if score < 3 else 'good'}! Dr. No agrees."
        records.append(
            f"product/productId: B{n}\nreview/userId: A{n}\nreview/score: {score}.0\n"
            f"review/summary: s\nreview/text: {text}\n\n"
        )
    path = tmp_path / "reviews.txt.gz"
    with gzip.open(path, "wt", encoding="latin-1") as handle:
        handle.write("".join(records))
    return path


def test_every_step_is_timed_and_the_word2vec_cap_holds(data_stage, snap_file, tmp_path):
    settings = {"source": "finefoods", "labels": "12v45", "n_train": 20, "n_test": 10,
                "word2vec_unlabelled": 7}  # fmt: skip
    out = tmp_path / "out"
    steps = data_stage.run(snap_file, settings, out, workers=1)
    assert [s["step"] for s in steps] == ["parse", "sample", "sentences", "encode", "word2vec"]
    assert all(s["seconds"] >= 0 and s["peak_mb"] > 0 for s in steps)
    assert "20 train, 10 test, 7 unlabelled" in steps[1]["what"]
    assert len(data.read_unlabelled(out / "data")) == 7
    assert steps[4]["what"].startswith("27 reviews")
    table = data_stage.format_steps(steps)
    assert table.splitlines()[0].split()[:4] == ["step", "seconds", "CPU", "s"]
    assert table.splitlines()[-1].startswith("total")


def test_the_splitter_comparison_reports_speed_and_agreement(data_stage, snap_file):
    assert data_stage.regex_sentences("Dr. No agrees. It is good!\nYes") == [
        "Dr. No agrees.",
        "It is good!",
        "Yes",
    ]
    line = data_stage.compare_splitters(snap_file, 50)
    assert line.startswith("splitters on 50 reviews of reviews.txt.gz: pysbd ")
    assert "the same sentences for 100.0% of reviews" in line
