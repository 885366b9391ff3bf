"""Word2vec training and the embedding matrix (helpers.embeddings)."""

import os

import numpy as np
import pandas as pd
import pytest

from helpers.embeddings import embedding_matrix, nearest_words, project_2d, train_word2vec
from helpers.text import OOV, PAD, Vocabulary, tokenize

# Two topics that share no context words, so even a tiny corpus separates them.
TOY = [["hot", "coffee", "cup", "morning"], ["hot", "tea", "cup", "morning"]] * 30 + [
    ["dog", "food", "bowl", "kibble"],
    ["cat", "food", "bowl", "kibble"],
] * 30


def train_toy(seed: int = 1, exact: bool = True):
    return train_word2vec(
        TOY, vector_size=8, min_count=1, epochs=3, seed=seed, exact=exact, progress=False
    )


@pytest.fixture(scope="module")
def review_tokens(shared_data) -> list[list[str]]:
    frame = pd.read_csv(shared_data / "finefoods_reviews_sample.csv.gz")
    texts = frame["Text"].sample(2000, random_state=0).str.replace("<br />", "\n")
    return [tokenize(text) for text in texts]


@pytest.fixture(scope="module", params=[True, False], ids=["exact", "every core"])
def review_vectors(request, review_tokens):
    return train_word2vec(
        review_tokens, min_count=3, epochs=5, seed=0, exact=request.param, progress=False
    )


def test_the_exact_switch_gives_identical_vectors_for_the_same_seed():
    first, again, other = train_toy(), train_toy(), train_toy(seed=2)
    assert first.index_to_key == again.index_to_key
    np.testing.assert_array_equal(first.vectors, again.vectors)
    assert not np.array_equal(first.vectors, other.vectors)


def test_word2vec_trains_on_every_core_unless_exact(monkeypatch):
    from gensim.models import Word2Vec

    from helpers import embeddings

    workers = []
    real_init = Word2Vec.__init__

    def spy(self, *args, **kwargs):
        workers.append(kwargs["workers"])
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(Word2Vec, "__init__", spy)
    train_toy(exact=False)
    train_toy(exact=True)
    assert workers == [len(os.sched_getaffinity(0)), 1]
    assert embeddings.word2vec_workers() == len(os.sched_getaffinity(0))


def test_the_bar_advances_once_per_epoch_on_every_core(capsys):
    train_word2vec(TOY * 50, vector_size=8, min_count=1, epochs=3, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "word2vec: 100%" in err and "3/3 [" in err


def test_embedding_matrix_rows_follow_the_vocabulary():
    vectors = train_toy()
    vocabulary = Vocabulary(["<pad>", "<oov>", "cup", "unseen"], [0, 10, 60, 30])
    matrix, coverage = embedding_matrix(vectors, vocabulary, seed=0)
    assert matrix.shape == (4, 8) and matrix.dtype == np.float32
    assert not matrix[PAD].any()
    np.testing.assert_array_equal(matrix[2], vectors["cup"])
    # OOV and a word without a vector: random, distinct, on the vectors' scale.
    assert matrix[OOV].any() and matrix[3].any() and not np.allclose(matrix[OOV], matrix[3])
    assert 0.2 < matrix[3].std() / vectors.vectors.std() < 5
    assert (coverage.words_with_vectors, coverage.words) == (1, 2)
    assert coverage.word_share == 0.5 and coverage.token_share == 0.6
    assert str(coverage) == (
        "word2vec vectors for 1 of 2 vocabulary words (50.0%), covering 60.0% of training tokens"
    )
    again, _ = embedding_matrix(vectors, vocabulary, seed=0)
    np.testing.assert_array_equal(again, matrix)


def test_unknown_words_are_named_in_the_error():
    vectors = train_toy()
    with pytest.raises(KeyError, match="'espresso'"):
        nearest_words(vectors, "espresso")
    with pytest.raises(KeyError, match="'zebra', 'yak'"):
        project_2d(vectors, ["cup", "zebra", "yak"])


def test_project_2d_gives_one_point_per_word():
    points = project_2d(train_toy(), ["coffee", "tea", "dog", "cat"])
    assert points.shape == (4, 2)


@pytest.mark.shared_data
def test_real_reviews_give_a_covering_matrix(review_tokens, review_vectors):
    vocabulary = Vocabulary.fit(review_tokens, num_words=3000)
    matrix, coverage = embedding_matrix(review_vectors, vocabulary)
    print(coverage)
    assert matrix.shape == (3000, 100)
    assert not matrix[PAD].any()
    assert coverage.word_share > 0.9
    assert coverage.token_share > 0.9


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("word", "related"),
    [
        ("coffee", {"tea", "espresso", "roast", "decaf", "starbucks", "brew", "cocoa", "keurig"}),
        ("great", {"good", "excellent", "wonderful", "perfect", "awesome", "fantastic"}),
        ("dog", {"dogs", "cat", "cats", "puppy"}),
    ],
)
def test_real_reviews_put_related_words_among_the_nearest(review_vectors, word, related):
    # Two hits among 20 of ~3,600 words: random vectors would almost never manage it.
    nearest = {neighbour for neighbour, _ in nearest_words(review_vectors, word, n=20)}
    assert len(nearest & related) >= 2, sorted(nearest)


@pytest.mark.shared_data
def test_every_core_finds_the_neighbours_one_thread_finds(review_tokens):
    """Vectors trained on every core share the exact ones' nearest words about as much as
    exact vectors of another seed do: the unlocked updates cost no quality."""

    def train(seed, exact):
        return train_word2vec(
            review_tokens, min_count=3, epochs=5, seed=seed, exact=exact, progress=False
        )

    def shared_neighbours(a, b):
        words = ["coffee", "great", "dog", "tea", "taste", "price", "chocolate", "bad"]
        return sum(
            len(
                {w for w, _ in nearest_words(a, word, 20)}
                & {w for w, _ in nearest_words(b, word, 20)}
            )
            for word in words
        )

    exact, other_seed, every_core = train(0, True), train(1, True), train(0, False)
    baseline = shared_neighbours(exact, other_seed)
    found = shared_neighbours(exact, every_core)
    print(f"shared neighbours: another seed {baseline}, every core {found} (of 160)")
    assert found >= 0.8 * baseline


def test_cached_word2vec_trains_once_and_gives_the_same_vectors(tmp_path, monkeypatch):
    from helpers import embeddings

    texts = ["The tea is green and fresh. I like green tea."] * 30 + ["Coffee is dark."] * 30
    first = embeddings.cached_word2vec(texts, tmp_path, vector_size=8, min_count=1, epochs=2)
    assert len(list(tmp_path.glob("word2vec-*.bin"))) == 1
    monkeypatch.setattr(embeddings, "train_word2vec", lambda *a, **k: pytest.fail("retrained"))
    again = embeddings.cached_word2vec(texts, tmp_path, vector_size=8, min_count=1, epochs=2)
    assert again.index_to_key == first.index_to_key
    np.testing.assert_allclose(again.vectors, first.vectors, atol=1e-6)
    with pytest.raises(pytest.fail.Exception):  # other settings: a different key
        embeddings.cached_word2vec(texts, tmp_path, vector_size=8, min_count=1, epochs=3)
    with pytest.raises(pytest.fail.Exception):  # exact vectors never come from every core's
        embeddings.cached_word2vec(
            texts, tmp_path, vector_size=8, min_count=1, epochs=2, exact=True
        )


def test_exact_vectors_are_cached_apart_and_retrain_identically(tmp_path):
    from helpers import embeddings

    texts = ["The tea is green and fresh. I like green tea."] * 30 + ["Coffee is dark."] * 30
    settings = {"vector_size": 8, "min_count": 1, "epochs": 2, "exact": True}
    first = embeddings.cached_word2vec(texts, tmp_path / "one", **settings)
    again = embeddings.cached_word2vec(texts, tmp_path / "two", **settings)  # a cold cache
    np.testing.assert_array_equal(again.vectors, first.vectors)
    embeddings.cached_word2vec(texts, tmp_path / "one", **(settings | {"exact": False}))
    assert len(list((tmp_path / "one").glob("word2vec-*.bin"))) == 2


def test_a_word2vec_cache_write_that_fails_leaves_no_file_to_reuse(tmp_path, monkeypatch):
    from gensim.models.keyedvectors import KeyedVectors

    from helpers import embeddings

    def fail_midway(self, path, **kwargs):
        with open(path, "wb") as file:
            file.write(b"8 8\n")
        raise OSError("No space left on device")

    texts = ["The tea is green and fresh."] * 10
    monkeypatch.setattr(KeyedVectors, "save_word2vec_format", fail_midway)
    with pytest.raises(OSError, match="No space"):
        embeddings.cached_word2vec(texts, tmp_path, vector_size=8, min_count=1, epochs=1)
    assert list(tmp_path.glob("*word2vec*")) == []  # the sentence cache is kept, apart
    monkeypatch.undo()
    vectors = embeddings.cached_word2vec(texts, tmp_path, vector_size=8, min_count=1, epochs=1)
    assert [p.suffix for p in tmp_path.glob("*word2vec*")] == [".bin"] and "tea" in vectors


def test_a_damaged_word2vec_cache_is_trained_again_and_replaced(tmp_path):
    from helpers import embeddings

    texts = ["The tea is green and fresh."] * 10
    settings = {"vector_size": 8, "min_count": 1, "epochs": 1, "exact": True}  # retrains alike
    first = embeddings.cached_word2vec(texts, tmp_path, **settings)
    (path,) = tmp_path.glob("word2vec-*.bin")
    path.write_bytes(path.read_bytes()[:30])
    again = embeddings.cached_word2vec(texts, tmp_path, **settings)
    np.testing.assert_allclose(again.vectors, first.vectors, atol=1e-6)
    assert list(tmp_path.glob("*.bin")) == [path] and path.stat().st_size > 30


def test_word2vec_sentences_are_split_once_and_cached_per_review(tmp_path, monkeypatch):
    from helpers import embeddings, sentences

    texts = ["Green tea. Fresh!", "Dark coffee... Strong."]
    first = embeddings.word2vec_sentences(texts, cache_dir=tmp_path)
    assert first == [["green", "tea"], ["fresh"], ["dark", "coffee"], ["strong"]]
    monkeypatch.setattr(sentences, "_split_all", lambda *a: pytest.fail("split again"))
    assert embeddings.word2vec_sentences(texts, cache_dir=tmp_path) == first


@pytest.mark.shared_data
def test_the_speed_benchmark_prints_every_candidate(shared_data, tmp_path):
    """benchmarks/word2vec_speed.py on 200 reviews of the real sample, one epoch."""
    import subprocess
    import sys

    from tests.conftest import REPO

    command = [sys.executable, str(REPO / "benchmarks" / "word2vec_speed.py"), "--file",
               str(shared_data / "finefoods_sample.txt.gz"), "--reviews", "200", "--epochs", "1",
               "--repeats", "2", "--cache", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO,
                            env=os.environ | {"PYTHONPATH": str(REPO)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {line.split("  ")[0]: line.split() for line in result.stdout.splitlines()}
    cores = len(os.sched_getaffinity(0))
    for name in (f"ours, {cores} workers", f"gensim, {cores} workers",
                 f"gensim corpus_file, {cores} workers", "ours exact=True, 1 worker"):  # fmt: skip
        assert name in rows, result.stdout
        assert float(rows[name][-3].replace(",", "")) > 0  # words a second
        assert float(rows[name][-1]) > 0  # cores kept busy
    assert rows[f"gensim, {cores} workers"][-2] == "1.00"  # the reference of the ratios
    assert len(list(tmp_path.glob("corpus-*.txt"))) == 1  # the LineSentence file, written once
