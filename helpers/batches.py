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
    """

    def __init__(self, ids, labels, batch_size, order="shuffle", lengths=None, seed=0):
        super().__init__()
        if order == "by_length" and lengths is None:
            raise ValueError("order='by_length' needs the documents' lengths")
        self.ids, self.labels = ids, np.asarray(labels)
        self.batch_size, self.order, self.lengths = batch_size, order, lengths
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
        return self.inputs(self.ids[rows]), self.labels[rows]

    def inputs(self, ids):
        """The model's inputs for one batch of padded ``ids`` (here: the ids themselves)."""
        return ids

    def on_epoch_end(self):
        self.batches = self._plan()

    @property
    def variable_shapes(self) -> bool:
        """Whether batches differ in shape (here: no; trimmed batches do)."""
        return False

    def fit_input(self):
        """What to pass to ``fit``: this dataset, or on TensorFlow a ``tf.data`` view of it.

        Keras builds TensorFlow's input signature from the first batches it sees,
        so batches of other shapes would be refused later; declaring every length
        unknown accepts them all and traces the training step only once.

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
