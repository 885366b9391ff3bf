"""Shared code of the notebook series: document classification with BiLSTM and HAN.

The pipeline flows one way, one module per stage:
``parsing`` → ``data`` → ``sentences`` → ``text`` → ``embeddings`` → ``configs`` →
``layers`` → ``batches`` → ``fast`` → ``models`` → ``train`` → ``evaluate`` / ``explain``.
No module imports one further down the chain. ``distribute`` spreads training over
several devices with each backend's own engine (``train`` asks it what changes), and
``shards`` keeps a corpus larger than memory on disk. Notebooks, ``cli``, ``series``,
``calibrate`` and the benchmark (``bench``, which runs each case through
``bench_worker`` and shows the results with ``bench_report``) sit on top and call in.

Importing the package checks ``KERAS_BACKEND`` first, so that asking for a
backend Keras 3 cannot run (CNTK, Theano) stops with an explanation instead of
a traceback from inside Keras (``SystemExit``: a short message in a notebook,
a one-line error and exit status 1 on the command line).
"""

import os

from helpers.backend import BackendError, check_backend_request, quiet_known_warnings

# TensorFlow's C++ start-up chatter (CUDA probing, CPU instruction sets) hides the
# output a reader needs; its warnings and errors still show. Set it to 0 to see all.
# What it writes before reading this setting is held back by ``backend.activate``.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
quiet_known_warnings()
try:
    check_backend_request()
except BackendError as error:
    raise SystemExit(f"error: {error}") from None
