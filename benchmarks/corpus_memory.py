"""Memory of a growing corpus: encoding into shards on disk against one in-memory array.

    python3 ../shared/tools/make_fullsize_snap.py ../shared/data/finefoods_sample.txt.gz \\
        /work/data/snap_2m.txt.gz --records 2000000     # and --records 100000
    python benchmarks/corpus_memory.py /work/data/snap_100k.txt.gz \\
        /work/data/full/finefoods.txt.gz /work/data/snap_2m.txt.gz \\
        --in-memory 2 --out /work/data/corpus-memory

For each review file, in a fresh process (so that no peak carries over from the last):
encode it with the tuned LSTM's text settings (vocabulary, 300 words) and read one
epoch's training batches as ``fit`` would (``train.training_data``: 10% held out for
validation, the recipe's batches of 64, every one built once; no model), and print the
seconds of each part and the peak resident memory of the process (MB,
``backend.peak_memory_mb``), next to the peak right after the imports (Keras and its
backend), which every run pays.

- sharded: ``shards.write_shards`` streams the file into shards in ``--out``, and the
  batches are read from them (``shards.ShardedIds``);
- in memory (the first ``--in-memory`` files only): what training does today:
  ``parsing.parse_snap`` into one table, ``TextEncoder.fit`` and ``encode`` into one
  array, batches from it.

Target (issue 21): the sharded peak at 2M reviews at most 1.5 times the one at 100k.
The stand-in files are for time and memory only, never for accuracy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help="SNAP review files (.txt.gz), smallest first")
    parser.add_argument("--out", default="output/corpus-memory", help="folder for the shards")
    parser.add_argument("--in-memory", type=int, default=0, help="also time the in-memory path "
                        "on the first N files")  # fmt: skip
    parser.add_argument("--measure", choices=("sharded", "in-memory"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # the child process: one path on one file, as JSON
        print(json.dumps(measure(args.measure, Path(args.files[0]), Path(args.out))))
        return
    rows = run(args.files, Path(args.out), args.in_memory)
    print(markdown_table(rows))
    print(verdict(rows))


def run(files, out: Path, in_memory: int = 0) -> list[dict]:
    """One row per (file, path), each measured in a fresh Python process."""
    rows = []
    for number, file in enumerate(files):
        paths = ["sharded", "in-memory"] if number < in_memory else ["sharded"]
        for path in paths:
            command = [sys.executable, __file__, str(file), "--out", str(out), "--measure", path]
            done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
            if done.returncode:
                raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def measure(path: str, file: Path, out: Path) -> dict:
    """Encode ``file`` and read one epoch of training batches by ``path``; seconds and MB."""
    import numpy as np

    from helpers.backend import peak_memory_mb
    from helpers.data import binary_labels
    from helpers.models import named_config
    from helpers.parsing import parse_snap
    from helpers.shards import write_shards
    from helpers.train import text_encoder_for, training_data

    config = named_config("lstm", "tuned")
    imports_mb = peak_memory_mb()
    started = time.perf_counter()
    if path == "sharded":
        corpus = write_shards(config, file, out / file.name, progress=False)
        records, reviews = corpus.manifest["parse"]["records"], len(corpus)
        ids, labels, lengths = corpus.ids, corpus.labels, corpus.lengths
    else:
        parsed, report = parse_snap(file, progress=False)
        labelled = binary_labels(parsed, "12v45")
        del parsed
        ids, stats = text_encoder_for(config, labelled["text"]).encode(labelled["text"], "flat")
        records, reviews = report.records, len(ids)
        labels, lengths = labelled["label"].to_numpy(), stats.lengths
    encoded, encode_mb = time.perf_counter(), peak_memory_mb()
    batches = training_data(config, ids, labels, lengths).batches
    words = sum(int(np.count_nonzero(batches[i][0])) for i in range(len(batches)))
    finished = time.perf_counter()
    if path == "sharded":
        shutil.rmtree(out / file.name)  # gigabytes at 2M reviews
    return {
        "file": file.name,
        "path": path,
        "records": records,
        "reviews": reviews,
        "batches": len(batches),
        "words read": words,
        "encode s": round(encoded - started, 1),
        "epoch s": round(finished - encoded, 1),
        "imports MB": round(imports_mb),
        "encode MB": round(encode_mb),
        "peak MB": round(peak_memory_mb()),
    }


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, with the processor they ran on."""
    from helpers.backend import cpu_name

    columns = [
        "path",
        "records",
        "reviews",
        "encode s",
        "epoch s",
        "imports MB",
        "encode MB",
        "peak MB",
    ]
    lines = [
        f"processor: {cpu_name()}",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = [f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(rows: list[dict]) -> str:
    """How much the sharded peak grew from the smallest file to the largest."""
    sharded = sorted((r for r in rows if r["path"] == "sharded"), key=lambda r: r["records"])
    if len(sharded) < 2:
        return "one sharded size only: no growth to report"
    first, last = sharded[0], sharded[-1]
    growth = last["peak MB"] / first["peak MB"]
    return (
        f"sharded peak {first['peak MB']:,} MB at {first['records']:,} records, "
        f"{last['peak MB']:,} MB at {last['records']:,}: {growth:.2f}x "
        f"({'within' if growth <= 1.5 else 'over'} the 1.5x target)"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
