"""The data stage at full size: parse → sentences → encode → word2vec, seconds and memory.

    python ../shared/tools/make_fullsize_snap.py ../shared/data/finefoods_sample.txt.gz \\
        /tmp/fullsize/finefoods.txt.gz        # once: a 568,454-review stand-in
    python benchmarks/data_stage.py --file /tmp/fullsize/finefoods.txt.gz --preset full

Runs what notebooks 01 and 02 and the first steps of training do to a review file, with
the preset's split and word2vec cap (``helpers.series.PRESETS``), on a cold cache in
``--out``, and prints one row per step: seconds, and the peak memory of this process
so far (the sentence-splitting workers are separate processes holding a chunk each),
and the CPU seconds of this process and its workers.
The steps call the functions the notebooks call:

- parse: ``data.load_reviews`` (stream, clean, drop duplicates);
- sample: labels, ``balanced_sample``, the capped ``unlabelled_texts``, ``write_split``;
- sentences: ``sentences.split_documents`` of notebook 01's 5,000-review histogram
  sample, the training, test and unlabelled reviews, on every core, into the cache;
- encode: the vocabulary and both layouts (BiLSTM 300 words, HAN 15 × 50) of the
  training and test reviews, through ``encode_cached`` (sentences from the cache);
- word2vec: ``cached_word2vec`` on the training plus unlabelled reviews, with notebook
  02's settings (100 dimensions, min_count 3, 10 epochs, one gensim worker a core).

Targets (issue 16): the ``full`` preset's data stage within 10 minutes on 2 cores; the
``workshop`` preset with the full file under 4 GB. It also times the sentence splitter
against a rule-based regular-expression candidate on ``--compare`` reviews of the real
sample and prints how often the two agree (``--compare 0`` skips it; without ``--file``
only the comparison runs). The stand-in is for time and memory only, never for accuracy.
"""

from __future__ import annotations

import argparse
import re
import shutil
import time
from pathlib import Path

HISTOGRAM_SAMPLE = 5_000  # reviews notebook 01 splits for its length histograms
SAMPLE_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "finefoods_sample.txt.gz"


def main() -> None:
    from helpers.series import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", help="the SNAP file (.txt.gz) to time; none: compare only")
    parser.add_argument("--preset", default="full", choices=sorted(PRESETS))
    parser.add_argument("--out", default="output/data-stage", help="split and cache folder")
    parser.add_argument("--workers", type=int, help="sentence-splitting processes (all cores)")
    parser.add_argument("--compare", type=int, default=2_000, help="reviews for the splitters")
    args = parser.parse_args()

    if args.file:
        settings = PRESETS[args.preset]
        print(f"preset {args.preset}: {settings}")
        print(format_steps(run(Path(args.file), settings, Path(args.out), args.workers)))
    if args.compare:
        print(compare_splitters(SAMPLE_FILE if SAMPLE_FILE.is_file() else args.file, args.compare))


def run(path: Path, settings: dict, out: Path, workers: int | None = None) -> list[dict]:
    """Time each step of the data stage on ``path`` with a preset's ``settings``.

    Returns one ``{"step", "seconds", "peak_mb", "what"}`` per step. ``out`` is emptied
    first, so the sentence and encoding caches start cold.
    """
    from helpers import data, embeddings, sentences
    from helpers.backend import peak_memory_mb
    from helpers.text import TextEncoder, encode_cached

    shutil.rmtree(out, ignore_errors=True)
    cache = out / "cache"
    steps = []
    started, cpu = time.perf_counter(), cpu_seconds()

    def done(step: str, what: str) -> None:
        nonlocal started, cpu
        seconds, cpu_used = time.perf_counter() - started, cpu_seconds() - cpu
        steps.append(
            {"step": step, "seconds": seconds, "cpu_seconds": cpu_used,
             "peak_mb": peak_memory_mb(), "what": what}
        )  # fmt: skip
        print(f"{step}: {seconds:.1f} s, {what}", flush=True)
        started, cpu = time.perf_counter(), cpu_seconds()

    reviews, report = data.load_reviews(settings["source"], path=path)
    done("parse", f"{report.records:,} records, {report.kept:,} kept")

    seed = 42
    labelled = data.binary_labels(reviews, settings["labels"])
    train, test = data.balanced_sample(labelled, settings["n_train"], settings["n_test"], seed)
    limit = settings.get("word2vec_unlabelled", "all")
    unlabelled = data.unlabelled_texts(reviews, train, test, limit=limit, seed=seed)
    manifest = data.make_manifest(
        report, settings["labels"], seed, labelled, train, test, unlabelled
    )
    data.write_split(out / "data", train, test, manifest, unlabelled)
    done("sample", f"{len(train):,} train, {len(test):,} test, {len(unlabelled):,} unlabelled")

    histogram = reviews["text"].sample(n=min(HISTOGRAM_SAMPLE, len(reviews)), random_state=seed)
    texts = [*histogram, *train["text"], *test["text"], *unlabelled["text"]]
    del reviews, labelled
    split = sentences.split_documents(texts, cache_dir=cache, workers=workers, progress=True)
    done("sentences", f"{len(texts):,} reviews, {sum(map(len, split)):,} sentences")

    encoder = TextEncoder.fit(train["text"], num_words=6000)
    for kind in ("flat", "hierarchical"):
        for frame in (train, test):
            encode_cached(encoder, frame["text"], kind, cache, progress=True)
    done("encode", f"{len(train) + len(test):,} reviews, flat and hierarchical")

    corpus = [*train["text"], *unlabelled["text"]]
    vectors = embeddings.cached_word2vec(
        corpus, cache, vector_size=100, min_count=3, epochs=10, seed=seed
    )
    done("word2vec", f"{len(corpus):,} reviews, {len(vectors):,} words with a vector")
    return steps


def cpu_seconds() -> float:
    """CPU time of this process and of its finished workers (they compete for the cores:
    on a busy machine wall-clock seconds grow, CPU seconds hardly do). On Windows, which
    has no ``resource``, this process only."""
    try:
        import resource
    except ImportError:
        return time.process_time()
    own, workers = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def format_steps(steps: list[dict]) -> str:
    """The steps as a table, with the total."""
    lines = [f"{'step':<10} {'seconds':>8} {'CPU s':>8} {'peak MB':>8}  what"]
    for step in [*steps, total_of(steps)]:
        lines.append(
            f"{step['step']:<10} {step['seconds']:>8.1f} {step['cpu_seconds']:>8.1f} "
            f"{step['peak_mb']:>8,.0f}  {step['what']}"
        )
    return "\n".join(lines)


def total_of(steps: list[dict]) -> dict:
    seconds = sum(step["seconds"] for step in steps)
    return {
        "step": "total",
        "seconds": seconds,
        "cpu_seconds": sum(step["cpu_seconds"] for step in steps),
        "peak_mb": max(step["peak_mb"] for step in steps),
        "what": f"{seconds / 60:.1f} minutes",
    }


# A candidate splitter, measured against pysbd and not used by the series: a sentence
# ends at . ! or ? (and closing quotes or brackets) followed by space and a capital or
# digit, except after a few common abbreviations.
_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "vs", "etc", "e.g", "i.e", "oz", "lb", "lbs", "No")
_BOUNDARY = re.compile(
    "".join(rf"(?<!\b{re.escape(a)}\.)" for a in _ABBREVIATIONS)
    + r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])"
)


def regex_sentences(text: str) -> list[str]:
    """Sentences by ``_BOUNDARY``, a line break always ending one (as ``split_sentences``)."""
    return [
        sentence.strip()
        for line in text.splitlines()
        if line.strip()
        for sentence in _BOUNDARY.split(line)
        if sentence.strip()
    ]


def compare_splitters(path: str | Path, n: int) -> str:
    """pysbd (the series' splitter) against ``regex_sentences`` on ``n`` reviews of ``path``:
    milliseconds per review on one core, and how often they cut the same way."""
    from helpers import parsing
    from helpers.sentences import split_sentences

    reviews, _ = parsing.parse_snap(path, progress=False)
    texts = reviews["text"].sample(n=min(n, len(reviews)), random_state=0).tolist()
    timings, results = {}, {}
    for name, splitter in (("pysbd", split_sentences), ("regex", regex_sentences)):
        started = time.perf_counter()
        results[name] = [splitter(text) for text in texts]
        timings[name] = (time.perf_counter() - started) / len(texts) * 1000
    same_reviews = sum(a == b for a, b in zip(results["pysbd"], results["regex"], strict=True))
    pysbd_sentences = sum(map(len, results["pysbd"]))
    shared = sum(
        len(set(a) & set(b)) for a, b in zip(results["pysbd"], results["regex"], strict=True)
    )
    return (
        f"splitters on {len(texts):,} reviews of {Path(path).name}: "
        f"pysbd {timings['pysbd']:.2f} ms a review, regex {timings['regex']:.3f} ms "
        f"({timings['pysbd'] / timings['regex']:.0f}x faster); the same sentences for "
        f"{same_reviews / len(texts):.1%} of reviews, {shared / pysbd_sentences:.1%} of "
        f"pysbd's {pysbd_sentences:,} sentences found by the regex too"
    )


if __name__ == "__main__":
    main()
