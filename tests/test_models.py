"""Tests of helpers.configs, helpers.layers, helpers.models and helpers.fast: seed weight
counts, masked attention, padding invariance, the fast recipe, and save/load. Small
random models keep it fast on any backend.
"""

import dataclasses
import json

import keras
import numpy as np
import pytest

from helpers import fast
from helpers.configs import HAN_CONFIGS, LSTM_CONFIGS, HANConfig, LSTMConfig, make_optimizer
from helpers.fast import PackedBatches
from helpers.layers import Attention, masked_softmax
from helpers.models import attention_model, build_han, build_lstm, compile_model
from helpers.packed import PackedHAN

SMALL = {"num_words": 40, "embedding_dim": 8, "units": 6}
SMALL_LSTM = dataclasses.replace(LSTM_CONFIGS["tuned"], **SMALL, max_words=12)
SMALL_HAN = dataclasses.replace(
    HAN_CONFIGS["tuned"], **SMALL, context_dim=5, max_sentences=4, words_per_sentence=6
)
MODES = ("padded", "fast")


def _with_mode(config, mode):
    return dataclasses.replace(config, recipe=mode)


def _randomise(model, seed=0):
    """Weights drawn wider than the initialisers', so that mistakes show in the outputs."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.weights])
    return model


def _run(model, ids):
    outputs = model(ids, training=False)
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def _post_padded_docs(seed=0):
    """(5, 4, 6) ids: varied sentence counts and lengths, one empty document, padding at the end."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((5, 4, 6), dtype="int32")
    sentence_counts = [4, 2, 1, 3, 0]
    for doc, count in enumerate(sentence_counts):
        for sentence in range(count):
            length = rng.integers(1, 7)
            ids[doc, sentence, :length] = rng.integers(1, SMALL["num_words"], length)
    return ids


def _post_padded_texts(seed=0):
    """(4, 9) ids with lengths 9, 5, 1, 3, padding at the end."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((4, 9), dtype="int32")
    for row, length in enumerate([9, 5, 1, 3]):
        ids[row, :length] = rng.integers(1, SMALL["num_words"], length)
    return ids


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# ---------------------------------------------------------------- configs and seed shapes


def test_original_lstm_has_the_seed_weight_count():
    assert _trainable_count(build_lstm(LSTM_CONFIGS["original"])) == 761_202


def test_original_han_has_the_seed_weight_count():
    model = build_han(HAN_CONFIGS["original"])
    assert _trainable_count(model) == 942_102
    counts = {
        name: _trainable_count(model.get_layer(name))
        for name in ("embedding", "word_encoder", "word_attention", "sentence_encoder")
    }
    assert counts == {
        "embedding": 600_100,
        "word_encoder": 120_600,
        "word_attention": 20_200,
        "sentence_encoder": 180_600,
    }


def test_original_recipes_keep_the_seed_optimizer_settings():
    for config, rate in ((LSTM_CONFIGS["original"], 0.01), (HAN_CONFIGS["original"], 0.8)):
        assert (config.optimizer, config.learning_rate) == ("sgd", rate)
        assert (config.momentum, config.nesterov, config.batch_size) == (0.0, True, 50)
    assert LSTM_CONFIGS["original"].mask is False
    assert HAN_CONFIGS["original"].reset_after is False


@pytest.mark.parametrize("config", [*LSTM_CONFIGS.values(), *HAN_CONFIGS.values()])
def test_configs_round_trip_through_json(config):
    restored = type(config).from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config


def test_configs_refuse_unknown_fields_and_values():
    with pytest.raises(ValueError, match="Unknown"):
        LSTMConfig.from_dict({**LSTM_CONFIGS["original"].to_dict(), "unitz": 3})
    with pytest.raises(ValueError, match="recipe"):
        dataclasses.replace(HAN_CONFIGS["original"], recipe="quick")
    with pytest.raises(ValueError, match="l2_on"):
        dataclasses.replace(LSTM_CONFIGS["original"], l2_on=("attention",))
    assert isinstance(HANConfig.from_dict(HAN_CONFIGS["tuned"].to_dict()), HANConfig)


def test_the_fast_recipe_refuses_pre_padding_and_no_masks():
    with pytest.raises(ValueError, match="padding='post'"):
        dataclasses.replace(SMALL_LSTM, padding="pre")
    with pytest.raises(ValueError, match="mask=True"):
        dataclasses.replace(SMALL_HAN, mask=False)


def test_compile_model_uses_the_recipe():
    model = compile_model(build_lstm(LSTM_CONFIGS["original"]), LSTM_CONFIGS["original"])
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
    assert model.optimizer.momentum == 0.0 and model.optimizer.nesterov
    small = compile_model(build_lstm(SMALL_LSTM), SMALL_LSTM)
    assert isinstance(small.optimizer, keras.optimizers.Adam)
    assert small.optimizer.clipnorm == 1.0
    logs = small.train_on_batch(_post_padded_texts(), np.array([0, 1, 1, 0]), return_dict=True)
    assert np.isfinite(logs["loss"])


def test_embedding_matrix_initialises_the_embedding():
    matrix = np.arange(40 * 8, dtype="float32").reshape(40, 8) / 100
    for model in (build_lstm(SMALL_LSTM, matrix), build_han(SMALL_HAN, matrix)):
        weights = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
        np.testing.assert_array_equal(weights, matrix)
    with pytest.raises(ValueError, match="shape"):
        build_lstm(SMALL_LSTM, matrix[:10])


# ---------------------------------------------------------------- attention


def _attention_weights(inputs, mask, seed=1):
    layer = Attention(5, return_attention=True)
    layer.build(inputs.shape)
    _randomise(layer, seed)
    pooled, weights = layer(inputs, mask=mask)
    return keras.ops.convert_to_numpy(pooled), keras.ops.convert_to_numpy(weights)


def test_attention_gives_padding_exactly_zero_weight():
    inputs = np.random.default_rng(0).normal(size=(3, 7, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 1, 0]], bool)
    pooled, weights = _attention_weights(inputs, mask)
    assert np.all(weights[~mask] == 0.0)
    assert np.all(weights[mask] > 0.0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(pooled, np.einsum("bt,btf->bf", weights, inputs), rtol=1e-5)


def test_attention_on_a_fully_masked_row_gives_zeros_not_nan():
    inputs = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[0, 0, 0, 0, 0], [1, 1, 0, 0, 0]], bool)
    pooled, weights = _attention_weights(inputs, mask)
    assert np.all(weights[0] == 0.0) and np.all(pooled[0] == 0.0)
    assert np.all(np.isfinite(pooled)) and np.all(np.isfinite(weights))


def test_attention_is_stable_for_large_inputs():
    inputs = 1e4 * np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    pooled, weights = _attention_weights(inputs, mask)
    assert np.all(np.isfinite(pooled)) and np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)


def test_masked_softmax_is_stable_for_huge_scores():
    scores = np.array([[1e30, -1e30, 5e29], [3.0, 1e30, 2.0]], dtype="float32")
    mask = np.array([[1, 1, 1], [1, 0, 1]], bool)
    weights = keras.ops.convert_to_numpy(masked_softmax(scores, mask))
    assert np.all(np.isfinite(weights)) and weights[1, 1] == 0.0
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)


def test_attention_without_mask_and_its_config():
    layer = Attention(5, regularizer=keras.regularizers.L2(1e-10), name="att")
    pooled = keras.ops.convert_to_numpy(layer(np.ones((2, 3, 4), "float32")))
    assert pooled.shape == (2, 4)
    assert layer.compute_mask(None, np.ones((2, 3), bool)) is None
    clone = Attention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


# ---------------------------------------------------------------- HAN masking


@pytest.fixture(scope="module", params=MODES)
def han(request):
    return _randomise(build_han(_with_mode(SMALL_HAN, request.param)))


def test_han_gives_padding_and_empty_sentences_zero_weight(han):
    ids = _post_padded_docs()
    out = _run(attention_model(han), ids)
    assert out["probabilities"].shape == (5, 2)
    assert out["word_weights"].shape == (5, 4, 6)
    assert out["sentence_weights"].shape == (5, 4)
    assert np.all(out["word_weights"][ids == 0] == 0.0)
    real_sentences = (ids != 0).any(axis=-1)
    assert np.all(out["sentence_weights"][~real_sentences] == 0.0)
    np.testing.assert_allclose(out["sentence_weights"][:4].sum(axis=1), 1.0, rtol=1e-5)
    word_sums = out["word_weights"].sum(axis=-1)
    np.testing.assert_allclose(word_sums[real_sentences], 1.0, rtol=1e-5)
    for value in out.values():
        assert np.all(np.isfinite(value))


def test_han_prediction_ignores_extra_padding(han):
    ids = _post_padded_docs()
    wider = np.zeros((5, 7, 10), dtype="int32")
    wider[:, :4, :6] = ids
    before, after = _run(han, ids), _run(han, wider)
    np.testing.assert_allclose(after, before, atol=1e-5)
    # The all-padding document gets the classifier's bias alone, never NaN.
    assert np.all(np.isfinite(after))


def test_han_without_masks_attends_to_padding_too():
    model = _randomise(build_han(dataclasses.replace(SMALL_HAN, mask=False, recipe="padded")))
    out = _run(attention_model(model), _post_padded_docs())
    assert np.all(out["word_weights"] > 0) and np.all(np.isfinite(out["probabilities"]))


def test_han_trains_and_predicts_in_compiled_mode():
    # The tuned (fast) recipe; compiling the padded variant too doubles the test's time.
    config = SMALL_HAN
    model = compile_model(build_han(config), config)
    ids = _post_padded_docs()
    labels = np.array([0, 1, 1, 0, 1])
    logs = model.train_on_batch(ids, labels, return_dict=True)
    assert np.isfinite(logs["loss"])
    # Each batch padded only to its own longest item: a second shape in the same session.
    short = model.predict(ids[:2, :2, :4], verbose=0)
    np.testing.assert_allclose(short, _run(model, ids[:2, :2, :4]), atol=1e-5)


# ---------------------------------------------------------------- LSTM masking


@pytest.mark.parametrize("mode", MODES)
def test_lstm_prediction_ignores_extra_post_padding(mode):
    model = _randomise(build_lstm(_with_mode(SMALL_LSTM, mode)))
    ids = _post_padded_texts()
    longer = np.pad(ids, ((0, 0), (0, 7)))
    np.testing.assert_allclose(_run(model, longer), _run(model, ids), atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_lstm_max_pooling_ignores_padding_and_reloads(tmp_path, mode):
    config = dataclasses.replace(_with_mode(SMALL_LSTM, mode), pooling="max")
    model = _randomise(build_lstm(config))
    assert _trainable_count(model) == _trainable_count(build_lstm(_with_mode(SMALL_LSTM, mode)))
    ids = _post_padded_texts()
    longer = np.pad(ids, ((0, 0), (0, 7)))
    np.testing.assert_allclose(_run(model, longer), _run(model, ids), atol=1e-5)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(
        _run(keras.saving.load_model(tmp_path / "m.keras"), ids), _run(model, ids), atol=1e-6
    )
    with pytest.raises(ValueError, match="pooling"):
        dataclasses.replace(SMALL_LSTM, pooling="mean")


def test_lstm_with_keras_masks_ignores_extra_pre_padding():
    config = dataclasses.replace(SMALL_LSTM, recipe="padded", padding="pre")
    model = _randomise(build_lstm(config))
    ids = _post_padded_texts()[:, ::-1]
    longer = np.pad(ids, ((0, 0), (7, 0)))
    np.testing.assert_allclose(_run(model, longer), _run(model, ids), atol=1e-5)


# ---------------------------------------------------------------- fast == padded


def test_fast_recipe_matches_keras_masks_for_the_lstm():
    keras_model = _randomise(build_lstm(_with_mode(SMALL_LSTM, "padded")))
    lengths_model = build_lstm(_with_mode(SMALL_LSTM, "fast"))
    lengths_model.set_weights(keras_model.get_weights())
    assert _trainable_count(lengths_model) == _trainable_count(keras_model)
    ids = _post_padded_texts()
    np.testing.assert_allclose(_run(lengths_model, ids), _run(keras_model, ids), atol=1e-5)


@pytest.mark.parametrize("reset_after", [False, True])
def test_fast_recipe_matches_keras_masks_for_the_han(reset_after):
    config = dataclasses.replace(SMALL_HAN, reset_after=reset_after)
    keras_model = _randomise(build_han(_with_mode(config, "padded")))
    lengths_model = build_han(_with_mode(config, "fast"))
    lengths_model.set_weights(keras_model.get_weights())
    ids = _post_padded_docs()
    expected = _run(attention_model(keras_model), ids)
    actual = _run(attention_model(lengths_model), ids)
    for key, value in expected.items():
        np.testing.assert_allclose(actual[key], value, atol=1e-5, err_msg=key)
    states = {}
    for name, model in (("padded", keras_model), ("fast", lengths_model)):
        encoder = keras.Model(model.input, model.get_layer("word_encoder").output)
        states[name] = _run(encoder, ids)
    # Padded steps are zero in both, real steps equal.
    np.testing.assert_allclose(states["fast"], states["padded"], atol=1e-5)


def test_length_aware_bidirectional_final_states_match_bidirectional():
    sequences = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    mask = np.arange(6)[None, :] < np.array([[6], [2], [4]])
    rnn = keras.layers.GRU(5, name="gru")
    reference = keras.layers.Bidirectional(rnn)
    reference.build(sequences.shape)
    _randomise(reference)
    length_aware = fast.LengthAwareBidirectional(rnn)
    length_aware.build(sequences.shape)
    length_aware.set_weights(reference.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(length_aware(sequences, mask=mask)),
        keras.ops.convert_to_numpy(reference(sequences, mask=mask)),
        atol=1e-5,
    )


# ---------------------------------------------------------------- save / load


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["lstm", "han"])
def test_save_and_load_give_identical_predictions(tmp_path, kind, mode):
    build, config, ids = {
        "lstm": (build_lstm, SMALL_LSTM, _post_padded_texts()),
        "han": (build_han, SMALL_HAN, _post_padded_docs()),
    }[kind]
    config = _with_mode(config, mode)
    model = _randomise(build(config))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(_run(loaded, ids), _run(model, ids), atol=1e-6)
    if kind == "han":
        expected = _run(attention_model(model), ids)
        actual = _run(attention_model(loaded), ids)
        np.testing.assert_allclose(actual["word_weights"], expected["word_weights"], atol=1e-6)


# ---------------------------------------------------------------- fast HAN training (packed)


def _packed(ids, trim=True):
    """All of ``ids`` as one packed batch: (inputs, the batch's rows of ``ids``)."""
    return PackedBatches(ids, np.arange(len(ids)), len(ids), "by_length", trim=trim)[0]


@pytest.mark.parametrize("reset_after", [False, True])
def test_packed_han_computes_exactly_what_the_han_computes(reset_after):
    han = _randomise(build_han(dataclasses.replace(SMALL_HAN, reset_after=reset_after)), seed=4)
    packed = PackedHAN(han)
    ids = _post_padded_docs(seed=5)
    for trim in (True, False):  # trimmed batches and whole-width lanes give the same
        inputs, rows = _packed(ids, trim)
        np.testing.assert_allclose(_run(packed, inputs), _run(han, ids[rows]), atol=1e-5)
    assert packed.count_params() == han.count_params()


def test_training_the_packed_han_trains_the_han_itself():
    keras.utils.set_random_seed(0)
    han = build_han(SMALL_HAN)
    before = [keras.ops.convert_to_numpy(w).copy() for w in han.trainable_weights]
    packed = compile_model(PackedHAN(han), SMALL_HAN)
    ids = np.tile(_post_padded_docs(seed=6)[:4], (4, 1, 1))
    packed.fit(PackedBatches(ids, np.arange(16) % 2, 8, seed=1), epochs=2, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in han.trainable_weights]
    unchanged = [  # exactly: some weights (attention biases) get small gradients
        weight.path
        for weight, b, a in zip(han.trainable_weights, before, after, strict=True)
        if np.array_equal(b, a)
    ]
    assert not unchanged
    inputs, rows = _packed(ids)
    np.testing.assert_allclose(_run(packed, inputs), _run(han, ids[rows]), atol=1e-5)


def test_packed_batches_shapes_per_backend():
    """JAX compiles a program per shape: there lanes stay full width and their number is
    rounded up to a multiple of 8. TensorFlow unrolls the word GRUs over lanes of full,
    declared width (its ``tf.data`` view says so). PyTorch gets exact shapes."""
    rng = np.random.default_rng(7)
    ids = np.zeros((40, 15, 50), dtype="int32")
    for doc in range(40):
        for sentence in range(rng.integers(1, 7)):
            length = rng.integers(1, 31)  # sentences of up to 30 words
            ids[doc, sentence, :length] = rng.integers(1, 900, length)
    batches = PackedBatches(ids, np.arange(40), 20, "by_length", seed=2)
    inputs, rows = batches[0]
    lanes, width = inputs["words"].shape
    used_lanes = (inputs["slots"] >= 0).any(axis=1).sum()
    longest = (ids[rows] != 0).sum(axis=2).max()
    most_sentences = (ids[rows] != 0).any(axis=2).sum(axis=1).max()
    backend = keras.backend.backend()
    if backend == "jax":
        assert width == 50 and lanes % 8 == 0 and lanes - used_lanes < 8
        assert inputs["sentence_lengths"].shape[1] == 8
        return
    assert lanes == used_lanes
    assert inputs["sentence_lengths"].shape[1] == most_sentences
    if backend == "tensorflow":
        assert width == 50 > longest
        signature = batches.fit_input().element_spec[0]
        assert signature["words"].shape.as_list() == signature["slots"].shape.as_list()
        assert signature["words"].shape.as_list() == [None, 50]
        assert signature["sentence_lengths"].shape.as_list() == [None, None]
    else:
        assert width == longest


def test_packed_han_refuses_an_unmasked_han():
    unmasked = dataclasses.replace(SMALL_HAN, mask=False, recipe="padded")
    with pytest.raises(ValueError, match="mask=True"):
        PackedHAN(build_han(unmasked))


def _learnable_docs(kind, n=96, seed=0):
    """Post-padded ids whose label is whether word 3 occurs: a task a model learns."""
    rng = np.random.default_rng(seed)
    shape = (n, 12) if kind == "lstm" else (n, 4, 6)
    ids = rng.integers(4, SMALL["num_words"], shape).astype("int32")
    keep = rng.random(shape) < 0.6
    if kind == "han":
        keep[:, 1:] &= rng.random((n, 3, 1)) < 0.7
    keep[(slice(None),) + (0,) * (len(shape) - 1)] = True
    ids = np.where(keep, ids, 0)
    ids = -np.sort(-ids, axis=-1, kind="stable")  # real words first, then padding
    labels = np.arange(n) % 2
    first = (np.arange(n), *(0,) * (len(shape) - 1))
    ids[first] = np.where(labels == 1, 3, ids[first])
    lengths = (ids != 0).sum(axis=-1) if kind == "lstm" else (ids != 0).any(axis=-1).sum(-1)
    return ids, labels, lengths


@pytest.mark.parametrize("kind", ["lstm", "han"])
def test_averaged_weights_are_the_ones_validated_kept_and_saved(tmp_path, kind):
    """With ema_momentum, the weights that end up in the model and in best.keras are the
    averaged weights whose validation loss the history records, not the raw ones."""
    from helpers.batches import validation_rows
    from helpers.train import train_model, training_data

    base = SMALL_LSTM if kind == "lstm" else SMALL_HAN  # the HAN trains packed (PackedHAN)
    ids, labels, lengths = _learnable_docs(kind)
    best_losses = {}
    for momentum in (0.9, 0.0):
        config = dataclasses.replace(base, ema_momentum=momentum, batch_size=8, epochs=4)
        keras.utils.set_random_seed(0)
        model = compile_model((build_lstm if kind == "lstm" else build_han)(config), config)
        out = tmp_path / f"ema{momentum}"
        data = training_data(config, ids, labels, lengths)
        run = train_model(model, config, data, out, verbose=0)
        best = float(run.history["val_loss"].min())
        best_losses[momentum] = best
        # The model holds the weights of the best epoch: they give its validation loss.
        _, val_rows = validation_rows(labels)
        probabilities = _run(model, ids[val_rows])
        truth = labels[val_rows]
        loss = -np.mean(np.log(probabilities[np.arange(len(truth)), truth]))
        assert loss == pytest.approx(best, rel=1e-4)
        saved = keras.saving.load_model(out / "best.keras", compile=False)
        x = ids[:8]
        np.testing.assert_allclose(_run(saved, x), _run(model, x), atol=1e-6)
    assert best_losses[0.9] != best_losses[0.0]  # the same seed: only the averaging differs


def test_ema_momentum_is_checked_and_reaches_the_optimizer():
    with pytest.raises(ValueError, match="ema_momentum"):
        dataclasses.replace(SMALL_LSTM, ema_momentum=1.0)
    assert not make_optimizer(LSTM_CONFIGS["original"]).use_ema
    assert LSTM_CONFIGS["tuned"].ema_momentum == HAN_CONFIGS["tuned"].ema_momentum == 0.0
    optimizer = make_optimizer(dataclasses.replace(SMALL_HAN, ema_momentum=0.95))
    assert optimizer.use_ema and optimizer.ema_momentum == 0.95


# ---------------------------------------------------------------- same seed, same model; resume


def _train(kind, tmp_path, name, epochs=4, resume=False):
    """Train a small tuned model (with dropout) on learnable ids; returns (model, run)."""
    from helpers.train import train_model, training_data

    base = SMALL_LSTM if kind == "lstm" else SMALL_HAN
    config = dataclasses.replace(base, batch_size=8, epochs=epochs)
    ids, labels, lengths = _learnable_docs(kind)
    keras.utils.set_random_seed(0)
    model = compile_model((build_lstm if kind == "lstm" else build_han)(config), config)
    data = training_data(config, ids, labels, lengths, seed=0)
    run = train_model(model, config, data, tmp_path / name, patience=10, resume=resume, verbose=0)
    return model, run


def _weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


@pytest.mark.parametrize("kind", ["lstm", "han"])
def test_the_same_seed_trains_the_same_model(tmp_path, kind):
    """Bit for bit: weights, and every number of the history but the seconds."""
    first, first_run = _train(kind, tmp_path, "first", epochs=2)
    second, second_run = _train(kind, tmp_path, "second", epochs=2)
    for a, b in zip(_weights(first), _weights(second), strict=True):
        np.testing.assert_array_equal(a, b)
    columns = [c for c in first_run.history if c != "seconds"]
    assert first_run.history[columns].equals(second_run.history[columns])


@pytest.mark.parametrize("kind", ["lstm", "han"])
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path, kind, monkeypatch):
    """Stopped by an error after epoch 2 of 4, then resumed: the same model and history."""
    whole, whole_run = _train(kind, tmp_path, "whole")

    class StopAfterTwoEpochs(keras.callbacks.CSVLogger):  # comes after BackupAndRestore
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 1:
                raise RuntimeError("power cut")

    csv_logger = keras.callbacks.CSVLogger
    monkeypatch.setattr(keras.callbacks, "CSVLogger", StopAfterTwoEpochs)
    with pytest.raises(RuntimeError, match="power cut"):
        _train(kind, tmp_path, "cut")
    monkeypatch.setattr(keras.callbacks, "CSVLogger", csv_logger)
    resumed, resumed_run = _train(kind, tmp_path, "cut", resume=True)
    for a, b in zip(_weights(whole), _weights(resumed), strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    columns = [c for c in whole_run.history if c != "seconds"]
    pd_whole, pd_resumed = whole_run.history[columns], resumed_run.history[columns]
    np.testing.assert_allclose(pd_resumed.to_numpy(), pd_whole.to_numpy(), atol=1e-6)
    assert not (tmp_path / "cut" / "backup").exists()  # removed once the run is complete


# --------------------------------------------------------------------------- the device's recipe


def _right_padded(rng, documents, shape):
    """Random right-padded ids of ``shape`` per document: (words,) or (sentences, words)."""
    ids = np.zeros((documents, *shape), dtype="int32")
    for doc in range(documents):
        if len(shape) == 1:
            length = rng.integers(1, shape[0] + 1)
            ids[doc, :length] = rng.integers(2, 40, length)
        else:
            for sentence in range(rng.integers(1, shape[0] + 1)):
                length = rng.integers(1, shape[1] + 1)
                ids[doc, sentence, :length] = rng.integers(2, 40, length)
    return ids


def test_bucket_sizes_halve_from_the_cap():
    assert fast.bucket_sizes(300, 5) == [19, 38, 75, 150, 300]
    assert fast.bucket_sizes(15, 5) == [1, 2, 4, 8, 15]
    assert fast.bucket_sizes(50, 1) == [50]


@pytest.mark.parametrize("shape", [(300,), (15, 50)])
def test_bucketed_batches_keep_every_word_in_a_few_shapes(shape):
    """Each batch is cut to the smallest bucket that holds its longest document: no word
    lost, and over several epochs at most 12 shapes (what JAX compiles)."""
    rng = np.random.default_rng(3)
    ids = _right_padded(rng, 700, shape)
    lengths = (ids != 0).reshape(len(ids), shape[0], -1).any(axis=2).sum(axis=1)
    batches = fast.BucketedBatches(ids, np.arange(700) % 2, 64, "by_length", lengths, seed=1)
    shapes = set()
    for epoch in range(3):
        batches.start_epoch(epoch)
        for index in range(len(batches)):
            inputs, _ = batches[index]
            rows = batches.batches[index]
            assert (inputs != 0).sum() == (ids[rows] != 0).sum()
            for axis, sizes in enumerate(batches.sizes, start=1):
                assert inputs.shape[axis] in sizes
            shapes.add(inputs.shape)
        assert batches.shapes() <= shapes
    assert 1 < len(shapes) <= 12


def test_the_auto_recipe_follows_the_device(monkeypatch):
    """Forced on a CPU machine: where the backend sees a GPU, "auto" becomes "bucketed"
    (the notebooks' device line says so); elsewhere "fast". A recipe named by the user
    is kept."""
    from helpers import backend

    rng = np.random.default_rng(0)
    lstm_ids, han_ids = _right_padded(rng, 40, (12,)), _right_padded(rng, 40, (4, 6))
    labels, lengths = np.arange(40) % 2, np.arange(40)
    for gpus, recipe, kinds in (
        (["NVIDIA Test GPU"], "bucketed", (fast.BucketedBatches, fast.BucketedBatches)),
        ([], "fast", (fast.TrimmedBatches, fast.PackedBatches)),
    ):
        monkeypatch.setattr(backend, "gpu_names", lambda name, gpus=gpus: gpus)
        assert backend.device_recipe() == recipe
        assert backend.describe_active().endswith(f"recipe for the tuned configs: {recipe}")
        cases = zip((SMALL_LSTM, SMALL_HAN), (lstm_ids, han_ids), kinds, strict=True)
        for config, ids, kind in cases:
            assert config.recipe == "auto"
            assert backend.resolve_recipe(config).recipe == recipe
            assert type(fast.training_batches(config, ids, labels, lengths)) is kind
            named = dataclasses.replace(config, recipe="padded" if gpus else "bucketed")
            assert backend.resolve_recipe(named) is named


@pytest.mark.parametrize("kind", ["lstm", "han"])
def test_bucketed_training_compiles_at_most_12_programs_on_jax(kind, tmp_path):
    """On JAX, which compiles one training program per input shape, two epochs of the
    GPU layout compile a handful (counted from JAX's own compile log)."""
    if keras.backend.backend() != "jax":
        pytest.skip("counts JAX compilations")
    from helpers.bench_worker import counting_jax_compiles
    from helpers.train import train_model, training_data

    config = dataclasses.replace(
        SMALL_LSTM if kind == "lstm" else SMALL_HAN, recipe="bucketed", batch_size=16
    )
    shape = (config.max_words,) if kind == "lstm" else (4, 6)
    rng = np.random.default_rng(5)
    ids = _right_padded(rng, 300, shape)
    lengths = (ids != 0).reshape(len(ids), shape[0], -1).any(axis=2).sum(axis=1)
    model = compile_model(build_lstm(config) if kind == "lstm" else build_han(config), config)
    data = training_data(config, ids, np.arange(300) % 2, lengths, validation_share=0)

    with counting_jax_compiles() as programs:  # the benchmark's counter: JAX's compile log
        train_model(model, config, data, tmp_path, epochs=2, verbose=0)
    assert 1 < len(programs) <= 12
    assert len(programs) <= len(data.batches.shapes()) + 2  # once per shape
