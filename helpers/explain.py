"""Where the HAN looks: sentence and word attention for any text, in three renderings.

``explain(classifier, texts)`` returns one ``Explanation`` per text: the predicted
label and probability, every sentence with its weight in the document, and every word
with its weight in its sentence. ``to_json``, ``to_text`` and ``to_html`` render them;
the HTML shades each sentence by its weight and highlights each word by its own.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field

from helpers.models import attention_model, model_kind
from helpers.text import split_sentences, tokenize
from helpers.train import Classifier, ModelError


@dataclass
class SentenceWeights:
    text: str
    weight: float  # share of the document's attention, 0..1 (sentences sum to 1)
    words: list[tuple[str, float]]  # (token, share of the sentence's attention)


@dataclass
class Explanation:
    text: str
    label: str  # "positive" or "negative"
    probability: float  # P(positive)
    sentences: list[SentenceWeights]
    truncated: dict = field(default_factory=dict)  # sentences/words the model did not read
    known_word_share: float = 1.0


def explain(classifier: Classifier, texts, batch_size: int = 64) -> list[Explanation]:
    """Attention of ``classifier`` (a HAN) on each of ``texts``.

    Padded words and empty sentences have exactly zero weight and are left out;
    sentences or words cut off by the model's size limits are counted in ``truncated``.
    """
    if not model_kind(classifier.config).attention:
        raise ModelError("only the HAN has attention to show: use a model trained with --model han")
    texts = [str(t) for t in texts]
    ids = classifier.encode(texts)
    outputs = attention_model(classifier.model).predict(ids, batch_size=batch_size, verbose=0)
    encoder = classifier.encoder
    explanations = []
    for row, text in enumerate(texts):
        placed = encoder.sentence_slots(text)
        sentences = [
            SentenceWeights(
                text=sentence,
                weight=float(outputs["sentence_weights"][row, slot]),
                words=[(w, float(outputs["word_weights"][row, slot, c])) for c, w in words],
            )
            for slot, sentence, words in placed
        ]
        all_sentences = [s for s in split_sentences(text) if tokenize(s)]
        read_words = sum(len(s.words) for s in sentences)
        probability = float(outputs["probabilities"][row, 1])
        explanations.append(
            Explanation(
                text=text,
                label="positive" if probability >= 0.5 else "negative",
                probability=probability,
                sentences=sentences,
                truncated={
                    "sentences": len(all_sentences) - len(placed),
                    "words": len(tokenize(text)) - read_words,
                },
                known_word_share=encoder.known_word_share(text),
            )
        )
    return explanations


def to_json(explanations: list[Explanation]) -> str:
    """One JSON object per text: label, probability, sentences with weights and word weights."""
    return json.dumps([asdict(e) for e in explanations], indent=1)


def to_text(explanations: list[Explanation]) -> str:
    """A terminal rendering: sentences with their weight, top words of each marked."""
    lines = []
    for e in explanations:
        lines.append(f"{e.label} (P(positive) = {e.probability:.3f}){_notes(e)}")
        for s in sorted(e.sentences, key=lambda s: -s.weight):
            top = sorted(s.words, key=lambda w: -w[1])[:3]
            words = ", ".join(f"{w} {v:.2f}" for w, v in top)
            lines.append(f"  {s.weight:5.1%}  {s.text[:90]}  [{words}]")
    return "\n".join(lines)


def _notes(e: Explanation) -> str:
    notes = []
    if e.truncated.get("sentences") or e.truncated.get("words"):
        notes.append(
            f"truncated: {e.truncated['sentences']} sentences, {e.truncated['words']} words unread"
        )
    if e.known_word_share < 0.5:
        notes.append(f"only {e.known_word_share:.0%} of the words are in the vocabulary")
    return f"; {'; '.join(notes)}" if notes else ""


def _shade(weight: float, count: int) -> float:
    """Colour strength 0..1: how far ``weight`` is above an even share (1 / ``count``).

    An average item is faint (1/3) and three times the average or more is full colour,
    so a model that spreads its attention evenly shows no false emphasis.
    """
    return min(1.0, weight * count / 3)


def to_html(explanations: list[Explanation]) -> str:
    """Sentences shaded blue by their weight, words highlighted orange by theirs.

    Hovering over a word or a sentence's percentage shows its exact weight.
    """
    blocks = []
    for e in explanations:
        colour = "#2e7d32" if e.label == "positive" else "#c62828"
        heading = (
            f'<div style="font-weight:bold;color:{colour}">{e.label} '
            f"(P(positive) = {e.probability:.3f}){html.escape(_notes(e))}</div>"
        )
        rows = []
        for s in e.sentences:
            words = " ".join(
                f'<span title="{v:.3f}" style="background:rgba(255,152,0,'
                f'{_shade(v, len(s.words)):.2f});padding:0 1px">{html.escape(w)}</span>'
                for w, v in s.words
            )
            strength = 0.6 * _shade(s.weight, len(e.sentences))
            rows.append(
                f'<div style="background:rgba(33,150,243,{strength:.2f});padding:2px 4px;'
                f'margin:1px 0"><span style="display:inline-block;width:3.5em;color:#555" '
                f'title="{s.weight:.3f}">{s.weight:.0%}</span>{words}</div>'
            )
        blocks.append(
            f'<div style="font-family:sans-serif;margin:0 0 12px 0">{heading}{"".join(rows)}</div>'
        )
    return "\n".join(blocks)
