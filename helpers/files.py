"""Files written whole or not at all.

A crash, a full disk or Ctrl-C in the middle of a save must not leave a half-written
cache, encoder or metrics file behind, nor destroy the previous good one: every
writer fills a temporary file next to the target and then renames it over the
target, which ``os.replace`` does atomically on one file system.
"""

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` to fill a new file, then move it to ``path`` in one step.

    ``temporary`` is a hidden file in ``path``'s folder (created, with its parents, if
    needed), named ``.STEM.RANDOM.partial.SUFFIX`` so that concurrent writers never
    share one.
    If ``write`` raises, or the process is interrupted, the temporary file is removed
    and the file already at ``path``, if any, is left exactly as it was. ``write``
    must write to the name it is given (``numpy.savez`` appends ``.npz`` to a bare
    name: give it an open file instead).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The suffix stays last: some writers (Keras's ``.keras``) insist on it.
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:  # KeyboardInterrupt too: never leave the partial file behind
        temporary.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` as UTF-8, atomically (see ``atomic_write``)."""
    return atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
