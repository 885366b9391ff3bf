"""Where the fast HAN's epoch goes on TensorFlow: packing, input path, train step, word GRUs.

    python benchmarks/profile_packed_han.py output/padding/arrays/han-….npz

Takes the HAN arrays a ``benchmarks/padding.py`` run wrote (its ``arrays`` folder), builds
the seed's HAN with the fast recipe and times, for one epoch of packed batches: building
them (``pack_sentences``), reading the ``tf.data`` view alone, two ``fit`` epochs (the
first traces), the compiled train step on the epoch's batches already as tensors, and
the word level (``PackedHAN.word_states``) forward with its gradient, and forward alone.
The train step minus the word level is the attention, the sentence level and the update.
"""

import argparse
import time

import keras
import numpy as np


def timed(label, run) -> float:
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.2f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("arrays", help="a HAN .npz from benchmarks/padding.py's arrays folder")
    args = parser.parse_args()
    if keras.backend.backend() != "tensorflow":
        parser.error("this profiles TensorFlow: run it with KERAS_BACKEND=tensorflow")
    import tensorflow as tf

    from helpers import fast, packed
    from helpers.models import MODELS, compile_model, named_config

    arrays = np.load(args.arrays)
    config = named_config("han", "original", recipe="fast", batch_order="by_length",
                          num_words=int(arrays["num_words"]))  # fmt: skip
    keras.utils.set_random_seed(0)
    han = MODELS["han"].build(config)
    model = compile_model(packed.PackedHAN(han), config)
    batches = fast.training_batches(
        config, arrays["train_ids"], arrays["train_labels"], arrays["train_lengths"]
    )
    epoch = []
    timed(
        "packing an epoch's batches", lambda: epoch.extend(batches[i] for i in range(len(batches)))
    )
    lanes = np.array([inputs["words"].shape for inputs, _ in epoch])
    print(f"{len(epoch)} batches, lanes × width on average {lanes.mean(axis=0).round(1)}")

    data = batches.fit_input()
    timed("reading the tf.data view alone", lambda: [None for _ in data])
    timed("fit epoch 1 (traces)", lambda: model.fit(data, epochs=1, verbose=0, shuffle=False))
    timed("fit epoch 2", lambda: model.fit(data, epochs=1, verbose=0, shuffle=False))

    signature = data.element_spec
    tensors = [(keras.tree.map_structure(tf.constant, x), tf.constant(y)) for x, y in epoch]
    step = tf.function(model.train_step, input_signature=[signature])
    step(tensors[0])
    timed("train step, inputs already tensors", lambda: [step(batch) for batch in tensors])

    weights = [weight.value for weight in han.trainable_variables]

    @tf.function(input_signature=[signature[0]])
    def word_gradient(inputs):
        with tf.GradientTape() as tape:
            states = model.word_states(inputs["words"], inputs["slots"], training=True)
            total = tf.reduce_sum(states)
        return tape.gradient(total, weights, unconnected_gradients="zero")

    @tf.function(input_signature=[signature[0]])
    def word_forward(inputs):
        return model.word_states(inputs["words"], inputs["slots"], training=True)

    for label, function in (("forward and gradient", word_gradient), ("forward", word_forward)):
        function(tensors[0][0])
        timed(f"word GRUs, {label}", lambda f=function: [f(inputs) for inputs, _ in tensors])


if __name__ == "__main__":
    main()
