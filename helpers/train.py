"""Training: from a train/test split and a named config to a saved classifier.

The pieces, each used by the notebooks, the command line and the benchmarks:

- ``text_encoder_for``: the text settings a config implies, fitted on training text.
- ``Batches``: a ``keras.utils.PyDataset`` that shuffles between epochs and can
  group documents of similar length (``batch_order="by_length"``, as the HAN paper
  and the seed did), optionally padding each batch only to its own longest item.
- ``PackedBatches``: the fast HAN recipe's batches, each batch's sentences packed
  into nearly full lanes (``pack_sentences``), trained through ``PackedHAN``.
- ``train_model``: ``fit`` with the callbacks users expect (history CSV, best-model
  checkpoint, early stopping, seconds per epoch).
- ``Classifier``: model + text encoder + config, saved together so that new raw text
  goes through exactly the training preprocessing; ``Classifier.load`` reverses it.
- ``fit_classifier``: all of the above in one call.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers.data import DataError
from helpers.embeddings import cached_word2vec, embedding_matrix
from helpers.models import (
    HAN_CONFIGS,
    LSTM_CONFIGS,
    HANConfig,
    LSTMConfig,
    PackedHAN,
    build_han,
    build_lstm,
    compile_model,
)
from helpers.text import TextEncoder, encode_cached, tokenize

MODEL_FILE = "model.keras"
WORD2VEC_EPOCHS = 10  # passes over the text; 5 (gensim's default) leaves small corpora undertrained
CONFIG_FILE = "config.json"
MODELS = {
    "lstm": {"configs": LSTM_CONFIGS, "build": build_lstm, "kind": "flat"},
    "han": {"configs": HAN_CONFIGS, "build": build_han, "kind": "hierarchical"},
}


class ModelError(DataError):
    """A model directory or an input text that cannot be used; says what to do."""


def named_config(model: str, name: str, **changes) -> LSTMConfig | HANConfig:
    """``MODELS[model]["configs"][name]`` with ``changes`` applied (e.g. ``epochs=2``)."""
    if model not in MODELS:
        raise ModelError(f"unknown model {model!r}: choose lstm or han")
    configs = MODELS[model]["configs"]
    if name not in configs:
        raise ModelError(f"unknown {model} config {name!r}: choose one of {', '.join(configs)}")
    values = configs[name].to_dict() | changes
    return type(configs[name]).from_dict(values)


def model_name(config: LSTMConfig | HANConfig) -> str:
    return "han" if isinstance(config, HANConfig) else "lstm"


def text_encoder_for(config: LSTMConfig | HANConfig, train_texts) -> TextEncoder:
    """Fit the vocabulary on ``train_texts`` with the sizes and padding ``config`` needs.

    Truncation follows padding: the seed's LSTM used Keras' ``pad_sequences``
    defaults (pre-padding *and* cutting long reviews from the front); post-padded
    inputs keep the start of a review and cut its end.
    """
    sizes = (
        {"max_sentences": config.max_sentences, "words_per_sentence": config.words_per_sentence}
        if isinstance(config, HANConfig)
        else {"max_words": config.max_words}
    )
    return TextEncoder.fit(
        train_texts,
        num_words=config.num_words,
        padding=config.padding,
        truncating=config.padding,
        **sizes,
    )


def document_lengths(stats, kind: str) -> np.ndarray:
    """What "length" means for batching: words (LSTM) or sentences (HAN) per document."""
    return stats.lengths if kind == "flat" else stats.sentence_counts


class Batches(keras.utils.PyDataset):
    """Mini-batches of ``(ids, labels)``, in a new order every epoch.

    ``order="shuffle"``: a random permutation. ``order="by_length"``: documents
    sorted by ``lengths`` (ties in random order) and cut into batches, whose order
    is then shuffled, so a batch holds documents of similar length.
    ``trim=True`` pads each batch only to its own longest item, rounded up to a
    multiple of ``step`` (sentences, words; see ``trim_padding``); it needs post-padded
    ids, where the real tokens come first.
    """

    def __init__(self, ids, labels, batch_size, order="shuffle", lengths=None, trim=False,
                 step=None, seed=0):  # fmt: skip
        super().__init__()
        if order == "by_length" and lengths is None:
            raise ValueError("order='by_length' needs the documents' lengths")
        self.ids, self.labels = ids, np.asarray(labels)
        self.batch_size, self.order, self.trim, self.step = batch_size, order, trim, step
        self.lengths = lengths
        self.rng = np.random.default_rng(seed)
        self.batches = self._plan()

    def _plan(self) -> list[np.ndarray]:
        n = len(self.ids)
        if self.order == "shuffle":
            return np.array_split(self.rng.permutation(n), math.ceil(n / self.batch_size))
        by_length = np.lexsort((self.rng.random(n), self.lengths))
        batches = np.array_split(by_length, math.ceil(n / self.batch_size))
        return [batches[i] for i in self.rng.permutation(len(batches))]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index):
        rows = self.batches[index]
        ids = self.ids[rows]
        if self.trim:
            ids = trim_padding(ids, self.step)
        return ids, self.labels[rows]

    def on_epoch_end(self):
        self.batches = self._plan()

    @property
    def variable_shapes(self) -> bool:
        """Whether batches differ in shape (trimmed batches do)."""
        return self.trim

    def fit_input(self):
        """What to pass to ``fit``: this dataset, or on TensorFlow a ``tf.data`` view of it.

        Keras builds TensorFlow's input signature from the first batches it sees,
        so trimmed batches of other shapes would be refused later; declaring every
        length unknown accepts them all and traces the training step only once.

        The view trains on the same batches, epoch by epoch, as Keras draws from this
        dataset itself: before the first epoch Keras reads a batch to build the model
        and then ends that epoch (``on_epoch_end``), so its first epoch trains on the
        second plan, and so does the view.
        """
        if keras.backend.backend() != "tensorflow" or not self.variable_shapes:
            return self
        import tensorflow as tf

        def epoch():
            yield from (self[i] for i in range(len(self)))
            self.on_epoch_end()

        def spec(array):
            return tf.TensorSpec((None,) * array.ndim, tf.as_dtype(array.dtype))

        inputs, labels = self[0]
        signature = (keras.tree.map_structure(spec, inputs), spec(labels))
        self.on_epoch_end()  # as Keras does after reading its first batch
        dataset = tf.data.Dataset.from_generator(epoch, output_signature=signature)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(self)))
        return dataset.prefetch(1)  # the next batch is built while this one trains


@dataclass
class PackedSentences:
    """A batch's sentences packed into lanes (see ``pack_sentences``)."""

    words: np.ndarray  # (lanes, width) ids
    slots: np.ndarray  # (lanes, width) document * sentences + sentence of each word, -1 = pad
    sentence_lengths: np.ndarray  # (documents, sentences) words per sentence, 0 = empty


def pack_sentences(ids: np.ndarray, width: int | None = None) -> PackedSentences:
    """Hierarchical ids (documents, sentences, words), post-padded → the documents'
    real sentences packed into lanes of ``width`` positions (default: ``words``).

    First fit decreasing: sentences from longest to shortest, each into the first lane
    with room for it, across documents, so lanes come out nearly full. A batch of 50
    Fine Foods reviews (76 words in 5.4 sentences each) fits in about 77 lanes of 50
    (1.5 per review) instead of 750 padded sentences. Which lane a sentence lands in
    does not matter: ``slots`` says whose it is, and ``PackedHAN`` restarts the GRUs at
    every sentence. Takes about a millisecond for such a batch.
    """
    _, sentences, words = ids.shape
    width = words if width is None else width
    lengths = (ids != 0).sum(axis=2)
    doc, sentence = np.nonzero(lengths)
    sizes = lengths[doc, sentence]
    if sizes.size and sizes.max() > width:
        raise ValueError(f"a sentence of {sizes.max()} words does not fit lanes of {width}")
    room = np.full(max(1, len(sizes)), width)  # never more lanes than sentences
    lane_of = np.zeros_like(lengths)
    offset = np.zeros_like(lengths)
    used = 0
    for item in np.argsort(-sizes, kind="stable").tolist():
        size = sizes[item]
        lane = int(np.argmax(room[:used] >= size)) if used else 0
        if not used or room[lane] < size:
            lane, used = used, used + 1
        lane_of[doc[item], sentence[item]] = lane
        offset[doc[item], sentence[item]] = width - room[lane]
        room[lane] -= size
    packed_words = np.zeros((max(1, used), width), dtype="int32")
    slots = np.full(packed_words.shape, -1, dtype="int32")
    doc, sentence, position = np.nonzero(ids)
    lane = lane_of[doc, sentence]
    column = offset[doc, sentence] + position
    packed_words[lane, column] = ids[doc, sentence, position]
    slots[lane, column] = doc * sentences + sentence
    return PackedSentences(packed_words, slots, lengths.astype("int32"))


class PackedBatches(Batches):
    """``Batches`` of HAN documents with their sentences packed into lanes, for ``PackedHAN``.

    Batches are drawn exactly as ``Batches`` draws them from the same ``lengths`` and
    ``seed`` (for the HAN, sentence counts, as the seed ordered them; the number of words
    when ``lengths`` is None), so the packed recipe sees the same documents together as
    the padded one; each batch's sentences are then packed together (``pack_sentences``).
    With ``trim`` the lanes are as wide as the batch's longest sentence and there are as
    many sentence slots as its longest document has sentences, both rounded up to
    multiples of ``step`` (sentences, words). On JAX, which compiles a program per shape,
    the default ``step`` keeps lanes ``words_per_sentence`` wide (packing fills them just
    as well: about 99% of positions are words either way) and the number of lanes is
    rounded up to a multiple of ``lane_multiple`` (default 8 there, else 1): the number
    of lanes is then the only length that varies much, so a few dozen shapes cover every
    batch, with 9% of positions wasted (rounding lanes to 32 at the trimmed width wasted
    25%). Elsewhere nothing is rounded. Without ``trim``, lanes are
    ``words_per_sentence`` wide and every document has all its sentence slots.
    """

    def __init__(self, ids, labels, batch_size, order="by_length", lengths=None, trim=True,
                 step=None, seed=0, lane_multiple=None):  # fmt: skip
        ids = np.asarray(ids)
        jax = keras.backend.backend() == "jax"
        if step is None and jax:
            step = (trim_step()[0], ids.shape[2])
        if lane_multiple is None:
            lane_multiple = 8 if jax else 1
        self.lane_multiple = lane_multiple
        if lengths is None:
            lengths = (ids != 0).sum(axis=(1, 2))
        super().__init__(ids, labels, batch_size, order, lengths, trim, step, seed)

    @property
    def variable_shapes(self) -> bool:
        return True  # the number of lanes varies from batch to batch

    def __getitem__(self, index):
        rows = self.batches[index]
        ids = self.ids[rows]
        if self.trim:
            ids = trim_padding(ids, self.step)
        packed = pack_sentences(ids)
        words, slots = packed.words, packed.slots
        if self.trim:
            extra = _round_up(len(words), self.lane_multiple, 1 << 30) - len(words)
            words = np.pad(words, ((0, extra), (0, 0)))
            slots = np.pad(slots, ((0, extra), (0, 0)), constant_values=-1)
        inputs = {"words": words, "slots": slots, "sentence_lengths": packed.sentence_lengths}
        return inputs, self.labels[rows]


def _round_up(length: int, multiple: int, limit: int) -> int:
    return min(limit, max(multiple, -(-length // multiple) * multiple))


def trim_step() -> tuple[int, int]:
    """How trimmed batches round their lengths (sentences, words): up to multiples of 8
    and 16 on JAX, which compiles one program per shape (a few dozen at most then), and
    not at all elsewhere: TensorFlow traces the training step once for every shape (see
    ``Batches.fit_input``) and PyTorch runs eagerly, so exact lengths cost nothing."""
    return (8, 16) if keras.backend.backend() == "jax" else (1, 1)


def trim_padding(ids: np.ndarray, step: tuple[int, int] | None = None) -> np.ndarray:
    """Cut trailing all-padding columns: ``(batch, words)`` or ``(batch, sentences, words)``.

    Lengths are rounded up to a multiple of ``step`` (sentences, words; default
    ``trim_step()``), so that few distinct shapes reach a backend that compiles each.
    """
    step = trim_step() if step is None else step
    used = ids != 0
    words = int(used.any(axis=tuple(range(ids.ndim - 1))).nonzero()[0].max(initial=0)) + 1
    if ids.ndim == 2:
        return ids[:, : _round_up(words, step[1], ids.shape[1])]
    sentences = int(used.any(axis=(0, 2)).nonzero()[0].max(initial=0)) + 1
    return ids[
        :, : _round_up(sentences, step[0], ids.shape[1]), : _round_up(words, step[1], ids.shape[2])
    ]


def uses_packed_sentences(config: LSTMConfig | HANConfig, trim: bool) -> bool:
    """Whether training packs sentences (``PackedHAN``): the fast recipe, a HAN with
    ``rnn_masking="lengths"`` (masked, post-padded) whose batches are trimmed. The seed's
    recipe (Keras masks, 15 × 50 padding) trains the HAN itself."""
    return (
        bool(trim)
        and isinstance(config, HANConfig)
        and config.mask
        and config.rnn_masking == "lengths"
        and config.padding == "post"
    )


def training_batches(config, ids, labels, lengths, trim: bool = False, seed: int = 0) -> Batches:
    """The batches ``config`` trains on: packed sentences for the fast HAN, else padded ids."""
    kind = PackedBatches if uses_packed_sentences(config, trim) else Batches
    return kind(ids, labels, config.batch_size, config.batch_order, lengths, trim=trim, seed=seed)


def fitting_model(model: keras.Model, config, trim: bool) -> keras.Model:
    """The model ``fit`` runs: ``model`` itself, or for the fast HAN a compiled
    ``PackedHAN`` that trains ``model``'s own weights."""
    if not uses_packed_sentences(config, trim):
        return model
    return compile_model(PackedHAN(model), config)


class SaveBest(keras.callbacks.Callback):
    """Saves ``target`` (the model to keep, whichever model ``fit`` runs) to ``path``
    after each epoch that lowers ``val_loss``."""

    def __init__(self, target: keras.Model, path: str | Path):
        super().__init__()
        self.target, self.path, self.best = target, str(path), math.inf

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("val_loss", math.inf)
        if loss < self.best:
            self.best = loss
            self.target.save(self.path)


class EpochTimes(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and validation)."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._started)
        if logs is not None:
            logs["seconds"] = self.seconds[-1]


@dataclass
class TrainingRun:
    history: pd.DataFrame  # one row per epoch: loss, accuracy, val_loss, val_accuracy, seconds
    best_epoch: int

    @property
    def seconds_per_epoch(self) -> float:
        return float(self.history["seconds"].median())


def validation_rows(labels, share: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of training rows into (fit rows, validation rows)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        held.append(rows[: max(1, round(share * len(rows)))])
    validation = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(labels)), validation), validation


def train_model(
    model: keras.Model,
    config: LSTMConfig | HANConfig,
    ids: np.ndarray,
    labels,
    lengths: np.ndarray,
    out_dir: str | Path,
    epochs: int | None = None,
    patience: int = 3,
    trim: bool = False,
    seed: int = 0,
    verbose: int | str = "auto",
) -> TrainingRun:
    """Fit a compiled ``model`` on ``ids``, holding out 10% of them for validation.

    Writes ``history.csv`` (one row per epoch, appended as it goes, so a crash
    keeps what was done) and ``best.keras`` (the best model by validation loss)
    into ``out_dir``; stops early after ``patience`` epochs without improvement
    and restores the best weights. With ``config.ema_momentum``, the averaged weights
    are the ones validated, checkpointed and restored.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels)
    fit_rows, val_rows = validation_rows(labels, seed=seed)

    def batches(rows, batch_seed):
        return training_batches(
            config, ids[rows], labels[rows], lengths[rows], trim=trim, seed=batch_seed
        ).fit_input()

    timer = EpochTimes()
    callbacks = [
        timer,
        keras.callbacks.CSVLogger(str(out / "history.csv")),
        SaveBest(model, out / "best.keras"),
        keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True),
    ]
    if config.ema_momentum:
        # First, so that validation and the callbacks after it see the averaged weights.
        callbacks.insert(0, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    keras.utils.set_random_seed(seed)
    history = fitting_model(model, config, trim).fit(
        batches(fit_rows, seed),
        validation_data=batches(val_rows, seed + 1),
        epochs=epochs or config.epochs,
        shuffle=False,  # Batches shuffles itself, between epochs
        callbacks=callbacks,
        verbose=verbose,
    )
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    frame["seconds"] = timer.seconds
    return TrainingRun(history=frame, best_epoch=int(frame["val_loss"].idxmin()) + 1)


@dataclass
class Classifier:
    """A trained model with the exact preprocessing it was trained with."""

    model: keras.Model
    encoder: TextEncoder
    config: LSTMConfig | HANConfig
    extra: dict = field(default_factory=dict)  # e.g. word2vec coverage, training seconds

    @property
    def name(self) -> str:
        return model_name(self.config)

    @property
    def kind(self) -> str:
        return MODELS[self.name]["kind"]

    def encode(self, texts) -> np.ndarray:
        """Model inputs for raw ``texts``; refuses texts with nothing to classify."""
        texts = list(texts)
        for text in texts:
            if not str(text).strip() or not tokenize(str(text)):
                raise ModelError(
                    f"nothing to classify in {str(text)[:40]!r}: the text has no words"
                )
        ids, _ = self.encoder.encode(texts, self.kind)
        return ids

    def predict(self, texts=None, ids=None, batch_size: int = 256) -> np.ndarray:
        """P(positive) for each text (or for already encoded ``ids``): shape (n,)."""
        if ids is None:
            ids = self.encode(texts)
        return self.model.predict(ids, batch_size=batch_size, verbose=0)[:, 1]

    def save(self, directory: str | Path) -> Path:
        """Write ``model.keras``, ``text_encoder.json`` and ``config.json``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(directory / MODEL_FILE)
        self.encoder.save(directory)
        about = {"model": self.name, "config": self.config.to_dict(), "extra": self.extra}
        (directory / CONFIG_FILE).write_text(json.dumps(about, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        """Reverse of ``save``, with a clear error for a missing or damaged part."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ModelError(f"{directory}: no such model directory (train one first)")
        try:
            about = json.loads((directory / CONFIG_FILE).read_text())
            config_type = type(MODELS[about["model"]]["configs"]["original"])
            config = config_type.from_dict(about["config"])
        except FileNotFoundError:
            raise ModelError(
                f"{directory / CONFIG_FILE} is missing: not a saved model directory"
            ) from None
        except (ValueError, KeyError) as error:
            raise ModelError(
                f"{directory / CONFIG_FILE} is not a valid model config ({error})"
            ) from error
        try:
            encoder = TextEncoder.load(directory)
        except (FileNotFoundError, ValueError) as error:
            raise ModelError(str(error)) from error
        model_path = directory / MODEL_FILE
        if not model_path.is_file():
            raise ModelError(f"{model_path} is missing: the model directory is incomplete")
        try:
            model = keras.saving.load_model(model_path)
        except (zipfile.BadZipFile, ValueError, OSError, KeyError) as error:
            raise ModelError(
                f"{model_path} is damaged and cannot be loaded ({type(error).__name__}); "
                f"train the model again or restore the file"
            ) from error
        return cls(model=model, encoder=encoder, config=config, extra=about.get("extra", {}))


def fit_classifier(
    config: LSTMConfig | HANConfig,
    train_texts,
    train_labels,
    out_dir: str | Path,
    word2vec: bool = True,
    unlabelled_texts=(),
    epochs: int | None = None,
    trim: bool | None = None,
    seed: int = 42,
    verbose: int | str = "auto",
) -> tuple[Classifier, TrainingRun]:
    """Encode, (optionally) initialise from word2vec, build, train and save.

    word2vec learns from the training texts plus ``unlabelled_texts`` (reviews in
    neither split; never test texts). Encoded arrays and word vectors are cached in
    ``out_dir/../cache`` so that re-runs and the other model skip tokenising, sentence
    splitting and word2vec.
    ``trim`` (pad each batch only to its longest item) defaults to on for
    post-padded configs, the only ones it can trim; a HAN with ``rnn_masking="lengths"``
    then trains on packed sentences (``PackedHAN``), the same model at a fraction of the
    cost.
    """
    out = Path(out_dir)
    trim = config.padding == "post" if trim is None else trim
    train_texts = list(train_texts)
    encoder = text_encoder_for(config, train_texts)
    kind = MODELS[model_name(config)]["kind"]
    ids, stats = encode_cached(encoder, train_texts, kind, out.parent / "cache", progress=True)
    config = type(config).from_dict(config.to_dict() | {"num_words": encoder.num_words})
    extra: dict = {"encoding": str(stats).splitlines()[0]}
    matrix = None
    if word2vec:
        vectors = cached_word2vec(
            [*train_texts, *unlabelled_texts],
            out.parent / "cache",
            vector_size=config.embedding_dim,
            min_count=3,
            epochs=WORD2VEC_EPOCHS,
            seed=seed,
        )
        matrix, coverage = embedding_matrix(vectors, encoder.vocabulary, seed=seed)
        extra["word2vec"] = dataclasses.asdict(coverage)
    keras.utils.set_random_seed(seed)
    model = compile_model(MODELS[model_name(config)]["build"](config, matrix), config)
    run = train_model(
        model, config, ids, train_labels, document_lengths(stats, kind), out,
        epochs=epochs, trim=trim, seed=seed, verbose=verbose,
    )  # fmt: skip
    extra |= {"best_epoch": run.best_epoch, "seconds_per_epoch": round(run.seconds_per_epoch, 2)}
    classifier = Classifier(model=model, encoder=encoder, config=config, extra=extra)
    classifier.save(out)
    return classifier, run
