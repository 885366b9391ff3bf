"""Backends: switching, the report, the refusal of retired ones, and saved models that
load and predict the same under every live backend (one process per backend)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers.backend import LIVE_BACKENDS, RETIRED_BACKENDS, describe_active, is_installed

INSTALLED = [name for name in LIVE_BACKENDS if is_installed(name)]


def run_helpers(*args, backend=None, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if backend:
        env["KERAS_BACKEND"] = backend
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=600, **kwargs
    )


@pytest.mark.parametrize("name", sorted(RETIRED_BACKENDS))
def test_a_retired_backend_stops_with_an_explanation_not_a_traceback(name):
    by_flag = run_helpers("-m", "helpers", "backends", "--backend", name)
    by_env = run_helpers("-m", "helpers", "backends", backend=name)
    for done in (by_flag, by_env):
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("error: ") and "cannot run any more" in done.stderr
        assert "KERAS_BACKEND=jax" in done.stderr  # what to use instead
        assert len(done.stderr.splitlines()) == 1


def test_backends_command_lists_every_backend_with_versions_and_devices():
    done = run_helpers("-m", "helpers", "backends")
    assert done.returncode == 0, done.stderr
    for name in INSTALLED:
        assert f"{name}: ok (keras 3." in done.stdout
    assert done.stdout.count("device CPU: ") == len(INSTALLED)
    assert "cntk: retired" in done.stdout and "theano: retired" in done.stdout


def test_describe_active_names_keras_backend_and_device():
    import keras

    line = describe_active()
    assert line.startswith(f"Keras {keras.__version__} · backend {keras.backend.backend()} ")
    assert "· device: CPU (" in line or "· device: GPU (" in line


# Saves tiny models under one backend, or loads them under another, and writes the
# predictions; run with KERAS_BACKEND set, as a fresh process.
ROUND_TRIP = """
import json, sys
from pathlib import Path
import numpy as np
from helpers import train
from helpers.models import compile_model, model_kind, named_config

folder, texts = Path(sys.argv[2]), json.loads(sys.argv[3])
sizes = {"num_words": 200, "embedding_dim": 8, "units": 4, "batch_size": 8, "epochs": 1}
configs = {
    "lstm-mask": named_config("lstm", "original", mask=True, padding="post", max_words=30,
                              **sizes),
    "lstm-lengths": named_config("lstm", "tuned", max_words=30, **sizes),
    "han": named_config("han", "original", max_sentences=4, words_per_sentence=12,
                        context_dim=4, learning_rate=0.1, **sizes),
}
predictions = {}
for name, config in configs.items():
    if sys.argv[1] == "save":
        encoder = train.text_encoder_for(config, texts)
        ids, _ = encoder.encode(texts, model_kind(config).text_layout)
        model = compile_model(model_kind(config).build(config), config)
        model.fit(ids, np.arange(len(texts)) % 2, epochs=3, batch_size=8, verbose=0)
        classifier = train.Classifier(model, encoder, config)
        classifier.save(folder / name)
    else:
        classifier = train.Classifier.load(folder / name)
    predictions[name] = classifier.predict(texts).tolist()
print(json.dumps(predictions))
"""


def test_a_model_saved_under_one_backend_predicts_the_same_under_the_others(tmp_path):
    if len(INSTALLED) < 2:
        pytest.skip("needs two installed backends")
    words = "great tea smooth fresh awful stale bitter sweet coffee chips salsa love hate".split()
    rng = np.random.default_rng(0)
    texts = [
        ". ".join(" ".join(rng.choice(words, 5)) for _ in range(rng.integers(1, 6))) + "."
        for _ in range(32)
    ]
    saver, *loaders = INSTALLED
    results = {}
    for backend, action in [(saver, "save"), *((name, "load") for name in loaders)]:
        done = run_helpers(
            "-c", ROUND_TRIP, action, str(tmp_path), json.dumps(texts), backend=backend
        )
        assert done.returncode == 0, done.stderr[-2000:]
        results[backend] = json.loads(done.stdout.strip().splitlines()[-1])
    for name, saved in results[saver].items():
        assert np.ptp(saved) > 1e-3, f"{name}: predictions do not depend on the text"
        for backend in loaders:
            np.testing.assert_allclose(
                results[backend][name], saved, atol=1e-4, err_msg=f"{name} under {backend}"
            )


def test_activate_stops_a_notebook_with_the_explanation():
    from helpers.backend import activate

    with pytest.raises(SystemExit, match="cannot run any more"):
        activate("theano")


@pytest.fixture
def only_tensorflow(monkeypatch):
    """The README's default install: TensorFlow, and neither JAX nor PyTorch."""
    from helpers import backend

    if not is_installed("tensorflow"):
        pytest.skip("needs TensorFlow installed")
    monkeypatch.setattr(backend, "is_installed", lambda name: name == "tensorflow")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)


def test_backends_on_a_one_backend_install_lists_the_others_and_succeeds(only_tensorflow, capsys):
    from helpers.cli import main

    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "tensorflow: ok" in out
    assert "jax: not installed" in out and "BACKEND=jax make run" in out
    assert "torch: not installed" in out


@pytest.mark.parametrize(
    "args, env, says",
    [
        (["backends", "--backend", "jax"], {}, "jax, the backend asked for, is not installed"),
        (["backends"], {"KERAS_BACKEND": "torch"}, "torch, the backend active "
         "($KERAS_BACKEND, default tensorflow), is not installed"),
    ],
)  # fmt: skip
def test_backends_fails_when_the_backend_wanted_cannot_run(
    only_tensorflow, monkeypatch, capsys, args, env, says
):
    from helpers.cli import main

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: {says}\n"
    assert f"{(args[2:] or [env.get('KERAS_BACKEND')])[0]}: not installed" in captured.out
