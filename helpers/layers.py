"""The custom Keras layers the two networks are built from.

``masked_softmax`` and ``Attention`` are the heart of the HAN; notebook 04 writes and
explains them (the test ``tests/test_notebook_code.py`` keeps its cells and this file
identical). The others are small plumbing layers: masks computed from token ids,
masked max pooling, and folding a review's sentences into rows and back. All are
registered, so a saved ``.keras`` file loads without any custom code in scope.
"""

import keras
from keras import ops


def masked_softmax(scores, mask=None):
    """Softmax over the last axis that gives masked positions exactly 0.

    ``scores``: (batch, time) floats; ``mask``: (batch, time) bools or None. The max is
    taken over valid positions only, so large scores cannot overflow, and a row with
    no valid position at all gets all-zero weights instead of NaN.
    """
    scores = ops.convert_to_tensor(scores)
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.cast(mask, "bool")
    lowest = ops.min(scores)
    peak = ops.max(ops.where(mask, scores, lowest), axis=-1, keepdims=True)
    shifted = ops.where(mask, scores - ops.stop_gradient(peak), ops.zeros_like(scores))
    exp = ops.where(mask, ops.exp(shifted), ops.zeros_like(scores))
    total = ops.sum(exp, axis=-1, keepdims=True)
    return exp / ops.where(total > 0, total, ops.ones_like(total))


@keras.saving.register_keras_serializable(package="helpers")
class Attention(keras.layers.Layer):
    """Additive attention pooling (Yang et al. 2016): (batch, time, features) → (batch, features).

    u_t = tanh(W h_t + b) (``kernel`` W, ``bias`` b); α_t = softmax_t(u_tᵀ u_w) over the
    real positions only (``context`` u_w); s = Σ_t α_t h_t. With ``return_attention=True``
    it returns ``[s, α]``, α being (batch, time).
    """

    def __init__(
        self,
        context_dim: int,
        return_attention: bool = False,
        initializer="normal",
        regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.context_dim = context_dim
        self.return_attention = return_attention
        self.initializer = keras.initializers.get(initializer)
        self.regularizer = keras.regularizers.get(regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        settings = {"initializer": self.initializer, "regularizer": self.regularizer}
        features = input_shape[-1]
        self.kernel = self.add_weight(shape=(features, self.context_dim), name="kernel", **settings)
        self.bias = self.add_weight(shape=(self.context_dim,), name="bias", **settings)
        self.context = self.add_weight(shape=(self.context_dim,), name="context", **settings)

    def scores(self, states):
        """u_t · u_w for every step: (..., time, features) → (..., time)."""
        hidden = ops.tanh(ops.matmul(states, self.kernel) + self.bias)
        return ops.sum(hidden * self.context, axis=-1)

    def call(self, states, mask=None):
        weights = masked_softmax(self.scores(states), mask)  # α, 0 on padding
        pooled = ops.sum(ops.expand_dims(weights, -1) * states, axis=1)  # s
        return [pooled, weights] if self.return_attention else pooled

    def compute_mask(self, states, mask=None):
        return [None, None] if self.return_attention else None

    def compute_output_shape(self, input_shape):
        pooled = (input_shape[0], input_shape[-1])
        return [pooled, tuple(input_shape[:2])] if self.return_attention else pooled

    def get_config(self):
        return {
            **super().get_config(),
            "context_dim": self.context_dim,
            "return_attention": self.return_attention,
            "initializer": keras.initializers.serialize(self.initializer),
            "regularizer": keras.regularizers.serialize(self.regularizer),
        }


def keep_first_if_empty(mask):
    """``mask`` (..., time) with position 0 of every all-False row set (see ``PaddingMask``)."""
    first = ops.equal(ops.cumsum(ops.ones_like(mask, dtype="int32"), axis=-1), 1)
    empty = ops.logical_not(ops.any(mask, axis=-1, keepdims=True))
    return ops.logical_or(mask, ops.logical_and(first, empty))


@keras.saving.register_keras_serializable(package="helpers")
class PaddingMask(keras.layers.Layer):
    """Bool mask of real tokens (id != 0) from token ids.

    ``per_sentence=True`` reduces the last axis: (batch, sentences, words) →
    (batch, sentences), a sentence being real iff it holds any real token.
    ``keep_first_if_empty=True`` marks position 0 of an all-padding row as real, for the
    recurrent layers only: no row is then fully masked (which TensorFlow's cuDNN kernel
    cannot take), and the attention, given the plain mask, still gives that row zero weight.
    """

    def __init__(self, per_sentence: bool = False, keep_first_if_empty: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.per_sentence = per_sentence
        self.keep_first_if_empty = keep_first_if_empty

    def call(self, ids):
        mask = ops.not_equal(ids, 0)
        if self.per_sentence:
            mask = ops.any(mask, axis=-1)
        return keep_first_if_empty(mask) if self.keep_first_if_empty else mask

    def compute_output_spec(self, ids):
        shape = ids.shape[:-1] if self.per_sentence else ids.shape
        return keras.KerasTensor(shape, dtype="bool")

    def get_config(self):
        return {
            **super().get_config(),
            "per_sentence": self.per_sentence,
            "keep_first_if_empty": self.keep_first_if_empty,
        }


@keras.saving.register_keras_serializable(package="helpers")
class MaskedMaxPooling(keras.layers.Layer):
    """Largest value of each feature over the real steps: (batch, steps, f) → (batch, f).

    Padded steps never win the maximum; a row with no real step gives zeros.
    """

    def call(self, sequences, mask=None):
        if mask is None:
            return ops.max(sequences, axis=1)
        valid = ops.expand_dims(ops.cast(mask, "bool"), -1)
        pooled = ops.max(ops.where(valid, sequences, -1e9), axis=1)
        return ops.where(ops.any(valid, axis=1), pooled, 0.0)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="helpers")
class FoldSentences(keras.layers.Layer):
    """(batch, sentences, words) → (batch * sentences, words): every sentence becomes a row.

    The HAN's word encoder then reads every sentence in one call, instead of looping over
    sentences with ``TimeDistributed`` (which has a history of dropping masks).
    """

    def call(self, ids):
        return ops.reshape(ids, (-1, ops.shape(ids)[2]))

    # Explicit specs: PyTorch's shape inference gives every unknown dimension the same
    # stand-in size, and so cannot trace a reshape between them.
    def compute_output_spec(self, ids):
        batch, sentences, words = ids.shape
        rows = None if batch is None or sentences is None else batch * sentences
        return keras.KerasTensor((rows, words), dtype=ids.dtype)


@keras.saving.register_keras_serializable(package="helpers")
class UnfoldSentences(keras.layers.Layer):
    """Inverse of ``FoldSentences``: ``[(batch * sentences, ...), ids]`` → (batch, sentences, ...).

    The original ids (batch, sentences, words) give the batch and sentence counts.
    """

    def call(self, inputs):
        rows, ids = inputs
        shape = ops.shape(ids)
        return ops.reshape(rows, (shape[0], shape[1], *ops.shape(rows)[1:]))

    def compute_output_spec(self, inputs):
        rows, ids = inputs
        return keras.KerasTensor((*ids.shape[:2], *rows.shape[1:]), dtype=rows.dtype)
