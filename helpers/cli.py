"""The command line: the same pipeline the notebooks run, for scripts and benchmarks.

Every sub-command calls the functions the notebooks call. Errors the user can
fix (bad input, missing files, an unusable backend) print one line and exit
with status 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys

from helpers.backend import BackendError
from helpers.data import SOURCES, DataError


def _size(value: str) -> int | str:
    return value if value == "all" else int(value)


def add_data_command(commands) -> None:
    data = commands.add_parser(
        "data",
        help="parse a review source and write a balanced train/test split",
        description="Locate (or download) a source, parse it, label it and write "
        "train.parquet, test.parquet and manifest.json to --out.",
    )
    data.add_argument("--source", choices=sorted(SOURCES), default="finefoods")
    data.add_argument("--path", help="the source file (default: look in --data-dir, else download)")
    data.add_argument(
        "--data-dir", help="folder with raw files (default: $REVIEWS_DATA_DIR or data/raw)"
    )
    data.add_argument("--labels", choices=["12v45", "1v5", "given"], help="default: the source's")
    data.add_argument("--n-train", type=_size, default="all", help="total, even, or 'all'")
    data.add_argument("--n-test", type=_size, default="all", help="total, even, or 'all'")
    data.add_argument("--seed", type=int, default=42)
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


def add_run_command(commands) -> None:
    from helpers.series import PRESETS

    run = commands.add_parser(
        "run",
        help="execute the whole notebook series (the main job)",
        description="Execute every numbered notebook in order with a preset's parameters, "
        "writing executed notebooks and HTML copies to --out.",
    )
    run.add_argument("--preset", choices=sorted(PRESETS), default="workshop")
    run.add_argument("--out", help="output folder (default: output/PRESET)")
    run.add_argument(
        "--data-dir", help="folder with raw files (default: $REVIEWS_DATA_DIR or data/raw)"
    )
    run.add_argument("--only", nargs="*", help="run only notebooks whose name starts with these")
    run.set_defaults(run=run_series_command)


def run_series_command(args) -> int:
    from helpers.series import run_series

    result = run_series(args.preset, out_dir=args.out, data_dir=args.data_dir, only=args.only)
    return 0 if result.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_data_command(commands)
    add_run_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (DataError, BackendError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
