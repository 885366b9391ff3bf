"""The backend benchmark: the same training run on TensorFlow, JAX and PyTorch, side by side.

A *case* is one (backend × model × masking) combination. Keras fixes its backend when
it is first imported, so every case runs in a fresh child process
(``python -m helpers.bench_worker SPEC``, which says what a case measures) with
``KERAS_BACKEND`` set in its environment. This module is the parent: it chooses the
cases and their configs, and prepares the data once: it encodes the texts (cached) and
writes the arrays to an ``.npz`` file that every case of a model loads, so all backends
see identical inputs and no case pays for tokenising or sentence splitting inside its
timing. Each case builds the model with the seed's settings (the ``"original"``
configs: full-length padded batches, no trimming, plain SGD). ``helpers.bench_report``
reads the results back as tables and a chart.

Masking. "mask off" and "mask on" use these configs (both ``recipe="padded"``, the
seed's Keras masks, as the fast recipe would hide the difference):

- LSTM, mask off: ``named_config("lstm", "original")`` (the seed's: pre-padding, no mask);
- LSTM, mask on: the same with ``mask=True, padding="post"`` (a masked LSTM needs right
  padding for TensorFlow's cuDNN kernel; long reviews then lose their end, not their start);
- HAN, mask on: ``named_config("han", "original")`` (the seed's: masked, post-padding);
- HAN, mask off: the same with ``mask=False`` (attention then also weighs padding).

Recipes. Every case above is the *padded* recipe: full-length batches, as the seed
trained. The *fast* recipe (``recipes="padded,fast"``) keeps the seed's model and
optimizer but stops paying for padding (``recipe="fast"``, see ``helpers.fast``):
length-aware bidirectional layers instead of masks inside the recurrent layers (so
their fast kernels stay usable), batches of documents of similar length
(``batch_order="by_length"``), each padded only to its own longest document; the HAN
trains on packed sentences (``PackedHAN``: a batch's sentences share nearly full lanes
of up to 50 words, instead of 15 × 50 positions per review). That is the layout for a
CPU; ``recipes="padded,bucketed"`` times the one for a GPU (batches cut to a few fixed
lengths, the HAN unpacked), and ``"auto"`` the one for the device each case runs on
(its row says which). ``benchmarks/padding.py`` compares them with the padded recipe.

A case that cannot run (library not installed, out of memory, a crash, a time-out)
becomes a row with ``status="failed"`` and the reason; the other cases still run.
On an out-of-memory error the case is retried with half the batch size (the original
tutorial's advice), and the row says so. Results are written after every case to
``results.csv`` and ``results.json`` in the output folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from helpers.backend import (
    BACKEND_DISTRIBUTIONS,
    LIVE_BACKENDS,
    check_backend_request,
    cpu_name,
    is_installed,
    start_keras_quietly,
    use_backend,
)
from helpers.bench_worker import run_one
from helpers.data import DataError, balanced_sample, binary_labels, load_reviews, read_split
from helpers.parsing import BAR_DELAY

RECIPES = ("padded", "fast", "bucketed", "auto")  # helpers.configs.RECIPES
RESULT_COLUMNS = [
    "case", "backend", "model", "mask", "recipe", "status", "reason", "device",
    "seconds_median", "seconds_min", "seconds_max", "warmup_seconds", "jax_compiles",
    "docs_per_second", "peak_memory_mb", "gpu_peak_memory_mb", "accuracy", "roc_auc",
    "docs", "unique_docs", "test_docs", "batch_size", "epochs", "warmup", "repeats",
    "padding", "jit_compile", "epoch_seconds", "wall_seconds",
    "keras", "backend_version", "note",
]  # fmt: skip


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One benchmark run: a backend, a model ("lstm" or "han"), masking on or off, and
    the recipe ("padded" as the seed trained, or "fast", "bucketed", "auto": see the
    module docstring)."""

    backend: str
    model: str
    mask: bool
    recipe: str = "padded"

    @property
    def name(self) -> str:
        """e.g. "lstm-jax-mask" or "han-torch-mask-fast" (also the case's folder name)."""
        recipe = "" if self.recipe == "padded" else f"-{self.recipe}"
        return f"{self.model}-{self.backend}-{'mask' if self.mask else 'nomask'}{recipe}"

    @property
    def label(self) -> str:
        """e.g. "LSTM · jax · mask on" or "HAN · torch · fast"."""
        if self.recipe != "padded":
            return f"{self.model.upper()} · {self.backend} · {self.recipe}"
        return f"{self.model.upper()} · {self.backend} · mask {'on' if self.mask else 'off'}"


def parse_masks(masks) -> list[bool]:
    """``"off,on"`` (or a list of "on"/"off"/bools) as ``[False, True]``."""
    if isinstance(masks, str):
        masks = [part.strip() for part in masks.split(",") if part.strip()]
    choices = {"off": False, "on": True, False: False, True: True}
    unknown = [mask for mask in masks if mask not in choices]
    if unknown:
        raise DataError(f"masks {unknown}: use 'on' and/or 'off'")
    return [choices[mask] for mask in masks]


def _names(value) -> list[str]:
    if isinstance(value, str):
        return [part.strip().lower() for part in value.split(",") if part.strip()]
    return [str(part).lower() for part in value]


def cases_for(backends=LIVE_BACKENDS, models=None, masks="off,on", recipes="padded") -> list[Case]:
    """Every (model × mask × backend) case, grouped by model, then masking; for each
    other recipe in ``recipes`` ("fast", "bucketed", or "auto": the one for the device
    each case runs on) also one case (always masked) per model and backend.

    ``backends``, ``models`` and ``recipes`` are lists or comma-separated strings. Asking
    for CNTK, Theano or an unknown backend raises ``BackendError`` before anything runs.
    """
    recipes = _names(recipes)
    if set(recipes) - set(RECIPES):
        raise DataError(f"recipes {recipes}: choose from {', '.join(RECIPES)}")
    backends = [check_backend_request(name) for name in _names(backends)]
    parent_backend(backends)
    from helpers.models import MODELS

    models = _names(models) if models else list(MODELS)  # default: every registered model
    unknown = set(models) - set(MODELS)
    if unknown:
        raise DataError(f"models {sorted(unknown)}: choose from {', '.join(MODELS)}")
    padded = [(mask, "padded") for mask in parse_masks(masks)] if "padded" in recipes else []
    fast = [(True, recipe) for recipe in recipes if recipe != "padded"]
    return [
        Case(backend, model, mask, recipe)
        for model in models
        for mask, recipe in padded + fast
        for backend in backends
    ]


def case_config(case: Case, changes: dict | None = None, batch_size: int | None = None):
    """The seed's config for ``case.model`` with ``case.mask`` (see the module docstring).

    ``changes`` are config fields to override for every case (e.g. smaller sizes for a
    smoke run); fields the model does not have are ignored, so one dict serves both.
    """
    from helpers.models import MODELS, named_config

    base = MODELS[case.model].configs["original"]
    fields = {field.name for field in dataclasses.fields(base)}
    masking = {"mask": case.mask}
    if case.mask and not base.mask:  # the LSTM: masks need right padding for cuDNN
        masking |= {"padding": "post"}
    if case.recipe != "padded":
        masking |= {"padding": "post", "recipe": case.recipe, "batch_order": "by_length"}
    sizes = {key: value for key, value in (changes or {}).items() if key in fields}
    if batch_size:
        sizes["batch_size"] = batch_size
    return named_config(case.model, "original", **(sizes | masking))


# --------------------------------------------------------------------------- data


@dataclass
class BenchData:
    """Training and test reviews (columns text, label) and how they were chosen."""

    train: pd.DataFrame
    test: pd.DataFrame
    recipe: dict


def training_documents(pool: pd.DataFrame, docs: int | None, seed: int = 42) -> pd.DataFrame:
    """``docs`` training reviews, half per class, drawn from ``pool`` in a seeded order.

    A class with fewer reviews than ``docs / 2`` is repeated (cycled) to fill its half:
    an epoch still holds ``docs`` real, Fine-Foods-sized documents, which is what the
    timing needs. ``docs=None`` keeps ``pool`` as it is.
    """
    if docs is None:
        return pool.reset_index(drop=True)
    if docs < 2 or docs % 2:
        raise DataError(f"docs must be a positive even number (half per class), got {docs}")
    rng = np.random.default_rng(seed)
    parts = []
    for label in (0, 1):
        rows = np.flatnonzero(pool["label"].to_numpy() == label)
        if not len(rows):
            raise DataError(f"no training reviews with label {label} to draw from")
        parts.append(np.resize(rng.permutation(rows), docs // 2))
    order = rng.permutation(np.concatenate(parts))
    return pool.iloc[order][["text", "label"]].reset_index(drop=True)


def data_from_source(
    source: str = "finefoods",
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    labels: str = "12v45",
    docs: int = 10_000,
    test_docs: int = 1_000,
    seed: int = 42,
) -> BenchData:
    """The benchmark's own recipe, straight from a raw review file.

    Labels ``labels`` (1–2 vs 4–5 stars by default, 3 stars dropped); ``test_docs``
    balanced reviews are held out with the seeded ``balanced_sample``; the training
    documents are ``docs`` of the remaining reviews, half per class (the smaller class
    repeated when it has fewer; see ``training_documents``). With the 9,659-review
    Fine Foods sample: 8,866 labelled (1,481 negative), 1,000 test, and for
    ``docs=10_000`` 5,000 distinct positives and 981 negatives, each about 5 times.
    """
    reviews, _ = load_reviews(source, path=path, data_dir=data_dir)
    labelled = binary_labels(reviews, labels)
    _, test = balanced_sample(labelled, "all", test_docs, seed)
    pool = labelled[~labelled["id"].isin(test["id"])]
    train = training_documents(pool, docs, seed)
    recipe = {
        "source": source, "path": str(path or data_dir or ""), "labels": labels,
        "seed": seed, "pool": int(len(pool)),
    }  # fmt: skip
    return BenchData(train, test[["text", "label"]].reset_index(drop=True), recipe)


def data_from_split(
    split_dir: str | Path, docs: int | None = None, seed: int = 42, test_docs: int | None = None
) -> BenchData:
    """A split written by notebook 01 (or ``python -m helpers data``): its training part
    (``docs`` of it, cycled if bigger, or all when None) and its test part (the first
    ``test_docs / 2`` reviews of each class, or all when None)."""
    train, test, manifest = read_split(split_dir)
    if test_docs:
        test = test.groupby("label", group_keys=False).head(max(1, test_docs // 2))
    recipe = {"split": str(split_dir), "source": manifest["source"],
              "labels": manifest["labels"], "seed": seed, "pool": int(len(train))}  # fmt: skip
    test = test[["text", "label"]].reset_index(drop=True)
    return BenchData(training_documents(train, docs, seed), test, recipe)


def prepare_arrays(config, data: BenchData, out_dir: str | Path) -> Path:
    """Encode ``data`` as ``config`` reads it, once; returns the ``.npz`` every case loads.

    The vocabulary is fitted on the distinct training texts. Arrays: ``train_ids``,
    ``train_labels``, ``train_lengths`` (words or sentences, for batch ordering),
    ``test_ids``, ``test_labels``, plus ``num_words`` (embedding rows needed).
    Tokenising and sentence splitting are cached in ``out_dir/cache``.
    """
    import hashlib

    from helpers.batches import document_lengths
    from helpers.models import model_kind
    from helpers.text import encode_cached
    from helpers.train import text_encoder_for

    model = model_kind(config).name
    kind = model_kind(config).text_layout
    texts = data.train["text"].tolist()
    encoder = text_encoder_for(config, list(dict.fromkeys(texts)))
    key = hashlib.sha256(json.dumps(encoder.to_dict(), sort_keys=True).encode())
    key.update(
        json.dumps([texts, data.train["label"].tolist(), data.test["text"].tolist()]).encode()
    )
    path = Path(out_dir) / "arrays" / f"{model}-{key.hexdigest()[:16]}.npz"
    if path.is_file():
        return path
    cache = Path(out_dir) / "cache"
    train_ids, stats = encode_cached(encoder, texts, kind, cache, progress=True)
    test_ids, _ = encode_cached(encoder, data.test["text"], kind, cache, progress=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        train_ids=train_ids,
        train_labels=data.train["label"].to_numpy("int64"),
        train_lengths=document_lengths(stats, kind),
        test_ids=test_ids,
        test_labels=data.test["label"].to_numpy("int64"),
        num_words=encoder.num_words,
    )
    return path


# --------------------------------------------------------------------------- all cases


def write_results(rows: list[dict], settings: dict, out_dir: Path) -> pd.DataFrame:
    """``results.json`` (settings + rows) and ``results.csv`` (rows), replaced atomically."""
    frame = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)
    for name, text in (
        ("results.json", json.dumps({"settings": settings, "cases": rows}, indent=2, default=str)),
        ("results.csv", frame.to_csv(index=False)),
    ):
        partial = out_dir / f"{name}.partial"
        partial.write_text(text + ("\n" if name.endswith("json") else ""))
        os.replace(partial, out_dir / name)
    return frame


def parent_backend(backends: list[str]) -> str | None:
    """Pick the Keras backend of this (parent) process, which imports Keras to encode the data.

    Keras' default is TensorFlow. On a machine without it (a JAX- or PyTorch-only GPU
    box), an unset ``KERAS_BACKEND`` would make that import fail, so the first installed
    backend among ``backends`` is used instead. Returns the backend chosen here, or None
    when ``KERAS_BACKEND`` is set, TensorFlow is installed, or Keras is already imported.
    Keras then starts with TensorFlow's start-up lines held back (``start_keras_quietly``;
    a notebook has done so already).
    """
    if "keras" in sys.modules:
        return None
    chosen = None
    if "KERAS_BACKEND" not in os.environ and not is_installed("tensorflow"):
        installed = [backend for backend in backends if is_installed(backend)]
        chosen = use_backend(installed[0]) if installed else None
    start_keras_quietly()
    return chosen


def run_benchmark(
    cases: list[Case],
    data: BenchData,
    out_dir: str | Path,
    repeats: int = 3,
    warmup: int = 1,
    batch_size: int | None = None,
    changes: dict | None = None,
    seed: int = 42,
    timeout: float = 6 * 3600,
    env: dict | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run every case in its own process; returns one row per case (``RESULT_COLUMNS``).

    ``repeats`` timed epochs follow ``warmup`` untimed ones; ``batch_size`` overrides
    the configs' (50); ``changes`` overrides config fields for every case (smoke runs);
    ``timeout`` is seconds per case; ``env`` adds environment variables for the children.
    ``results.csv`` and ``results.json`` in ``out_dir`` are rewritten after every case.
    ``progress`` shows a bar over the cases, with the one running and the time left,
    and prints one line per case as it ends.
    """
    if repeats < 1 or warmup < 0:
        raise DataError(f"need at least one timed epoch (repeats={repeats}, warmup={warmup})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for case in cases:
        check_backend_request(case.backend)
    settings = {
        "repeats": repeats, "warmup": warmup, "batch_size": batch_size, "changes": changes,
        "seed": seed, "data": data.recipe, "docs": len(data.train), "test_docs": len(data.test),
        "host_cpu": cpu_name(), "python": sys.version.split()[0],
    }  # fmt: skip
    parent_backend([case.backend for case in cases])
    configs = [case_config(case, changes, batch_size) for case in cases]  # fail before running
    arrays: dict[str, Path] = {}
    rows: list[dict] = []
    frame = write_results(rows, settings, out)
    bar = tqdm(total=len(cases), desc="benchmark", unit="case", disable=not progress,
               delay=BAR_DELAY)  # fmt: skip
    for case, config in zip(cases, configs, strict=True):
        bar.set_postfix_str(case.label)
        row = {
            "case": case.name, "backend": case.backend, "model": case.model, "mask": case.mask,
            "recipe": case.recipe,
            "docs": len(data.train), "unique_docs": int(data.train["text"].nunique()),
            "test_docs": len(data.test), "epochs": warmup + repeats, "warmup": warmup,
            "repeats": repeats, "padding": config.padding,
        }  # fmt: skip
        if not is_installed(case.backend):
            install = " ".join(BACKEND_DISTRIBUTIONS[case.backend])
            result = {"status": "failed", "reason": f"not installed (pip install {install})"}
        else:
            encoding = json.dumps([case.model, config.padding])
            if encoding not in arrays:
                arrays[encoding] = prepare_arrays(config, data, out)
            spec = {
                "backend": case.backend, "model": case.model, "config": config.to_dict(),
                "arrays": str(arrays[encoding]), "warmup": warmup, "repeats": repeats,
                "seed": seed, "folder": str(out / "cases" / case.name),
            }  # fmt: skip
            result = run_one(spec, out / "cases" / case.name, env, timeout)
        rows.append(row | result)
        frame = write_results(rows, settings, out)
        if progress:
            bar.write(f"{case.label}: {_one_line(rows[-1])}")
        bar.update()
    bar.close()
    return frame


def _one_line(row: dict) -> str:
    if row["status"] != "ok":
        return f"failed: {row['reason']}"
    compiles = row.get("jax_compiles")
    compiles = f", {compiles} program{'s' * (compiles != 1)} compiled" if compiles else ""
    return (
        f"{row['seconds_median']:.3g} s per epoch ({row['seconds_min']:.3g}–"
        f"{row['seconds_max']:.3g}), warm-up {row['warmup_seconds']:.3g} s{compiles}, "
        f"{row['docs_per_second']:.0f} docs/s, accuracy {row['accuracy']:.3f}, "
        f"AUC {row['roc_auc']:.3f}, recipe {row['recipe']}"
    )
