"""Sentence splitting: the splitter, parallel splitting and the on-disk cache."""

import json

import numpy as np
import pytest

from helpers import sentences
from helpers.sentences import (
    _SEGMENTER,
    SPLITTER,
    SentenceStore,
    _segment,
    split_documents,
    split_sentences,
    text_key,
)
from helpers.text import TextEncoder, encode_cached

REVIEWS = [
    "Mr. Smith paid $3.50. It was great!",
    "First line without a stop\n\n  \nSecond one. Third one.\n",
    "Bought it twice... Would buy again?! Yes.",
    " \n ",
    "Mr. Smith paid $3.50. It was great!",  # a duplicate: split once, answered twice
    "The e.g. and i.e. stay put. Dr. Who agrees.",
] * 4 + [f"Review number {n}. It has two sentences." for n in range(30)]


def test_split_sentences_keeps_abbreviations_and_prices_together():
    assert split_sentences("Mr. Smith paid $3.50. It was great!") == [
        "Mr. Smith paid $3.50.",
        "It was great!",
    ]


def test_split_sentences_breaks_at_newlines_and_drops_blank_ones():
    text = "First line without a stop\n\n  \nSecond one. Third one.\n"
    assert split_sentences(text) == ["First line without a stop", "Second one.", "Third one."]
    assert split_sentences(" \n ") == []


def test_a_long_line_is_segmented_in_windows_with_the_same_sentences():
    line = "Mr. Smith paid $3.50 for this tea. It is good! " * 600  # 28,200 characters
    whole = [s.strip() for s in _SEGMENTER.segment(line)]
    assert len(whole) == 1200 and whole[0] == "Mr. Smith paid $3.50 for this tea."
    assert split_sentences(line) == whole
    assert list(_segment("x" * 250, window=100)) == ["x" * 100, "x" * 100, "x" * 50]


def test_parallel_splitting_gives_the_serial_sentences_in_the_input_order(monkeypatch):
    monkeypatch.setattr(sentences, "CHUNK", 4)  # 12 chunks over 2 worker processes
    monkeypatch.setattr(sentences, "PARALLEL_FROM", 0)
    serial = [split_sentences(review) for review in REVIEWS]
    assert split_documents(REVIEWS, workers=1) == serial
    assert split_documents(REVIEWS, workers=2) == serial


def _counting_splits(monkeypatch) -> list[str]:
    """Record every text that reaches the splitter itself (not the cache)."""
    split, seen = sentences._split_all, []

    def recording(texts, workers, progress):
        seen.extend(texts)
        return split(texts, workers, progress)

    monkeypatch.setattr(sentences, "_split_all", recording)
    return seen


def test_the_cache_splits_each_distinct_review_once_and_is_reused(tmp_path, monkeypatch):
    seen = _counting_splits(monkeypatch)
    first = split_documents(REVIEWS, cache_dir=tmp_path)
    assert sorted(seen) == sorted(set(REVIEWS))
    assert first == [split_sentences(review) for review in REVIEWS]
    seen.clear()
    assert split_documents(REVIEWS[::-1], cache_dir=tmp_path) == first[::-1]
    assert seen == []
    folder = tmp_path / f"sentences-{SPLITTER}"
    assert folder.is_dir() and not list(folder.glob(".*partial"))


def test_the_cache_is_keyed_by_content_so_a_changed_review_is_split_again(tmp_path, monkeypatch):
    split_documents(["Apple pear. Fig.", "Kiwi!"], cache_dir=tmp_path)
    seen = _counting_splits(monkeypatch)
    changed = split_documents(["Apple pear. Plum.", "Kiwi!"], cache_dir=tmp_path)
    assert seen == ["Apple pear. Plum."]
    assert changed == [["Apple pear.", "Plum."], ["Kiwi!"]]


def test_another_splitter_version_uses_another_cache(tmp_path, monkeypatch):
    split_documents(["Apple pear. Fig."], cache_dir=tmp_path)
    monkeypatch.setattr(sentences, "SPLITTER", "pysbd-9.9-1")
    seen = _counting_splits(monkeypatch)
    split_documents(["Apple pear. Fig."], cache_dir=tmp_path)
    assert seen == ["Apple pear. Fig."]
    assert {p.name for p in tmp_path.iterdir()} == {
        f"sentences-{SPLITTER}",
        "sentences-pysbd-9.9-1",
    }


def test_a_damaged_cache_file_is_split_again_and_replaced(tmp_path, monkeypatch):
    split_documents(["Apple pear. Fig."], cache_dir=tmp_path)
    shard = SentenceStore(tmp_path)._shard(text_key("Apple pear. Fig.")[:2])
    shard.write_text('{"half a', encoding="utf-8")
    seen = _counting_splits(monkeypatch)
    assert split_documents(["Apple pear. Fig."], cache_dir=tmp_path) == [["Apple pear.", "Fig."]]
    assert seen == ["Apple pear. Fig."]
    assert json.loads(shard.read_text(encoding="utf-8")) == {
        text_key("Apple pear. Fig."): ["Apple pear.", "Fig."]
    }


def test_an_interrupted_cache_write_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sentences.json, "dumps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        split_documents(["Apple pear. Fig."], cache_dir=tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_the_han_encoding_reuses_sentences_split_for_word2vec(tmp_path, monkeypatch):
    from helpers.embeddings import word2vec_sentences

    texts = ["Apple pear. Fig kiwi!", "Pear pear. Apple."]
    word2vec_sentences(texts, cache_dir=tmp_path)
    encoder = TextEncoder.fit(texts, num_words=10, max_sentences=3, words_per_sentence=4)
    seen = _counting_splits(monkeypatch)
    array, stats = encode_cached(encoder, texts, "hierarchical", tmp_path)
    assert seen == [] and stats.sentences == 4
    # A new text at prediction time is split by the same splitter, and encoded the same.
    np.testing.assert_array_equal(encoder.encode_text(texts[0], "hierarchical"), array[:1])


def test_an_interrupted_split_keeps_what_was_saved_before(tmp_path, monkeypatch):
    texts = [f"Review {n}. Done." for n in range(6)]
    monkeypatch.setattr(sentences, "CHUNK", 2)
    monkeypatch.setattr(sentences, "SAVE_EVERY", 2)
    split_chunk, calls = sentences._split_chunk, []

    def interrupted_at_the_third(chunk):
        calls.append(chunk)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return split_chunk(chunk)

    monkeypatch.setattr(sentences, "_split_chunk", interrupted_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        split_documents(texts, cache_dir=tmp_path, workers=1)
    saved = SentenceStore(tmp_path).get(map(text_key, texts))
    assert saved == {text_key(t): [t.split(" Done")[0], "Done."] for t in texts[:4]}
