"""The GPU targets, checked on the results of ``benchmarks/gpu.sh``: PASS or FAIL each.

    python benchmarks/gpu_targets.py output/gpu/lstm output/gpu/han

Reads the ``results.json`` of each folder (``python -m helpers bench --recipes
padded,auto`` runs), pairs the seed's padded recipe with the device's per model and
backend (``padding.pairs``) and checks, for each pair:

- the device's recipe ("auto": "bucketed" on a GPU) ran on a GPU;
- it is at least ``MIN_SPEED_UP`` times faster than the padded one;
- its seconds per 10,000-review epoch are under ``MAX_SECONDS`` for the model (scaled
  from the run's own number of training reviews);
- its warm-up epoch (tracing, or JAX's compilation: the number of programs JAX
  compiled is printed with it) took under ``MAX_WARMUP_SECONDS``.

Exit status 1 when a target fails, 0 when all pass. ``--dry-run`` (a CPU run at tiny
sizes, as ``gpu.sh --cpu`` makes) prints the same lines and always exits 0: the
targets are for a GPU.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # padding.py, next to this script
from padding import pairs  # noqa: E402

MIN_SPEED_UP = 3.0  # the device's recipe against the padded one
MAX_SECONDS = {"lstm": 0.5, "han": 0.7}  # per 10,000-review epoch, the device's recipe
MAX_WARMUP_SECONDS = 20.0
EPOCH_DOCS = 10_000


def check_targets(frame: pd.DataFrame, on_gpu: bool = True) -> list[tuple[bool, str]]:
    """``(passed, line)`` for each target and pair of ``frame`` (bench result rows).

    ``on_gpu=False`` leaves out the "ran on a GPU" target (a dry run on a CPU).
    """
    tuned_rows = frame[frame["recipe"].fillna("padded") != "padded"]
    checks = []
    for pair in pairs(frame).to_dict("records"):
        name = f"{pair['model']} · {pair['backend']}"
        if isinstance(pair["speed-up"], str):  # one of the two cases failed
            checks.append((False, f"{name}: {pair['speed-up']}"))
            continue
        tuned = tuned_rows[
            (tuned_rows["model"] == pair["model"].lower())
            & (tuned_rows["backend"] == pair["backend"])
        ].iloc[0]
        recipe = tuned["recipe"]
        if on_gpu:
            device = str(tuned["device"])
            checks.append((device.startswith("GPU"), f"{name}: {recipe} ran on {device}"))
        checks.append((
            pair["speed-up"] >= MIN_SPEED_UP,
            f"{name}: {recipe} {pair['speed-up']:g}× faster than padded "
            f"({pair['fast s/epoch']:.3g} s against {pair['padded s/epoch']:.3g} s per epoch; "
            f"target ≥ {MIN_SPEED_UP:g}×)",
        ))  # fmt: skip
        seconds = tuned["seconds_median"] * EPOCH_DOCS / tuned["docs"]
        limit = MAX_SECONDS[pair["model"].lower()]
        checks.append((
            seconds < limit,
            f"{name}: {recipe} {seconds:.3g} s per {EPOCH_DOCS:,}-review epoch "
            f"(target < {limit:g} s)",
        ))  # fmt: skip
        compiles = tuned.get("jax_compiles")
        compiled = "" if pd.isna(compiles) else f", JAX compiled {int(compiles)}×"
        warmup = tuned["warmup_seconds"]
        checks.append((
            not math.isnan(warmup) and warmup < MAX_WARMUP_SECONDS,
            f"{name}: {recipe} warm-up epoch {warmup:.3g} s{compiled} "
            f"(target < {MAX_WARMUP_SECONDS:g} s)",
        ))  # fmt: skip
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="bench output folders (or results.json)")
    parser.add_argument("--dry-run", action="store_true", help="a CPU run: exit 0 regardless")
    args = parser.parse_args()

    from helpers.bench_report import read_results

    frame = pd.concat([read_results(path) for path in args.results], ignore_index=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pairs(frame).to_string(index=False))
    checks = check_targets(frame, on_gpu=not args.dry_run)
    for passed, line in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {line}")
    failed = sum(not passed for passed, _ in checks)
    if args.dry_run:
        print(f"dry run on a CPU at tiny sizes: {failed} of {len(checks)} failed, not counted")
        return 0
    print(f"{len(checks) - failed} of {len(checks)} targets passed")
    return 1 if failed or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
