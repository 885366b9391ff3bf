"""Which Keras backend runs, and a clear refusal of the ones that cannot.

``KERAS_BACKEND`` is read once, when Keras is first imported, so everything here
must run before ``import keras``.
"""

import os

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
    import sys

    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != backend:
            raise BackendError(
                f"Keras is already running on {keras.backend.backend()!r} in this process; "
                f"set KERAS_BACKEND={backend} before importing Keras (restart the kernel)."
            )
    os.environ["KERAS_BACKEND"] = backend
    return backend
