"""What padding costs: the seed's padded recipe against the device's, per model and backend.

    python benchmarks/padding.py --data-dir ../shared/data --docs 10000 --out output/padding

``--recipe`` names the recipe to set against the padded one: ``auto`` (default: the one
the tuned configs take on the device each case runs on, "fast" on a CPU and "bucketed"
on a GPU), or ``fast`` or ``bucketed`` by name. With ``--results DIR`` it prints the pairs
of an earlier ``python -m helpers bench --recipes padded,auto`` run instead of running one.

With ``--tuned`` it checks instead that the fast recipe learns what the padded one
learns, with a recipe that learns in a few epochs (the seed's SGD barely moves in
three): the tuned LSTM and HAN trained on the Fine Foods split of
``benchmarks/accuracy.py`` twice, once on fully padded batches and once on the fast
ones (``--recipe``; on a CPU trimmed batches and packed sentences for the HAN), same
seed, same epochs, on the active backend; it prints seconds per epoch and test
accuracy and AUC of both::

    python benchmarks/padding.py --tuned --data-dir ../shared/data --epochs 5

Both recipes train the seed's model with the seed's optimizer, in one run, on the same
data, each case in its own process (``helpers.bench``). *padded* is the seed's
training: every batch padded to 300 words (LSTM) or 15 × 50 (HAN), the LSTM unmasked.
*fast* (``recipe="fast"``, ``helpers.fast``) masks padding with length-aware layers,
batches documents of similar length and pads each batch only to its own longest
document; *bucketed* (the GPU's) cuts each batch to one of a few fixed lengths instead.
For each pair this prints
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
    parser.add_argument("--out", help="output folder (default output/padding, or -tuned)")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--models", default="lstm,han")
    parser.add_argument("--docs", type=int, default=10_000, help="training documents")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs after one warm-up")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per case")
    parser.add_argument(
        "--recipe", default="auto", choices=["auto", "fast", "bucketed"],
        help="the recipe to set against the padded one (auto: the device's)",
    )  # fmt: skip
    parser.add_argument("--tuned", action="store_true", help="compare accuracy, tuned recipes")
    parser.add_argument("--epochs", type=int, default=5, help="epochs for --tuned")
    args = parser.parse_args()

    from helpers import bench, bench_report

    if args.tuned:
        if not args.data_dir:
            parser.error("--tuned needs --data-dir")
        out = Path(args.out or "output/padding-tuned")
        table = tuned_pairs(args.data_dir, out, args.models.split(","), args.epochs, args.recipe)
        print(table.to_string())
        return
    if args.results:
        print(pairs(bench_report.read_results(args.results)).to_string(index=False))
        return
    if not args.data_dir:
        parser.error("give --data-dir to run the benchmark, or --results to read one")
    cases = [
        case
        for case in bench.cases_for(args.backends, args.models, "off,on", f"padded,{args.recipe}")
        if case.recipe != "padded" or case.mask == SEED_MASK[case.model]
    ]
    data = bench.data_from_source(data_dir=args.data_dir, docs=args.docs)
    frame = bench.run_benchmark(
        cases, data, Path(args.out or "output/padding"), repeats=args.repeats, timeout=args.timeout
    )
    print(pairs(frame).to_string(index=False))


def pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, backend): padded against the other recipe (fast or bucketed)."""
    rows = []
    for (model, backend), group in frame.groupby(["model", "backend"], sort=False):
        seed_recipe = (group["recipe"] == "padded") & (group["mask"] == SEED_MASK[model])
        if not seed_recipe.any() or not (group["recipe"] != "padded").any():
            continue
        padded = group[seed_recipe].iloc[0]
        fast = group[group["recipe"] != "padded"].iloc[0]
        ran = padded["status"] == fast["status"] == "ok"
        rows.append(
            {
                "model": model.upper(),
                "backend": backend,
                "device": fast["device"],
                "recipe": fast["recipe"],
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


def tuned_pairs(data_dir, out: Path, names, epochs: int, recipe="auto", seed: int = 42):
    """Tuned configs trained padded and with ``recipe`` on the Fine Foods split: a column
    per model in ``names`` (the "fast" rows are that recipe's, named in the "recipe" row)."""
    import keras

    from helpers import data, evaluate, models, train
    from helpers.backend import describe_active

    print(describe_active())
    split_dir = out / "data"
    data.prepare_split("finefoods", labels="12v45", n_train="all", n_test="all",
                       out_dir=split_dir, data_dir=data_dir, seed=seed)  # fmt: skip
    train_df, test_df, _ = data.read_split(split_dir)
    rows = []
    for model in names:  # (not ``models``: that is the module imported above)
        row = {"model": model.upper(), "backend": keras.backend.backend()}
        for name in ("padded", "fast"):
            chosen = "padded" if name == "padded" else recipe
            classifier, run = train.fit_classifier(
                models.named_config(model, "tuned", recipe=chosen),
                train_df["text"], train_df["label"], out / f"{model}-{name}",
                unlabelled_texts=data.read_unlabelled(split_dir), epochs=epochs, seed=seed,
                verbose=0,
            )  # fmt: skip
            metrics = evaluate.classification_metrics(
                test_df["label"], classifier.predict(test_df["text"])
            )
            if name == "fast":
                row["recipe"] = classifier.config.recipe
            row |= {
                f"{name} s/epoch": round(run.seconds_per_epoch, 2),
                f"{name} accuracy": round(metrics["accuracy"], 4),
                f"{name} AUC": round(metrics["roc_auc"], 4),
                f"{name} best epoch": run.best_epoch,
            }
        row["speed-up"] = round(row["padded s/epoch"] / row["fast s/epoch"], 1)
        row["accuracy change (points)"] = round(
            100 * (row["fast accuracy"] - row["padded accuracy"]), 2
        )
        rows.append(row)
    return pd.DataFrame(rows).set_index("model").T


if __name__ == "__main__":
    main()
