"""The fast recipe: the same models, computed without paying for padding.

A Fine Foods review averages 76 words in 5.4 sentences, yet the seed's LSTM reads 300
positions per review and its HAN 15 × 50 = 750. With ``recipe="fast"`` (see
``helpers.configs``) the model and the optimizer stay the same, and only how the work
is laid out changes; notebook 05 teaches each piece and times it:

- ``LengthAwareBidirectional`` replaces ``keras.layers.Bidirectional``: the same weights
  and, on right-padded input, the same outputs as the masked layer, but with no mask
  inside the recurrent layers, so their fast kernels (cuDNN, ``lax.scan``) stay usable.
  With a Keras mask, JAX and PyTorch fall back to a slow per-step loop.
- ``TrimmedBatches``: documents of similar length batched together, each batch padded
  only to its own longest document (on JAX, which compiles a program per shape,
  rounded up so that few shapes occur).
- ``PackedBatches`` for the HAN: a batch's sentences packed into nearly full lanes, which
  ``helpers.packed.PackedHAN`` trains the HAN's own weights on (the word GRUs reset at
  every sentence boundary), so the saved model is the ordinary HAN.

That is the layout for a CPU (``recipe="fast"``). On a GPU the per-step work is cheap and
every new shape or Python-level step costs, so ``recipe="bucketed"`` keeps the
length-aware layers (and with them the fused cuDNN kernels: PyTorch's LSTM and GRU,
JAX's LSTM) but lays batches out differently:

- ``BucketedBatches``: documents of similar length batched together, each batch cut to
  the smallest of a few fixed lengths that holds it (the cap and its halves), so JAX
  compiles a handful of programs; the HAN trains unpacked.

``recipe="auto"`` (the tuned configs) is decided in one place,
``helpers.backend.device_recipe``: "bucketed" where the backend sees a GPU, "fast"
elsewhere; ``resolve_recipe`` writes the choice into the config, so ``config.json``
records it. ``training_batches`` picks the batches for a config's recipe.

The backend-specific branches (JAX's shape rounding and TensorFlow's fixed lane width
here, the unrolled GRU loop of PyTorch and TensorFlow in ``helpers.packed``) live in
these two modules and nowhere else. The tests compare every piece with the plain model
on all three backends.
"""

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from helpers.backend import resolve_recipe
from helpers.batches import Batches

# --------------------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package="helpers")
class LengthAwareBidirectional(keras.layers.Layer):
    """Bidirectional RNN for right-padded sequences, with no mask inside the RNNs.

    Same weights (and weight count) as ``keras.layers.Bidirectional(rnn_layer)`` and, for
    right-padded input, the same outputs as that layer given the mask: the forward RNN
    runs unmasked (padding comes after the real tokens, so it cannot reach them); the
    backward RNN runs on each row reversed within its own length and its outputs are
    reversed back; final states are read at position length - 1. Unmasked RNNs keep the
    fast kernels (cuDNN, ``lax.scan``) usable. The mask must be a prefix of each row
    (right padding); a row with no valid position is treated as length 1. Outputs at
    padded positions are zero, as with ``Bidirectional``. Merge mode: concatenation.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if layer.return_state or layer.go_backwards:
            raise ValueError(
                "LengthAwareBidirectional takes an RNN without return_state or go_backwards."
            )
        self.return_sequences = layer.return_sequences
        self.layer_config = keras.saving.serialize_keras_object(layer)
        self.forward_layer = self._copy(layer, "forward")
        self.backward_layer = self._copy(layer, "backward")
        self.supports_masking = True

    @staticmethod
    def _copy(layer, direction):
        # get_config/from_config, not (de)serialize_keras_object: while a model loads,
        # the latter would hand back one shared object for both directions.
        config = layer.get_config()
        config.update(name=f"{direction}_{layer.name}", return_sequences=True)
        return type(layer).from_config(config)

    def build(self, input_shape):
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)

    def call(self, sequences, mask=None, training=None):
        positions = ops.cumsum(ops.ones_like(sequences[..., 0], dtype="int32"), axis=1) - 1
        if mask is None:
            lengths = ops.full_like(positions[:, :1], ops.shape(sequences)[1])
        else:
            lengths = ops.sum(ops.cast(mask, "int32"), axis=1, keepdims=True)
        lengths = ops.maximum(lengths, 1)
        # Index of each step once the first `length` steps of its row are reversed;
        # applying it twice gives back the original order.
        reverse = ops.where(positions < lengths, lengths - 1 - positions, positions)

        forward = self.forward_layer(sequences, training=training)
        backward = _gather_steps(
            self.backward_layer(_gather_steps(sequences, reverse), training=training), reverse
        )
        outputs = ops.concatenate([forward, backward], axis=-1)
        if not self.return_sequences:
            # Forward: state after the last real step; backward: after reaching step 0.
            last = _gather_steps(forward, lengths - 1)[:, 0]
            first = backward[:, 0]
            return ops.concatenate([last, first], axis=-1)
        if mask is not None:
            outputs = ops.where(ops.expand_dims(ops.cast(mask, "bool"), -1), outputs, 0.0)
        return outputs

    def compute_output_shape(self, input_shape):
        features = 2 * self.forward_layer.cell.units
        if self.return_sequences:
            return (input_shape[0], input_shape[1], features)
        return (input_shape[0], features)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def get_config(self):
        return {**super().get_config(), "layer": self.layer_config}


def _gather_steps(sequences, steps):
    """``sequences[b, steps[b, t]]`` for (batch, time, features) and int (batch, t') steps.

    A gather of whole rows from the flattened (batch × time, features) array: five to
    ten times faster, with its gradient, than ``take_along_axis`` with the indices
    broadcast over the features, on all three backends.
    """
    batch, time, features = ops.shape(sequences)
    rows = ops.expand_dims(ops.arange(batch, dtype="int32") * time, 1) + steps
    picked = ops.take(ops.reshape(sequences, (-1, features)), ops.reshape(rows, (-1,)), axis=0)
    return ops.reshape(picked, (batch, -1, features))


# --------------------------------------------------------------------------- batches


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
    steps = step[-(ids.ndim - 1) :]  # (words,) or (sentences, words)
    axes = zip(_used_lengths(ids), steps, ids.shape[1:], strict=True)
    return _cut(ids, [_round_up(length, multiple, cap) for length, multiple, cap in axes])


def _used_lengths(ids: np.ndarray) -> list[int]:
    """Per axis after the first: how far any row of the batch reaches (at least 1)."""
    used = ids != 0
    lengths = []
    for axis in range(1, ids.ndim):
        others = tuple(other for other in range(ids.ndim) if other != axis)
        lengths.append(int(used.any(axis=others).nonzero()[0].max(initial=0)) + 1)
    return lengths


def _cut(ids: np.ndarray, lengths) -> np.ndarray:
    """``ids`` cut to ``lengths`` along the axes after the first."""
    return ids[(slice(None), *(slice(0, n) for n in lengths))]


class TrimmedBatches(Batches):
    """``Batches`` of right-padded ids, each padded only to its own longest document
    (rounded up to a multiple of ``step``: sentences, words; default ``trim_step()``)."""

    def __init__(self, ids, labels, batch_size, order="by_length", lengths=None, seed=0,
                 step=None, reshuffle=True):  # fmt: skip
        super().__init__(ids, labels, batch_size, order, lengths, seed, reshuffle)
        self.step = step

    def inputs(self, ids):
        return trim_padding(ids, self.step)

    @property
    def variable_shapes(self) -> bool:
        return True


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
    does not matter: ``slots`` says whose it is, and ``helpers.packed.PackedHAN``
    restarts the GRUs at every sentence. Takes about a millisecond for such a batch.
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


class PackedBatches(TrimmedBatches):
    """Batches of HAN documents with their sentences packed into lanes, for
    ``helpers.packed.PackedHAN``.

    Batches are drawn exactly as ``Batches`` draws them from the same ``lengths`` and
    ``seed`` (for the HAN, sentence counts, as the seed ordered them; the number of words
    when ``lengths`` is None), so the packed recipe sees the same documents together as
    the padded one; each batch's sentences are then packed together (``pack_sentences``).
    With ``trim`` the lanes are as wide as the batch's longest sentence and there are as
    many sentence slots as its longest document has sentences, both rounded up to
    multiples of ``step`` (sentences, words). On JAX and TensorFlow the default ``step``
    keeps lanes ``words_per_sentence`` wide (packing fills them just as well: about 99%
    of positions are words either way). JAX compiles a program per shape, so there the
    number of lanes is also rounded up to a multiple of ``lane_multiple`` (default 8
    there, else 1): the number of lanes is then the only length that varies much, so a
    few dozen shapes cover every batch, with 9% of positions wasted. TensorFlow gets a
    width it can declare (``fixed_lengths``) and unrolls the word GRUs over it. PyTorch
    gets exact lengths. Without ``trim``, lanes are ``words_per_sentence`` wide and
    every document has all its sentence slots.
    """

    def __init__(self, ids, labels, batch_size, order="by_length", lengths=None, seed=0,
                 step=None, trim=True, lane_multiple=None, reshuffle=True):  # fmt: skip
        ids = np.asarray(ids)
        backend = keras.backend.backend()
        jax = backend == "jax"
        if step is None and backend in ("jax", "tensorflow"):
            step = (trim_step()[0], ids.shape[2])
        if lengths is None:
            lengths = (ids != 0).sum(axis=(1, 2))
        super().__init__(ids, labels, batch_size, order, lengths, seed, step, reshuffle)
        self.trim = trim
        self.lane_multiple = (8 if jax else 1) if lane_multiple is None else lane_multiple

    def inputs(self, ids):
        if self.trim:
            ids = trim_padding(ids, self.step)
        packed = pack_sentences(ids)
        words, slots = packed.words, packed.slots
        if self.trim:
            extra = _round_up(len(words), self.lane_multiple, 1 << 30) - len(words)
            words = np.pad(words, ((0, extra), (0, 0)))
            slots = np.pad(slots, ((0, extra), (0, 0)), constant_values=-1)
        return {"words": words, "slots": slots, "sentence_lengths": packed.sentence_lengths}

    def fixed_lengths(self) -> dict[str, tuple]:
        """Lanes ``words_per_sentence`` wide, when every batch has them so: TensorFlow
        then unrolls the word GRUs over a known number of steps (``helpers.packed``)."""
        width = self.ids.shape[2]
        if self.trim and (self.step or trim_step())[1] != width:
            return {}
        return {"words": (None, width), "slots": (None, width)}


# How many lengths ``BucketedBatches`` allows per axis, by the ids' number of dimensions:
# words for the LSTM (2-D); sentences, and words per sentence for the HAN (3-D; one: a
# batch's longest sentence nearly always reaches the cap of 50). With batches of two
# sizes (``Batches`` splits evenly), an epoch has at most 2 × 5 = 10 shapes either way.
BUCKETS = {2: (5,), 3: (5, 1)}


def bucket_sizes(cap: int, count: int) -> list[int]:
    """``count`` lengths from ``cap`` down by halves (rounded up), smallest first:
    ``bucket_sizes(300, 5) == [19, 38, 75, 150, 300]``. A batch is padded at most to
    twice its longest document (except below the smallest size)."""
    return sorted({max(1, -(-cap // 2**k)) for k in range(count)})


class BucketedBatches(Batches):
    """``Batches`` of right-padded ids, each cut to the smallest bucket length that holds
    its longest document, per axis (words; or sentences and words per sentence): the
    GPU layout. ``counts``: how many bucket lengths per axis (default ``BUCKETS``)."""

    def __init__(self, ids, labels, batch_size, order="by_length", lengths=None, seed=0,
                 reshuffle=True, counts=None):  # fmt: skip
        super().__init__(ids, labels, batch_size, order, lengths, seed, reshuffle)
        counts = counts or BUCKETS[np.ndim(ids)]
        caps = np.shape(ids)[1:]
        self.sizes = [bucket_sizes(cap, n) for cap, n in zip(caps, counts, strict=True)]

    def inputs(self, ids):
        axes = zip(_used_lengths(ids), self.sizes, strict=True)
        return _cut(ids, [next(size for size in sizes if size >= n) for n, sizes in axes])

    @property
    def variable_shapes(self) -> bool:
        return True

    def shapes(self) -> set[tuple[int, ...]]:
        """The input shapes of this epoch's batches: the programs JAX compiles for it."""
        return {self[i][0].shape for i in range(len(self))}


# --------------------------------------------------------------------------- the recipe's batches


def training_batches(config, ids, labels, lengths, seed: int = 0, reshuffle=True) -> Batches:
    """The batches ``config`` trains on: padded ``Batches`` for ``recipe="padded"``;
    ``BucketedBatches`` for "bucketed"; for "fast", ``TrimmedBatches``, or
    ``PackedBatches`` for hierarchical (3-D) ids; "auto" picks for the device
    (``helpers.backend.resolve_recipe``)."""
    recipe = resolve_recipe(config).recipe
    if recipe == "padded":
        kind = Batches
    elif recipe == "bucketed":
        kind = BucketedBatches
    else:
        kind = PackedBatches if np.ndim(ids) == 3 else TrimmedBatches
    order = config.batch_order
    return kind(ids, labels, config.batch_size, order, lengths, seed=seed, reshuffle=reshuffle)
