"""Word2vec's speed: our ``train_word2vec`` against gensim's own ``Word2Vec``, words a second.

    python benchmarks/word2vec_speed.py                       # the real sample, 9,659 reviews
    python benchmarks/word2vec_speed.py --file /tmp/fullsize/finefoods.txt.gz --reviews 51480

The corpus: ``--reviews`` reviews drawn (seed 0) from ``--file``, a SNAP review file,
cut into sentences and tokens as notebook 02 does (``embeddings.word2vec_sentences``;
the sentences are cached in ``--cache``, so a second run starts at once). 51,480 is
what the workshop preset gives word2vec: 50,000 unlabelled reviews and 1,480 training
ones (``helpers.series.PRESETS``). Every candidate trains with notebook 02's settings
(skip-gram, 100 dimensions, window 5, min_count 3, ``helpers.train.WORD2VEC_EPOCHS``
epochs, seed 42):

- ours: ``train_word2vec`` as notebook 02 calls it (one gensim worker a core);
- gensim: ``Word2Vec(sentences, workers=cores)``;
- gensim corpus_file: the same from a LineSentence file (written once, into ``--cache``),
  gensim's mode that reads the corpus in its Cython workers instead of a Python thread;
- one worker: ``train_word2vec(exact=True)``, the reproducible one-thread mode.

Words a second are the corpus's words times the epochs over the seconds of the whole
call (the vocabulary's pass included, for every candidate alike). The candidates take
turns, ``--repeats`` rounds, and the table gives each one's median and its ratio to
gensim's: on a machine shared with other work the rounds show how much the figures
move, and the cores each kept busy (CPU seconds over seconds: on an idle machine about
the number of workers). Target (issue 22): ours within 10% of gensim with every core.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

SAMPLE_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "finefoods_sample.txt.gz"
SETTINGS = {"vector_size": 100, "window": 5, "min_count": 3, "sg": 1, "seed": 42}


def main() -> None:
    from helpers.sentences import worker_count

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", default=str(SAMPLE_FILE), help="a SNAP review file (.txt.gz)")
    parser.add_argument("--reviews", type=int, default=51_480, help="reviews to train on (cap)")
    parser.add_argument("--epochs", type=int, help="default: helpers.train.WORD2VEC_EPOCHS")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of all candidates")
    parser.add_argument("--cache", default="output/word2vec-speed", help="sentences, corpus file")
    args = parser.parse_args()
    if args.epochs is None:  # helpers.train imports Keras: only when it is needed
        from helpers.train import WORD2VEC_EPOCHS

        args.epochs = WORD2VEC_EPOCHS

    sentences = corpus(Path(args.file), args.reviews, Path(args.cache))
    words = sum(map(len, sentences))
    cores = worker_count()
    print(f"{len(sentences):,} sentences, {words:,} words, {args.epochs} epochs, {cores} cores")
    runs = measure(sentences, Path(args.cache), args.epochs, args.repeats, cores)
    print(format_table(runs, words * args.epochs))


def corpus(path: Path, reviews: int, cache: Path) -> list[list[str]]:
    """Token lists of the sentences of ``reviews`` reviews of ``path`` (all, if fewer)."""
    from helpers import embeddings, parsing

    frame, _ = parsing.parse_snap(path, progress=False)
    texts = frame["text"].sample(n=min(reviews, len(frame)), random_state=0).tolist()
    return embeddings.word2vec_sentences(texts, cache_dir=cache, progress=True)


def line_sentence_file(sentences: Sequence[Sequence[str]], cache: Path) -> Path:
    """``sentences`` as gensim's LineSentence wants them: one a line, tokens split by a
    space. Written once per corpus (named by its hash), atomically."""
    from helpers.files import atomic_write_text

    text = "".join(" ".join(sentence) + "\n" for sentence in sentences)
    path = cache / f"corpus-{hashlib.sha256(text.encode()).hexdigest()[:20]}.txt"
    if not path.is_file():
        atomic_write_text(path, text)
    return path


def candidates(
    sentences: list[list[str]], cache: Path, epochs: int, cores: int
) -> dict[str, Callable[[], object]]:
    """name → a call that trains the vectors once."""
    from gensim.models import Word2Vec

    from helpers.embeddings import train_word2vec

    path = str(line_sentence_file(sentences, cache))
    settings = SETTINGS | {"epochs": epochs}
    return {
        f"ours, {cores} workers": lambda: train_word2vec(sentences, progress=False, **settings),
        f"gensim, {cores} workers": lambda: Word2Vec(sentences, workers=cores, **settings),
        f"gensim corpus_file, {cores} workers": lambda: Word2Vec(
            corpus_file=path, workers=cores, **settings
        ),
        "ours exact=True, 1 worker": lambda: train_word2vec(
            sentences, exact=True, progress=False, **settings
        ),
    }


def measure(
    sentences: list[list[str]], cache: Path, epochs: int, repeats: int, cores: int
) -> dict[str, list[tuple[float, float]]]:
    """name → ``(seconds, CPU seconds)`` of each of ``repeats`` runs, taking turns. CPU
    seconds are this process's, all threads: over the seconds, the cores kept busy."""
    calls = candidates(sentences, cache, epochs, cores)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
    for repeat in range(repeats):
        for name, call in calls.items():
            started, cpu = time.perf_counter(), time.process_time()
            call()
            seconds = time.perf_counter() - started
            runs[name].append((seconds, time.process_time() - cpu))
            print(f"round {repeat + 1}, {name}: {seconds:.1f} s", flush=True)
    return runs


def format_table(runs: dict[str, list[tuple[float, float]]], words: int) -> str:
    """One row per candidate: seconds of every run, median words a second, its ratio to
    gensim's threads (the second candidate), and the median cores kept busy."""
    rates = {name: words / statistics.median(s for s, _ in each) for name, each in runs.items()}
    reference = list(rates.values())[1]
    width = max(map(len, runs))
    lines = [f"{'':<{width}}  {'seconds':<20} {'words/s':>10}  vs gensim  cores busy"]
    for name, each in runs.items():
        seconds = ", ".join(f"{s:.1f}" for s, _ in each)
        busy = statistics.median(cpu / s for s, cpu in each)
        lines.append(
            f"{name:<{width}}  {seconds:<20} {rates[name]:>10,.0f}  "
            f"{rates[name] / reference:>9.2f}  {busy:>10.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
