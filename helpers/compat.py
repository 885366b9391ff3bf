"""Coping with what a run cannot choose: model folders from older versions, small GPUs.

- ``upgrade_config_dict``: a ``config.json`` written by an older (or newer) version of
  this package, brought to the fields of today's config, with a note per change.
- ``halve_on_oom``: a training call retried at half the batch size when the device runs
  out of memory, saying so, down to a smallest batch.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from helpers.data import DataError

# Old field name → (new field name, {old value: new value}).
RENAMED_FIELDS = {"rnn_masking": ("recipe", {"lengths": "fast", "keras": "padded"})}
# Lower-cased fragments of the errors TensorFlow, JAX, PyTorch and Python raise when a
# device (or the host) cannot hold a batch; the benchmark matches the same ones.
OOM_MARKERS = ("out of memory", "resource_exhausted", "oom when allocating", "memoryerror")
SMALLEST_BATCH = 4


def upgrade_config_dict(values: dict, defaults: dict) -> tuple[dict, list[str]]:
    """``values`` (a saved config) with exactly the fields of ``defaults``; and what changed.

    ``defaults`` is today's config of the same model as a dict (e.g. the ``"original"``
    config's ``to_dict()``; the caller chooses which recipe an old folder most likely
    followed). In order:

    - a renamed field takes its new name and value (``rnn_masking="lengths"`` becomes
      ``recipe="fast"``, ``"keras"`` becomes ``"padded"``), if ``defaults`` has the new
      name and not the old one; when both are saved, the new one wins;
    - a field ``defaults`` does not have is dropped (an older version's, or a newer
      one's that this code cannot use);
    - a field missing from ``values`` is filled in from ``defaults``.

    Returns the new dict (``values`` is not changed) and one note per change, in words
    for the user; no notes means the folder is current. Raises ``ValueError`` for a
    renamed field whose saved value has no new equivalent.
    """
    upgraded = dict(values)
    notes = []
    for old, (new, mapping) in RENAMED_FIELDS.items():
        if old not in upgraded or new not in defaults or old in defaults:
            continue
        value = upgraded.pop(old)
        if new in upgraded:
            notes.append(f"dropped {old}={value!r}: the folder also saves {new}")
            continue
        if value not in mapping:
            raise ValueError(
                f"{old}={value!r} has no equivalent {new}: expected one of {sorted(mapping)}"
            )
        upgraded[new] = mapping[value]
        notes.append(f"{old}={value!r} is now {new}={mapping[value]!r}")
    for name in [name for name in upgraded if name not in defaults]:
        notes.append(f"dropped {name}={upgraded.pop(name)!r}: not a field of this version")
    for name, value in defaults.items():
        if name not in upgraded:
            upgraded[name] = value
            notes.append(f"{name} was not saved: using {value!r}")
    return {name: upgraded[name] for name in defaults}, notes


def says_out_of_memory(text: str) -> bool:
    """Whether an error message (or a crashed process's last log line) is about memory."""
    text = text.lower()
    return any(marker in text for marker in (*OOM_MARKERS, "outofmemory", "resourceexhausted"))


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says the device or the host could not allocate memory.

    ``MemoryError``, PyTorch's ``OutOfMemoryError``, TensorFlow's
    ``ResourceExhaustedError`` and JAX's ``RESOURCE_EXHAUSTED`` runtime errors.
    """
    if isinstance(error, MemoryError):
        return True
    return says_out_of_memory(f"{type(error).__name__} {error}")


def halve_on_oom(
    fit_call: Callable[[int], Any],
    batch_size: int,
    smallest: int = SMALLEST_BATCH,
    log: Callable[[str], object] = print,
) -> tuple[Any, int]:
    """``fit_call(batch_size)``, retried at half the batch size after out-of-memory errors.

    Each retry is logged ("out of memory at batch size 64: retrying at 32"). Below
    ``smallest`` it gives up with a one-line ``DataError``; any other error passes
    through unchanged. Returns ``(what fit_call returned, the batch size that fitted)``.
    ``fit_call`` must start its work afresh at the size it is given (build its
    batches from it).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    while True:
        try:
            return fit_call(batch_size), batch_size
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            if batch_size // 2 < smallest:
                raise DataError(
                    f"out of memory even at batch size {batch_size}: use a smaller model "
                    "(units, max_words or max_sentences) or a device with more memory"
                ) from error
        # Outside the except block: the error's traceback, which holds the failed
        # batch's tensors, is released before the retry allocates again.
        gc.collect()
        log(f"out of memory at batch size {batch_size}: retrying at {batch_size // 2}")
        batch_size //= 2
