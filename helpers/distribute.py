"""Data-parallel training: each Keras backend's own engine spreads a run over devices.

Every device holds a copy of the model and takes an equal share of each *global* batch
(the config's ``batch_size``); after the backward pass the engine all-reduces the
gradients, so every copy applies the same update, the one the whole batch gives. Nothing
here averages gradients itself:

- JAX: ``keras.distribution.DataParallel``; each batch is sharded over the devices and
  XLA inserts the all-reduce. Several hosts: ``keras.distribution.initialize`` reads
  ``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``_NUM_PROCESSES`` and ``_PROCESS_ID``.
- TensorFlow: ``tf.distribute.MirroredStrategy`` (the model built, compiled and fitted
  inside its scope), or ``MultiWorkerMirroredStrategy`` where ``TF_CONFIG`` names several
  hosts.
- PyTorch: ``torch.nn.parallel.DistributedDataParallel``, one process per device started
  by ``torchrun`` (gloo on CPUs, nccl on GPUs); each process trains on its share of every
  batch, and the epoch's logs are averaged over the processes.

``plan_devices`` checks what the user asked for before anything is written; ``scope``
makes a plan the active one, and training (``helpers.train``) asks this module for the
pieces it needs: ``whole_batches``, ``this_process``, ``for_fit``, ``callbacks``.
Without an active plan every one of them leaves training as it is on one device.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from dataclasses import dataclass

import numpy as np

from helpers.data import DataError

ENGINES = {
    "jax": "keras.distribution.DataParallel",
    "tensorflow": "tf.distribute.MirroredStrategy",
    "torch": "torch DistributedDataParallel",
}
TORCHRUN_HINT = (
    "start one process per device: torchrun --nproc_per_node {n} -m helpers train ... --devices {n}"
)


# --------------------------------------------------------------------------- devices


def use_virtual_cpu_devices(count: int, backend: str | None = None) -> str:
    """Split the CPU into ``count`` devices, for teaching and tests; returns what it did.

    Must run before the backend initialises its devices (before ``helpers.backend.activate``):
    JAX reads ``XLA_FLAGS`` when it starts; TensorFlow takes logical CPU devices before its
    first operation. PyTorch needs nothing: its devices are processes (``torchrun``).
    """
    backend = backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    if count < 1:
        raise DataError(f"virtual CPU devices: {count}; give 1 or more")
    if backend == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
        import jax

        if jax.device_count("cpu") != count:  # it read XLA_FLAGS before this
            raise DataError("JAX had started already: split the CPU before Keras computes")
        return f"JAX: {count} CPU devices (XLA_FLAGS={os.environ['XLA_FLAGS']})"
    if backend == "tensorflow":
        from helpers.backend import quiet_native_startup

        try:
            with quiet_native_startup():  # TensorFlow's start-up chatter (CUDA probing)
                import tensorflow as tf

                cpu = tf.config.list_physical_devices("CPU")[0]
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
                )
        except RuntimeError:
            if len(tf.config.list_logical_devices("CPU")) == count:
                return f"TensorFlow sees {count} logical CPU devices"
            raise DataError(
                "TensorFlow has started already: split the CPU before its first operation"
            ) from None
        return f"TensorFlow: {count} logical CPU devices"
    return "PyTorch: one process per device (torchrun), gloo on the CPU"


def _tf_devices() -> list[str]:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return [device.name for device in gpus or tf.config.list_logical_devices("CPU")]


def device_count(backend: str) -> int:
    """How many devices the backend can spread one run over from here: JAX's devices (of
    every host), TensorFlow's GPUs (else its logical CPUs), PyTorch's ``torchrun``
    processes (``WORLD_SIZE``; else the GPUs, else 1)."""
    if backend == "jax":
        import jax

        return jax.device_count()
    if backend == "tensorflow":
        return len(_tf_devices()) * _tf_workers()
    if "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    import torch

    return max(1, torch.cuda.device_count())


def _tf_workers() -> int:
    import json

    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def torchrun_command(devices: int, arguments: list[str]) -> list[str]:
    """``python -m torch.distributed.run --nproc_per_node N -m helpers ARGUMENTS``: the
    command line (``torchrun``) that starts one PyTorch process per device on this host."""
    run = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(devices)]
    return [*run, "-m", "helpers", *arguments]


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """How one run spreads: over ``devices`` devices, in ``processes`` processes, of which
    this one is number ``rank``; ``engine`` is the backend's object (a ``DataParallel``
    distribution or a ``tf.distribute`` strategy; None for PyTorch and one device)."""

    backend: str
    devices: int = 1
    processes: int = 1
    rank: int = 0
    engine: object = None

    @property
    def main(self) -> bool:
        """Whether this process writes the files (the first, or the only one)."""
        return self.rank == 0

    def describe(self) -> str:
        """e.g. "2 devices via tf.distribute.MirroredStrategy" or "1 device"."""
        if self.devices == 1:
            return "1 device"
        engine = ENGINES[self.backend]
        if self.backend == "tensorflow" and _tf_workers() > 1:
            engine = "tf.distribute.MultiWorkerMirroredStrategy"
        return f"{self.devices} devices via {engine}"


def parse_devices(value: str) -> int | str:
    """``--devices``: "all" or a whole number (refused with one line otherwise)."""
    if value == "all":
        return value
    try:
        return int(value)
    except ValueError:
        raise DataError(f"--devices {value!r}: give a number of devices or 'all'") from None


def plan_devices(requested: int | str, batch_size: int, backend: str | None = None) -> Plan:
    """Check ``requested`` devices ("all" or a count) against this machine and the global
    ``batch_size``, and start the backend's engine; one line (``DataError``) otherwise.

    Call it before anything is written: it imports the backend (JAX and TensorFlow fix
    their devices here) and, for PyTorch under ``torchrun``, joins the process group.
    """
    import keras

    backend = backend or keras.backend.backend()
    if requested != "all" and (not isinstance(requested, int) or requested < 1):
        raise DataError(f"devices={requested!r}: give 1 or more devices, or 'all'")
    processes = int(os.environ.get("WORLD_SIZE", "1")) if backend == "torch" else 1
    if requested == 1 and processes > 1:
        raise DataError(f"devices=1 under torchrun with {processes} processes: give "
                        f"--devices {processes}, or run without torchrun")  # fmt: skip
    if requested == 1:
        return Plan(backend)
    available = device_count(backend)
    count = available if requested == "all" else requested
    if backend == "torch" and "WORLD_SIZE" not in os.environ and count > 1:
        raise DataError(f"PyTorch trains on {count} devices as {count} processes: "
                         + TORCHRUN_HINT.format(n=count))  # fmt: skip
    if count > available:
        raise DataError(
            f"devices={count}: the {backend} backend sees {available} here "
            f"(virtual CPU devices for practice: --cpu-devices {count})"
        )
    if backend == "torch" and count != available:
        raise DataError(f"devices={count} under torchrun with {available} processes: "
                         "give --nproc_per_node and --devices the same number")  # fmt: skip
    if batch_size % count:
        raise DataError(
            f"batch size {batch_size} does not split evenly over {count} devices: "
            f"choose a multiple of {count} (e.g. {batch_size // count * count or count})"
        )
    if count == 1:
        return Plan(backend)
    plan = _start_engine(backend, count)
    _started.append(plan)
    return plan


def _start_engine(backend: str, count: int) -> Plan:
    if backend == "jax":
        import jax
        import keras

        if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
            keras.distribution.initialize()  # reads KERAS_DISTRIBUTION_* (several hosts)
        devices = keras.distribution.list_devices()[:count]
        engine = keras.distribution.DataParallel(devices=devices)
        return Plan(backend, count, jax.process_count(), jax.process_index(), engine)
    if backend == "tensorflow":
        import tensorflow as tf

        if _tf_workers() > 1:  # TF_CONFIG names the hosts; every host runs the same command
            engine = tf.distribute.MultiWorkerMirroredStrategy()
            return Plan(backend, count, 1, engine.cluster_resolver.task_id, engine)
        tf.get_logger().setLevel("WARNING")  # not a line per reduction (INFO)
        devices = _tf_devices()[:count]
        # On CPUs, collective all-reduce refuses gradients of different sizes per replica
        # (the HAN's sparse ones); one device sums them instead. GPUs: TF's default (NCCL).
        on_cpu = "GPU" not in devices[0]
        reduce = tf.distribute.ReductionToOneDevice() if on_cpu else None
        engine = tf.distribute.MirroredStrategy(devices, cross_device_ops=reduce)
        return Plan(backend, count, engine=engine)
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        gpu = torch.cuda.is_available()
        if gpu:  # one GPU per process; Keras computes on the current one
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if gpu else "gloo")
    return Plan(backend, count, dist.get_world_size(), dist.get_rank())


_active = [Plan("none")]
_started: list[Plan] = []  # the engines this process has joined


def is_main_process() -> bool:
    """Whether this process is the first (or only) one of every run it took part in: the
    one that writes files and reports."""
    return all(plan.main for plan in _started)


def active() -> Plan:
    """The plan of the run in progress (one device outside ``scope``)."""
    return _active[-1]


@contextlib.contextmanager
def scope(plan: Plan):
    """Make ``plan`` the active one; build, compile and fit the model inside it (JAX's
    distribution and TensorFlow's strategy must see the variables being created)."""
    _active.append(plan)
    try:
        if plan.engine is None:
            yield plan
        else:
            with plan.engine.scope():
                yield plan
    finally:
        _active.pop()


# --------------------------------------------------------------------------- what changes


def recipe_for(config, plan: Plan) -> tuple[object, str]:
    """``config`` with a recipe that ``plan`` can split, and a note when it had to change.

    The fast HAN packs a batch's sentences into lanes, which belong to no one document,
    so JAX and TensorFlow cannot cut the batch between devices: it trains "bucketed"
    (the same length-aware layers on whole documents). PyTorch processes each pack
    their own share of the documents, so the fast HAN stays.
    """
    from helpers.configs import HANConfig

    packed = isinstance(config, HANConfig) and config.recipe == "fast"
    if plan.devices == 1 or not packed or plan.backend == "torch":
        return config, ""
    note = ("fast → bucketed: the fast HAN's packed lanes cannot be split between "
            f"devices by {ENGINES[plan.backend]}")  # fmt: skip
    return dataclasses.replace(config, recipe="bucketed"), note


def whole_batches(rows: np.ndarray, batch_size: int, seed: int = 0) -> np.ndarray:
    """``rows`` (sorted), less the fewest rows (a seeded draw) that let every batch be
    split into equal shares for the active plan's devices.

    ``helpers.batches.Batches`` cuts n rows into ceil(n / batch_size) batches of as equal
    sizes as it can; with n a multiple of (batches × devices) they are all equal and
    split evenly, so the mean of the devices' losses is the loss of the whole batch.
    """
    plan, n = active(), len(rows)
    keep = n
    while (
        plan.devices > 1 and keep > plan.devices and keep % (-(-keep // batch_size) * plan.devices)
    ):
        keep -= 1
    if keep == n:
        return rows
    if plan.main:
        print(f"note: {n - keep} of {n:,} reviews sit out, so that every batch splits "
              f"evenly over {plan.devices} devices")  # fmt: skip
    dropped = np.random.default_rng(seed).choice(n, n - keep, replace=False)
    return np.delete(rows, dropped)


class ProcessShare:
    """This process's share of every batch of ``batches`` (a ``helpers.batches.Batches``):
    the ``rank``-th of ``processes`` equal parts of each batch's documents, laid out as
    ``batches`` lays them out (trimmed, bucketed or packed by itself)."""

    def __init__(self, batches, processes: int, rank: int):
        import keras

        self.batches, self.processes, self.rank = batches, processes, rank
        # A PyDataset made here, so that this module imports Keras only when it is used.
        self.dataset = type("Share", (keras.utils.PyDataset,), {
            "__len__": lambda _: len(batches), "__getitem__": lambda _, i: self[i],
            "on_epoch_end": lambda _: batches.on_epoch_end(),
        })()  # fmt: skip

    def __getitem__(self, index):
        rows = np.array_split(self.batches.batches[index], self.processes)[self.rank]
        return self.batches.inputs(self.batches.ids[rows]), self.batches.labels[rows]

    def fit_input(self):
        return self.dataset


def this_process(batches):
    """What this process feeds ``fit``: its share of each batch where the engine wants
    per-process batches (PyTorch's processes, JAX's hosts), else ``batches`` itself."""
    plan = active()
    if plan.processes == 1:
        return batches
    return ProcessShare(batches, plan.processes, plan.rank)


def for_fit(model, compile_model):
    """The model ``fit`` runs: on PyTorch with several processes, ``model`` wrapped in
    ``DistributedDataParallel`` (compiled with ``compile_model``); else ``model``."""
    plan = active()
    if plan.backend != "torch" or plan.processes == 1:
        return model
    return compile_model(_ddp_model(model))


def _ddp_model(model):
    import keras
    from torch.nn.parallel import DistributedDataParallel

    class DDPModel(keras.Model):
        """Fits ``inner`` with its forward pass through ``DistributedDataParallel``,
        whose backward hooks all-reduce (average) the gradients that Keras's train step
        then applies; every weight is ``inner``'s."""

        def __init__(self, inner):
            super().__init__(name=f"ddp_{inner.name}")
            self.inner = inner
            # Kept out of Keras's and torch's attribute tracking: the weights are inner's.
            self.__dict__["ddp"] = DistributedDataParallel(inner)
            self.built = True

        def call(self, inputs, training=None):
            return self.__dict__["ddp"](inputs, training=training)

    return DDPModel(model)


def callbacks() -> list:
    """Callbacks that ``fit`` needs for the active plan: PyTorch processes average the
    epoch's logs (each saw its share), so that every process logs, checkpoints and stops
    early on the same numbers, those of the whole data."""
    plan = active()
    if plan.backend != "torch" or plan.processes == 1:
        return []
    import keras
    import torch
    import torch.distributed as dist

    class AverageLogs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if not logs:
                return
            keys = sorted(logs)
            device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # where nccl reduces
            values = torch.tensor([float(logs[key]) for key in keys], device=device)
            dist.all_reduce(values)  # a sum; gloo on CPUs, nccl on GPUs
            logs.update(zip(keys, (values / plan.processes).tolist(), strict=True))

    return [AverageLogs()]
