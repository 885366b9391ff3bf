"""Shared code of the notebook series: document classification with BiLSTM and HAN.

The pipeline flows one way, one module per stage:
``data`` → ``text`` → ``embeddings`` → ``models`` → ``train`` → ``evaluate`` / ``explain``.
Notebooks and ``cli`` sit on top and call in.

Importing the package checks ``KERAS_BACKEND`` first, so that asking for a
backend Keras 3 cannot run (CNTK, Theano) fails with an explanation instead of
a traceback from inside Keras.
"""

from helpers.backend import check_backend_request

check_backend_request()
