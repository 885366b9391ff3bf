"""What a learner sees: start-up chatter held back, real errors and warnings kept."""

import logging
import os
import re
import subprocess
import sys
import warnings

import pytest

from helpers import backend


def test_native_startup_noise_is_dropped_and_other_lines_kept(capfd, monkeypatch):
    monkeypatch.setattr(backend, "has_nvidia_driver", lambda: False)
    with backend.quiet_native_startup():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are\n")
        os.write(2, b"I0000 00:00:1796138080.399166 4761 port.cc:153] oneDNN custom operations\n")
        os.write(
            2, b"E0000 00:00:1796138085.742779 4761 cuda_platform.cc:52] failed call to cuInit\n"
        )
        os.write(2, b"E0000 00:00:1796138085.742779 4761 other.cc:1] a real error\n")
    err = capfd.readouterr().err
    assert err.strip() == "E0000 00:00:1796138085.742779 4761 other.cc:1] a real error"


def test_cuinit_failure_shows_where_an_nvidia_driver_is_loaded(capfd, monkeypatch):
    monkeypatch.setattr(backend, "has_nvidia_driver", lambda: True)
    with backend.quiet_native_startup():
        os.write(
            2, b"E0000 00:00:1796138085.742779 4761 cuda_platform.cc:52] failed call to cuInit\n"
        )
    assert "cuInit" in capfd.readouterr().err


def test_only_the_expected_python_warnings_are_silenced(caplog):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        backend.quiet_known_warnings()  # the filters are (re)installed inside the block
        warnings.warn(
            "Skipping variable loading for optimizer 'adam', because it has 2 variables "
            "whereas the saved optimizer has 14 variables.",
            stacklevel=1,
        )
        warnings.warn("a real warning", stacklevel=1)
    assert [str(w.message) for w in caught] == ["a real warning"]
    tf_logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        tf_logger.warning("5 out of the last 5 calls to <f> triggered tf.function retracing.")
        tf_logger.warning("a real warning")
    assert [record.getMessage() for record in caplog.records] == ["a real warning"]


def test_a_masked_layer_after_activate_writes_no_onednn_note():
    """oneDNN's one-time note about boolean ops on CPUs without AVX-512 ("supports
    DT_BOOL only …", logged as an error) comes out inside ``activate``'s quiet block,
    not under a later cell that runs a masked recurrent layer (notebooks 04 and 05)."""
    if not backend.is_installed("tensorflow"):
        pytest.skip("the note is TensorFlow's")
    script = (
        "import numpy as np\n"
        "from helpers import backend\n"
        "print(backend.activate('tensorflow'))\n"
        "import keras\n"
        "rows, mask = np.ones((2, 5, 3), 'float32'), np.array([[True] * 5, [True] + [False] * 4])\n"
        "keras.layers.Bidirectional(keras.layers.GRU(4))(rows, mask=mask)\n"
        "print('masked layer ran')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "masked layer ran" in done.stdout
    assert "DT_BOOL" not in done.stderr, done.stderr[-2000:]


# The lines TensorFlow's C++ core writes while it starts (``backend.STARTUP_NOISE``,
# ``NO_GPU_ERROR``, ``ONEDNN_BOOL_NOTE``), as a user of the command line would see them.
NATIVE_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d|WARNING: All log messages before absl)|oneDNN|cuInit|cuda"
)

TQDM_BAR = re.compile(r"\| *[\d.]+[kM]?/[\d.?]+[kM]? \[")  # "…| 3/10 [00:01<00:02, 6.2epoch/s]"


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "helpers", *map(str, args)],
        env=environment, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def own_lines(stderr: str) -> list[str]:
    """What the project itself may write to stderr: notes, and tqdm's progress bars
    (which redraw with carriage returns)."""
    lines = [part for line in stderr.splitlines() for part in line.split("\r") if part.strip()]
    noise = [line for line in lines if NATIVE_LOG_LINE.search(line)]
    assert not noise, "\n".join(noise)
    return [line for line in lines if not line.startswith("note: ") and not TQDM_BAR.search(line)]


@pytest.fixture(scope="module")
def saved_models(tiny_models, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("saved")
    return {name: classifier.save(out / name) for name, classifier in tiny_models.items()}


needs_tensorflow = pytest.mark.skipif(
    not backend.is_installed("tensorflow"), reason="the start-up lines are TensorFlow's"
)


@needs_tensorflow
@pytest.mark.shared_data
@pytest.mark.slow
def test_the_command_line_writes_no_tensorflow_startup_lines(small_split, saved_models, tmp_path):
    """train, evaluate and predict on the TensorFlow backend: the answer on stdout,
    and nothing on stderr but the project's own notes and progress bars."""
    train = run_cli(
        "train", "--model", "lstm", "--data", small_split, "--out", tmp_path / "lstm",
        "--epochs", "1", "--no-word2vec",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    assert "test accuracy" in train.stdout
    evaluate = run_cli(
        "evaluate", "--model", saved_models["lstm"], "--data", small_split / "test.parquet"
    )
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    predict = run_cli("predict", "--model", saved_models["han"], "--explain", "Lovely tea.")
    assert predict.returncode == 0, predict.stderr[-3000:]
    # Keras loads TensorFlow on the other backends too, wherever it is installed.
    others = [
        run_cli("predict", "--model", saved_models["lstm"], "Lovely tea.", env={"KERAS_BACKEND": b})
        for b in ("jax", "torch")
        if backend.is_installed(b)
    ]
    for done in (train, evaluate, predict, *others):
        assert done.returncode == 0, done.stderr[-3000:]
        assert own_lines(done.stderr) == [], done.stderr[-3000:]


@needs_tensorflow
@pytest.mark.shared_data
def test_the_quiet_command_line_still_shows_real_errors(saved_models, tmp_path):
    missing = run_cli("predict", "--model", tmp_path / "nothing", "Lovely tea.")
    assert missing.returncode == 2
    assert own_lines(missing.stderr) == [missing.stderr.strip()]
    assert missing.stderr.startswith("error: ") and "no such model directory" in missing.stderr
    unknown = run_cli(
        "predict", "--model", saved_models["lstm"], "x", env={"KERAS_BACKEND": "mxnet"}
    )
    assert unknown.returncode != 0 and "Unknown Keras backend 'mxnet'" in unknown.stderr
    # A Python error while Keras starts (here a Keras that fails to import) keeps its traceback.
    shadow = tmp_path / "shadow" / "keras"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise RuntimeError('a broken Keras install')\n")
    broken = run_cli(
        "predict",
        "--model",
        saved_models["lstm"],
        "x",
        env={"PYTHONPATH": f"{shadow.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )
    assert broken.returncode == 1
    assert "Traceback" in broken.stderr and "RuntimeError: a broken Keras install" in broken.stderr


@needs_tensorflow
@pytest.mark.shared_data
@pytest.mark.slow
def test_the_benchmark_and_its_cases_write_no_tensorflow_startup_lines(shared_data, tmp_path):
    """``python -m helpers bench``: the parent (which encodes the data with Keras) writes
    only its bar to stderr, and a case's log holds no start-up lines either."""
    sizes = ["--set", "units=4", "--set", "embedding_dim=8", "--set", "max_words=40"]
    done = run_cli(
        "bench", "--backends", "tensorflow", "--models", "lstm", "--masks", "off",
        "--recipes", "padded", "--data-dir", shared_data, "--docs", "32", "--test-docs", "20",
        "--repeats", "1", "--warmup", "0", "--out", tmp_path, *sizes,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LSTM · tensorflow · mask off: " in done.stdout
    assert own_lines(done.stderr) == [], done.stderr[-3000:]
    log = (tmp_path / "cases" / "lstm-tensorflow-nomask" / "log.txt").read_text()
    assert own_lines(log) == [], log[-3000:]
