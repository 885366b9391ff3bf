"""The packed HAN: the fast recipe's way to train a HAN on a CPU.

``helpers.fast.PackedBatches`` packs a batch's real sentences into nearly full *lanes*
(several sentences per row of ``words_per_sentence`` positions); ``PackedHAN`` trains the
HAN's own weights on them. The word GRUs run along the lanes with their state reset at
every sentence boundary, which is exactly a GRU run over each sentence on its own, and
the word attention is a softmax over each sentence's words (segment operations). The
saved model is the ordinary HAN. The backend-specific branch (an unrolled GRU loop on
PyTorch and TensorFlow, a ``keras.layers.RNN`` scan on JAX) lives here; the tests
compare ``PackedHAN`` with the HAN on all three backends.
"""

import keras
from keras import ops

from helpers.layers import keep_first_if_empty


def _recurrent_weights(cell):
    """A built ``GRUCell``'s recurrent weights, sliced once for ``_resetting_gru_step``
    (slicing them at every step would also slice, and pad, their gradient at every step):
    the kernel that multiplies the state, the candidate's kernel (``reset_after=False``;
    else None) and the recurrent bias (``reset_after=True``; else None)."""
    if cell.reset_after:
        return cell.recurrent_kernel, None, cell.bias[1]
    units = cell.units
    return cell.recurrent_kernel[:, : 2 * units], cell.recurrent_kernel[:, 2 * units :], None


def _resetting_gru_step(cell, weights, state, x_z, x_r, x_h, keep):
    """One step of a built ``GRUCell``'s recurrence on inputs already multiplied by its
    kernel (``x_z``, ``x_r``, ``x_h``: units each), with ``weights`` from
    ``_recurrent_weights(cell)``; the state is first multiplied by ``keep`` (0 where a
    sentence starts, else 1)."""
    kernel, candidate_kernel, bias = weights
    state = state * keep
    if cell.reset_after:
        h_z, h_r, h_h = ops.split(ops.matmul(state, kernel) + bias, 3, axis=-1)
        z = cell.recurrent_activation(x_z + h_z)
        r = cell.recurrent_activation(x_r + h_r)
        candidate = cell.activation(x_h + r * h_h)
    else:
        h_z, h_r = ops.split(ops.matmul(state, kernel), 2, axis=-1)
        z = cell.recurrent_activation(x_z + h_z)
        r = cell.recurrent_activation(x_r + h_r)
        candidate = cell.activation(x_h + ops.matmul(r * state, candidate_kernel))
    return z * state + (1.0 - z) * candidate


class _ResettingGRUStep(keras.layers.Layer):
    """``_resetting_gru_step`` as an RNN cell: per step, the projected input (3 × units)
    then a reset flag (1 = zero the state first).

    Uses (does not copy) the cell's weights. Moving the input projection out of the loop
    (one large matrix product for every step at once) leaves little work per step.
    """

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.state_size = cell.units
        self.output_size = cell.units

    def build(self, input_shape):
        self.built = True  # the wrapped cell is already built

    def call(self, inputs, states, training=False):
        units = self.cell.units
        state = _resetting_gru_step(
            self.cell, _recurrent_weights(self.cell), states[0], inputs[:, :units],
            inputs[:, units : 2 * units], inputs[:, 2 * units : -1], 1.0 - inputs[:, -1:],
        )  # fmt: skip
        return state, [state]


def _unrolled_resetting_gru(cell, projected, resets, reverse=False):
    """The word GRU along lanes as a Python loop over steps, for PyTorch and TensorFlow.

    ``projected``: (lanes, width, 3 × units), ``resets``: (lanes, width) bools; returns
    (lanes, width, units); ``reverse`` runs from the last step to the first. PyTorch runs
    eagerly, so a plain loop over tensors unbound once (and split into gates once) saves
    the per-step cost of calling a Keras layer and of slicing, in both passes: 15–20% of
    a packed HAN's training step on 2 CPU cores. On TensorFlow, with the lanes' width
    known while tracing, the unrolled graph trains in about half the time of a
    ``tf.while_loop`` over steps, whose per-step bookkeeping (TensorArrays, the stacks
    its gradient keeps) outweighs the small matrix products of a lane step.
    """
    steps = ops.transpose(projected, (1, 0, 2))  # (width, lanes, 3 units)
    x_z, x_r, x_h = (ops.unstack(gate) for gate in ops.split(steps, 3, axis=-1))
    keep = ops.unstack(ops.expand_dims(1.0 - ops.cast(ops.transpose(resets), steps.dtype), -1))
    weights = _recurrent_weights(cell)
    state = ops.zeros((ops.shape(projected)[0], cell.units), steps.dtype)
    states = [None] * len(keep)
    for t in reversed(range(len(keep))) if reverse else range(len(keep)):
        state = _resetting_gru_step(cell, weights, state, x_z[t], x_r[t], x_h[t], keep[t])
        states[t] = state
    return ops.stack(states, axis=1)


def _unrolls(projected) -> bool:
    """Whether the word GRUs run as a Python loop over steps (``_unrolled_resetting_gru``):
    on PyTorch, and on TensorFlow when the lanes' width is known while tracing."""
    backend = keras.backend.backend()
    return backend == "torch" or (backend == "tensorflow" and projected.shape[1] is not None)


def _project(cell, vectors):
    """``vectors @ kernel + input bias`` of a ``GRUCell``, for every step at once."""
    bias = cell.bias[0] if cell.reset_after else cell.bias
    return ops.matmul(vectors, cell.kernel) + bias


class PackedHAN(keras.Model):
    """Trains a HAN's own layers on packed sentences: the fast way to fit ``build_han``'s model.

    The HAN's word encoder reads ``sentences × words_per_sentence`` positions per document,
    mostly padding. Here the batch's real sentences are packed into *lanes* (rows of at
    most ``words_per_sentence`` words, several sentences per lane, see
    ``helpers.fast.pack_sentences``). The word GRUs run
    along the lanes with their state reset to zero at every sentence start (forward) or
    end (backward), which is exactly a GRU run over each sentence on its own; the word
    attention is a softmax over each sentence's words (segment operations), and the
    sentence level is the HAN's. Every weight is the HAN's (nothing is copied), so training
    this model trains ``han``, which is the one to save and predict with.

    Inputs (a dict, see ``helpers.fast.PackedBatches``): ``words`` (lanes, width) ids;
    ``slots`` (lanes, width), for each word its sentence slot in the batch,
    ``document * sentences + sentence``, -1 for padding; ``sentence_lengths``
    (batch, sentences), words per sentence, 0 for an empty slot.
    Needs a HAN built with ``mask=True`` (padding must stay out of the result).
    """

    def __init__(self, han: keras.Model, **kwargs):
        super().__init__(**kwargs)
        layers = {layer.name for layer in han.layers}
        if "word_mask" not in layers:
            raise ValueError(
                "PackedHAN trains a HAN built with mask=True: without masks the HAN "
                "reads its padding, which packed sentences do not have."
            )
        self.han = han
        self.embedding = han.get_layer("embedding")
        self.embedding_dropout = (
            han.get_layer("embedding_dropout") if "embedding_dropout" in layers else None
        )
        self.document_dropout = (
            han.get_layer("document_dropout") if "document_dropout" in layers else None
        )
        encoder = han.get_layer("word_encoder")
        self.cells = (encoder.forward_layer.cell, encoder.backward_layer.cell)
        for cell in self.cells:
            if cell.dropout or cell.recurrent_dropout or not cell.use_bias:
                raise ValueError("PackedHAN needs GRU cells with biases and without dropout")
        # One loop per direction: TensorFlow runs the two side by side. (Merging them
        # into one loop of block-diagonal products was slower on all three backends.)
        # PyTorch, and TensorFlow given lanes of known width, skip these layers for a plain
        # loop (``_unrolled_resetting_gru``).
        self.word_rnns = [
            keras.layers.RNN(_ResettingGRUStep(cell), return_sequences=True, name=name)
            for cell, name in zip(self.cells, ("forward_words", "backward_words"), strict=True)
        ]
        self.word_attention = han.get_layer("word_attention")
        self.sentence_encoder = han.get_layer("sentence_encoder")
        self.sentence_attention = han.get_layer("sentence_attention")
        self.classifier = han.get_layer("classifier")
        self.build()  # every weight exists already (BackupAndRestore wants a built model)

    def build(self, input_shape=None):
        # Every weight belongs to the HAN, which is built; the lanes' RNNs own none.
        for rnn, cell in zip(self.word_rnns, self.cells, strict=True):
            rnn.build((None, None, 3 * cell.units + 1))
        self.built = True

    def word_states(self, words, slots, training=None):
        """The word encoder's states along the lanes: (lanes, width, 2 × units)."""
        vectors = self.embedding(words)
        if self.embedding_dropout is not None:
            vectors = self.embedding_dropout(vectors, training=training)
        edge = ops.full_like(slots[:, :1], -2)
        starts = ops.not_equal(slots, ops.concatenate([edge, slots[:, :-1]], 1))
        ends = ops.not_equal(slots, ops.concatenate([slots[:, 1:], edge], 1))

        # The backward direction reads each lane reversed: it starts with the lane's
        # padding, whose state the reset at the lane's last real word (a sentence end)
        # discards.
        directions = []
        for rnn, cell, resets, reverse in zip(
            self.word_rnns, self.cells, (starts, ends), (False, True), strict=True
        ):
            projected = _project(cell, vectors)
            if _unrolls(projected):
                directions.append(_unrolled_resetting_gru(cell, projected, resets, reverse))
                continue
            if reverse:
                projected, resets = ops.flip(projected, 1), ops.flip(resets, 1)
            flags = ops.expand_dims(ops.cast(resets, projected.dtype), -1)
            states = rnn(ops.concatenate([projected, flags], -1), training=training)
            directions.append(ops.flip(states, 1) if reverse else states)
        return ops.concatenate(directions, -1)

    def call(self, inputs, training=None):
        words, slots = inputs["words"], inputs["slots"]
        sentence_lengths = inputs["sentence_lengths"]
        states = self.word_states(words, slots, training)

        # Word attention: a softmax over the words of each sentence slot.
        batch, sentences = ops.shape(sentence_lengths)[0], ops.shape(sentence_lengths)[1]
        features = ops.shape(states)[-1]
        states = ops.reshape(states, (-1, features))
        slots = ops.reshape(slots, (-1,))
        padding = batch * sentences  # one extra segment collects the padding
        segments = ops.where(slots >= 0, slots, padding)
        scores = self.word_attention.scores(states)
        peak = ops.segment_max(scores, segments, num_segments=padding + 1)
        exp = ops.exp(scores - ops.stop_gradient(ops.take(peak, segments)))
        total = ops.segment_sum(exp, segments, num_segments=padding + 1)
        weights = exp / ops.take(total, segments)
        pooled = ops.segment_sum(
            ops.expand_dims(weights, -1) * states, segments, num_segments=padding + 1
        )
        sentence_vectors = ops.reshape(pooled[:padding], (batch, sentences, features))

        real = ops.greater(sentence_lengths, 0)
        sentence_states = self.sentence_encoder(
            sentence_vectors, mask=keep_first_if_empty(real), training=training
        )
        document, _ = self.sentence_attention(sentence_states, mask=real)
        if self.document_dropout is not None:
            document = self.document_dropout(document, training=training)
        return self.classifier(document)
