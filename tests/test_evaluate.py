"""helpers.evaluate: metrics and the TF-IDF baseline."""

import numpy as np
import pytest

from helpers import evaluate


def test_metrics_and_confusion_layout():
    labels = np.array([0, 0, 1, 1, 1])
    probabilities = np.array([0.1, 0.7, 0.8, 0.4, 0.9])
    metrics = evaluate.classification_metrics(labels, probabilities)
    assert metrics["accuracy"] == 0.6
    assert metrics["confusion"] == [[1, 1], [1, 2]]
    assert metrics["roc_auc"] == pytest.approx(5 / 6, abs=1e-4)
    with pytest.raises(ValueError, match="NaN"):
        evaluate.classification_metrics(labels, [0.1, np.nan, 0.2, 0.3, 0.4])


@pytest.mark.shared_data
def test_tfidf_baseline_on_real_reviews(small_split):
    from helpers.data import read_split

    train, test, _ = read_split(small_split)
    metrics, _ = evaluate.tfidf_baseline(train["text"], train["label"], test["text"], test["label"])
    assert metrics["n"] == 200 and metrics["accuracy"] > 0.75 and metrics["roc_auc"] > 0.85
