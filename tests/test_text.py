"""Tokens, sentences, vocabulary and padded arrays (helpers.text)."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data import DataError
from helpers.text import (
    OOV,
    PAD,
    TextEncoder,
    Vocabulary,
    encode_cached,
    read_text_lines,
    tokenize,
    unusable_reason,
    usable_texts,
)

# "apple" 3x, "pear" and "fig" 2x (tie: alphabetical), "kiwi" 1x.
CORPUS = ["apple pear fig", "apple pear", "apple fig kiwi"]


def fit(**settings) -> TextEncoder:
    return TextEncoder.fit(CORPUS, num_words=5, **settings)


@pytest.fixture(scope="module")
def reviews(shared_data) -> list[str]:
    frame = pd.read_csv(shared_data / "finefoods_reviews_sample.csv.gz")
    return frame["Text"].str.replace("<br />", "\n").tolist()


def test_tokenize_lowercases_and_keeps_inner_apostrophes():
    assert tokenize("I DON'T like it… 'Really'! 3.50$, café’s") == [
        "i",
        "don't",
        "like",
        "it",
        "really",
        "3",
        "50",
        "café's",
    ]


def test_vocabulary_reserves_padding_and_oov_then_ranks_by_frequency():
    vocab = Vocabulary.fit(map(tokenize, CORPUS), num_words=5)
    assert vocab.words == ["<pad>", "<oov>", "apple", "fig", "pear"]
    assert vocab.index["apple"] == 2 and PAD == 0 and OOV == 1
    assert vocab.counts == [0, 1, 3, 2, 2]  # the OOV row counts the one "kiwi" left out
    assert vocab.encode(["pear", "kiwi", "banana"]) == [4, OOV, OOV]


def test_vocabulary_size_is_capped_by_a_small_corpus():
    vocab = Vocabulary.fit([["a", "b"]], num_words=100)
    assert vocab.size == 4


def test_vocabulary_coverage_and_dict_round_trip():
    vocab = Vocabulary.fit([["a", "a", "b"]], num_words=3)
    assert vocab.coverage([["a", "b"], ["a", "c"]]) == 0.5
    assert Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict()))).words == vocab.words
    with pytest.raises(ValueError, match="no tokens"):
        vocab.coverage([[]])


@pytest.mark.parametrize(
    ("padding", "truncating", "short", "long"),
    [
        ("post", "post", [2, 4, 0, 0], [2, 3, 2, 4]),
        ("pre", "pre", [0, 0, 2, 4], [2, 4, 2, 3]),
        ("pre", "post", [0, 0, 2, 4], [2, 3, 2, 4]),
    ],
)
def test_documents_pad_and_truncate_at_the_chosen_end(padding, truncating, short, long):
    encoder = fit(max_words=4, padding=padding, truncating=truncating)
    array, stats = encoder.encode_documents(
        ["apple pear", "apple fig apple pear apple fig"], return_stats=True
    )
    assert array.dtype == np.int32
    assert array.tolist() == [short, long]
    assert stats.lengths.tolist() == [2, 4]
    assert (stats.documents, stats.documents_truncated) == (2, 1)
    assert (stats.tokens, stats.tokens_dropped, stats.documents_empty) == (8, 2, 0)


def test_hierarchical_skips_empty_sentences_and_pads_with_zero_rows():
    encoder = fit(max_sentences=3, words_per_sentence=2)
    array, stats = encoder.encode_hierarchical(
        ["Apple pear fig.\n!!!\nKiwi.", "Pear.", "..."], return_stats=True
    )
    assert array.shape == (3, 3, 2) and array.dtype == np.int32
    assert array[0].tolist() == [[2, 4], [OOV, 0], [0, 0]]
    assert array[1].tolist() == [[4, 0], [0, 0], [0, 0]]
    assert not array[2].any()
    assert stats.sentence_counts.tolist() == [2, 1, 0]
    assert stats.sentence_lengths.tolist() == [[2, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert stats.lengths.tolist() == [3, 1, 0]
    assert (stats.tokens, stats.tokens_dropped) == (5, 1)  # "fig" cut from sentence 1
    assert (stats.documents_truncated, stats.documents_empty) == (1, 1)
    assert (stats.sentences, stats.sentences_dropped) == (3, 0)


@pytest.mark.parametrize(
    ("padding", "truncating", "expected"),
    [
        ("post", "post", [[2], [3], [4]]),
        ("pre", "pre", [[3], [4], [OOV]]),
    ],
)
def test_hierarchical_drops_sentences_at_the_truncating_end(padding, truncating, expected):
    encoder = fit(max_sentences=3, words_per_sentence=1, padding=padding, truncating=truncating)
    array, stats = encoder.encode_hierarchical(["Apple.\nFig.\nPear.\nKiwi."], return_stats=True)
    assert array[0].tolist() == expected
    assert (stats.sentences, stats.sentences_dropped) == (4, 1)
    short = encoder.encode_hierarchical(["Apple."])[0].tolist()
    assert short == ([[2], [0], [0]] if padding == "post" else [[0], [0], [2]])


def test_hierarchical_pre_padding_pads_words_and_sentences_in_front():
    encoder = fit(max_sentences=3, words_per_sentence=3, padding="pre")
    assert encoder.encode_hierarchical(["Apple pear.\nFig."])[0].tolist() == [
        [0, 0, 0],
        [0, 2, 4],
        [0, 0, 3],
    ]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be"):
        fit().encode(["apple"], "sentences")


def test_saved_encoder_gives_identical_arrays(tmp_path):
    encoder = fit(max_words=3, max_sentences=2, words_per_sentence=2, padding="pre")
    texts = ["Apple pear. Fig kiwi apple.", "Kiwi!"]
    saved = encoder.save(tmp_path)  # a directory: the file gets its standard name
    assert saved.name == "text_encoder.json"
    loaded = TextEncoder.load(tmp_path)
    assert loaded.settings() == encoder.settings()
    for kind in ("flat", "hierarchical"):
        np.testing.assert_array_equal(loaded.encode(texts, kind)[0], encoder.encode(texts, kind)[0])


def test_loading_a_missing_encoder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"text_encoder\.json is missing: .* training"):
        TextEncoder.load(tmp_path)


@pytest.mark.parametrize(
    "content",
    ["not json", '{"format": "something else"}', '{"format": "helpers.text.TextEncoder"}'],
)
def test_loading_a_corrupt_encoder_is_a_one_line_value_error(tmp_path, content):
    path = tmp_path / "text_encoder.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="is not a valid text encoder file") as error:
        TextEncoder.load(path)
    assert "\n" not in str(error.value)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="padding"):
        fit(padding="left")
    with pytest.raises(ValueError, match="max_words"):
        fit(max_words=0)


def test_encode_text_refuses_empty_text_but_encodes_unknown_words():
    encoder = fit(max_words=3)
    with pytest.raises(ValueError, match="empty text: nothing to classify"):
        encoder.encode_text("  \n ", "flat")
    with pytest.raises(ValueError, match="no words"):
        encoder.encode_text("?!", "hierarchical")
    assert encoder.encode_text("Banana mango", "flat").tolist() == [[OOV, OOV, 0]]
    assert encoder.known_word_share("Banana mango") == 0.0
    assert encoder.known_word_share("Banana apple") == 0.5
    assert encoder.encode_text("Apple. Pear.", "hierarchical").shape == (1, 15, 50)


@pytest.mark.parametrize(
    "text, reason",
    [
        (None, "no text"),
        (float("nan"), "no text"),
        ("", "empty"),
        (" \n\t", "empty"),
        ("!!!", "no words"),
        ("... ?! -- :-)", "no words"),
        ("\U0001f600\U0001f44d\u2764\ufe0f", "no words"),
        ("Great!", None),
        ("5/5", None),
        ("\u8fd9\u662f\u597d\u8336", None),  # Chinese: words, unknown to an English vocabulary
        ("\u041e\u0442\u043b\u0438\u0447\u043d\u043e", None),  # Russian
    ],
)
def test_unusable_reason_names_what_is_missing(text, reason):
    assert unusable_reason(text) == reason


def test_usable_texts_is_a_mask_over_the_batch():
    mask = usable_texts(["Good tea.", "!!!", None, "Bad."])
    assert mask.dtype == bool and mask.tolist() == [True, False, False, True]


def test_a_script_the_vocabulary_never_saw_is_encoded_as_unknown_words():
    encoder = fit(max_words=4)
    chinese = "\u8fd9\u662f\u597d\u8336 \u975e\u5e38\u597d"
    assert encoder.known_word_share(chinese) == 0.0
    assert encoder.encode_text(chinese, "flat").tolist() == [[OOV, OOV, 0, 0]]


def test_a_one_megabyte_review_is_encoded_and_counted_as_truncated():
    encoder = fit(max_sentences=15, words_per_sentence=50)
    review = "Apple pear fig, the best I ever had. " * 27_000  # 1 MB, one line
    array, stats = encoder.encode([review], "hierarchical")
    assert array.shape == (1, 15, 50) and (array[0, :, :3] > 1).all()
    assert stats.sentences == 27_000 and stats.documents_truncated == 1


def test_read_text_lines_skips_blank_lines_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_bytes("\ufeffGood tea.\r\n\r\n  \nCaf\u00e9 au lait \U0001f600\n".encode())
    assert read_text_lines(path) == ["Good tea.", "Caf\u00e9 au lait \U0001f600"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("Caf\u00e9\nna\u00efve".encode("latin-1"), "is not UTF-8 text (byte 0xe9 on line 1)"),
        ("Good tea.".encode("utf-16"), "is UTF-16 text: save it as UTF-8"),
        (b"\x1f\x8b\x08\x00compressed", "is compressed: extract the text file first"),
        (b"\x7fELF\x02\x01\x01\x00\x00", "is a binary file (a NUL byte at offset 7)"),
    ],
)
def test_read_text_lines_refuses_what_is_not_utf8_text_in_one_line(tmp_path, content, message):
    path = tmp_path / "reviews.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(message)) as error:
        read_text_lines(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_read_text_lines_of_a_missing_file_says_so(tmp_path):
    with pytest.raises(DataError, match="cannot read it .No such file"):
        read_text_lines(tmp_path / "missing.txt")


def test_an_encoder_save_that_fails_midway_keeps_the_previous_file(tmp_path, monkeypatch):
    fit(max_words=7).save(tmp_path)

    def fail_midway(self, text, **kwargs):
        with open(self, "w") as file:
            file.write(text[:20])
        raise OSError("No space left on device")

    monkeypatch.setattr(Path, "write_text", fail_midway)
    with pytest.raises(OSError, match="No space"):
        fit(max_words=9).save(tmp_path)
    monkeypatch.undo()
    assert TextEncoder.load(tmp_path).max_words == 7
    assert [p.name for p in tmp_path.iterdir()] == ["text_encoder.json"]


def test_an_encode_cache_write_that_fails_leaves_no_file_to_reuse(tmp_path, monkeypatch):
    encoder = fit()

    def fail_midway(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", fail_midway)
    with pytest.raises(KeyboardInterrupt):
        encode_cached(encoder, ["Apple pear."], "flat", tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    array, _ = encode_cached(encoder, ["Apple pear."], "flat", tmp_path)
    assert array[0, :2].tolist() == encoder.encode_documents(["Apple pear."])[0, :2].tolist()


def test_a_damaged_encode_cache_is_encoded_again_and_replaced(tmp_path):
    encoder = fit()
    first, _ = encode_cached(encoder, ["Apple pear."], "flat", tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    again, _ = encode_cached(encoder, ["Apple pear."], "flat", tmp_path)
    np.testing.assert_array_equal(again, first)
    assert [p.name for p in tmp_path.iterdir()] == [path.name] and path.stat().st_size > 100


def test_encode_cached_reuses_the_file_and_keys_on_the_texts(tmp_path, monkeypatch):
    encoder = fit(max_sentences=2, words_per_sentence=3)
    first, stats = encode_cached(encoder, ["Apple pear. Fig."], "hierarchical", tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("re-encoded although cached")

    monkeypatch.setattr(TextEncoder, "encode", fail)
    again, cached = encode_cached(encoder, ["Apple pear. Fig."], "hierarchical", tmp_path)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(cached.sentence_lengths, stats.sentence_lengths)
    assert (cached.tokens, cached.sentences, cached.documents) == (3, 2, 1)
    monkeypatch.undo()
    encode_cached(encoder, ["Apple pear. Kiwi."], "hierarchical", tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2


@pytest.mark.shared_data
def test_real_reviews_vocabulary_of_6000_rows_covers_held_out_half(reviews):
    half = len(reviews) // 2
    encoder = TextEncoder.fit(reviews[:half], num_words=6000)
    assert encoder.num_words == 6000
    held_out = encoder.vocabulary.coverage(map(tokenize, reviews[half:]))
    print(f"held-out token coverage of a 6,000-row vocabulary: {held_out:.3f}")
    assert held_out > 0.9

    array, stats = encoder.encode_documents(reviews[half:], return_stats=True)
    assert array.shape == (len(reviews) - half, 300)
    np.testing.assert_array_equal(stats.lengths, (array != PAD).sum(axis=1))
    assert 0 < stats.documents_truncated < stats.documents


@pytest.mark.shared_data
def test_real_reviews_hierarchical_lengths_match_the_array(reviews):
    encoder = TextEncoder.fit(reviews[:500], num_words=3000)
    array, stats = encoder.encode_hierarchical(reviews[:300], return_stats=True)
    assert array.shape == (300, 15, 50)
    np.testing.assert_array_equal(stats.sentence_lengths, (array != PAD).sum(axis=2))
    np.testing.assert_array_equal(stats.sentence_counts, (stats.sentence_lengths > 0).sum(axis=1))
    assert stats.documents_empty == 0
    # No sentence is lost to splitting: kept plus dropped tokens are all the tokens.
    assert stats.tokens == sum(len(tokenize(text)) for text in reviews[:300])


@pytest.mark.parametrize("side", ["post", "pre"])
def test_sentence_slots_match_the_hierarchical_array(side):
    texts = ["One two three four. Five six.\nSeven eight nine ten eleven.", "Short one."]
    encoder = TextEncoder.fit(
        texts, num_words=50, max_sentences=2, words_per_sentence=3, padding=side, truncating=side
    )
    for text, grid in zip(texts, encoder.encode_hierarchical(texts), strict=True):
        rebuilt = np.zeros_like(grid)
        for row, _, words in encoder.sentence_slots(text):
            for column, token in words:
                rebuilt[row, column] = encoder.vocabulary.index.get(token, OOV)
        assert (rebuilt == grid).all()
