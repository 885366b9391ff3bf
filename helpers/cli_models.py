"""The command line's model commands: ``train``, ``evaluate`` and ``predict``.

Their parsers and what they run, split from ``helpers.cli`` (which builds the whole
command line) so that each module reads top to bottom. Each calls what the notebooks
call: ``train.fit_classifier``, ``evaluate.evaluate_classifier``, ``Classifier.load``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers.data import DataError


def add_model_commands(commands) -> None:
    fit = commands.add_parser(
        "train",
        help="train a classifier on a split and evaluate it on the split's test part",
        description="Train --model with a named config on DATA/train.parquet (word2vec from "
        "the training and unlabelled reviews), save it to --out and evaluate it on "
        "DATA/test.parquet.",
    )
    fit.add_argument(
        "--model", required=True, help="a model of the registry helpers.models.MODELS: lstm, han"
    )
    fit.add_argument("--config", default="tuned", help="named config (original, tuned, …)")
    fit.add_argument("--data", required=True, help="a split folder (from `data` or notebook 01)")
    fit.add_argument("--out", required=True, help="model folder to write")
    fit.add_argument("--epochs", type=int, help="override the config's epoch count")
    fit.add_argument("--no-word2vec", action="store_true", help="start from random vectors")
    fit.add_argument(
        "--exact-word2vec", action="store_true",
        help="word2vec on one thread: bit-identical vectors (and model) on every run, slower",
    )  # fmt: skip
    fit.add_argument("--seed", type=int, default=42)
    fit.add_argument(
        "--recipe",
        choices=["padded", "fast", "bucketed", "auto"],  # helpers.configs.RECIPES
        help="how to compute the model (default: the config's; fast: the same model without "
        "paying for padding, laid out for a CPU; bucketed: for a GPU; auto: the one for the "
        "device; all but padded need a masked, right-padded config)",
    )
    fit.add_argument(
        "--resume",
        action="store_true",
        help="continue a run in --out that was cut short, from its last completed epoch",
    )
    fit.add_argument(
        "--devices", type=str, default="1",
        help="spread each batch over N devices, or 'all' (data parallel, helpers.distribute; "
        "PyTorch: under torchrun --nproc_per_node N)",
    )  # fmt: skip
    fit.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="override a config field, e.g. --set units=8 (repeatable)",
    )  # fmt: skip
    fit.add_argument(
        "--cpu-devices", type=int, metavar="N",
        help="split the CPU into N virtual devices first (JAX, TensorFlow: practice, tests)",
    )  # fmt: skip
    fit.set_defaults(run=run_train)

    check = commands.add_parser(
        "evaluate",
        help="accuracy, ROC AUC and confusion matrix of a saved model on labelled reviews",
    )
    check.add_argument("--model", required=True, help="a saved model folder")
    check.add_argument("--data", required=True, help=".parquet or .csv with text and label")
    check.set_defaults(run=run_evaluate)

    guess = commands.add_parser("predict", help="classify new reviews with a saved model")
    guess.add_argument("--model", required=True, help="a saved model folder")
    guess.add_argument("texts", nargs="*", help="review texts")
    guess.add_argument("--input", help="a file with one review per line")
    guess.add_argument("--explain", action="store_true", help="HAN: show the attention weights")
    guess.add_argument("--format", choices=["text", "json", "html"], default="text")
    guess.set_defaults(run=run_predict)


def run_train(args) -> int:
    from helpers import distribute

    devices = distribute.parse_devices(args.devices)
    from helpers import data, evaluate, models, train

    changes = config_changes(args.set) | ({"recipe": args.recipe} if args.recipe else {})
    config = models.named_config(args.model, args.config, **changes)
    train_df, test_df, _ = data.read_split(args.data)
    classifier, run = train.fit_classifier(
        config,
        train_df["text"],
        train_df["label"],
        args.out,
        word2vec=not args.no_word2vec,
        unlabelled_texts=data.read_unlabelled(args.data),
        epochs=args.epochs,
        seed=args.seed,
        resume=args.resume,
        verbose=2,
        devices=devices,
        exact_word2vec=args.exact_word2vec,
    )
    if not distribute.is_main_process():  # the first process evaluates and reports
        return 0
    metrics, _ = evaluate.evaluate_classifier(classifier, test_df["text"], test_df["label"])
    evaluate.write_metrics(Path(args.out) / "metrics.json", metrics)
    print(
        f"{args.model} ({args.config}): test accuracy {metrics['accuracy']:.1%}, ROC AUC "
        f"{metrics['roc_auc']:.3f} after {len(run.history)} epochs "
        f"({run.seconds_per_epoch:.1f} s each, recipe {classifier.config.recipe}); "
        f"saved to {args.out}"
    )
    return 0


def read_labelled(path: str):
    """The ``text`` and ``label`` columns of a .parquet or .csv file, labels as 0/1/NaN.

    Labels may be 0/1 or words such as IMDB's pos/neg (``binary_label_values``); a
    missing label or text is kept (the metrics leave that row out and count it).
    """
    import pandas as pd

    from helpers.evaluate import binary_label_values

    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise DataError(
            f"{path} is empty: give a .csv or .parquet file with text and label columns"
        )
    try:
        if path.endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:  # as strings, so that a review reading "NA" or "null" stays a review
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError:
        raise DataError(
            f"{path} is not UTF-8 text: convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None
    except (OSError, ValueError, pd.errors.ParserError) as error:  # Arrow errors are ValueErrors
        raise DataError(f"{path}: cannot read it as a table with text and label columns") from error
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: needs columns text and label (missing {', '.join(missing)})")
    if frame.empty:
        raise DataError(f"{path} has no rows: no reviews to evaluate")
    return frame.assign(label=binary_label_values(frame["label"], f"{path}: column label"))


def run_evaluate(args) -> int:
    from helpers import evaluate, train

    frame = read_labelled(args.data)
    classifier = train.Classifier.load(args.model)
    metrics, _ = evaluate.evaluate_classifier(classifier, frame["text"], frame["label"])
    out = Path(args.model) / f"metrics-{Path(args.data).name.split('.')[0]}.json"
    evaluate.write_metrics(out, metrics)
    print(json.dumps(metrics))
    if "left_out" in metrics:
        print(
            f"note: {evaluate.describe_left_out(metrics['left_out'], len(frame))}", file=sys.stderr
        )
    print(f"wrote {out}")
    return 0


def run_predict(args) -> int:
    from helpers import evaluate, train
    from helpers.text import read_text_lines, usable_texts

    texts = list(args.texts) + (read_text_lines(args.input) if args.input else [])
    usable = usable_texts(texts)
    if not usable.any():
        raise DataError(
            "nothing to classify: give review texts with words in them, or --input FILE"
        )
    classifier = train.Classifier.load(args.model)
    if args.explain:
        from helpers import explain

        if not usable.all():
            print(f"note: {(~usable).sum():,} texts without words not explained", file=sys.stderr)
        render = {"text": explain.to_text, "json": explain.to_json, "html": explain.to_html}
        texts = [text for text, ok in zip(texts, usable, strict=True) if ok]
        print(render[args.format](explain.explain(classifier, texts)))
        return 0
    predictions = evaluate.predict_texts(classifier, texts)
    records = predictions.records(texts)
    if args.format == "json":
        print(json.dumps(records, indent=2))
    else:
        for row in records:
            probability = "nan" if row["probability"] is None else f"{row['probability']:.3f}"
            note = f"\t{row['note']}" if row["note"] else ""
            print(f"{row['label']}\t{probability}\t{row['text'][:80]}{note}")
    if predictions.summary():
        print(f"note: {predictions.summary()}", file=sys.stderr)
    return 0


def config_changes(pairs: list[str]) -> dict:
    """``--set FIELD=VALUE`` pairs as config changes (values read as JSON where they parse)."""
    changes = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep:
            raise DataError(f"--set {pair!r}: write FIELD=VALUE, e.g. --set units=8")
        try:
            changes[field.strip()] = json.loads(value)
        except json.JSONDecodeError:
            changes[field.strip()] = value
    return changes
