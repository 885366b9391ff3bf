"""Mini-batches for ``fit``: shuffled, or grouped by length, in a new order every epoch.

``Batches`` is what the seed's *padded* recipe trains on; ``helpers.fast`` derives the
fast recipe's trimmed and packed batches from it, so both recipes draw the same
documents together from the same seed.
"""

import math

import keras
import numpy as np


def document_lengths(stats, kind: str) -> np.ndarray:
    """What "length" means for batching: words (flat models) or sentences (hierarchical)."""
    return stats.sentence_counts if kind == "hierarchical" else stats.lengths


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


class Batches(keras.utils.PyDataset):
    """Mini-batches of ``(ids, labels)``, in a new order every epoch.

    ``order="shuffle"``: a random permutation. ``order="by_length"``: documents
    sorted by ``lengths`` (ties in random order) and cut into batches, whose order
    is then shuffled, so a batch holds documents of similar length (as the HAN paper
    and the seed did).

    The order of plan number ``plan`` is a function of ``seed`` and ``plan`` alone. Left to
    itself, the dataset takes the next plan whenever Keras ends an epoch; once
    ``start_epoch`` is called at the start of each epoch (``train.train_model`` does), the
    plan is the epoch's number, so a run resumed at some epoch trains on exactly the
    batches an uninterrupted run trains on there. ``reshuffle=False`` keeps one order
    (validation needs no other).
    """

    def __init__(self, ids, labels, batch_size, order="shuffle", lengths=None, seed=0,
                 reshuffle=True):  # fmt: skip
        super().__init__()
        if order == "by_length" and lengths is None:
            raise ValueError("order='by_length' needs the documents' lengths")
        self.ids, self.labels = ids, np.asarray(labels)
        self.batch_size, self.order, self.lengths = batch_size, order, lengths
        self.seed, self.reshuffle, self.plan_number, self.follows_epochs = seed, reshuffle, 0, False
        self.batches = self._plan()

    def _plan(self) -> list[np.ndarray]:
        rng = np.random.default_rng((self.seed, self.plan_number))
        n = len(self.ids)
        if self.order == "shuffle":
            return np.array_split(rng.permutation(n), math.ceil(n / self.batch_size))
        by_length = np.lexsort((rng.random(n), self.lengths))
        batches = np.array_split(by_length, math.ceil(n / self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]

    def set_plan(self, plan: int) -> None:
        """Lay the batches out in order number ``plan`` (see the class docstring)."""
        if self.reshuffle and plan != self.plan_number:
            self.plan_number = plan
            self.batches = self._plan()

    def start_epoch(self, epoch: int) -> None:
        """From now on the plan is the epoch's number, whatever Keras read before."""
        self.follows_epochs = True
        self.set_plan(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index):
        rows = self.batches[index]
        return self.inputs(self.ids[rows]), self.labels[rows]

    def inputs(self, ids):
        """The model's inputs for one batch of padded ``ids`` (here: the ids themselves)."""
        return ids

    def on_epoch_end(self):
        if not self.follows_epochs:
            self.set_plan(self.plan_number + 1)

    @property
    def variable_shapes(self) -> bool:
        """Whether batches differ in shape (here: no; trimmed batches do)."""
        return False

    def fixed_lengths(self) -> dict[str, tuple]:
        """For inputs given as a dict: the shapes, with None for lengths that vary, of
        those whose other lengths every batch shares, for ``fit_input``'s signature
        (here: none)."""
        return {}

    def fit_input(self):
        """What to pass to ``fit``: this dataset, or on TensorFlow a ``tf.data`` view of it.

        Keras builds TensorFlow's input signature from the first batches it sees,
        so batches of other shapes would be refused later; declaring every length
        unknown (except those ``fixed_lengths`` names) accepts them all and traces the
        training step only once.

        The view trains on the same batches, epoch by epoch, as Keras draws from this
        dataset itself: before the first epoch Keras reads a batch to build the model
        and then ends that epoch (``on_epoch_end``), so its first epoch trains on the
        second plan, and so does the view. The view moves on to the next plan when an
        epoch starts, not when the previous one's end is prefetched (which may come
        late), so the order of batches never depends on timing.
        """
        if keras.backend.backend() != "tensorflow" or not self.variable_shapes:
            return self
        import tensorflow as tf

        started = False

        def epoch():
            nonlocal started
            if started:
                self.on_epoch_end()  # Keras ended the previous epoch
            started = True
            yield from (self[i] for i in range(len(self)))

        def spec(array, shape=None):
            return tf.TensorSpec(shape or (None,) * array.ndim, tf.as_dtype(array.dtype))

        inputs, labels = self[0]
        fixed = self.fixed_lengths()
        if isinstance(inputs, dict):
            inputs = {name: spec(array, fixed.get(name)) for name, array in inputs.items()}
        else:
            inputs = spec(inputs)
        signature = (inputs, spec(labels))
        self.on_epoch_end()  # as Keras does after reading its first batch
        dataset = tf.data.Dataset.from_generator(epoch, output_signature=signature)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(self)))
        return dataset.prefetch(1)  # the next batch is built while this one trains
