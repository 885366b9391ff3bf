"""Data-parallel training (helpers.distribute) on virtual devices, each backend in its own
process: JAX with 2 forced host devices, TensorFlow with 2 logical CPU devices, PyTorch
DDP with gloo in 2 processes (tests/distributed_worker.py does the training)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

BACKENDS = ("tensorflow", "jax", "torch")


def _worker(backend: str, out, split, devices: str, processes: int = 1) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.distributed_worker", "--split", str(split),
               "--out", str(out), "--devices", devices]  # fmt: skip
    if processes > 1:
        launcher = ["-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
        command[1:3] = [*launcher, "-m", "tests.distributed_worker"]
    elif backend != "torch":
        command += ["--cpu-devices", "2"]
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO),
           "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip
    log = open(out.parent / f"{out.name}.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def records(small_split, tmp_path_factory) -> dict:
    """{backend: {"lstm-1": …, "lstm-2": …, "han-1": …, "han-2": …}} from every backend,
    trained side by side (JAX and TensorFlow: one process, 1 then 2 virtual devices;
    PyTorch: 2 processes under torchrun, then 1 plain one)."""
    root = tmp_path_factory.mktemp("distribute")
    runs = {
        "tensorflow": [_worker("tensorflow", root / "tensorflow", small_split, "1,2")],
        "jax": [_worker("jax", root / "jax", small_split, "1,2")],
        "torch": [
            _worker("torch", root / "torch-2", small_split, "2", processes=2),
            _worker("torch", root / "torch-1", small_split, "1"),
        ],  # fmt: skip
    }
    found = {}
    for backend, processes in runs.items():
        found[backend] = {}
        for process in processes:
            process.wait(timeout=600)
            out = root / process.args[process.args.index("--out") + 1].split("/")[-1]
            log = (out.parent / f"{out.name}.log").read_text()
            assert process.returncode == 0, f"{backend}: {log[-3000:]}"
            found[backend] |= json.loads((out / "record-0.json").read_text())
            if (out / "record-1.json").exists():  # the second PyTorch process
                found[backend]["rank-1"] = json.loads((out / "record-1.json").read_text())
    return found


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", ["lstm", "han"])
def test_two_devices_train_as_one_does(records, backend, model):
    """The same global batch (40) and seed on 2 devices and on 1: the same losses, epoch
    by epoch, since the all-reduced gradient of two halves is the whole batch's. (Dropout
    is 0: TensorFlow's replicas and PyTorch's processes draw their own dropout masks.)"""
    one, two = records[backend][f"{model}-1"], records[backend][f"{model}-2"]
    assert two["devices"].startswith("2 devices via") and one["devices"] == "1 device"
    assert one["recipe"] == two["recipe"]
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=2e-4)
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=2e-4)
    assert one["loss"][1] < one["loss"][0]  # it learns at all


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", ["lstm", "han"])
def test_every_device_gets_half_of_every_batch(records, backend, model):
    """Seen inside each engine's step (tests/distributed_worker.py says how): 2 devices
    take 20 documents each of every global batch of 40; on 1 device nothing is shared."""
    shares = records[backend][f"{model}-2"]["shares"]
    if backend == "jax":  # the shards of each array the step receives
        assert shares and all(sizes == [20, 20] for sizes in shares)
    elif backend == "tensorflow":  # (replica, its batch) per replica and step
        assert sorted({tuple(s) for s in shares}) == [(0, 20), (1, 20)]
        assert len(shares) == 2 * 9 * 2  # 2 replicas × 9 batches × 2 epochs
    else:  # (world size, this process's batch) per step, in each process
        rank_1 = records[backend]["rank-1"][f"{model}-2"]["shares"]
        assert shares == rank_1 == [[2, 20]] * (9 * 2)
    if backend == "tensorflow":
        assert {tuple(s) for s in records[backend][f"{model}-1"]["shares"]} == {(0, 40)}
    else:
        assert records[backend][f"{model}-1"]["shares"] == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ("3", "devices=3: the tensorflow backend sees 1 here"),
        ("0", "devices=0: give 1 or more devices, or 'all'"),
        ("two", "--devices 'two': give a number of devices or 'all'"),
    ],
)
def test_a_bad_device_count_is_one_line_and_writes_nothing(
    small_split, tmp_path, capsys, devices, message
):
    from helpers.cli import main

    out = tmp_path / "model"
    status = main(["train", "--model", "lstm", "--data", str(small_split), "--out", str(out),
                   "--devices", devices])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_a_batch_that_does_not_split_evenly_is_refused(monkeypatch):
    from helpers import distribute
    from helpers.data import DataError

    monkeypatch.setattr(distribute, "device_count", lambda backend: 2)
    with pytest.raises(DataError, match=r"^batch size 41 does not split evenly over 2 devices"):
        distribute.plan_devices(2, 41)
    with pytest.raises(DataError, match=r"^batch size 41 does not split evenly over 2 devices"):
        distribute.plan_devices("all", 41)


def test_pytorch_says_to_start_one_process_per_device(monkeypatch):
    from helpers import distribute
    from helpers.data import DataError

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(distribute, "device_count", lambda backend: 2)
    with pytest.raises(DataError, match="torchrun --nproc_per_node 2 -m helpers train"):
        distribute.plan_devices(2, 40, backend="torch")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(DataError, match="devices=1 under torchrun with 2 processes"):
        distribute.plan_devices(1, 40, backend="torch")
    with pytest.raises(DataError, match="devices=3: the torch backend sees 2"):
        distribute.plan_devices(3, 40, backend="torch")


def test_the_packed_han_trains_bucketed_where_batches_are_cut_between_devices():
    from helpers import distribute
    from tests.conftest import tiny_config

    han, lstm = tiny_config("han", recipe="fast"), tiny_config("lstm", recipe="fast")
    for backend in ("jax", "tensorflow"):
        changed, note = distribute.recipe_for(han, distribute.Plan(backend, devices=2))
        assert changed.recipe == "bucketed" and note.startswith("fast → bucketed")
        assert distribute.recipe_for(lstm, distribute.Plan(backend, devices=2)) == (lstm, "")
    # PyTorch's processes pack their own share of the documents.
    assert distribute.recipe_for(han, distribute.Plan("torch", 2, 2)) == (han, "")
    assert distribute.recipe_for(han, distribute.Plan("jax")) == (han, "")


def test_whole_batches_leaves_out_the_fewest_rows_for_even_shares():
    from helpers import distribute

    rows = np.arange(1332)
    with distribute.scope(distribute.Plan("torch", devices=2, processes=2)):
        kept = distribute.whole_batches(rows, 64, seed=0)
    batches = np.array_split(kept, -(-len(kept) // 64))
    assert len(kept) == 1302 and {len(batch) % 2 for batch in batches} == {0}
    assert distribute.whole_batches(rows, 64) is rows  # one device: all of them


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_cli_trains_on_two_devices_and_the_model_predicts_on_one(small_split, tmp_path):
    """``train --devices 2 --cpu-devices 2`` on TensorFlow with the real split; the saved
    model is the ordinary one and loads and predicts here, on one device."""
    from helpers.train import Classifier

    out = tmp_path / "models" / "lstm"
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "train", "--model", "lstm", "--data", str(small_split),
         "--out", str(out), "--epochs", "1", "--no-word2vec", "--devices", "2",
         "--cpu-devices", "2"],
        cwd=REPO, env={**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test accuracy" in done.stdout
    about = json.loads((out / "config.json").read_text())
    assert about["extra"]["devices"] == "2 devices via tf.distribute.MirroredStrategy"
    classifier = Classifier.load(out)
    probabilities = classifier.predict(["Wonderful coffee, I buy it every month.", "Stale."])
    assert probabilities.shape == (2,) and np.all((0 <= probabilities) & (probabilities <= 1))
