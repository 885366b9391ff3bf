"""One backend's side of tests/test_distribute.py, run in its own process (or, for
PyTorch on several devices, under torchrun): trains the tiny LSTM and HAN on the real
split for each device count asked and writes what each run logged and how each
training step's batch was shared between the devices, as ``OUT/record-RANK.json``.

How the shares are seen, per backend, inside the engine's own step:
- JAX: the shards of every array ``keras.distribution`` hands to the jitted step;
- TensorFlow: a layer at the model's input that records, per replica of the
  ``MirroredStrategy``, the size of the batch it is given;
- PyTorch: the documents each process's ``DistributedDataParallel`` forward pass reads.
"""

import argparse
import json
import os
from pathlib import Path

from helpers import distribute

BATCH = 40  # the global batch: 360 training and 40 validation reviews split evenly
# Short texts, so that JAX compiles few shapes (tests/conftest.py's tiny_config otherwise).
SHORT = {"lstm": {"max_words": 48}, "han": {"max_sentences": 4, "words_per_sentence": 16}}


def record_shares(backend: str, seen: list):
    """Install the probe for ``backend``; returns a ``build`` wrapper (or None)."""
    if backend == "jax":
        from keras.src.backend.jax import distribution_lib

        original = distribution_lib.distribute_data_input

        def recorded(batch, layout, batch_dim_name):
            array = original(batch, layout, batch_dim_name)
            if array.ndim >= 2:  # the ids (the labels are 1-D)
                seen.append([shard.data.shape[0] for shard in array.addressable_shards])
            return array

        distribution_lib.distribute_data_input = recorded
        return None
    if backend == "torch":
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel.forward

        def recorded(self, inputs, **kwargs):
            if kwargs.get("training"):
                ids = inputs["sentence_lengths"] if isinstance(inputs, dict) else inputs
                seen.append([dist.get_world_size(), int(ids.shape[0])])
            return forward(self, inputs, **kwargs)

        DistributedDataParallel.forward = recorded
        return None
    import keras
    import tensorflow as tf

    class ReplicaBatch(keras.layers.Layer):
        def call(self, ids, training=None):
            if training:
                replica = tf.distribute.get_replica_context().replica_id_in_sync_group
                tf.py_function(
                    lambda r, n: seen.append([int(r), int(n)]) or 0,
                    [replica, tf.shape(ids)[0]], tf.int32,
                )  # fmt: skip
            return ids

    def build(config, matrix):
        from helpers.models import model_kind

        inner = model_kind(config).build(config, matrix)
        ids = keras.Input(shape=inner.input.shape[1:], dtype="int32", name="ids")
        return keras.Model(ids, inner(ReplicaBatch()(ids)))

    return build


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--devices", default="1,2", help="comma-separated device counts")
    parser.add_argument("--cpu-devices", type=int, default=0)
    parser.add_argument("--models", default="lstm,han")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if args.cpu_devices:
        distribute.use_virtual_cpu_devices(args.cpu_devices, backend)

    from helpers.backend import activate
    from helpers.data import read_split
    from helpers.train import fit_classifier
    from tests.conftest import tiny_config

    activate()
    train, _, _ = read_split(args.split)
    seen: list = []
    build = record_shares(backend, seen)
    results = {}
    for model in args.models.split(","):
        for devices in map(int, args.devices.split(",")):
            # No dropout: TensorFlow's replicas and PyTorch's processes draw their own
            # masks for their share, a different (equally valid) draw from one device's.
            changes = {"dropout": 0.0, "batch_size": BATCH, "epochs": args.epochs, **SHORT[model]}
            if model == "han" and backend != "torch":
                changes["recipe"] = "bucketed"  # what 2 devices train (fast packs lanes)
            seen.clear()
            classifier, run = fit_classifier(
                tiny_config(model, **changes), train["text"], train["label"],
                Path(args.out) / f"{model}-{devices}", word2vec=False, build=build,
                devices=devices, verbose=0,
            )  # fmt: skip
            results[f"{model}-{devices}"] = {
                "loss": run.history["loss"].tolist(),
                "val_loss": run.history["val_loss"].tolist(),
                "recipe": classifier.config.recipe,
                "shares": seen[:],
                "devices": classifier.extra.get("devices", "1 device"),
            }
    rank = int(os.environ.get("RANK", "0"))
    out = Path(args.out) / f"record-{rank}.json"
    out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
