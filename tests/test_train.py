"""helpers.batches, helpers.fast's batches, and helpers.train: training, saving and
loading classifiers."""

import numpy as np
import pytest

from helpers.batches import Batches, validation_rows
from helpers.configs import ModelError
from helpers.fast import PackedBatches, TrimmedBatches, pack_sentences, trim_padding
from helpers.train import Classifier


def test_batches_cover_every_document_once_per_epoch_in_a_new_order():
    lengths = np.random.default_rng(0).integers(1, 300, size=1000)
    ids = np.zeros((1000, 300), dtype="int32")
    for order in ("shuffle", "by_length"):
        batches = Batches(ids, np.arange(1000), 64, order, lengths, seed=1)
        first = [b.copy() for b in batches.batches]
        assert sorted(np.concatenate(first)) == list(range(1000))
        batches.on_epoch_end()
        assert sorted(np.concatenate(batches.batches)) == list(range(1000))
        assert [list(b) for b in first] != [list(b) for b in batches.batches]


def _logged(base):
    """``base`` (a Batches class) recording every batch read, with the number of its plan."""

    class Logged(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.plan, self.reads = 0, []

        def __getitem__(self, index):
            self.reads.append((self.plan, index, tuple(self.batches[index])))
            return super().__getitem__(index)

        def on_epoch_end(self):
            super().on_epoch_end()
            self.plan += 1

    return Logged


def test_trimmed_batches_train_on_the_same_batches_epoch_by_epoch():
    """Keras reads a batch before the first epoch and then ends that epoch; the trimmed
    batches' ``fit_input`` (a tf.data view on TensorFlow) must train on the same plans."""
    import keras

    rng = np.random.default_rng(5)
    ids = np.zeros((60, 12), dtype="int32")
    for row in range(60):
        ids[row, : rng.integers(1, 13)] = rng.integers(1, 40)
    trained = []
    for kind in (Batches, TrimmedBatches):
        batches = _logged(kind)(ids, np.arange(60) % 2, 10, "by_length", (ids != 0).sum(1),
                                seed=3)  # fmt: skip
        model = keras.Sequential(
            [keras.layers.Embedding(40, 4), keras.layers.GlobalAveragePooling1D(),
             keras.layers.Dense(2, activation="softmax")]
        )  # fmt: skip
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.fit(batches.fit_input(), epochs=3, shuffle=False, verbose=0)
        plans = {plan for plan, _, _ in batches.reads}
        full = [
            p for p in sorted(plans) if {i for q, i, _ in batches.reads if q == p} == set(range(6))
        ]
        trained.append([(p, i, rows) for p, i, rows in sorted(set(batches.reads)) if p in full])
        assert len(full) == 3
    assert trained[0] == trained[1]


def test_batches_by_length_group_similar_lengths():
    lengths = np.random.default_rng(0).integers(1, 300, size=1000)
    batches = Batches(np.zeros((1000, 3)), np.zeros(1000), 50, "by_length", lengths, seed=2)
    spreads = [np.ptp(lengths[rows]) for rows in batches.batches]
    assert max(spreads) < 40  # shuffled batches would spread over nearly the whole range


def test_trimmed_batches_hold_the_same_documents_with_only_padding_removed():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 60, size=200)
    ids = np.zeros((200, 64), dtype="int32")
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(2, 500, size=n)
    batches = TrimmedBatches(ids, np.arange(200), 16, "by_length", lengths, step=(1, 8))
    for index in range(len(batches)):
        trimmed, labels = batches[index]
        full = ids[labels]
        assert trimmed.shape[1] % 8 == 0 or trimmed.shape[1] == 64
        assert (trimmed == full[:, : trimmed.shape[1]]).all()
        assert not full[:, trimmed.shape[1] :].any()


def test_trim_padding_hierarchical():
    ids = np.zeros((2, 15, 50), dtype="int32")
    ids[0, :3, :7] = 5
    ids[1, :5, :2] = 9
    trimmed = trim_padding(ids, step=(2, 8))
    assert trimmed.shape == (2, 6, 8)
    assert trimmed.sum() == ids.sum()


def test_validation_rows_are_stratified_and_disjoint():
    labels = np.array([0] * 90 + [1] * 30)
    fit, held = validation_rows(labels, share=0.1, seed=0)
    assert len(set(fit) & set(held)) == 0 and len(fit) + len(held) == 120
    assert (labels[held] == 0).sum() == 9 and (labels[held] == 1).sum() == 3


@pytest.mark.shared_data
@pytest.mark.parametrize("model", ["lstm", "han"])
def test_predictions_do_not_depend_on_padding(tiny_models, small_split, model):
    from helpers.data import read_split

    classifier = tiny_models[model]
    _, test, _ = read_split(small_split)
    ids = classifier.encode(test["text"][:64])
    full = classifier.predict(ids=ids)
    trimmed = classifier.predict(ids=trim_padding(ids, step=(1, 1)))
    assert np.isfinite(full).all()
    np.testing.assert_allclose(full, trimmed, atol=1e-5)


@pytest.mark.shared_data
@pytest.mark.parametrize("model", ["lstm", "han"])
def test_saved_classifier_reloads_with_identical_predictions(tiny_models, small_split, model):
    from helpers.data import read_split

    _, test, _ = read_split(small_split)
    texts = test["text"][:50]
    classifier = tiny_models[model]
    original = classifier.predict(texts)
    saved = classifier.save(small_split.parent / f"saved-{model}")
    reloaded = Classifier.load(saved)
    np.testing.assert_allclose(reloaded.predict(texts), original, atol=1e-6)
    assert reloaded.encoder.to_dict() == classifier.encoder.to_dict()


@pytest.mark.shared_data
def test_model_directory_problems_are_clear(tiny_models, tmp_path):
    with pytest.raises(ModelError, match="no such model directory"):
        Classifier.load(tmp_path / "nothing")
    saved = tiny_models["lstm"].save(tmp_path / "lstm")
    (saved / "text_encoder.json").unlink()
    with pytest.raises(ModelError, match="text_encoder.json is missing"):
        Classifier.load(saved)
    saved = tiny_models["lstm"].save(tmp_path / "lstm2")
    (saved / "model.keras").write_bytes(b"not a zip file at all")
    with pytest.raises(ModelError, match="damaged"):
        Classifier.load(saved)


@pytest.mark.shared_data
def test_text_without_words_is_refused(tiny_models):
    for text in ("", "   ", "?!"):
        with pytest.raises(ModelError, match="nothing to classify"):
            tiny_models["lstm"].predict([text])
    unknown = tiny_models["lstm"].predict(["Qwzx blorft snerg."])
    assert np.isfinite(unknown).all()


@pytest.mark.shared_data
def test_word2vec_reads_unlabelled_texts_but_never_the_test_split(small_split, tmp_path):
    from helpers.data import read_split, read_unlabelled
    from helpers.train import fit_classifier
    from tests.conftest import tiny_config

    train, _, _ = read_split(small_split)
    coverage = {}
    for name, extra in (("train only", ()), ("with unlabelled", read_unlabelled(small_split))):
        classifier, _ = fit_classifier(
            tiny_config("lstm", epochs=1),
            train["text"],
            train["label"],
            tmp_path / name,
            unlabelled_texts=extra,
            verbose=0,
        )
        coverage[name] = classifier.extra["word2vec"]["words_with_vectors"]
    assert coverage["with unlabelled"] > coverage["train only"] * 1.2


@pytest.mark.slow
def test_exact_word2vec_trains_the_same_model_from_a_cold_cache(small_split, tmp_path):
    """Same seed, same model, word2vec included: two runs that each train their own
    vectors (separate caches) end with bit-identical weights."""
    from helpers.data import read_split, read_unlabelled
    from helpers.train import fit_classifier
    from tests.conftest import tiny_config

    train, _, _ = read_split(small_split)
    weights = []
    for run in ("first", "second"):
        classifier, _ = fit_classifier(
            tiny_config("lstm", epochs=1), train["text"], train["label"],
            tmp_path / run / "model", unlabelled_texts=read_unlabelled(small_split),
            verbose=0, exact_word2vec=True,
        )  # fmt: skip
        assert len(list((tmp_path / run / "cache").glob("word2vec-*.bin"))) == 1
        weights.append(classifier.model.get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


def test_sentences_are_packed_longest_first_into_the_first_lane_with_room():
    ids = np.zeros((3, 4, 5), dtype="int32")
    ids[0, 0, :3] = [7, 8, 9]
    ids[0, 1, :2] = [1, 4]
    ids[0, 2, :1] = [3]
    ids[1, 0, :5] = [2, 3, 4, 5, 6]
    packed = pack_sentences(ids)  # the third document has no words, hence no lane
    assert packed.words.tolist() == [[2, 3, 4, 5, 6], [7, 8, 9, 1, 4], [3, 0, 0, 0, 0]]
    # slot = document * 4 + sentence
    assert packed.slots.tolist() == [[4] * 5, [0, 0, 0, 1, 1], [2, -1, -1, -1, -1]]
    assert packed.sentence_lengths.tolist() == [[3, 2, 1, 0], [5, 0, 0, 0], [0, 0, 0, 0]]
    wide = pack_sentences(ids, width=8)  # sentences of two documents share a lane
    assert wide.words.tolist() == [[2, 3, 4, 5, 6, 7, 8, 9], [1, 4, 3, 0, 0, 0, 0, 0]]
    assert wide.slots[0].tolist() == [4] * 5 + [0] * 3
    assert pack_sentences(np.zeros((2, 4, 5), dtype="int32")).words.shape == (1, 5)
    with pytest.raises(ValueError, match="does not fit"):
        pack_sentences(ids, width=4)


def test_packed_batches_hold_the_same_documents_as_padded_batches():
    rng = np.random.default_rng(4)
    ids = np.zeros((300, 15, 50), dtype="int32")
    for doc in range(300):
        for sentence in range(rng.integers(0, 16)):
            length = rng.integers(1, 51)
            ids[doc, sentence, :length] = rng.integers(1, 900, length)
    sentence_counts = (ids != 0).any(axis=2).sum(axis=1)
    batches = PackedBatches(
        ids, np.arange(300), 32, "by_length", sentence_counts, step=(8, 16), seed=1,
        lane_multiple=16,
    )  # fmt: skip
    seen = []
    for index in range(len(batches)):
        inputs, rows = batches[index]
        seen.extend(rows)
        lanes, width = inputs["words"].shape
        slots = inputs["sentence_lengths"].shape[1]
        assert lanes % 16 == 0 and (width % 16 == 0 or width == 50) and slots in (8, 15)
        # First fit decreasing needs at most 11/9 of the fewest lanes possible, plus 1;
        # those are at least the words over the width, and the sentences over half of it.
        lengths = (ids[rows] != 0).sum(axis=2)
        fewest = max(-(-lengths.sum() // width), (lengths > width / 2).sum())
        assert (inputs["slots"] >= 0).any(axis=1).sum() <= 11 / 9 * fewest + 1
        for position, row in enumerate(rows):
            doc = ids[row]
            assert not doc[slots:].any()
            for sentence in range(slots):
                mine = inputs["slots"] == position * slots + sentence
                assert (inputs["words"][mine] == doc[sentence][doc[sentence] != 0]).all()
            assert (inputs["sentence_lengths"][position] == (doc != 0).sum(axis=1)[:slots]).all()
        assert (inputs["words"][inputs["slots"] < 0] == 0).all()
        assert (inputs["slots"] >= 0).sum() == (ids[rows] != 0).sum()
    assert sorted(seen) == list(range(300))
    padded = Batches(ids, np.arange(300), 32, "by_length", sentence_counts, seed=1)
    assert [list(rows) for rows in padded.batches] == [list(rows) for rows in batches.batches]
    words = PackedBatches(ids, np.arange(300), 32, "by_length", seed=1)  # no lengths: words
    word_counts = (ids != 0).sum(axis=(1, 2))
    spreads = [np.ptp(word_counts[rows]) for rows in words.batches]
    assert max(spreads) < np.ptp(word_counts) / 4


def test_a_save_that_fails_midway_keeps_the_previous_model_folder(tmp_path, monkeypatch):
    """Ctrl-C (or a full disk) while model.keras is being written: the folder keeps the
    previous, complete model and config, and no temporary file is left behind."""
    import keras

    from helpers.models import build_lstm, named_config
    from helpers.text import TextEncoder

    config = named_config("lstm", "tuned", num_words=30, embedding_dim=4, units=2, max_words=8)
    encoder = TextEncoder.fit(["good tea", "bad coffee"], num_words=30, max_words=8,
                              padding="post", truncating="post")  # fmt: skip
    first = Classifier(build_lstm(config), encoder, config, {"run": 1})
    first.save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def interrupted(model, path, *args, **kwargs):
        with open(path, "wb") as half:
            half.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted)
    second = Classifier(build_lstm(config), encoder, config, {"run": 2})
    with pytest.raises(KeyboardInterrupt):
        second.save(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    monkeypatch.undo()
    assert Classifier.load(tmp_path).extra == {"run": 1}


@pytest.mark.shared_data
def test_training_that_runs_out_of_memory_starts_again_at_half_the_batch_size(
    small_split, tmp_path, monkeypatch, capsys
):
    from helpers import train
    from helpers.data import read_split
    from tests.conftest import tiny_config

    real_train_model, sizes = train.train_model, []

    def out_of_memory_at_32(model, config, *args, **kwargs):
        sizes.append(config.batch_size)
        if config.batch_size > 16:
            raise RuntimeError("RESOURCE_EXHAUSTED: OOM when allocating tensor")
        return real_train_model(model, config, *args, **kwargs)

    monkeypatch.setattr(train, "train_model", out_of_memory_at_32)
    train_df, _, _ = read_split(small_split)
    classifier, _ = train.fit_classifier(tiny_config("lstm", epochs=1), train_df["text"],
                                         train_df["label"], tmp_path / "m", word2vec=False,
                                         verbose=0)  # fmt: skip
    assert sizes == [32, 16] and classifier.config.batch_size == 16
    assert "out of memory at batch size 32: retrying at 16" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["lstm", "han"])
def test_on_a_gpu_the_tuned_models_train_on_bucketed_batches(small_split, tmp_path, monkeypatch,
                                                             model):  # fmt: skip
    """The device choice, forced on this CPU machine: with a GPU in sight, the tuned
    config trains on bucketed batches of real reviews, in a few shapes, and the model
    folder's config.json records the recipe and why."""
    import json

    from helpers import backend, fast, models, train
    from helpers.data import read_split
    from tests.conftest import tiny_config

    monkeypatch.setattr(backend, "gpu_names", lambda name: ["NVIDIA Test GPU"])
    train_df, test_df, _ = read_split(small_split)
    # The real caps (300 words; 15 sentences of 50): an epoch of 64-review batches.
    prepared = train.prepare(
        models.named_config(model, "tuned"), train_df["text"], tmp_path / "cache", word2vec=False
    )
    assert prepared.config.recipe == "bucketed"
    batches = fast.training_batches(prepared.config, prepared.ids, train_df["label"],
                                    prepared.lengths)  # fmt: skip
    assert isinstance(batches, fast.BucketedBatches) and len(batches.shapes()) <= 12

    classifier, run = train.fit_classifier(
        tiny_config(model), train_df["text"], train_df["label"], tmp_path / model, epochs=2,
        verbose=0,
    )  # fmt: skip
    about = json.loads((tmp_path / model / "config.json").read_text())
    assert about["config"]["recipe"] == "bucketed"
    assert about["extra"]["recipe"] == "auto: bucketed, for GPU (NVIDIA Test GPU)"
    assert len(run.history) == 2 and np.isfinite(run.history["loss"]).all()
    probabilities = Classifier.load(tmp_path / model).predict(test_df["text"])
    assert probabilities.shape == (len(test_df),) and np.isfinite(probabilities).all()
