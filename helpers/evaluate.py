"""How good is a classifier: metrics, the plots that show them, and a strong baseline.

Metrics come from scikit-learn. ``P(positive) >= 0.5`` counts as a positive prediction.
The baseline is TF-IDF on word unigrams and bigrams with logistic regression, the bar
a recurrent network has to clear to be worth its training time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline

from helpers.text import tokenize


def classification_metrics(labels, probabilities) -> dict:
    """Accuracy, ROC AUC and the confusion matrix ``[[TN, FP], [FN, TP]]``."""
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype="float64")
    if not np.isfinite(probabilities).all():
        raise ValueError("predicted probabilities contain NaN or infinity")
    predicted = (probabilities >= 0.5).astype(int)
    return {
        "n": int(len(labels)),
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "roc_auc": round(float(roc_auc_score(labels, probabilities)), 4),
        "confusion": confusion_matrix(labels, predicted, labels=[0, 1]).tolist(),
    }


def write_metrics(path: str | Path, metrics: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    return path


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
    for name, (labels, probabilities) in curves.items():
        false_positive, true_positive, _ = roc_curve(labels, probabilities)
        auc = roc_auc_score(labels, probabilities)
        ax.plot(false_positive, true_positive, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return ax


def plot_confusion(confusion, ax=None, title="Confusion matrix"):
    """A 2×2 confusion matrix with counts in the cells (rows: true, columns: predicted)."""
    ax = ax or plt.gca()
    confusion = np.asarray(confusion)
    ax.imshow(confusion, cmap="Blues")
    for (row, column), count in np.ndenumerate(confusion):
        dark = count > confusion.max() / 2
        color = "white" if dark else "black"
        ax.text(column, row, f"{count:,}", ha="center", va="center", color=color)
    names = ["negative", "positive"]
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=names, yticklabels=names)
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
