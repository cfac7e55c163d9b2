"""Trainer state on disk: atomic writes, safe loads (``torch.load(weights_only=True)``).

``last.ckpt`` holds everything needed to continue exactly: model and EMA weights, optimizer state, the
step, RNG states, best-metric bookkeeping and counters. It is written to a temporary file, flushed and
fsynced, then renamed over the old one, so a process killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

STATE_FORMAT = "hyper-sapiens/trainer-state-v1"


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def save_trainer_state(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Serialise ``state`` (tensors, numbers, strings, lists, dicts only) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": STATE_FORMAT, **state}, buffer)
    tmp = path.with_name(path.name + ".tmp")
    _write_bytes(tmp, buffer.getvalue())
    os.replace(tmp, path)
    return path


def load_trainer_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a trainer state written by :func:`save_trainer_state`; anything needing arbitrary unpickling is refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trainer state to resume from: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several error types here
        raise ValueError(f"{path}: not a readable trainer state ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: not a Hyper-Sapiens trainer state (format {STATE_FORMAT!r} expected)")
    return state


def rng_state(device: torch.device) -> dict[str, Any]:
    """The torch RNG states (CPU, and the CUDA device's when used)."""
    out: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
