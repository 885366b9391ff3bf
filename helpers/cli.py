"""The command line: the same pipeline the notebooks run, for scripts and benchmarks.

Every sub-command calls the functions the notebooks call. Errors the user can
fix (bad input, missing files, an unusable backend) print one line and exit
with status 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from helpers.backend import BackendError, start_keras_quietly
from helpers.data import LABEL_SCHEMES, SOURCES, DataError


def _size(value: str) -> int | str:
    return value if value == "all" else int(value)


def add_source_arguments(parser, labels_default=None) -> None:
    """--source, --path, --data-dir and --labels: where reviews come from and how labelled."""
    parser.add_argument(
        "--source", choices=sorted(SOURCES), default="finefoods", help="where the reviews come from"
    )
    parser.add_argument(
        "--path", help="the source file (default: look in --data-dir, else download)"
    )
    parser.add_argument(
        "--data-dir",
        help="folder with raw files (default: $REVIEWS_DATA_DIR or the project's data/raw)",
    )
    parser.add_argument(
        "--labels", choices=list(LABEL_SCHEMES), default=labels_default,
        help=f"default: {labels_default or 'the source’s own'}",
    )  # fmt: skip


def add_data_command(commands) -> None:
    data = commands.add_parser(
        "data",
        help="parse a review source and write a balanced train/test split",
        description="Locate (or download) a source, parse it, label it and write "
        "train.parquet, test.parquet and manifest.json to --out.",
    )
    add_source_arguments(data)
    data.add_argument("--n-train", type=_size, default="all", help="total, even, or 'all'")
    data.add_argument("--n-test", type=_size, default="all", help="total, even, or 'all'")
    data.add_argument("--seed", type=int, default=42)
    data.add_argument(
        "--unlabelled",
        type=_size,
        default=50_000,
        help="reviews in neither split kept for word2vec (a seeded draw), or 'all'",
    )
    data.add_argument("--out", required=True, help="output folder")
    data.add_argument("--encoding", help="text encoding of the file (SNAP: latin-1, CSV: utf-8)")
    data.add_argument("--text-column", help="CSV: the text column")
    data.add_argument("--rating-column", help="CSV: the 1-5 rating column")
    data.add_argument("--label-column", help="CSV: a binary label column (1/pos/positive = 1)")
    data.set_defaults(run=run_data)


def run_data(args) -> int:
    from helpers.data import prepare_split

    train, test, manifest, _ = prepare_split(
        args.source,
        args.out,
        labels=args.labels,
        n_train=args.n_train,
        n_test=args.n_test,
        seed=args.seed,
        unlabelled=args.unlabelled,
        path=args.path,
        data_dir=args.data_dir,
        encoding=args.encoding,
        text_column=args.text_column,
        rating_column=args.rating_column,
        label_column=args.label_column,
    )
    parse = manifest["parse"]
    print(
        f"{manifest['source']}: {parse['records']:,} records in {parse['seconds']} s, "
        f"{parse['kept']:,} kept; dropped {parse['dropped'] or 'none'}"
    )
    print(f"labels {manifest['labels']}: available {manifest['labelled']}")
    print(f"train {len(train):,} {manifest['train']}, test {len(test):,} {manifest['test']}")
    print(f"wrote {args.out}/train.parquet, test.parquet, manifest.json")
    return 0


def add_shards_command(commands) -> None:
    shards = commands.add_parser(
        "shards",
        help="encode a review file larger than memory into shards on disk",
        description="Stream a SNAP review file, label and encode it with a model config's "
        "text settings, and write shards that training reads batch by batch "
        "(helpers.shards; docs/scaling.md).",
    )
    add_source_arguments(shards)
    shards.add_argument(
        "--model", default="lstm", help="a model of the registry helpers.models.MODELS"
    )
    shards.add_argument("--config", default="tuned", help="named config of --model")
    shards.add_argument("--chunk-size", type=int, default=10_000, help="reviews encoded at once")
    shards.add_argument("--out", required=True, help="folder for the shards")
    shards.set_defaults(run=run_shards)


def run_shards(args) -> int:
    from helpers.data import locate, source_spec
    from helpers.models import named_config
    from helpers.shards import write_shards

    if source_spec(args.source).format != "snap":
        raise DataError(f"shards read SNAP review files (finefoods, gourmet), not {args.source!r}")
    found = locate(args.source, args.path, args.data_dir)
    corpus = write_shards(
        named_config(args.model, args.config), found, args.out, args.labels,
        chunk_size=args.chunk_size, source=args.source,
    )  # fmt: skip
    manifest = corpus.manifest
    print(
        f"{manifest['parse']['records']:,} records, {len(corpus):,} labelled {manifest['labels']}"
    )
    print(f"wrote {len(manifest['shards'])} shards of {manifest['kind']} ids to {args.out}")
    return 0


def add_run_command(commands) -> None:
    from helpers.series import PRESETS

    run = commands.add_parser(
        "run",
        help="execute the whole notebook series (the main job)",
        description="Execute every numbered notebook in order with a preset's parameters, "
        "writing executed notebooks and HTML copies to --out.",
    )
    run.add_argument(
        "--preset", choices=sorted(PRESETS), default="workshop",
        help="sizes: workshop (a 2-core CPU), full (the seed's, for a GPU), smoke (tests)",
    )  # fmt: skip
    run.add_argument("--out", help="output folder (default: output/PRESET in the project)")
    run.add_argument(
        "--data-dir",
        help="folder with raw files (default: $REVIEWS_DATA_DIR or the project's data/raw)",
    )
    run.add_argument("--only", nargs="*", help="run only notebooks whose name starts with these")
    run.add_argument(
        "--backend", help="Keras backend for every notebook (default: $KERAS_BACKEND or tensorflow)"
    )
    run.set_defaults(run=run_series_command)

    calibrate = commands.add_parser(
        "calibrate",
        help="time a fixed small workload and predict how long the workshop series takes here",
        description="Sentence splitting, word2vec and a few epochs of the tuned LSTM and HAN "
        "on synthetic text (about half a minute), compared with the same workload on the "
        "machine the README's timings come from. Uses $KERAS_BACKEND (default tensorflow).",
    )
    calibrate.set_defaults(run=run_calibrate)


def run_series_command(args) -> int:
    from helpers.series import run_series

    overrides = {"keras_backend": args.backend} if args.backend else {}
    result = run_series(
        args.preset, out_dir=args.out, data_dir=args.data_dir, only=args.only, overrides=overrides
    )
    return 0 if result.ok else 1


def run_calibrate(args) -> int:
    from helpers.calibrate import calibrate

    print(calibrate().report())
    return 0


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

    changes = _config_changes(args.set) | ({"recipe": args.recipe} if args.recipe else {})
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


def add_backend_commands(commands) -> None:
    report = commands.add_parser(
        "backends",
        help="list the Keras backends: installed or not, versions, devices",
        description="Probe each live backend in its own process (versions and the devices "
        "it sees) and list the retired ones (CNTK, Theano) with the reason.",
    )
    report.add_argument("--backend", help="only this one (e.g. jax); theano/cntk explain why not")
    report.set_defaults(run=run_backends)

    bench = commands.add_parser(
        "bench",
        help="time the same training on each backend × model × masking, one process per case",
        description="Train every case for --warmup + --repeats epochs on the same encoded "
        "data and write results.csv and results.json (seconds per epoch, docs/s, peak "
        "memory, accuracy, AUC, device, versions) to --out.",
    )
    bench.add_argument("--backends", default="tensorflow,jax,torch", help="comma-separated")
    bench.add_argument(
        "--models", help="comma-separated names from helpers.models.MODELS (default: all)"
    )
    bench.add_argument("--masks", default="off,on", help="comma-separated: off, on")
    bench.add_argument(
        "--recipes",
        default="padded,auto",
        help="comma-separated: padded (the seed's), fast (for a CPU), bucketed (for a GPU), "
        "auto (the one for the device)",
    )
    bench.add_argument("--split", help="a split folder (from `data` or notebook 01) to use instead")
    add_source_arguments(bench, labels_default="12v45")
    bench.add_argument("--docs", type=int, help="training documents (default 10000; split: all)")
    bench.add_argument(
        "--test-docs", type=int, help="held-out reviews, half per class (default 1000; split: all)"
    )
    bench.add_argument("--repeats", type=int, default=3, help="timed epochs")
    bench.add_argument("--warmup", type=int, default=1, help="untimed epochs before them")
    bench.add_argument("--batch-size", type=int, help="default: the configs' (50)")
    bench.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="override a config field for every case, e.g. --set units=8 (repeatable)",
    )  # fmt: skip
    bench.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per case")
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--out", required=True, help="output folder")
    bench.set_defaults(run=run_bench)


def run_backends(args) -> int:
    """Status 0 when the backend asked for (``--backend``, else the active one:
    ``$KERAS_BACKEND`` or TensorFlow) runs; the others are listed, and a backend left
    uninstalled on purpose (the default install has TensorFlow only) is no failure."""
    from helpers import backend

    wanted = backend.check_backend_request(args.backend)
    names = [wanted] if args.backend else backend.LIVE_BACKENDS
    rows = backend.backend_report(names)
    print(backend.format_report(rows))
    row = next(row for row in rows if row["name"] == wanted)
    if row["status"] != "ok":
        which = "asked for" if args.backend else "active ($KERAS_BACKEND, default tensorflow)"
        print(f"error: {wanted}, the backend {which}, is {row['status']}", file=sys.stderr)
        return 1
    return 0


def _config_changes(pairs: list[str]) -> dict:
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


def run_bench(args) -> int:
    import pandas as pd

    from helpers import bench, bench_report

    cases = bench.cases_for(args.backends, args.models, args.masks, args.recipes)
    if args.split:
        data = bench.data_from_split(args.split, args.docs, args.seed, args.test_docs)
    else:
        data = bench.data_from_source(
            args.source, args.path, args.data_dir, args.labels,
            args.docs or 10_000, args.test_docs or 1000, args.seed,
        )  # fmt: skip
    frame = bench.run_benchmark(
        cases, data, args.out, repeats=args.repeats, warmup=args.warmup,
        batch_size=args.batch_size, changes=_config_changes(args.set), seed=args.seed,
        timeout=args.timeout,
    )  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(bench_report.summary_table(frame).to_string(index=False))
    print(f"wrote {args.out}/results.csv and results.json")
    return 0 if (frame["status"] == "ok").all() else 1


EXAMPLES = """examples:
  python -m helpers run                          the whole series, workshop preset
  python -m helpers run --backend jax --only 01 02
  python -m helpers calibrate                    how long the workshop series takes here
  python -m helpers data --source finefoods --n-train 1480 --n-test 1480 --out output/split
  python -m helpers train --model han --data output/split --out output/han
  python -m helpers predict --model output/han "Lovely tea, fresh and fragrant."
  python -m helpers backends                     what each Keras backend sees

Relative default folders (data/raw, data/cache, output) and a relative
$REVIEWS_DATA_DIR are inside the project folder: the clone, or $REVIEWS_HOME.
"""


class HelpFormatter(argparse.HelpFormatter):
    """Keeps the examples' layout and shows each option's default, unless it has none."""

    def _fill_text(self, text, width, indent):
        if "\n" in text.strip():
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action):
        help_text = action.help or ""
        if "default" in help_text or action.default in (None, False, argparse.SUPPRESS):
            return help_text
        return f"{help_text} (default: %(default)s)".lstrip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers", description=__doc__.split("\n")[0],
        epilog=EXAMPLES, formatter_class=HelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(
        dest="command", required=True, title="commands",
        parser_class=functools.partial(argparse.ArgumentParser, formatter_class=HelpFormatter),
    )  # fmt: skip
    add_run_command(commands)
    add_data_command(commands)
    add_shards_command(commands)
    add_model_commands(commands)
    add_backend_commands(commands)
    return parser


# Commands that run Keras here: it starts before them, TensorFlow's C++ start-up lines held
# back (``backend.start_keras_quietly``; ``bench`` does so in ``bench.parent_backend``), so
# what must precede a first look at the devices (e.g. CUDA_VISIBLE_DEVICES) comes before.
KERAS_COMMANDS = ("train", "evaluate", "predict", "calibrate", "shards")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "cpu_devices", None):  # before the backend first looks at devices
            from helpers.distribute import use_virtual_cpu_devices

            use_virtual_cpu_devices(args.cpu_devices)
        if args.command in KERAS_COMMANDS:
            start_keras_quietly()
        return args.run(args)
    except (DataError, BackendError) as error:  # includes train.ModelError
        print(f"error: {error}", file=sys.stderr)
        return 2
