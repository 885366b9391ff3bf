"""helpers.explain: attention weights for new text, and their three renderings."""

import json

import numpy as np
import pytest

from helpers import explain
from helpers.train import ModelError

pytestmark = pytest.mark.shared_data

TEXTS = [
    "Great tea. Smooth and fresh!\nWould buy again.",
    "Delicious.",
    " ".join(["The chips were fine but the salsa was far too sweet for us."] * 30),
    "Qwzx blorft snerg.",
]


@pytest.fixture(scope="module")
def explanations(tiny_models):
    return explain.explain(tiny_models["han"], TEXTS)


def test_weights_are_distributions_over_the_real_sentences_and_words(explanations):
    for e in explanations:
        assert 0.0 <= e.probability <= 1.0 and e.label in ("positive", "negative")
        assert sum(s.weight for s in e.sentences) == pytest.approx(1.0, abs=1e-5)
        for s in e.sentences:
            assert sum(w for _, w in s.words) == pytest.approx(1.0, abs=1e-5)
            assert all(np.isfinite(w) and w > 0 for _, w in s.words)
    first = explanations[0]
    assert [s.text for s in first.sentences] == [
        "Great tea.",
        "Smooth and fresh!",
        "Would buy again.",
    ]
    assert [w for w, _ in first.sentences[1].words] == ["smooth", "and", "fresh"]


def test_awkward_inputs(explanations):
    one, long, unknown = explanations[1:]
    assert len(one.sentences) == 1 and one.sentences[0].weight == pytest.approx(1.0)
    assert long.truncated["sentences"] == 30 - 8  # the tiny HAN reads 8 sentences
    assert len(long.sentences) == 8
    assert unknown.known_word_share == 0.0 and np.isfinite(unknown.probability)
    assert "truncated: 22 sentences" in explain.to_text([long])
    assert "0% of the words" in explain.to_text([unknown])


def test_json_html_and_text_renderings(explanations):
    parsed = json.loads(explain.to_json(explanations))
    assert len(parsed) == len(TEXTS)
    assert set(parsed[0]) >= {"label", "probability", "sentences"}
    assert set(parsed[0]["sentences"][0]) == {"text", "weight", "words"}
    page = explain.to_html(explanations[:1])
    for word in ("great", "smooth", "fresh", "would", "buy", "again"):
        assert f">{word}</span>" in page
    assert "Great tea." in explain.to_text(explanations[:1])


def test_only_the_han_has_attention(tiny_models):
    with pytest.raises(ModelError, match="only the HAN"):
        explain.explain(tiny_models["lstm"], TEXTS[:1])
