"""Trainer state on disk: atomic writes, safe loads (``torch.load(weights_only=True)``).

``last.ckpt`` holds what :class:`~hyper_sapiens.engine.trainer.Trainer` needs to continue: model and EMA
weights, optimizer state, the step, the run strategy, seed and total steps (checked on resume),
best-metric bookkeeping and the non-finite-loss counters. No RNG state is stored: the trainer re-seeds
torch's RNG for every micro-batch from ``(seed, step, slot)``, so the step alone fixes the randomness.
The file is written through :func:`hyper_sapiens.io_atomic.atomic_write_bytes` (temporary file, fsync,
rename), so a process killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from ..io_atomic import atomic_write_bytes
from ..models.restricted_unpickler import UnsafeCheckpointError, check_uncompressed_zip

STATE_FORMAT = "hyper-sapiens/trainer-state-v1"


def save_trainer_state(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Serialise ``state`` (tensors, numbers, strings, lists, dicts only) atomically to ``path``."""
    buffer = io.BytesIO()
    torch.save({"format": STATE_FORMAT, **state}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_trainer_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a trainer state written by :func:`save_trainer_state`; anything needing arbitrary unpickling is refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trainer state to resume from: {path}")
    try:
        check_uncompressed_zip(path)  # torch.load would inflate a compressed record in full before any size check
    except UnsafeCheckpointError as err:
        raise ValueError(f"not a readable trainer state: {err}") from err
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several error types here
        raise ValueError(f"{path}: not a readable trainer state ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: not a Hyper-Sapiens trainer state (format {STATE_FORMAT!r} expected)")
    return state
