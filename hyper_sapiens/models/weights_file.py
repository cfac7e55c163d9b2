"""Hyper-Sapiens' own weight files: a model's state dict as safetensors, with its config in the metadata.

Format (``hyper-sapiens/weights-v1``): the tensors under our own state-dict key names (``backbone.*``,
``pose_head.*``, ``depth_head.*``, ``normal_head.*``), and string metadata ``format``, ``config`` (JSON of
the model config block), ``arch``, ``input_size`` (JSON ``[w, h]`` in pixels), ``heads`` (JSON list) plus
any extra entries the caller adds. safetensors (huggingface/safetensors) stores raw tensors and a JSON
header only, so reading a file never unpickles anything. Files are written atomically
(:func:`hyper_sapiens.io_atomic.atomic_write`). :func:`load_model` rebuilds the model from the file alone.

Sapiens' own files (``backbone.*``, ``head.*``, ``decode_head.*``) are read by
:mod:`hyper_sapiens.models.sapiens_format` instead.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io_atomic import atomic_write
from .restricted_unpickler import UnsafeCheckpointError, check_uncompressed_zip
from .sapiens_format import (
    CODE_FORMATS,
    CheckpointMismatchError,
    LoadReport,
    copy_tensors_into,
    file_kind,
    refuse_untrusted_code,
    unwrap_model,
)
from .vit import SapiensViT

__all__ = ["WEIGHTS_FORMAT", "save_weights", "read_weights_metadata", "load_weights", "load_model", "load_state_file"]

WEIGHTS_FORMAT = "hyper-sapiens/weights-v1"


def save_weights(model: nn.Module, path: str | os.PathLike, extra_metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``model``'s state dict to ``path`` (safetensors, atomic rename) with metadata:
    ``format``, ``config`` (JSON of ``model.config`` when present), ``arch``, ``input_size``, ``heads``."""
    from safetensors.torch import save_file

    model = unwrap_model(model)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    config = model.config() if isinstance(model, SapiensViT) else dict(getattr(model, "config", {}) or {})
    metadata = {
        "format": WEIGHTS_FORMAT,
        "config": json.dumps(config, sort_keys=True),
        "arch": str(config.get("arch", "")),
        "input_size": json.dumps(config.get("input_size", config.get("img_size"))),
        "heads": json.dumps(sorted(config.get("heads", {}))),
    }
    metadata.update({str(k): str(v) for k, v in (extra_metadata or {}).items()})
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_weights_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of a safetensors file; ``config`` decoded from JSON when present."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from exc
    if "config" in meta:
        meta["config"] = json.loads(meta["config"])
    return meta


def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> LoadReport:
    """Load weights written by :func:`save_weights` (or any safetensors/torch file with our key names).

    ``strict``: raise :class:`CheckpointMismatchError` on missing, unexpected or mis-shaped keys.
    """
    model = unwrap_model(model)
    state = load_state_file(path)
    own = model.state_dict()
    report = LoadReport(path=str(path), part="all", source_format=Path(path).suffix.lstrip(".") or "file")
    picked = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append(f"{key}: file {list(value.shape)} vs model {list(own[key].shape)}")
        else:
            picked[key] = value
    mismatched = {m.split(":")[0] for m in report.mismatched}
    report.missing = [k for k in own if k not in picked and k not in mismatched]
    report.loaded = sorted(picked)
    if strict and not report.ok:
        raise CheckpointMismatchError(f"weights do not match the model (nothing loaded):\n{report.summary()}")
    copy_tensors_into(model, picked)
    return report


def load_model(path: str | os.PathLike) -> nn.Module:
    """Rebuild a :class:`HyperPoseModel` from the config stored by :func:`save_weights` and load its weights.

    Files written by :func:`~hyper_sapiens.models.pretrained.save_sapiens_pose` (Sapiens key names, ``format:
    sapiens-pose``, config in the metadata, such as the shipped pretrained weights) load too."""
    from .hyper_pose import build_model

    meta = read_weights_metadata(path)
    config = meta.get("config")
    if not isinstance(config, Mapping) or "heads" not in config:
        raise ValueError(f"{path}: no model config in the metadata (was it written by save_weights?)")
    model = build_model(config)
    if meta.get("format") == "sapiens-pose":  # save_sapiens_pose's layout, e.g. the shipped pretrained weights
        from .sapiens_format import load_sapiens_checkpoint

        load_sapiens_checkpoint(model, path, part="pose", strict=True)
    else:
        load_weights(model, path, strict=True)
    return model


def load_state_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a torch file loaded with ``weights_only=True``.

    A torch file whose ``state_dict`` key holds the tensors is unwrapped. Files that would need code
    to unpickle (e.g. original Sapiens/mmengine ``.pth``) are refused with :class:`UnsafeCheckpointError`
    pointing to ``hyper-sapiens convert-checkpoint``; so are TorchScript / torch.export archives and zip
    files with compressed records (never inflated).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    kind = file_kind(path)
    if kind == "safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if kind in CODE_FORMATS:
        refuse_untrusted_code(path, kind)
    if zipfile.is_zipfile(path):
        check_uncompressed_zip(path)  # torch.load would inflate a compressed record in full
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, ValueError, EOFError) as exc:
        reason = _torch_load_reason(exc)
        raise UnsafeCheckpointError(
            f"{path}: torch.load(weights_only=True) refused it ({reason[:300]}). If it is a Sapiens checkpoint "
            f"(it holds Python objects), convert it first: "
            f"hyper-sapiens convert-checkpoint {path} {path.with_suffix('.safetensors')}"
        ) from exc
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a mapping of tensor names to tensors")
    return {str(k): v for k, v in obj.items()}


def _torch_load_reason(exc: BaseException) -> str:
    """The informative line of a ``torch.load`` error: the refused global when named, not torch's preamble
    (which suggests ``weights_only=False``) or its pointer to the docs."""
    boilerplate = ("Weights only load failed", "Check the documentation", "Please file an issue")
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith(boilerplate)]
    named = [ln for ln in lines if "global" in ln.lower()]
    return (named or lines or [type(exc).__name__])[0]
