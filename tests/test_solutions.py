"""The worked solutions to the notebooks' exercises run and their checks hold."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

SOLUTIONS = REPO / "notebooks" / "solutions"


def run_solution(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SOLUTIONS / name), *args],
        cwd=SOLUTIONS,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_notebook_with_exercises_has_its_solutions():
    with_exercises = [
        path.stem
        for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        if "## Exercises" in path.read_text()
    ]
    assert {"02_word2vec", "03_lstm", "04_han", "05_backends", "06_beyond_one_device"} <= set(
        with_exercises
    )
    for stem in with_exercises:
        assert (SOLUTIONS / f"{stem}.py").is_file(), stem


@pytest.mark.slow
@pytest.mark.shared_data
def test_notebook_02_solutions(shared_data):
    output = run_solution("02_word2vec.py", "--data-dir", str(shared_data))
    assert "2. embedding_dim=50: 421,202 weights (predicted 421,202)" in output
    assert output.count("1. window") == 2 and output.count("3. min_count") == 2


@pytest.mark.slow
@pytest.mark.shared_data
def test_notebook_03_solutions(shared_data):
    output = run_solution("03_lstm.py", "--data-dir", str(shared_data))
    assert "1. GRU seed network: 721,602 weights (predicted 721,602)" in output
    assert output.count("3. seed") == 2


@pytest.mark.slow
def test_notebook_04_solutions():
    output = run_solution("04_han.py")
    assert "2. context_dim=200: 982,502 weights (predicted 982,502)" in output


@pytest.mark.slow
def test_notebook_05_solutions():
    output = run_solution("05_backends.py")
    assert "1. padding: 76% of the grid, 15% of the packed lanes" in output


@pytest.mark.slow
@pytest.mark.shared_data
def test_notebook_06_solutions(shared_data):
    output = run_solution("06_beyond_one_device.py", "--data-dir", str(shared_data))
    assert "1. global batches that work on 4 devices: [24, 28, 32, 36, 40]" in output
    assert "3. 8 devices: global batch 128, 1320 reviews, 11 steps, learning rate 0.004" in output
