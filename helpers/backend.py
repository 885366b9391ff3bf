"""Which Keras backend runs, and a clear refusal of the ones that cannot.

``KERAS_BACKEND`` is read once, when Keras is first imported, so everything here
must run before ``import keras``.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings

LIVE_BACKENDS = ("tensorflow", "jax", "torch")

RETIRED_BACKENDS = {
    "cntk": (
        "CNTK's last release was 2.7 (2019), with wheels for Python 3.7 at the newest, "
        "and Keras 3 has no CNTK backend."
    ),
    "theano": (
        "Theano's last release was 1.0.5 (2020): on Python 3.11 its compiled mode fails "
        "to build and its pure-Python mode is far too slow to train, and Keras 2.3.1, the "
        "last Keras that drove it, fails to import on Python 3.10 and newer."
    ),
}


class BackendError(RuntimeError):
    """Asked for a Keras backend that does not exist or can no longer run."""


def explain_backend(name: str) -> str:
    """Why ``name`` cannot be used, and what to use instead (empty if it can)."""
    key = name.strip().lower()
    if key in LIVE_BACKENDS:
        return ""
    choices = ", ".join(LIVE_BACKENDS)
    if key in RETIRED_BACKENDS:
        return (
            f"KERAS_BACKEND={name!r} cannot run any more. {RETIRED_BACKENDS[key]} "
            f"The same notebooks run on Keras 3's live backends: {choices} "
            f"(for example: KERAS_BACKEND=jax). See 'Backends' in the README."
        )
    return f"Unknown Keras backend {name!r}: choose one of {choices}."


def check_backend_request(name: str | None = None) -> str:
    """Validate the requested backend (default: ``$KERAS_BACKEND``) and return it.

    Raises ``BackendError`` with a one-line explanation for CNTK, Theano or a
    name Keras does not know; an unset variable means Keras' default, TensorFlow.
    """
    requested = name if name is not None else os.environ.get("KERAS_BACKEND", "tensorflow")
    problem = explain_backend(requested)
    if problem:
        raise BackendError(problem)
    return requested.strip().lower()


def use_backend(name: str) -> str:
    """Select ``name`` for this process; must be called before Keras is imported."""
    backend = check_backend_request(name)
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != backend:
            raise BackendError(
                f"Keras is already running on {keras.backend.backend()!r} in this process; "
                f"set KERAS_BACKEND={backend} before importing Keras (restart the kernel)."
            )
    os.environ["KERAS_BACKEND"] = backend
    return backend


# --------------------------------------------------------------------------- what runs where

# The module each live backend imports, and the distributions whose versions matter.
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
BACKEND_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow",),
    "jax": ("jax", "jaxlib"),
    "torch": ("torch",),
}


def is_installed(name: str) -> bool:
    """Whether the library behind live backend ``name`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(BACKEND_MODULES[name]) is not None


def library_versions(name: str) -> dict[str, str]:
    """``{"keras": "3.15.1", "jax": "0.10.2", "jaxlib": "0.10.2"}`` for backend ``name``."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for dist in ("keras", *BACKEND_DISTRIBUTIONS[name]):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def cpu_name() -> str:
    """The CPU model and the cores this process may use, e.g. "AMD EPYC, 2 cores"."""
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = " ".join(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores"


def gpu_names(name: str) -> list[str]:
    """Names of the GPUs backend ``name`` sees (imports its library; empty on a CPU machine)."""
    if name == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    if name == "jax":
        import jax

        return [device.device_kind for device in jax.devices() if device.platform == "gpu"]
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def active_device() -> str:
    """Where the active Keras backend computes: "GPU (NVIDIA H200)" or "CPU (model, cores)"."""
    import keras

    gpus = gpu_names(keras.backend.backend())
    return f"GPU ({', '.join(gpus)})" if gpus else f"CPU ({cpu_name()})"


def device_recipe() -> str:
    """The layout ``recipe="auto"`` takes (``helpers.configs``): "bucketed" where the
    active Keras backend sees a GPU, "fast" elsewhere. The one place that decides it."""
    import keras

    return "bucketed" if gpu_names(keras.backend.backend()) else "fast"


def resolve_recipe(config):
    """``config`` with ``recipe="auto"`` replaced by ``device_recipe()``; any other
    recipe, named by the user, is kept as it is."""
    if config.recipe != "auto":
        return config
    import dataclasses

    return dataclasses.replace(config, recipe=device_recipe())


def gpu_peak_memory_mb() -> float | None:
    """Peak GPU memory of this process on the first GPU in MB, or None on a CPU."""
    import keras

    name = keras.backend.backend()
    try:
        if name == "torch":
            import torch

            return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
        if name == "tensorflow":
            import tensorflow as tf

            if not tf.config.list_physical_devices("GPU"):
                return None
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        stats = gpus[0].memory_stats() if gpus else None
        return stats["peak_bytes_in_use"] / 2**20 if stats else None
    except (RuntimeError, ValueError, KeyError):  # a backend without the statistic
        return None


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (2**20 bytes).

    psutil reports the peak on Windows (``peak_wset``). On Linux and macOS it has no
    peak, so it comes from ``getrusage``, whose unit is KB on Linux and bytes on macOS.
    """
    import psutil

    info = psutil.Process().memory_info()
    if hasattr(info, "peak_wset"):
        return info.peak_wset / 2**20
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def describe_active() -> str:
    """One line for the top of a notebook: Keras, the backend and its version, the device,
    and the recipe the tuned configs take on it (``device_recipe``).

    e.g. "Keras 3.15.1 · backend jax 0.10.2 · device: CPU (AMD EPYC, 2 cores) · recipe
    for the tuned configs: fast". Imports Keras, so the backend is fixed from here on.
    """
    import keras

    name = keras.backend.backend()
    version = library_versions(name)[BACKEND_DISTRIBUTIONS[name][0]]
    return (
        f"Keras {keras.__version__} · backend {name} {version} · device: {active_device()}"
        f" · recipe for the tuned configs: {device_recipe()}"
    )


# --------------------------------------------------------------------------- quiet start-up

# What TensorFlow's C++ core writes straight to stderr while it starts: absl's notice
# that it logs before being set up, info and warning lines (oneDNN, CPU instruction
# sets, "Could not find cuda drivers"). A learner can act on none of it.
STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog"
    r"|[IW]\d{4} \d\d:\d\d:\d\d"
    r"|To enable the following instructions)"
)
# oneDNN's note, once per process, that a CPU without AVX-512 computes boolean ops (the
# masks of a masked recurrent layer) with Eigen instead: logged as an error, yet nothing
# is wrong and nothing to do. ``activate`` provokes it inside the quiet block.
ONEDNN_BOOL_NOTE = re.compile(r"^E\d{4} .*oneDNN supports DT_BOOL only on platforms with AVX-512")
# cuInit's failure means "no GPU": noise on a machine without an NVIDIA driver, and the
# one clue to a broken driver on a GPU machine, where it still shows.
NO_GPU_ERROR = re.compile(r"^E\d{4} .*failed call to cuInit")


def has_nvidia_driver() -> bool:
    """Whether an NVIDIA driver is loaded (Linux: ``/proc/driver/nvidia``)."""
    return os.path.isdir("/proc/driver/nvidia")


@contextlib.contextmanager
def quiet_native_startup():
    """Hold back ``STARTUP_NOISE`` that C++ libraries write to stderr inside the block.

    The process's stderr (file descriptor 2, which a Jupyter kernel forwards to the
    notebook) goes to a temporary file; afterwards every other line is written back,
    so real errors still show.
    """
    noise = [STARTUP_NOISE, ONEDNN_BOOL_NOTE] + ([] if has_nvidia_driver() else [NO_GPU_ERROR])
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", "replace").splitlines()
            kept = [line for line in lines if not any(p.search(line) for p in noise)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _not_retracing(record: logging.LogRecord) -> bool:
    return "triggered tf.function retracing" not in record.getMessage()


def quiet_known_warnings() -> None:
    """Silence two Python-level messages that are expected in this series.

    - Keras's "Skipping variable loading for optimizer …": loading a saved model, Keras
      finds the optimizer's state (its moment estimates) shaped for another set of
      variables and leaves it out. The model's weights load in full; only further
      training would start the optimizer afresh.
    - TensorFlow's "… triggered tf.function retracing": batches of different lengths
      (the fast recipe) are new shapes by design.
    """
    warnings.filterwarnings("ignore", r"Skipping variable loading for optimizer ")
    tf_logger = logging.getLogger("tensorflow")
    if _not_retracing not in tf_logger.filters:
        tf_logger.addFilter(_not_retracing)


def start_keras_quietly() -> None:
    """Import Keras on the selected backend and let it look for its devices, with the
    start-up chatter of TensorFlow's C++ core held back (``quiet_native_startup``).

    Everything that chatter comes from happens here, once per process: loading the
    library, looking for a GPU (cuInit), and oneDNN's note on boolean ops. TensorFlow
    is loaded wherever it is installed, whatever the backend, because Keras loads it
    anyway on JAX and PyTorch too (``keras.utils.set_random_seed`` seeds it). The
    notebooks (``activate``), the command line and the benchmark's cases call this
    before their first Keras work. A Python error inside (a broken install) still
    shows, traceback and all.
    """
    with quiet_native_startup():
        import keras

        if is_installed("tensorflow"):
            import tensorflow  # noqa: F401
        gpu_names(keras.backend.backend())
        _provoke_onednn_bool_note()


def activate(name: str = "") -> str:
    """Select backend ``name`` (empty: keep ``$KERAS_BACKEND``), import Keras, describe it.

    For the first cell of a notebook whose parameters say ``keras_backend = ""``. A
    backend that cannot run stops the notebook with the explanation (``SystemExit``),
    not a traceback. TensorFlow's start-up chatter is held back (``start_keras_quietly``).
    """
    try:
        if name:
            use_backend(name)
        else:
            check_backend_request()
    except BackendError as error:
        raise SystemExit(f"error: {error}") from None
    start_keras_quietly()
    return describe_active()


def _provoke_onednn_bool_note() -> None:
    """On TensorFlow, run a tiny masked GRU once, so that oneDNN's one-time note about
    boolean ops (``ONEDNN_BOOL_NOTE``) comes out now, inside the quiet block, rather than
    in the middle of a later cell."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import numpy as np

    rows, mask = np.zeros((1, 2, 1), "float32"), np.array([[True, False]])
    keras.layers.GRU(1)(rows, mask=mask)


def probe() -> dict:
    """What the active backend is and sees: versions and devices (imports Keras)."""
    import keras

    name = keras.backend.backend()
    gpus = gpu_names(name)
    return {
        "backend": name,
        "versions": library_versions(name),
        "devices": [f"CPU: {cpu_name()}", *(f"GPU: {gpu}" for gpu in gpus)],
    }


def backend_report(names=LIVE_BACKENDS, timeout: float = 300) -> list[dict]:
    """Every backend: installed or not, versions and devices, or why it cannot run.

    A live backend is probed in its own process (a process can run only one), all
    at once; retired ones (CNTK, Theano) are listed with the reason. One dict each:
    ``name``, ``status`` ("ok", "not installed", "failed", "retired"), ``versions``,
    ``devices``, ``reason``.
    """
    import json
    import subprocess

    code = "import json, helpers.backend as b; print(json.dumps(b.probe()))"
    names = [check_backend_request(name) for name in names]
    running, rows = {}, {}
    for name in names:
        if not is_installed(name):
            install = f"BACKEND={name} make run, or pip install 'rnn-review-classifiers[{name}]'"
            rows[name] = _report_row(name, "not installed", reason=install)
            continue
        env = {**os.environ, "KERAS_BACKEND": name}
        running[name] = subprocess.Popen(
            [sys.executable, "-c", code], env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
    for name, process in running.items():
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            err = f"no answer within {timeout:g} s"
        lines = out.strip().splitlines()
        if process.returncode == 0 and lines:
            found = json.loads(lines[-1])
            rows[name] = _report_row(name, "ok", found["versions"], found["devices"])
        else:
            last = (err.strip().splitlines() or ["no output"])[-1]
            rows[name] = _report_row(name, "failed", library_versions(name), reason=last)
    retired = [
        _report_row(name, "retired", reason=reason) for name, reason in RETIRED_BACKENDS.items()
    ]
    return [rows[name] for name in names] + retired


def _report_row(name, status, versions=None, devices=(), reason="") -> dict:
    return {"name": name, "status": status, "versions": versions or {},
            "devices": list(devices), "reason": reason}  # fmt: skip


def format_report(rows: list[dict]) -> str:
    """``backend_report`` as text, one block per backend."""
    lines = []
    for row in rows:
        versions = ", ".join(f"{k} {v}" for k, v in row["versions"].items())
        lines.append(f"{row['name']}: {row['status']}" + (f" ({versions})" if versions else ""))
        lines += [f"  device {device}" for device in row["devices"]]
        if row["reason"]:
            lines.append(f"  {row['reason']}")
    return "\n".join(lines)
