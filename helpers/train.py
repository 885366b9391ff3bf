"""Training: from texts and a named config to a trained, saved classifier.

The pieces, used alike by the notebooks, the command line and the benchmarks:

- ``prepare``: the vocabulary fitted on the training texts, the encoded ids (cached),
  and word2vec's vectors for the embedding.
- ``training_data``: the batches to fit on and to validate on, as the config's recipe
  lays them out (``helpers.fast`` for the fast recipe).
- ``train_model``: ``fit`` with the callbacks users expect (history CSV, best-model
  checkpoint, early stopping, seconds per epoch). Notebook 03 writes and explains it.
- ``Classifier``: model + text encoder + config, saved together so that new raw text
  goes through exactly the training preprocessing; ``Classifier.load`` reverses it.
- ``fit_classifier``: all of the above in one call.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from tqdm.keras import TqdmCallback

from helpers import distribute, fast, packed
from helpers.backend import active_device, resolve_recipe
from helpers.batches import document_lengths, validation_rows
from helpers.compat import halve_on_oom, upgrade_config_dict
from helpers.configs import ModelError
from helpers.embeddings import cached_word2vec, embedding_matrix
from helpers.files import atomic_write, atomic_write_text
from helpers.models import compile_model, model_kind
from helpers.text import TextEncoder, encode_cached, unusable_reason

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
WORD2VEC_EPOCHS = 10  # passes over the text; 5 (gensim's default) leaves small corpora undertrained


def text_encoder_for(config, train_texts) -> TextEncoder:
    """Fit the vocabulary on ``train_texts`` with the sizes and padding ``config`` needs.

    Truncation follows padding: the seed's LSTM used Keras' ``pad_sequences``
    defaults (pre-padding *and* cutting long reviews from the front); post-padded
    inputs keep the start of a review and cut its end.
    """
    return TextEncoder.fit(
        train_texts,
        num_words=config.num_words,
        padding=config.padding,
        truncating=config.padding,
        **config.text_sizes(),
    )


@dataclass
class Prepared:
    """Everything a config needs before it can be built and trained."""

    config: object  # the config, with num_words set to what the vocabulary needs
    encoder: TextEncoder
    ids: np.ndarray  # (documents, words) or (documents, sentences, words)
    lengths: np.ndarray  # (documents,) words or sentences, for batches by length
    embedding_matrix: np.ndarray | None  # (num_words, embedding_dim), from word2vec
    notes: dict  # encoding statistics and word2vec coverage, saved with the model


def prepare(
    config, train_texts, cache_dir, word2vec=True, unlabelled_texts=(), seed=42,
    exact_word2vec=False,
):  # fmt: skip
    """Fit the vocabulary, encode ``train_texts`` and (optionally) learn word2vec vectors.

    ``recipe="auto"`` becomes the device's recipe here ("fast" on a CPU, "bucketed" on a
    GPU: ``helpers.backend.resolve_recipe``), so the returned config says how it trains.

    word2vec learns from the training texts plus ``unlabelled_texts`` (reviews in
    neither split; never test texts). Encoded arrays and word vectors are cached in
    ``cache_dir``, so that re-runs and the other model skip tokenising, sentence
    splitting and word2vec. word2vec trains on every core; its threads interleave their
    updates differently on every run, so vectors trained afresh differ slightly, unless
    ``exact_word2vec`` (one thread: bit-identical vectors, at one core's speed).
    """
    texts = list(train_texts)
    layout = model_kind(config).text_layout
    encoder = text_encoder_for(config, texts)
    ids, stats = encode_cached(encoder, texts, layout, cache_dir, progress=True)
    config = type(config).from_dict(config.to_dict() | {"num_words": encoder.num_words})
    notes: dict = {"encoding": str(stats).splitlines()[0]}
    if config.recipe == "auto":  # the layout for this device, recorded in config.json
        config = resolve_recipe(config)
        notes["recipe"] = f"auto: {config.recipe}, for {active_device()}"
    matrix = None
    if word2vec:
        vectors = cached_word2vec(
            [*texts, *unlabelled_texts],
            cache_dir,
            vector_size=config.embedding_dim,
            min_count=3,
            epochs=WORD2VEC_EPOCHS,
            seed=seed,
            exact=exact_word2vec,
        )
        matrix, coverage = embedding_matrix(vectors, encoder.vocabulary, seed=seed)
        notes["word2vec"] = dataclasses.asdict(coverage)
    return Prepared(config, encoder, ids, document_lengths(stats, layout), matrix, notes)


@dataclass
class TrainingData:
    """What ``fit`` reads: training batches and validation batches (or None)."""

    fit: object  # a keras.utils.PyDataset, or on TensorFlow a tf.data view of one
    validation: object | None
    packed: bool  # HAN sentences packed into lanes: fitted through packed.PackedHAN
    batches: object  # the training batches behind ``fit`` (a helpers.batches.Batches)


def training_data(config, ids, labels, lengths, seed: int = 0, validation_share: float = 0.1):
    """Batches as ``config``'s recipe lays them out, with a stratified ``validation_share``
    of the documents held out for validation (none when 0). ``ids``: an array, or the
    shards of a corpus on disk (``helpers.shards.ShardedIds``: rows are read per batch).
    Spread over devices (``helpers.distribute``), every batch splits evenly and each
    process gets its share."""
    labels = np.asarray(labels)
    fit_rows, validation = np.arange(len(labels)), None
    if validation_share:
        fit_rows, held = validation_rows(labels, validation_share, seed)
        held = distribute.whole_batches(held, config.batch_size, seed + 1)
        validation = distribute.this_process(fast.training_batches(
            config, ids.take(held, axis=0), labels[held], lengths[held], seed=seed + 1,
            reshuffle=False,
        )).fit_input()  # fmt: skip
    fit_rows = distribute.whole_batches(fit_rows, config.batch_size, seed)
    batches = fast.training_batches(
        config, ids.take(fit_rows, axis=0), labels[fit_rows], lengths[fit_rows], seed=seed
    )
    packed = isinstance(batches, fast.PackedBatches)
    return TrainingData(distribute.this_process(batches).fit_input(), validation, packed, batches)


class SaveBest(keras.callbacks.Callback):
    """Saves ``target`` (the model to keep, whichever model ``fit`` runs) to ``path``
    after each epoch that lowers ``val_loss``."""

    def __init__(self, target: keras.Model, path: str | Path):
        super().__init__()
        self.target, self.path, self.best = target, str(path), math.inf

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("val_loss", math.inf)
        if loss < self.best:
            self.best = loss
            atomic_write(self.path, self.target.save)  # a crash keeps the last good one


class EpochTimes(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and validation), as ``seconds`` in the logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self._started


class Resume(keras.callbacks.Callback):
    """Puts a run where ``BackupAndRestore`` left it, at the first epoch ``fit`` runs.

    The training batches follow the epoch numbers from then on (``Batches.start_epoch``),
    so a resumed run trains on the batches an uninterrupted one would, and the random
    generators' states (dropout, ``_random_states``), which the backup leaves out, are
    saved next to it after every epoch. When the run resumes after epoch 0, those states
    come back, ``history.csv`` keeps the rows of the epochs done, and ``SaveBest`` and
    ``EarlyStopping`` get back the best validation loss so far, its weights
    (``best.keras``) and the epochs since.
    """

    def __init__(self, batches, out_dir, save_best: SaveBest, early_stopping):
        super().__init__()
        self.batches, self.out = batches, Path(out_dir)
        self.save_best, self.early_stopping = save_best, early_stopping

    def on_train_begin(self, logs=None):
        self.first = True

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.start_epoch(epoch)
        first, self.first = self.first, False
        history, best_file = self.out / "history.csv", self.out / "best.keras"
        if not first or not epoch or not history.is_file():
            return
        seeds = self.out / "backup" / "random_states.npz"
        if seeds.is_file():
            with np.load(seeds) as saved:
                _set_random_states(self.model, list(saved.values()))
        done = pd.read_csv(history).head(epoch)
        history.write_text(done.to_csv(index=False))  # in place: CSVLogger has it open
        if "val_loss" not in done or not best_file.is_file():
            return
        best = int(done["val_loss"].idxmin())
        self.save_best.best = self.early_stopping.best = float(done["val_loss"][best])
        self.early_stopping.best_epoch, self.early_stopping.wait = best, epoch - 1 - best
        target, current = self.save_best.target, self.save_best.target.get_weights()
        target.set_weights(keras.saving.load_model(best_file, compile=False).get_weights())
        self.early_stopping.best_weights = self.model.get_weights()  # as fit sees them
        target.set_weights(current)

    def on_epoch_end(self, epoch, logs=None):
        states = _random_states(self.model)
        atomic_write(self.out / "backup" / "random_states.npz", lambda p: np.savez(p, *states))


def _seed_variables(model):
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _random_states(model) -> list[np.ndarray]:
    """What dropout draws from: Keras's seed generators, and on PyTorch (whose dropout
    layers without a seed use it) torch's global generator, last."""
    states = [keras.ops.convert_to_numpy(v) for v in _seed_variables(model)]
    if keras.backend.backend() == "torch":
        import torch

        states.append(torch.get_rng_state().numpy())
    return states


def _set_random_states(model, states: list[np.ndarray]) -> None:
    if keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(states.pop()))
    for variable, state in zip(_seed_variables(model), states, strict=True):
        variable.assign(state)


@dataclass
class TrainingRun:
    history: pd.DataFrame  # one row per epoch: loss, accuracy, val_loss, val_accuracy, seconds
    best_epoch: int  # by validation loss (the last epoch without validation)

    @classmethod
    def from_history(cls, history_csv: str | Path) -> TrainingRun:
        """From the ``history.csv`` a run wrote (all its epochs, also when resumed)."""
        frame = pd.read_csv(history_csv).dropna(axis=1, how="all")  # val_* "NA" without validation
        frame["epoch"] = np.arange(1, len(frame) + 1)
        best = frame["val_loss"].idxmin() if "val_loss" in frame else len(frame) - 1
        return cls(history=frame, best_epoch=int(best) + 1)

    @property
    def seconds_per_epoch(self) -> float:
        return float(self.history["seconds"].median())


def train_model(
    model, config, data, out_dir, epochs=None, patience=3, seed=0, resume=False, verbose="auto"
):
    """Fit a compiled ``model`` on ``data`` (see ``training_data``); returns a ``TrainingRun``.

    Writes ``history.csv`` into ``out_dir`` and, with validation data, ``best.keras``
    (the best model by validation loss); then it stops after ``patience`` epochs without
    improvement and restores the best weights. ``resume=True`` continues a run that was
    cut short from its last completed epoch, with the same result as an uninterrupted run.
    ``verbose``: as ``fit``'s, or "bar" for one bar over the epochs with the time left.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        shutil.rmtree(out / "backup", ignore_errors=True)  # start afresh
    save_best = SaveBest(model, out / "best.keras")  # the best model so far, by validation loss
    early_stopping = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    callbacks = [
        EpochTimes(),  # seconds per epoch (before the saves below), into the history
        keras.callbacks.BackupAndRestore(str(out / "backup")),  # weights, optimizer, epoch
        Resume(data.batches, out, save_best, early_stopping),  # the rest, when resuming
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume),  # row per epoch
    ]
    if data.validation is not None:
        callbacks += [save_best, early_stopping]
    if config.ema_momentum:  # early, so that the averaged weights are validated and kept
        callbacks.insert(2, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    fitted = model
    if data.packed:  # the fast HAN: the same weights, fitted on packed sentences
        fitted = compile_model(packed.PackedHAN(model), config)
    fitted = distribute.for_fit(fitted, lambda wrapper: compile_model(wrapper, config))
    callbacks[:0] = distribute.callbacks()  # first: the others read what it averages
    if verbose == "bar":  # one bar over the epochs: the time left, the last epoch's metrics
        callbacks.append(TqdmCallback(verbose=0, desc=model.name, unit="epoch"))
        verbose = 0
    keras.utils.set_random_seed(seed)  # the same dropout masks on every run
    fitted.fit(
        data.fit,
        validation_data=data.validation,
        epochs=epochs or config.epochs,
        shuffle=False,  # the batches shuffle themselves, between epochs
        callbacks=callbacks,
        verbose=verbose,
    )
    return TrainingRun.from_history(out / "history.csv")


@dataclass
class Classifier:
    """A trained model with the exact preprocessing it was trained with."""

    model: keras.Model
    encoder: TextEncoder
    config: object  # an LSTMConfig or HANConfig (see helpers.models.MODELS)
    extra: dict = field(default_factory=dict)  # e.g. word2vec coverage, training seconds

    @property
    def name(self) -> str:
        """The registry's name of the model: "lstm" or "han"."""
        return model_kind(self.config).name

    @property
    def kind(self) -> str:
        """How the text is laid out for the model: "flat" or "hierarchical"."""
        return model_kind(self.config).text_layout

    def encode(self, texts) -> np.ndarray:
        """Model inputs for raw ``texts``; refuses texts with nothing to classify."""
        texts = list(texts)
        for text in texts:
            reason = unusable_reason(text)
            if reason:
                raise ModelError(f"nothing to classify in {str(text)[:40]!r}: {reason}")
        ids, _ = self.encoder.encode(texts, self.kind)
        return ids

    def predict(self, texts=None, ids=None, batch_size: int = 256) -> np.ndarray:
        """P(positive) for each text (or for already encoded ``ids``): shape (n,)."""
        if ids is None:
            ids = self.encode(texts)
        return self.model.predict(ids, batch_size=batch_size, verbose=0)[:, 1]

    def save(self, directory: str | Path) -> Path:
        """Write ``model.keras``, ``text_encoder.json`` and ``config.json``."""
        directory = Path(directory)
        # Each file is written whole under a temporary name, then renamed: a crash or
        # Ctrl-C leaves the previous files as they were.
        atomic_write(directory / MODEL_FILE, self.model.save)
        self.encoder.save(directory)
        about = {"model": self.name, "config": self.config.to_dict(), "extra": self.extra}
        atomic_write_text(directory / CONFIG_FILE, json.dumps(about, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        """Reverse of ``save``, with a clear error for a missing or damaged part."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ModelError(f"{directory}: no such model directory (train one first)")
        try:
            about = json.loads((directory / CONFIG_FILE).read_text())
            kind = model_kind(about["model"])
            # A folder of an older version: fields renamed, dropped or filled in, with a note.
            values, notes = upgrade_config_dict(about["config"], kind.configs["original"].to_dict())
            config = kind.config_type.from_dict(values)
        except FileNotFoundError:
            raise ModelError(
                f"{directory / CONFIG_FILE} is missing: not a saved model directory"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise ModelError(
                f"{directory / CONFIG_FILE} is not a valid model config ({error})"
            ) from error
        try:
            encoder = TextEncoder.load(directory)
        except (FileNotFoundError, ValueError) as error:
            raise ModelError(str(error)) from error
        model_path = directory / MODEL_FILE
        if not model_path.is_file():
            raise ModelError(f"{model_path} is missing: the model directory is incomplete")
        try:
            model = keras.saving.load_model(model_path)
        except (zipfile.BadZipFile, ValueError, OSError, KeyError) as error:
            raise ModelError(
                f"{model_path} is damaged and cannot be loaded ({type(error).__name__}); "
                f"train the model again or restore the file"
            ) from error
        for note in notes:
            print(f"note: {directory / CONFIG_FILE}: {note}", file=sys.stderr)
        return cls(model=model, encoder=encoder, config=config, extra=about.get("extra", {}))


def fit_classifier(
    config,
    train_texts,
    train_labels,
    out_dir: str | Path,
    word2vec: bool = True,
    unlabelled_texts=(),
    epochs: int | None = None,
    seed: int = 42,
    verbose: int | str = "auto",
    build=None,
    resume: bool = False,
    devices: int | str = 1,
    exact_word2vec: bool = False,
) -> tuple[Classifier, TrainingRun]:
    """Prepare, build, compile, train and save: the ``train`` command.

    ``build(config, embedding_matrix)`` makes the model: by default the registry's
    (``helpers.models.MODELS``); a notebook passes the builder it defines. Caches go to
    ``out_dir/../cache``, shared by the models trained next to this one. When the device
    runs out of memory, training starts again at half the batch size, and says so.
    ``resume=True`` continues a run that was cut short (see ``train_model``).
    ``devices`` ("all" or a count) spreads each batch of ``batch_size`` over that many
    devices (``helpers.distribute``); only the first process writes ``out_dir``.
    ``exact_word2vec``: bit-identical word vectors on every run (see ``prepare``).
    """
    out = Path(out_dir)
    plan = distribute.plan_devices(devices, config.batch_size)  # bad input: before any file
    prepared = prepare(config, train_texts, out.parent / "cache", word2vec, unlabelled_texts, seed,
                       exact_word2vec)  # fmt: skip
    chosen, recipe_note = distribute.recipe_for(prepared.config, plan)
    build = build or model_kind(chosen).build
    run_dir = out if plan.main else out / f"rank-{plan.rank}"  # the other processes' logs

    def fit_at(batch_size: int):
        config = dataclasses.replace(chosen, batch_size=batch_size)
        keras.utils.set_random_seed(seed)
        with distribute.scope(plan):
            model = compile_model(build(config, prepared.embedding_matrix), config)
            data = training_data(config, prepared.ids, train_labels, prepared.lengths, seed)
            run = train_model(model, config, data, run_dir, epochs, seed=seed, resume=resume,
                              verbose=verbose if plan.main else 0)  # fmt: skip
        return model, run, config

    if recipe_note and plan.main:
        print(f"note: {recipe_note}")
    (model, run, config), _ = halve_on_oom(fit_at, chosen.batch_size)
    extra = prepared.notes | {
        "best_epoch": run.best_epoch,
        "seconds_per_epoch": round(run.seconds_per_epoch, 2),
    }
    if plan.devices > 1:
        extra["devices"] = plan.describe()
    if recipe_note:
        extra["recipe"] = "; ".join(filter(None, [extra.get("recipe"), recipe_note]))
    classifier = Classifier(model=model, encoder=prepared.encoder, config=config, extra=extra)
    if plan.main:
        classifier.save(out)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return classifier, run
