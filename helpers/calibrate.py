"""How fast is this machine for the series? A fixed small workload and what it predicts.

Machines of the same size differ up to 3× in speed (a 2-core Intel Xeon against the
2-core AMD EPYC the README's figures come from), so a teacher planning a workshop needs
the series' time on *their* machine, not ours. ``calibrate`` runs the same kinds of work
the notebooks do, at a fixed small size and on synthetic text (no data file needed):

- ``text``: tokenising and sentence splitting (pysbd, every core), as notebooks 01-02;
- ``word2vec``: skip-gram training on every core, as notebook 02;
- ``lstm`` and ``han``: encoding and two epochs of each tuned network, with this
  device's recipe, as notebooks 03-06.

Its seconds, divided by the same workload's seconds on the reference machine and
multiplied by the series' time measured there in the same hour (``REFERENCE``), give the
expected time of ``make run`` (the workshop preset, TensorFlow only) on this machine.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass

import numpy as np

# Measured on the reference machine, one after the other in the same hour: the
# calibration (``python -m helpers calibrate``) and the workshop series on the full-size
# review file (``REVIEWS_DATA_DIR=<stand-in> make run``, TensorFlow only).
REFERENCE = {
    "processor": "Intel Xeon, 2 cores",
    "date": "2026-12-03",
    "steps": {"text": 1.5, "word2vec": 1.7, "lstm": 5.2, "han": 21.7},
    "series_seconds": 487.0,
}

SYNTHETIC_WORDS = 4_000  # distinct words; drawn with Zipf-like frequencies, as in reviews
REVIEWS = 1_500  # synthetic reviews for the text and word2vec steps
TRAINING_REVIEWS = 512  # for the two networks
EPOCHS = 2


def synthetic_reviews(count: int, seed: int = 0) -> list[str]:
    """``count`` review-like texts: about 5 sentences of about 14 words, Zipf word
    frequencies over ``SYNTHETIC_WORDS`` words, the same on every machine."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{index}" for index in range(SYNTHETIC_WORDS)])
    weights = 1.0 / np.arange(1, SYNTHETIC_WORDS + 1)
    weights /= weights.sum()
    reviews = []
    for _ in range(count):
        sentences = []
        for _ in range(1 + rng.poisson(4.4)):
            length = 3 + rng.poisson(11)
            sentences.append(" ".join(rng.choice(words, length, p=weights)).capitalize() + ".")
        reviews.append(" ".join(sentences))
    return reviews


@dataclass
class Calibration:
    steps: dict[str, float]  # seconds per step, as in REFERENCE["steps"]

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())

    @property
    def ratio(self) -> float:
        """This machine's time for the workload over the reference machine's (2 = half as fast)."""
        return self.seconds / sum(REFERENCE["steps"].values())

    @property
    def expected_series_seconds(self) -> float:
        return self.ratio * REFERENCE["series_seconds"]

    def report(self) -> str:
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.steps.items())
        reference = sum(REFERENCE["steps"].values())
        minutes, seconds = divmod(round(self.expected_series_seconds), 60)
        ref_minutes, ref_seconds = divmod(round(REFERENCE["series_seconds"]), 60)
        return (
            f"calibration: {self.seconds:.1f} s ({steps})\n"
            f"reference: {reference:.1f} s on {REFERENCE['processor']} ({REFERENCE['date']}), "
            f"where the workshop series (make run, TensorFlow) took {ref_minutes} min "
            f"{ref_seconds:02d} s\n"
            f"this machine is {self.ratio:.2f}× the reference's time: expect the workshop "
            f"series to take about {minutes} min {seconds:02d} s here"
        )


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _train(model_name: str, texts: list[str], folder: str) -> None:
    """Prepare ``texts`` and train the tuned ``model_name`` for ``EPOCHS`` epochs, through
    the same functions as the notebooks (``train.prepare``, ``training_data``, ``train_model``)."""
    import keras

    from helpers.models import compile_model, model_kind, named_config
    from helpers.train import prepare, train_model, training_data

    config = named_config(model_name, "tuned", epochs=EPOCHS)
    prepared = prepare(config, texts, folder, word2vec=False)
    labels = np.arange(len(texts)) % 2
    keras.utils.set_random_seed(0)
    model = compile_model(model_kind(config).build(prepared.config), prepared.config)
    data = training_data(
        prepared.config, prepared.ids, labels, prepared.lengths, validation_share=0
    )
    train_model(model, prepared.config, data, folder, verbose=0)


def calibrate(scale: float = 1.0) -> Calibration:
    """Run the workload (``scale`` < 1 for a quick test) and time each step."""
    from helpers.embeddings import train_word2vec
    from helpers.sentences import split_documents
    from helpers.text import tokenize

    reviews = synthetic_reviews(max(8, round(REVIEWS * scale)))
    steps = {}
    split: list[list[str]] = []

    def text_step():
        split.extend(split_documents(reviews))
        for review in reviews:
            tokenize(review)

    steps["text"] = _timed(text_step)
    sentences = [tokenize(sentence) for document in split for sentence in document]
    steps["word2vec"] = _timed(
        lambda: train_word2vec(sentences, min_count=3, epochs=10, seed=0, progress=False)
    )
    training = reviews[: max(8, round(TRAINING_REVIEWS * scale))]
    with tempfile.TemporaryDirectory() as folder:
        for name in ("lstm", "han"):
            steps[name] = _timed(lambda name=name: _train(name, training, f"{folder}/{name}"))
    return Calibration(steps={name: round(seconds, 2) for name, seconds in steps.items()})
