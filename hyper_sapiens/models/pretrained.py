"""Weights shipped inside the package, and writing a pose model in the Sapiens checkpoint layout.

The package ships two files in ``hyper_sapiens/weights/``: ``tiny_adult_pose.safetensors``, the tiny Sapiens ViT
with its pose head trained by the ``pretrain_tiny_adult`` recipe (``hyper-sapiens pretrain``) on synthetic adults,
and ``tiny_real_pose.safetensors``, the same model continued on real photographs of adults by the
``pretrain_tiny_real`` recipe (which starts from the first). Their tensors carry Sapiens key names (``backbone.*``,
``head.*``, fp16), so they load exactly as a converted Sapiens COCO pose checkpoint does:
``sapiens_checkpoints.pose=<file>`` in a stage config, or ``${packaged_weights:tiny_real_pose}`` to name a shipped
file. Beside each, ``<name>.json`` is its manifest: sha256, recipe config, commit, seed, steps, wall time, data
sources with their terms and held-out figures.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io_atomic import atomic_write

__all__ = ["PACKAGED_WEIGHTS", "packaged_weights_path", "packaged_manifest", "save_sapiens_pose", "sha256_of"]

PACKAGED_WEIGHTS = ("tiny_adult_pose", "tiny_real_pose")
"""Names of the weight files shipped in ``hyper_sapiens/weights``."""


def packaged_weights_path(name: str) -> Path:
    """Path of the shipped weight file ``name`` (see :data:`PACKAGED_WEIGHTS`)."""
    if name not in PACKAGED_WEIGHTS:
        raise ValueError(f"no packaged weights called {name!r}; shipped: {list(PACKAGED_WEIGHTS)}")
    path = Path(str(resources.files("hyper_sapiens").joinpath("weights").joinpath(f"{name}.safetensors")))
    if not path.is_file():
        raise FileNotFoundError(
            f"packaged weights {name} are missing from this installation ({path}); "
            "regenerate them with `hyper-sapiens pretrain` (docs/pretrained.md)"
        )
    return path


def packaged_manifest(name: str) -> dict[str, Any]:
    """The manifest (JSON) that describes the shipped weight file ``name``."""
    path = packaged_weights_path(name).with_suffix(".json")
    return json.loads(path.read_text(encoding="utf-8"))


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_sapiens_pose(model: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None,
                      dtype: torch.dtype = torch.float16) -> Path:
    """Write ``model``'s backbone and pose head with Sapiens key names (``backbone.*``, ``head.*``).

    ``model`` is a :class:`~hyper_sapiens.models.HyperPoseModel` with a pose head; other heads are left
    out. Floating-point tensors are cast to ``dtype``. The safetensors metadata records ``format:
    sapiens-pose``, the model config (JSON) and ``metadata``. Written atomically (temporary file + rename).
    """
    from safetensors.torch import save_file

    if getattr(model, "pose_head", None) is None:
        raise ValueError("save_sapiens_pose needs a model with a pose head")
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in (("backbone.", model.backbone), ("head.", model.pose_head)):
        for key, value in module.state_dict().items():
            value = value.detach().to("cpu")
            tensors[prefix + key] = (value.to(dtype) if value.is_floating_point() else value).contiguous()
    meta = {"format": "sapiens-pose", "config": json.dumps(dict(getattr(model, "config", {}) or {}), sort_keys=True)}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
