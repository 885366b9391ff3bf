"""The command line: the same pipeline the notebooks run, for scripts and benchmarks.

Every sub-command calls the functions the notebooks call. Errors the user can
fix (bad input, missing files, an unusable backend) print one line and exit
with status 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys

from helpers.backend import BackendError, start_keras_quietly
from helpers.cli_models import add_model_commands, config_changes
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
        batch_size=args.batch_size, changes=config_changes(args.set), seed=args.seed,
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
