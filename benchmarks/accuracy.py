"""Test accuracy and ROC AUC of the networks next to the TF-IDF baseline, on the same splits.

    python benchmarks/accuracy.py --data-dir ../shared/data --out output/accuracy

Splits: ``finefoods`` is the Fine Foods sample, balanced 1-2 vs 4-5 stars with every
negative review used, half train and half test; ``imdb`` is a balanced 10,000 / 10,000
split of the IMDB training half. Prints a Markdown table (for the README) and writes
``results.json``. Every step calls the functions the notebooks call.

IMDB reviews are three times as long as Fine Foods ones (242 words on average, and
11.8 sentences): the tuned configs' 300 words would cut a quarter of them, so on that
split the networks read more (``SIZES``), and the table says so in each row's name.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

SPLITS = {
    "finefoods": {"source": "finefoods", "labels": "12v45", "n_train": "all", "n_test": "all"},
    "imdb": {"source": "imdb", "labels": "given", "n_train": 10000, "n_test": 10000},
}
# Config changes per split and model, for long reviews (see the module docstring).
SIZES = {
    "imdb": {"lstm": {"max_words": 600}, "han": {"max_sentences": 30}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="folder with the raw review files")
    parser.add_argument("--out", default="output/accuracy")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument("--models", nargs="+", default=["lstm:tuned", "han:tuned"])
    parser.add_argument("--epochs", type=int, help="override the configs' epoch counts")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--seeds", type=int, default=1,
        help="train each model this many times (seeds SEED, SEED+1, ...) and add two rows: "
        "the runs' mean, and the runs' averaged probabilities (an ensemble)",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="change one field of every model's config, e.g. --set max_sentences=30 "
        "(VALUE is read as JSON, else as text); rows are then named after the changes",
    )  # fmt: skip
    args = parser.parse_args()
    changes = parse_changes(args.set)

    import keras

    from helpers import data, evaluate, models, train

    out = Path(args.out)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for split_name in args.splits:
        split_dir = out / split_name / "data"
        data.prepare_split(
            **SPLITS[split_name], out_dir=split_dir, data_dir=args.data_dir, seed=args.seed
        )
        train_df, test_df, manifest = data.read_split(split_dir)
        rows = results.setdefault(split_name, {})
        rows["TF-IDF + logistic regression"], _ = evaluate.tfidf_baseline(
            train_df["text"], train_df["label"], test_df["text"], test_df["label"]
        )
        print(f"{split_name}: {manifest['train']} train, {manifest['test']} test")
        for spec in args.models:
            model, config_name = spec.split(":")
            config = models.named_config(model, config_name)
            changed = SIZES.get(split_name, {}).get(model, {}) | changes
            config = type(config).from_dict(config.to_dict() | changed)
            label = config_name + "".join(f", {k}={v}" for k, v in changed.items())
            name = f"{model}-{label}".replace(", ", "-")
            runs = []
            for seed in range(args.seed, args.seed + args.seeds):
                started = time.perf_counter()
                model_dir = out / split_name / (name if seed == args.seed else f"{name}-seed{seed}")
                classifier, run = train.fit_classifier(
                    config, train_df["text"], train_df["label"], model_dir,
                    unlabelled_texts=data.read_unlabelled(split_dir), epochs=args.epochs,
                    seed=seed, verbose=2,
                )  # fmt: skip
                probabilities = classifier.predict(test_df["text"])
                metrics = evaluate.classification_metrics(test_df["label"], probabilities)
                metrics |= {
                    "seed": seed,
                    "epochs": len(run.history),
                    "best_epoch": run.best_epoch,
                    "val_accuracy": round(
                        float(run.history["val_accuracy"][run.best_epoch - 1]), 4
                    ),
                    "seconds_per_epoch": round(run.seconds_per_epoch, 1),
                    "minutes": round((time.perf_counter() - started) / 60, 1),
                }
                runs.append((metrics, probabilities))
                print(spec, metrics)
            row = f"{model.upper()} ({label})"
            if len(runs) == 1:
                rows[row] = runs[0][0]
            else:
                rows[f"{row}, mean of {len(runs)} seeds"] = mean_of_runs([m for m, _ in runs])
                averaged = np.mean([probabilities for _, probabilities in runs], axis=0)
                rows[f"{row}, {len(runs)} seeds averaged"] = evaluate.classification_metrics(
                    test_df["label"], averaged
                ) | {"seeds": [m["seed"] for m, _ in runs]}
        machine = f"{platform.processor() or platform.machine()}, Keras {keras.__version__} "
        results["_machine"] = machine + f"on {keras.backend.backend()}"
        out.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown_table(results))


def mean_of_runs(runs: list[dict]) -> dict:
    """Mean accuracy, AUC and timing of single runs, with the accuracies' spread."""
    accuracies = [run["accuracy"] for run in runs]
    return {
        "n": runs[0]["n"],
        "accuracy": round(float(np.mean(accuracies)), 4),
        "accuracy_sd": round(float(np.std(accuracies, ddof=1)), 4),
        "roc_auc": round(float(np.mean([run["roc_auc"] for run in runs])), 4),
        "epochs": round(float(np.mean([run["epochs"] for run in runs])), 1),
        "best_epoch": round(float(np.mean([run["best_epoch"] for run in runs])), 1),
        "seconds_per_epoch": round(float(np.mean([run["seconds_per_epoch"] for run in runs])), 1),
        "runs": runs,
    }


def parse_changes(items: list[str]) -> dict:
    """``["max_sentences=30", "padding=post"]`` → ``{"max_sentences": 30, "padding": "post"}``."""
    changes = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise SystemExit(f"--set {item!r}: write FIELD=VALUE, e.g. --set max_sentences=30")
        try:
            changes[field] = json.loads(value)
        except json.JSONDecodeError:
            changes[field] = value
    return changes


def markdown_table(results: dict) -> str:
    lines = [
        "| split | model | accuracy | ROC AUC | epochs | s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    for split_name, rows in results.items():
        if split_name.startswith("_"):
            continue
        for name, m in rows.items():
            epochs = f"{m['epochs']} (best {m['best_epoch']})" if "epochs" in m else "-"
            speed = m.get("seconds_per_epoch", "-")
            accuracy = f"{m['accuracy']:.1%}"
            if "accuracy_sd" in m:
                accuracy += f" ± {m['accuracy_sd']:.1%}"
            lines.append(
                f"| {split_name} | {name} | {accuracy} | {m['roc_auc']:.3f} | {epochs} | {speed} |"
            )
    return "\n".join(lines) + f"\n\nMachine: {results.get('_machine', '?')}"


if __name__ == "__main__":
    main()
