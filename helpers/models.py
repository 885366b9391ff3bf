"""The two networks, built with the Keras functional API, and the registry that names them.

``build_lstm`` is written and explained in notebook 03, ``build_han`` and
``attention_model`` in notebook 04, ``compile_model`` in notebook 03: the notebooks'
cells and this file are kept identical by ``tests/test_notebook_code.py``, so the code
a reader studies is the code the command line and the benchmarks run.

Both models take int32 token ids (0 = padding) and end in a 2-unit softmax, so
P(positive review) is ``model.predict(ids)[:, 1]``. Sequence axes are dynamic
(``None``), so each batch can be padded only to its own longest item.

``MODELS`` is the one registry of models: the command line, training, the benchmark and
``explain`` read it. A new model (a CNN, say) is a config class, a builder and one
entry here.
"""

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from helpers import fast
from helpers.configs import (
    HAN_CONFIGS,
    LSTM_CONFIGS,
    HANConfig,
    LSTMConfig,
    ModelError,
    make_optimizer,
)
from helpers.layers import (
    Attention,
    FoldSentences,
    MaskedMaxPooling,
    PaddingMask,
    UnfoldSentences,
)


def build_lstm(config: LSTMConfig, embedding_matrix=None) -> keras.Model:
    """BiLSTM classifier: ids (batch, words) → [P(negative), P(positive)] (batch, 2)."""
    # Every recipe but "padded" computes the same layer without per-step masks (notebook 05).
    Bidirectional = (
        fast.LengthAwareBidirectional if config.recipe != "padded" else layers.Bidirectional
    )

    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    vectors = layers.Embedding(
        config.num_words,
        config.embedding_dim,
        embeddings_regularizer=config.regularizer("embedding"),
        trainable=config.trainable_embeddings,
        name="embedding",
    )(ids)  # (batch, words, embedding_dim)
    if config.dropout:
        vectors = layers.Dropout(config.dropout, name="embedding_dropout")(vectors)
    lstm = layers.LSTM(
        config.units,
        return_sequences=config.pooling == "max",  # max pooling reads every step
        kernel_regularizer=config.regularizer("rnn_kernel"),
        recurrent_regularizer=config.regularizer("rnn_recurrent"),
        name="lstm",
    )
    # With masking the LSTM skips the padding; the seed's (CNTK) could not.
    rnn_mask = (
        PaddingMask(keep_first_if_empty=True, name="word_rnn_mask")(ids) if config.mask else None
    )
    states = Bidirectional(lstm, name="word_encoder")(vectors, mask=rnn_mask)
    if config.pooling == "max":  # each feature's largest value over the real words
        word_mask = PaddingMask(name="word_mask")(ids) if config.mask else None
        states = MaskedMaxPooling(name="max_pooling")(states, mask=word_mask)
    if config.dropout:
        states = layers.Dropout(config.dropout, name="document_dropout")(states)
    probabilities = layers.Dense(
        2,
        activation="softmax",
        kernel_regularizer=config.regularizer("classifier"),
        name="classifier",
    )(states)
    model = keras.Model(ids, probabilities, name="bilstm")
    if embedding_matrix is not None:  # start from word2vec's vectors
        model.get_layer("embedding").set_weights([embedding_matrix])
    return model


def build_han(config: HANConfig, embedding_matrix=None) -> keras.Model:
    """HAN: ids (batch, sentences, words) → [P(negative), P(positive)] (batch, 2)."""
    # Every recipe but "padded" computes the same layer without per-step masks (notebook 05).
    Bidirectional = (
        fast.LengthAwareBidirectional if config.recipe != "padded" else layers.Bidirectional
    )

    def encoder(level):  # a bidirectional GRU that returns its state at every step
        gru = layers.GRU(
            config.units,
            return_sequences=True,
            reset_after=config.reset_after,
            kernel_regularizer=config.regularizer("rnn_kernel"),
            recurrent_regularizer=config.regularizer("rnn_recurrent"),
            name=f"{level}_gru",
        )
        return Bidirectional(gru, name=f"{level}_encoder")

    def attention(level):  # returns the pooled vector and the weights α
        regularizer = config.regularizer("attention")
        return Attention(
            config.context_dim, True, regularizer=regularizer, name=f"{level}_attention"
        )

    ids = keras.Input(shape=(None, None), dtype="int32", name="ids")
    # Word level: every sentence of every review is a row of word ids.
    sentence_ids = FoldSentences(name="fold_sentences")(ids)  # (batch * sentences, words)
    word_mask = word_rnn_mask = sentence_mask = sentence_rnn_mask = None
    if config.mask:  # padding gets zero attention and is skipped by the GRUs (PaddingMask)
        word_mask = PaddingMask(name="word_mask")(sentence_ids)
        word_rnn_mask = PaddingMask(keep_first_if_empty=True, name="word_rnn_mask")(sentence_ids)
        sentence_mask = PaddingMask(per_sentence=True, name="sentence_mask")(ids)
        sentence_rnn_mask = PaddingMask(True, True, name="sentence_rnn_mask")(ids)
    words = layers.Embedding(
        config.num_words,
        config.embedding_dim,
        embeddings_regularizer=config.regularizer("embedding"),
        trainable=config.trainable_embeddings,
        name="embedding",
    )(sentence_ids)
    if config.dropout:
        words = layers.Dropout(config.dropout, name="embedding_dropout")(words)
    word_states = encoder("word")(words, mask=word_rnn_mask)
    sentence_vectors, _ = attention("word")(word_states, mask=word_mask)
    # Sentence level: each review is a sequence of sentence vectors.
    sentences = UnfoldSentences(name="unfold_sentences")([sentence_vectors, ids])
    sentence_states = encoder("sentence")(sentences, mask=sentence_rnn_mask)
    document, _ = attention("sentence")(sentence_states, mask=sentence_mask)
    if config.dropout:
        document = layers.Dropout(config.dropout, name="document_dropout")(document)
    probabilities = layers.Dense(
        2,
        activation="softmax",
        kernel_regularizer=config.regularizer("classifier"),
        name="classifier",
    )(document)
    model = keras.Model(ids, probabilities, name="han")
    if embedding_matrix is not None:  # start from word2vec's vectors
        model.get_layer("embedding").set_weights([embedding_matrix])
    return model


def attention_model(han: keras.Model) -> keras.Model:
    """A model sharing ``han``'s layers that also returns its attention weights.

    Same input, ids (batch, sentences, words); a dict of ``probabilities`` (batch, 2),
    ``word_weights`` (batch, sentences, words) and ``sentence_weights`` (batch, sentences).
    """
    ids = han.input
    _, word_weights = han.get_layer("word_attention").output  # (batch * sentences, words)
    _, sentence_weights = han.get_layer("sentence_attention").output
    outputs = {
        "probabilities": han.output,
        "word_weights": UnfoldSentences(name="unfold_word_weights")([word_weights, ids]),
        "sentence_weights": sentence_weights,
    }
    return keras.Model(ids, outputs, name=f"{han.name}_attention")


def compile_model(model: keras.Model, config) -> keras.Model:
    """Compile for integer labels (0 = negative, 1 = positive); returns ``model``."""
    model.compile(
        optimizer=make_optimizer(config),  # SGD (the seed) or Adam (tuned), from the config
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class ModelKind:
    """What the rest of the package needs to know about one model."""

    name: str  # "lstm", "han": the command line's --model
    title: str  # for tables and plots
    config_type: type
    configs: dict[str, Any]  # named configs, "original" (the seed's) first
    build: Any  # build(config, embedding_matrix=None) -> uncompiled keras.Model
    text_layout: str  # how the text encoder lays out ids: "flat" or "hierarchical"
    attention: bool  # whether ``attention_model`` can show where it looks


MODELS: dict[str, ModelKind] = {
    "lstm": ModelKind("lstm", "LSTM", LSTMConfig, LSTM_CONFIGS, build_lstm, "flat", False),
    "han": ModelKind("han", "HAN", HANConfig, HAN_CONFIGS, build_han, "hierarchical", True),
}


def model_kind(config_or_name) -> ModelKind:
    """The registry entry of a model name ("lstm") or of a config object."""
    if isinstance(config_or_name, str):
        if config_or_name not in MODELS:
            raise ModelError(f"unknown model {config_or_name!r}: choose one of {', '.join(MODELS)}")
        return MODELS[config_or_name]
    for kind in MODELS.values():
        if type(config_or_name) is kind.config_type:
            return kind
    raise ModelError(f"no model takes a {type(config_or_name).__name__}")


def named_config(model: str, name: str, **changes):
    """The named config ``name`` of ``model``, with ``changes`` applied (e.g. ``epochs=2``)."""
    configs = model_kind(model).configs
    if name not in configs:
        raise ModelError(f"unknown {model} config {name!r}: choose one of {', '.join(configs)}")
    try:
        return type(configs[name]).from_dict(configs[name].to_dict() | changes)
    except ValueError as error:
        raise ModelError(f"{model} config {name!r} with {changes}: {error}") from None
