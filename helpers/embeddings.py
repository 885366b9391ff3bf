"""Word2vec embeddings trained on the reviews, and the matrix that starts a model's Embedding.

Train on the training texts only: vectors learnt from the test texts would leak
them into the model. Nothing here imports Keras; the matrix is plain NumPy.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gensim.models import Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.keyedvectors import KeyedVectors
from sklearn.decomposition import PCA
from tqdm.auto import tqdm

from helpers.files import atomic_write
from helpers.parsing import BAR_DELAY
from helpers.sentences import split_documents, worker_count
from helpers.text import OOV, PAD, Vocabulary, tokenize


class _EpochBar(CallbackAny2Vec):
    """Advances a tqdm bar once per word2vec epoch."""

    def __init__(self, bar: tqdm):
        self.bar = bar

    def on_epoch_end(self, model):
        self.bar.update(1)


def word2vec_sentences(
    texts: Iterable[str], cache_dir: str | Path | None = None, progress: bool = False
) -> list[list[str]]:
    """Token lists, one per sentence, as the seed fed word2vec (never test texts).

    Sentences come from ``sentences.split_documents``: split on every core, and
    looked up in (and added to) the sentence cache in ``cache_dir`` when given.
    """
    documents = split_documents(texts, cache_dir=cache_dir, progress=progress)
    bar = tqdm(documents, desc="tokenizing", unit="review", disable=not progress, delay=BAR_DELAY)
    return [tokens for sentences in bar for s in sentences if (tokens := tokenize(s))]


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    vector_size: int = 100,
    window: int = 5,
    min_count: int = 5,
    sg: int = 1,
    epochs: int = 5,
    seed: int = 0,
    exact: bool = False,
    progress: bool = True,
) -> KeyedVectors:
    """Word vectors ``(words, vector_size)`` learnt from ``sentences`` of tokens.

    ``sentences`` are token lists from the TRAINING texts only (the seed used one
    list per sentence; one per document works too). It must be a list, not a
    generator: gensim reads it once for the vocabulary and once per epoch.
    ``sg=1`` is skip-gram, as in the seed; words seen fewer than ``min_count``
    times get no vector. The bar advances once per epoch.

    Every core this process may use trains (one gensim worker thread a core,
    ``sentences.worker_count()``). Gensim's workers update the shared weights as they
    go, unlocked (Hogwild), in an order that depends on timing: two runs with the same
    seed give slightly different vectors, equally good (tests/test_embeddings.py).
    ``exact=True`` trains on one thread, at one core's speed: then the same
    seed gives bit-identical vectors on every run on the same machine.
    """
    with tqdm(total=epochs, desc="word2vec", unit="epoch", disable=not progress) as bar:
        model = Word2Vec(
            sentences,
            vector_size=vector_size,
            window=window,
            min_count=min_count,
            sg=sg,
            epochs=epochs,
            seed=seed,
            workers=word2vec_workers(exact),
            callbacks=[_EpochBar(bar)],
        )
    return model.wv


def word2vec_workers(exact: bool = False) -> int:
    """Gensim's worker threads: 1 for ``exact`` (reproducible) vectors, else one a core."""
    return 1 if exact else worker_count()


def cached_word2vec(
    texts: Iterable[str],
    cache_dir: str | Path,
    progress: bool = True,
    exact: bool = False,
    **settings,
) -> KeyedVectors:
    """``train_word2vec`` on the sentences of ``texts``, stored in ``cache_dir`` and reused.

    Keyed by a hash of the texts, ``settings`` and ``exact``, so the LSTM and the HAN,
    or a re-run of a notebook, share one training instead of repeating sentence
    splitting and word2vec: a re-run with the cache gets the very same vectors, also
    without ``exact``. ``exact`` vectors (one thread: the same on every training) are
    never taken from a file that every core trained, nor the other way round. One file
    per key, in word2vec's binary format, written atomically. The sentences are cached
    in ``cache_dir`` too, per review, for the HAN's encoding. Which unlabelled reviews
    to add, and how many, is decided before: see ``data.unlabelled_texts``'s ``limit``.
    """
    texts = list(texts)
    key = settings | {"exact": exact}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    path = Path(cache_dir) / f"word2vec-{digest.hexdigest()[:20]}.bin"
    if path.is_file():
        try:
            return KeyedVectors.load_word2vec_format(str(path), binary=True)
        except (OSError, ValueError, EOFError):  # damaged: train again and replace it
            pass
    sentences = word2vec_sentences(texts, cache_dir, progress)
    vectors = train_word2vec(sentences, exact=exact, progress=progress, **settings)
    atomic_write(path, lambda temporary: vectors.save_word2vec_format(str(temporary), binary=True))
    return vectors


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary the word vectors cover.

    ``word_share``: share of the vocabulary's words (padding and OOV rows not
    counted) that got a word2vec vector. ``token_share``: share of all training
    tokens, OOV ones included, whose row holds a word2vec vector.
    """

    words_with_vectors: int
    words: int
    word_share: float
    token_share: float

    def __str__(self) -> str:
        return (
            f"word2vec vectors for {self.words_with_vectors:,} of {self.words:,} vocabulary words "
            f"({self.word_share:.1%}), covering {self.token_share:.1%} of training tokens"
        )


def embedding_matrix(
    vectors: KeyedVectors, vocabulary: Vocabulary, seed: int = 0
) -> tuple[np.ndarray, Coverage]:
    """Rows for a model's Embedding: float32 ``(vocabulary.size, vector_size)``.

    Row ``PAD`` is zeros (padding carries no meaning and is masked anyway). A
    word with a word2vec vector gets it. The ``OOV`` row and words without a
    vector (rarer than ``min_count``) get random normal rows with the vectors'
    own standard deviation: on the same scale as the learnt rows, so training
    can move them, and distinct from each other, unlike zeros.
    """
    rows = np.array([vectors.key_to_index.get(word, -1) for word in vocabulary.words])
    rows[[PAD, OOV]] = -1
    found = rows >= 0
    trained = vectors.vectors
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, trained.std(), (vocabulary.size, trained.shape[1]))
    matrix[found] = trained[rows[found]]
    matrix[PAD] = 0.0

    counts = np.array(vocabulary.counts)
    words = vocabulary.size - 2
    return matrix.astype(np.float32), Coverage(
        words_with_vectors=int(found.sum()),
        words=words,
        word_share=float(found.sum() / words) if words else 0.0,
        token_share=float(counts[found].sum() / counts.sum()) if counts.sum() else 0.0,
    )


def _check_known(vectors: KeyedVectors, words: Sequence[str]) -> None:
    unknown = [word for word in words if word not in vectors.key_to_index]
    if unknown:
        raise KeyError(
            f"no word2vec vector for {', '.join(map(repr, unknown))}: "
            "not in the training text, or rarer than min_count"
        )


def nearest_words(vectors: KeyedVectors, word: str, n: int = 10) -> list[tuple[str, float]]:
    """The ``n`` words closest to ``word`` by cosine similarity, closest first."""
    _check_known(vectors, [word])
    return vectors.most_similar(word, topn=n)


def project_2d(vectors: KeyedVectors, words: Sequence[str]) -> np.ndarray:
    """``(len(words), 2)`` coordinates of ``words``' vectors on their first two principal axes."""
    _check_known(vectors, words)
    return PCA(n_components=2).fit_transform(vectors[list(words)])
