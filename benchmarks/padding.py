"""What padding costs: the seed's padded recipe against the fast one, per model and backend.

    python benchmarks/padding.py --data-dir ../shared/data --docs 10000 --out output/padding

With ``--results DIR`` it prints the pairs of an earlier ``python -m helpers bench
--recipes padded,fast`` run instead of running one.

Both recipes train the seed's model with the seed's optimizer, in one run, on the same
data, each case in its own process (``helpers.bench``). *padded* is the seed's
training: every batch padded to 300 words (LSTM) or 15 × 50 (HAN), the LSTM unmasked.
*fast* masks padding through ``rnn_masking="lengths"``, batches documents of similar
length and pads each batch only to its own longest document. For each pair this prints
seconds per epoch of both and their ratio, peak memory of both, and test accuracy of
both after the same epochs. Targets: LSTM at least 3× and HAN at least 5× faster, with
accuracy within 0.5 points.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

SEED_MASK = {"lstm": False, "han": True}  # the seed's own masking, per model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder with the raw review files")
    parser.add_argument("--results", help="a bench output folder to read instead of running")
    parser.add_argument("--out", default="output/padding")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--models", default="lstm,han")
    parser.add_argument("--docs", type=int, default=10_000, help="training documents")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs after one warm-up")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per case")
    args = parser.parse_args()

    from helpers import bench

    if args.results:
        print(pairs(bench.read_results(args.results)).to_string(index=False))
        return
    if not args.data_dir:
        parser.error("give --data-dir to run the benchmark, or --results to read one")
    cases = [
        case
        for case in bench.cases_for(args.backends, args.models, "off,on", "padded,fast")
        if case.recipe == "fast" or case.mask == SEED_MASK[case.model]
    ]
    data = bench.data_from_source(data_dir=args.data_dir, docs=args.docs)
    frame = bench.run_benchmark(
        cases, data, Path(args.out), repeats=args.repeats, timeout=args.timeout
    )
    print(pairs(frame).to_string(index=False))


def pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, backend): padded against fast."""
    rows = []
    for (model, backend), group in frame.groupby(["model", "backend"], sort=False):
        seed_recipe = (group["recipe"] == "padded") & (group["mask"] == SEED_MASK[model])
        if not seed_recipe.any() or not (group["recipe"] == "fast").any():
            continue
        padded = group[seed_recipe].iloc[0]
        fast = group[group["recipe"] == "fast"].iloc[0]
        ran = padded["status"] == fast["status"] == "ok"
        rows.append(
            {
                "model": model.upper(),
                "backend": backend,
                "padded s/epoch": padded["seconds_median"],
                "fast s/epoch": fast["seconds_median"],
                "speed-up": round(padded["seconds_median"] / fast["seconds_median"], 1)
                if ran
                else f"failed: {padded['reason'] if padded['status'] != 'ok' else fast['reason']}",
                "padded peak MB": padded["peak_memory_mb"],
                "fast peak MB": fast["peak_memory_mb"],
                "padded accuracy": padded["accuracy"],
                "fast accuracy": fast["accuracy"],
            }
        )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
