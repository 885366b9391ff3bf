"""What a learner sees: start-up chatter held back, real errors and warnings kept."""

import logging
import os
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
    import subprocess
    import sys

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
