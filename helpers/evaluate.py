"""How good is a classifier: metrics, the plots that show them, and a strong baseline.

Metrics come from scikit-learn. ``P(positive) >= 0.5`` counts as a positive prediction.
The baseline is TF-IDF on word unigrams and bigrams with logistic regression, the bar
a recurrent network has to clear to be worth its training time.

``predict_texts`` and ``evaluate_classifier`` take texts as users bring them: a text
that cannot be classified (missing, empty, only punctuation or emoji) gets no
probability and a note saying why, and every other text still gets its answer; the
metrics leave such texts, and rows without a label, out and count them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    confusion_matrix,
    roc_auc_score,
)
from sklearn.pipeline import make_pipeline

from helpers.data import DataError
from helpers.files import atomic_write_text
from helpers.text import tokenize, unusable_reason

# How a label column may say positive and negative (any case; numbers 1 and 0 too).
POSITIVE_LABELS = ("1", "pos", "positive", "true")
NEGATIVE_LABELS = ("0", "neg", "negative", "false")


def classification_metrics(labels, probabilities) -> dict:
    """Accuracy, ROC AUC and the confusion matrix ``[[TN, FP], [FN, TP]]``.

    ``roc_auc`` is None when ``labels`` hold one class only: it is not defined then.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype="float64")
    if len(labels) == 0:
        raise ValueError("no labels to score")
    if not np.isfinite(probabilities).all():
        raise ValueError("predicted probabilities contain NaN or infinity")
    predicted = (probabilities >= 0.5).astype(int)
    both_classes = len(np.unique(labels)) == 2
    return {
        "n": int(len(labels)),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "roc_auc": round(float(roc_auc_score(labels, probabilities)), 4) if both_classes else None,
        "confusion": confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    }


def write_metrics(path: str | Path, metrics: dict) -> Path:
    """``metrics`` as indented JSON, written atomically (a crash leaves the old file)."""
    return atomic_write_text(path, json.dumps(metrics, indent=2) + "\n")


def binary_label_values(values, where: str = "labels") -> np.ndarray:
    """Float ``(n,)`` labels: 1.0 positive, 0.0 negative, NaN where none is given.

    Accepts 1/0 (numbers, strings or booleans) and the words in ``POSITIVE_LABELS``
    and ``NEGATIVE_LABELS`` in any case, so IMDB's ``pos``/``neg`` work as they are.
    Anything else is refused in one line (``DataError``) naming ``where``, the values
    and the first row (counted from 1), instead of being read as a wrong label.
    """
    values = pd.Series(list(values), dtype=object)
    words = values.astype(str).str.strip().str.lower()
    missing = values.isna().to_numpy() | (words == "").to_numpy()
    numbers = pd.to_numeric(values.where(~missing), errors="coerce").to_numpy(dtype=float)
    labels = np.full(len(values), np.nan)
    labels[words.isin(POSITIVE_LABELS).to_numpy() | (numbers == 1)] = 1.0
    labels[words.isin(NEGATIVE_LABELS).to_numpy() | (numbers == 0)] = 0.0
    bad = np.isnan(labels) & ~missing
    if bad.any():
        examples = list(dict.fromkeys(values[bad]))
        found = ", ".join(map(repr, examples[:4])) + (", …" if len(examples) > 4 else "")
        hint = (
            ": star ratings? make 0/1 labels first (python -m helpers data --labels 12v45)"
            if np.isfinite(numbers[bad]).all()
            else ""
        )
        raise DataError(
            f"{where}: expected 0/1 or neg/pos (negative/positive, false/true), found "
            f"{found} (first in row {int(np.flatnonzero(bad)[0]) + 1:,}){hint}"
        )
    return labels


@dataclass(frozen=True)
class TextPredictions:
    """What a classifier says about each of a batch of texts."""

    probabilities: np.ndarray  # (texts,) P(positive); NaN where the text is unusable
    notes: list[str]  # per text: "" or e.g. "unusable: no words", "no known words", "truncated…"

    @property
    def usable(self) -> np.ndarray:
        """Bool ``(texts,)``: the texts that got a probability."""
        return ~np.isnan(self.probabilities)

    def labels(self) -> list[str]:
        """The answer per text: positive, negative or unusable."""
        return [
            "unusable" if np.isnan(p) else "positive" if p >= 0.5 else "negative"
            for p in self.probabilities
        ]

    def records(self, texts) -> list[dict]:
        """One JSON-safe dict per text: text, label, probability (None if unusable), note."""
        return [
            {"text": text, "label": label, "probability": None if np.isnan(p) else float(p),
             "note": note}
            for text, label, p, note in zip(
                texts, self.labels(), self.probabilities, self.notes, strict=True
            )
        ]  # fmt: skip

    def summary(self) -> str:
        """The notes counted in one line ("1 of 3 texts unusable: no words; …"), or ""."""
        kinds = Counter(
            note if note.startswith("unusable") else note.split(":")[0]
            for note in self.notes
            if note
        )
        return "; ".join(
            f"{count:,} of {len(self.notes):,} texts {kind}" for kind, count in kinds.items()
        )


def predict_texts(classifier, texts, batch_size: int = 256) -> TextPredictions:
    """P(positive) for each of ``texts``, one unusable text never failing the others.

    A text with nothing to classify (``helpers.text.unusable_reason``: missing, empty,
    only punctuation, symbols or emoji) gets NaN and the note "unusable: REASON". A
    usable text is classified; its note says "no known words" when the vocabulary
    knows none of its words (another script, say: the answer is then a guess) and
    "truncated: …" when the model read only part of it.
    """
    texts = list(texts)
    reasons = [unusable_reason(text) for text in texts]
    notes = [f"unusable: {reason}" if reason else "" for reason in reasons]
    probabilities = np.full(len(texts), np.nan)
    rows = [row for row, reason in enumerate(reasons) if reason is None]
    if rows:
        encoder = classifier.encoder
        ids, stats = encoder.encode([texts[row] for row in rows], classifier.kind)
        probabilities[rows] = classifier.predict(ids=ids, batch_size=batch_size)
        for row, read in zip(rows, stats.lengths, strict=True):
            words = len(tokenize(texts[row]))
            if encoder.known_word_share(texts[row]) == 0.0:
                notes[row] = "no known words: the vocabulary knows none of them"
            elif read < words:
                notes[row] = f"truncated: the model read {read:,} of its {words:,} words"
    return TextPredictions(probabilities=probabilities, notes=notes)


def evaluate_classifier(classifier, texts, labels) -> tuple[dict, TextPredictions]:
    """``classification_metrics`` of ``classifier`` on the texts that can be scored.

    ``labels`` are 0/1 with NaN for a missing label (``binary_label_values`` gives
    them). Rows without a label or with an unusable text are left out of the metrics
    and counted under ``metrics["left_out"]`` by reason ("no label", "no words", …);
    if no row is left to score, a one-line ``DataError`` says why.
    """
    labels = np.asarray(labels, dtype=float)
    predictions = predict_texts(classifier, texts)
    if len(labels) != len(predictions.notes):
        raise ValueError(f"{len(predictions.notes)} texts but {len(labels)} labels")
    left_out = Counter(
        "no label" if np.isnan(label) else note.removeprefix("unusable: ")
        for label, note, usable in zip(labels, predictions.notes, predictions.usable, strict=True)
        if np.isnan(label) or not usable
    )
    scored = predictions.usable & ~np.isnan(labels)
    if not scored.any():
        raise DataError(
            f"no review can be scored: {describe_left_out(dict(left_out), len(labels))}"
        )
    metrics = classification_metrics(labels[scored].astype(int), predictions.probabilities[scored])
    if left_out:
        metrics["left_out"] = dict(left_out)
    return metrics, predictions


def describe_left_out(left_out: dict, rows: int) -> str:
    """``{"no label": 1, "no words": 2}`` of ``rows`` as "3 of 10 rows left out (…)"."""
    total = sum(left_out.values())
    reasons = ", ".join(f"{count:,} {reason}" for reason, count in left_out.items())
    return f"{total:,} of {rows:,} rows left out of the metrics ({reasons})"


def tfidf_baseline(train_texts, train_labels, test_texts, test_labels) -> tuple[dict, object]:
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression; ``(metrics, pipeline)``.

    Uses the series' own tokenizer, so the baseline and the networks see the same words.
    """
    started = time.perf_counter()
    words = TfidfVectorizer(
        tokenizer=tokenize,
        lowercase=False,
        token_pattern=None,
        ngram_range=(1, 2),
        min_df=2,
        sublinear_tf=True,
    )
    pipeline = make_pipeline(words, LogisticRegression(C=10.0, max_iter=2000))
    pipeline.fit(list(train_texts), np.asarray(train_labels))
    probabilities = pipeline.predict_proba(list(test_texts))[:, 1]
    metrics = classification_metrics(test_labels, probabilities)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    return metrics, pipeline


def plot_roc(curves: dict[str, tuple], ax=None):
    """ROC curves: ``{name: (labels, probabilities)}``, AUC in the legend."""
    ax = ax or plt.gca()
    names = list(curves)
    for name in names:
        labels, probabilities = curves[name]
        RocCurveDisplay.from_predictions(
            labels, probabilities, name=name, ax=ax, plot_chance_level=name == names[-1]
        )
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return ax


def plot_confusion(confusion, ax=None, title="Confusion matrix"):
    """A 2×2 confusion matrix with counts in the cells (rows: true, columns: predicted)."""
    ax = ax or plt.gca()
    display = ConfusionMatrixDisplay(np.asarray(confusion), display_labels=["negative", "positive"])
    display.plot(ax=ax, cmap="Blues", colorbar=False, values_format=",")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return ax


def plot_history(histories: dict[str, pd.DataFrame], axes=None):
    """Training curves, one line style per run: loss and accuracy on fit and validation data."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, history) in enumerate(histories.items()):
        color = colors[index % len(colors)]
        for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
            ax.plot(history["epoch"], history[metric], color=color, label=f"{name} fit")
            ax.plot(
                history["epoch"],
                history[f"val_{metric}"],
                color=color,
                linestyle="--",
                label=f"{name} validation",
            )
            ax.set(xlabel="epoch", ylabel=metric, title=metric)
    axes[0].legend(fontsize="small")
    return axes


def results_table(rows: dict[str, dict]) -> pd.DataFrame:
    """``{model name: metrics}`` as a table of accuracy and ROC AUC."""
    return pd.DataFrame(
        {name: {"accuracy": m["accuracy"], "ROC AUC": m["roc_auc"]} for name, m in rows.items()}
    ).T
