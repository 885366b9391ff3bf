"""helpers.evaluate: metrics and the TF-IDF baseline."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from helpers import evaluate
from helpers.text import TextEncoder


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


def test_metrics_on_one_class_leave_roc_auc_undefined():
    metrics = evaluate.classification_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert metrics["roc_auc"] is None and metrics["accuracy"] == pytest.approx(2 / 3, abs=1e-4)


@pytest.mark.parametrize(
    "values, expected",
    [
        (["pos", "neg", "NEG", " Positive ", "negative"], [1, 0, 0, 1, 0]),
        ([1, 0, 1.0, "0", "1"], [1, 0, 1, 0, 1]),
        ([True, False, "true", "False"], [1, 0, 1, 0]),
        (["pos", "", None, np.nan], [1, np.nan, np.nan, np.nan]),
    ],
)
def test_binary_label_values_read_words_numbers_and_missing_labels(values, expected):
    np.testing.assert_array_equal(evaluate.binary_label_values(values), expected)


@pytest.mark.parametrize(
    "values, message",
    [
        (["pos", "neutral", "meh"], "found 'neutral', 'meh' (first in row 2)"),
        ([1, 5, 4, 2], "found 5, 4, 2 (first in row 2): star ratings?"),
    ],
)
def test_other_label_values_are_refused_in_one_line(values, message):
    from helpers.data import DataError

    with pytest.raises(DataError, match=re.escape(message)):
        evaluate.binary_label_values(values, "reviews.csv: label")


class FakeClassifier:
    """The encoder of a real classifier and a model that says P(positive) = share of "good"."""

    kind = "flat"

    def __init__(self, max_words=5):
        self.encoder = TextEncoder.fit(
            ["good tea", "bad coffee"], num_words=10, max_words=max_words
        )
        self.good = self.encoder.vocabulary.index["good"]

    def predict(self, texts=None, ids=None, batch_size=256):
        assert texts is None, "predict_texts passes ids"
        return (ids == self.good).sum(axis=1) / np.maximum((ids > 0).sum(axis=1), 1)


def test_one_unusable_text_is_marked_and_the_others_answered():
    texts = ["good tea", "!!!", None, "bad coffee", "\U0001f600\U0001f600", ""]
    predictions = evaluate.predict_texts(FakeClassifier(), texts)
    np.testing.assert_array_equal(
        predictions.probabilities, [0.5, np.nan, np.nan, 0, np.nan, np.nan]
    )
    assert predictions.notes == [
        "", "unusable: no words", "unusable: no text", "", "unusable: no words", "unusable: empty"
    ]  # fmt: skip
    assert predictions.labels()[:4] == ["positive", "unusable", "unusable", "negative"]
    assert predictions.summary() == (
        "2 of 6 texts unusable: no words; 1 of 6 texts unusable: no text; "
        "1 of 6 texts unusable: empty"
    )


def test_unknown_words_and_truncation_are_answered_with_a_note():
    chinese = "\u8fd9\u662f\u597d\u8336"
    predictions = evaluate.predict_texts(FakeClassifier(max_words=3), [chinese, "good " * 7])
    assert predictions.usable.all()
    assert predictions.notes == [
        "no known words: the vocabulary knows none of them",
        "truncated: the model read 3 of its 7 words",
    ]
    assert predictions.summary() == "1 of 2 texts no known words; 1 of 2 texts truncated"


def test_evaluate_classifier_leaves_out_unlabelled_rows_and_unusable_texts():
    texts = ["good tea", "bad coffee", "!!!", "good", "bad"]
    labels = [1, 0, 1, np.nan, 0]
    metrics, predictions = evaluate.evaluate_classifier(FakeClassifier(), texts, labels)
    assert metrics["n"] == 3 and metrics["accuracy"] == 1.0
    assert metrics["left_out"] == {"no words": 1, "no label": 1}
    assert evaluate.describe_left_out(metrics["left_out"], 5) == (
        "2 of 5 rows left out of the metrics (1 no words, 1 no label)"
    )
    assert len(predictions.notes) == 5


def test_evaluate_classifier_with_nothing_to_score_says_why():
    from helpers.data import DataError

    with pytest.raises(DataError, match=r"no review can be scored: 2 of 2 rows left out"):
        evaluate.evaluate_classifier(FakeClassifier(), ["!!!", "good"], [1, np.nan])


def test_a_metrics_write_that_fails_keeps_the_previous_file(tmp_path, monkeypatch):
    path = evaluate.write_metrics(tmp_path / "metrics.json", {"accuracy": 0.8})

    def fail_midway(self, text, **kwargs):
        with open(self, "w") as file:
            file.write(text[:5])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", fail_midway)
    with pytest.raises(KeyboardInterrupt):
        evaluate.write_metrics(path, {"accuracy": 0.9})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"accuracy": 0.8}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
