"""Atomic file writes: the one way this package replaces a file on disk.

The new content goes to ``<name>.tmp`` beside the target, is flushed and fsynced, then renamed over the
target with :func:`os.replace`, which is atomic within one filesystem on POSIX and Windows (Python docs,
https://docs.python.org/3/library/os.html#os.replace). A process killed mid-write therefore leaves the
previous file intact (and at most a stray ``.tmp``), never a truncated one. Used for trainer states
(``engine/checkpointing.py``), weight files (``models/weights_file.py``, ``models/pretrained.py``,
``models/command.py``) and pose priors (``prior/model.py``).

This module imports nothing from the package, so every layer (``models``, ``prior``, ``engine``) may use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes", "temp_path"]


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary file that :func:`atomic_write` writes before renaming: ``<path>.tmp``."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


def _fsync(path: Path) -> None:
    with open(path, "r+b") as f:
        os.fsync(f.fileno())


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Replace ``path`` atomically with what ``write(tmp)`` writes to the temporary path it is given.

    Creates the parent folder if needed. If ``write`` raises, the temporary file is removed, the target is
    left as it was and the error propagates. Returns ``path`` as a :class:`Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Replace ``path`` atomically with ``data``."""
    return atomic_write(path, lambda tmp: _write_bytes(tmp, data))
