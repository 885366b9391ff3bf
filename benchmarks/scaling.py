"""Training throughput on 1 and N devices: data-parallel training, measured.

    python benchmarks/scaling.py --data output/workshop/data --devices 1,2
    python benchmarks/scaling.py --data output/split --devices 1,2,4,8 --gpu   # on a GPU machine

Each (backend, devices) case is one ``python -m helpers train --devices N`` run in its
own process, the same command a user types (``torchrun`` for PyTorch), on the same split
and the same global batch; this prints reviews per second over the timed epochs (the
median epoch, from the run's ``history.csv``, after a first epoch that traces or
compiles) and the speed-up over one device. Without ``--gpu`` the devices are virtual
CPU devices (``--cpu-devices N``): they share this machine's cores, so they show the
engine at work and its overhead, not a speed-up; on GPUs each device is a card.
docs/scaling.md sets these against a model on paper (``benchmarks/scaling_model.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from helpers.distribute import torchrun_command


def train_command(backend, devices, split, out, model, epochs, gpu, changes) -> list[str]:
    """The ``helpers train`` command line of one case (``torchrun`` for PyTorch)."""
    arguments = ["train", "--model", model, "--data", str(split), "--out", str(out),
                 "--epochs", str(epochs), "--no-word2vec", "--devices", str(devices)]  # fmt: skip
    for change in changes:
        arguments += ["--set", change]
    if backend == "torch":
        return torchrun_command(devices, arguments)
    if not gpu:
        arguments += ["--cpu-devices", str(devices)]
    return [sys.executable, "-m", "helpers", *arguments]


def run_case(backend, devices, split, out, model="lstm", epochs=3, gpu=False, changes=()):
    """Train one case; returns a row: backend, devices, seconds per epoch, reviews/s."""
    command = train_command(backend, devices, split, out, model, epochs, gpu, changes)
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    row = {"backend": backend, "model": model, "devices": devices}
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return row | {"status": "failed", "reason": lines[-1]}
    history = pd.read_csv(Path(out) / "history.csv")
    seconds = float(history["seconds"].iloc[1:].median())  # the first epoch traces
    reviews = len(pd.read_parquet(Path(split) / "train.parquet")) * 0.9  # about: 10% validate
    return row | {"status": "ok", "seconds_per_epoch": round(seconds, 2),
                  "reviews_per_second": round(reviews / seconds, 1)}  # fmt: skip


def scaling_table(rows: list[dict]) -> pd.DataFrame:
    """The rows with each backend's speed-up over its one-device run."""
    frame = pd.DataFrame(rows)
    if "reviews_per_second" not in frame:
        return frame
    one = frame[frame["devices"] == 1].set_index("backend")["reviews_per_second"]
    frame["speed_up"] = (frame["reviews_per_second"] / frame["backend"].map(one)).round(2)
    return frame


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a split folder (helpers data, notebook 01)")
    parser.add_argument("--backends", default="tensorflow,jax", help="comma-separated")
    parser.add_argument("--devices", default="1,2", help="comma-separated device counts")
    parser.add_argument("--model", default="lstm", choices=("lstm", "han"))
    parser.add_argument("--epochs", type=int, default=3, help="the first one is not timed")
    parser.add_argument("--gpu", action="store_true", help="real GPUs, not virtual CPU devices")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs: at least 2 (the first one traces or compiles)")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            for devices in map(int, args.devices.split(",")):
                out = Path(folder) / f"{backend}-{devices}"
                rows.append(run_case(backend, devices, args.data, out, args.model,
                                     args.epochs, args.gpu, args.set))  # fmt: skip
                print(rows[-1], flush=True)
    print(scaling_table(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
