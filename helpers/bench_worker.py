"""One case of the backend benchmark, trained and measured in its own process.

The parent (``helpers.bench.run_benchmark``) calls ``run_one``, which writes a spec file
and starts ``python -m helpers.bench_worker SPEC.json`` with ``KERAS_BACKEND`` set to
the case's backend, the child's output going to the case's ``log.txt``. The case builds
its model from the spec's config, loads the encoded arrays the parent wrote, trains
``warmup + repeats`` epochs with no validation and no checkpoints, and writes its
measurements to ``spec["result"]`` (one flat dict, the columns
``helpers.bench.RESULT_COLUMNS``):

- seconds per epoch over the ``repeats`` timed epochs (median, min, max); the first
  ``warmup`` epochs are excluded because they include graph tracing (TensorFlow) or
  XLA compilation (JAX), reported separately as ``warmup_seconds``;
- on JAX, ``jax_compiles``: how many training programs XLA compiled (one per batch
  shape), counted from JAX's own compile log;
- documents per second (training documents / median epoch seconds);
- peak memory: the process's maximum resident set (``ru_maxrss``, which includes the
  libraries) and, on a GPU, the backend's peak device memory;
- accuracy and ROC AUC on the held-out test reviews after the same number of epochs;
- the device, the recipe that ran ("auto" resolved for it) and the library versions.

A case that fails is a result too: ``status="failed"`` and the reason (an exception's
first line, a time-out, a signal, or the last line of the log when the child died
without a word), and whether it ran out of memory, in which case ``run_one`` runs it
again at half the batch size.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from helpers.backend import library_versions, peak_memory_mb, start_keras_quietly, use_backend
from helpers.compat import SMALLEST_BATCH, says_out_of_memory

# --------------------------------------------------------------------------- in the child


@contextlib.contextmanager
def counting_jax_compiles():
    """Count the training programs JAX compiles inside the block: yields a list that,
    once the block ends, holds one log message per program (empty on other backends).

    JAX compiles one program per new input shape; with ``jax_log_compiles`` it logs
    "Compiling <name> …" each time, and the training step's name holds "train_step".
    """
    import keras

    compiled: list[str] = []
    if keras.backend.backend() != "jax":
        yield compiled
        return
    import jax

    handler = logging.Handler()
    handler.emit = lambda record: compiled.append(record.getMessage())
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    jax.config.update("jax_log_compiles", True)
    try:
        yield compiled
    finally:
        jax.config.update("jax_log_compiles", False)
        logger.removeHandler(handler)
        compiled[:] = [m for m in compiled if m.startswith("Compiling") and "train_step" in m]


def run_case(spec: dict) -> dict:
    """Train one case in this process and measure it; ``spec`` is written by the parent.

    Must run in a process whose ``KERAS_BACKEND`` is ``spec["backend"]`` (the parent
    sets it). Returns the measurements as one flat dict (see the module docstring).
    """
    use_backend(spec["backend"])
    start_keras_quietly()  # the case's log keeps TensorFlow's start-up lines out
    import keras

    from helpers.backend import active_device, gpu_peak_memory_mb, resolve_recipe
    from helpers.evaluate import classification_metrics
    from helpers.models import compile_model, model_kind
    from helpers.train import train_model, training_data

    kind = model_kind(spec["model"])
    arrays = np.load(spec["arrays"])
    config = kind.config_type.from_dict(spec["config"] | {"num_words": int(arrays["num_words"])})
    config = resolve_recipe(config)  # "auto": the recipe for this device
    keras.utils.set_random_seed(spec["seed"])
    model = compile_model(kind.build(config), config)
    data = training_data(
        config, arrays["train_ids"], arrays["train_labels"], arrays["train_lengths"],
        seed=spec["seed"], validation_share=0,
    )  # fmt: skip
    warmup, repeats = spec["warmup"], spec["repeats"]
    with counting_jax_compiles() as compiled:
        run = train_model(
            model, config, data, spec["folder"], epochs=warmup + repeats, seed=spec["seed"],
            verbose=0,
        )  # fmt: skip
    seconds = run.history["seconds"].to_numpy()
    timed = seconds[warmup:]
    probabilities = model.predict(arrays["test_ids"], batch_size=256, verbose=0)[:, 1]
    note = ""
    try:
        metrics = classification_metrics(arrays["test_labels"], probabilities)
    except ValueError as error:  # NaN predictions: the timing still counts
        metrics, note = {"accuracy": math.nan, "roc_auc": math.nan}, str(error)
    versions = library_versions(spec["backend"])
    median = float(np.median(timed))
    return {
        "status": "ok",
        "recipe": config.recipe,
        "device": active_device(),
        "seconds_median": round(median, 3),
        "seconds_min": round(float(timed.min()), 3),
        "seconds_max": round(float(timed.max()), 3),
        "warmup_seconds": round(float(sum(seconds[:warmup])), 3),
        "jax_compiles": len(compiled) if spec["backend"] == "jax" else None,
        "docs_per_second": round(len(arrays["train_labels"]) / median, 1),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "gpu_peak_memory_mb": gpu_peak_memory_mb(),
        "accuracy": metrics["accuracy"],
        "roc_auc": metrics["roc_auc"],
        "batch_size": config.batch_size,
        "jit_compile": str(model.jit_compile),
        "epoch_seconds": [round(float(s), 3) for s in seconds],
        "keras": versions["keras"],
        "backend_version": " ".join(v for k, v in versions.items() if k != "keras"),
        "note": note,
    }


def worker_main(argv: list[str]) -> int:
    """Child entry point: ``python -m helpers.bench_worker SPEC.json`` writes
    ``spec["result"]``."""
    spec = json.loads(Path(argv[0]).read_text())
    try:
        result = run_case(spec)
    except ImportError as error:
        result = {"status": "failed", "reason": f"not installed: {error}"}
    except Exception as error:  # a failed case is a result: the parent moves on
        text = f"{type(error).__name__}: {error}"
        first = text.splitlines()[0][:300]
        oom = says_out_of_memory(text)
        result = {"status": "failed", "reason": f"out of memory ({first})" if oom else first,
                  "oom": oom}  # fmt: skip
    Path(spec["result"]).write_text(json.dumps(result, default=float) + "\n")
    return 0 if result["status"] == "ok" else 1


# --------------------------------------------------------------------------- the parent's side


def _spawn(spec: dict, folder: Path, env: dict | None, timeout: float) -> dict:
    """Run one case in a child process; a dict with at least ``status`` and ``reason``."""
    folder.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = folder / "spec.json", folder / "result.json"
    result_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps(spec | {"result": str(result_path)}, indent=2) + "\n")
    child_env = {**os.environ, **(env or {}), "KERAS_BACKEND": spec["backend"]}
    started = time.perf_counter()
    with open(folder / "log.txt", "w") as log:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "helpers.bench_worker", str(spec_path)],
                env=child_env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
            )  # fmt: skip
            returncode = done.returncode
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"timed out after {timeout:g} s"}
    wall = round(time.perf_counter() - started, 1)
    if result_path.is_file():
        return json.loads(result_path.read_text()) | {"wall_seconds": wall}
    lines = (folder / "log.txt").read_text(errors="replace").strip().splitlines()
    last = lines[-1][:300] if lines else "no output"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        oom = -returncode == signal.SIGKILL
        reason = f"killed by {name}" + (" (out of memory?)" if oom else "")
        return {"status": "failed", "reason": reason, "oom": oom, "wall_seconds": wall}
    return {
        "status": "failed",
        "reason": last,
        "oom": says_out_of_memory(last),
        "wall_seconds": wall,
    }


def run_one(spec: dict, folder: Path, env=None, timeout: float = 6 * 3600) -> dict:
    """``_spawn`` with the out-of-memory advice applied: retry at half the batch size."""
    notes = []
    while True:
        result = _spawn(spec, folder, env, timeout)
        batch = spec["config"]["batch_size"]
        if not result.get("oom") or batch // 2 < SMALLEST_BATCH:
            break
        notes.append(f"out of memory at batch size {batch}, retried with {batch // 2}")
        spec = spec | {"config": spec["config"] | {"batch_size": batch // 2}}
    result.pop("oom", None)
    if notes:
        result["note"] = "; ".join([*notes, result.get("note", "")]).strip("; ")
    result.setdefault("batch_size", spec["config"]["batch_size"])
    return result


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
