"""``PosePrior``: the normaliser, the denoiser and the noise schedule in one saved object.

Saved as one safetensors file (``prior.safetensors``): the denoiser's weights as tensors and the whole
configuration as JSON in the safetensors metadata (key ``hyper_sapiens.prior``), so the file alone rebuilds
the prior: ``PosePrior.load("runs/prior")`` (a folder holding ``prior.safetensors``, or the file itself).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from ..io_atomic import atomic_write
from .denoiser import DenoiserConfig, PoseDenoiser
from .normalize import NormalizedPose, NormalizerConfig, PoseNormalizer
from .schedule import NoiseSchedule

__all__ = ["FILE_NAME", "FORMAT", "PosePrior", "read_prior_config"]

FILE_NAME = "prior.safetensors"
FORMAT = "hyper_sapiens.prior/1"
_META_KEY = "hyper_sapiens.prior"


def _resolve(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / FILE_NAME if path.is_dir() or path.suffix != ".safetensors" else path


def read_prior_config(path: str | os.PathLike) -> dict[str, Any]:
    """The configuration stored in a prior file (or a folder holding ``prior.safetensors``)."""
    file = _resolve(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no prior file here")
    with safe_open(str(file), framework="pt") as fh:
        meta = fh.metadata() or {}
    if _META_KEY not in meta:
        raise ValueError(f"{file}: not a pose prior file (no {_META_KEY!r} metadata)")
    config = json.loads(meta[_META_KEY])
    if config.get("format") != FORMAT:
        raise ValueError(f"{file}: unsupported prior format {config.get('format')!r}, expected {FORMAT!r}")
    return config


class PosePrior(nn.Module):
    """A diffusion pose prior over normalised poses.

    Args:
        normalizer: :class:`NormalizerConfig` or its dict (layout, dims, window, scale, align, ...).
        denoiser: :class:`DenoiserConfig` fields other than ``num_joints/dims/window`` (taken from the normaliser).
        schedule: ``{"kind": "cosine"|"linear", "num_steps": 1000}``.
        info: free-form JSON-able facts saved with the prior (training steps, data, ...).
    """

    def __init__(
        self,
        normalizer: NormalizerConfig | dict[str, Any] | None = None,
        denoiser: dict[str, Any] | None = None,
        schedule: dict[str, Any] | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.normalizer = PoseNormalizer(normalizer)
        ncfg = self.normalizer.config
        den = dict(denoiser or {})
        for key, value in (("num_joints", self.normalizer.num_joints), ("dims", ncfg.dims), ("window", ncfg.window)):
            if key in den and den[key] != value:
                raise ValueError(f"denoiser {key}={den[key]} disagrees with the normaliser ({value})")
            den[key] = value
        self.denoiser = PoseDenoiser(DenoiserConfig.from_dict(den))
        sched = {"kind": "cosine", "num_steps": 1000, **(schedule or {})}
        self.schedule = NoiseSchedule(sched["kind"], sched["num_steps"])
        self.info: dict[str, Any] = dict(info or {})

    @property
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this prior (without weights)."""
        return {
            "format": FORMAT,
            "normalizer": self.normalizer.config.as_dict(),
            "denoiser": self.denoiser.config.as_dict(),
            "schedule": {"kind": self.schedule.kind, "num_steps": self.schedule.num_steps},
            "info": self.info,
        }

    @property
    def num_steps(self) -> int:
        return self.schedule.num_steps

    @property
    def pose_shape(self) -> tuple[int, ...]:
        """Shape of one normalised sample: ``(K, D)`` or ``(F, K, D)``."""
        c = self.normalizer.config
        k = self.normalizer.num_joints
        return (k, c.dims) if c.window == 1 else (c.window, k, c.dims)

    def normalize(self, keypoints: torch.Tensor, visible: torch.Tensor | None = None) -> NormalizedPose:
        """See :class:`PoseNormalizer`; differentiable in ``keypoints``."""
        return self.normalizer(keypoints, visible)

    def denormalize(self, x: torch.Tensor, norm: NormalizedPose) -> torch.Tensor:
        return self.normalizer.inverse(x, norm)

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """ε̂ for noisy normalised poses, computed in float32 with autocast off (a small MLP: precision is cheap)."""
        device_type = x_t.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            return self.denoiser(x_t.float(), t, None if mask is None else mask.float())

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.predict_eps(x_t, t, mask)

    def freeze(self) -> PosePrior:
        """Eval mode, no parameter gradients (the prior is frozen wherever it is used as a loss)."""
        self.eval()
        self.requires_grad_(False)
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``prior.safetensors`` (``path`` is a folder, created if needed, or a ``.safetensors`` file).

        Written atomically (temporary file + rename, :func:`hyper_sapiens.io_atomic.atomic_write`).
        """
        path = Path(path)
        file = path if path.suffix == ".safetensors" else path / FILE_NAME
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.denoiser.state_dict().items()}
        metadata = {_META_KEY: json.dumps(self.config, sort_keys=True)}
        return atomic_write(file, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> PosePrior:
        """Rebuild a saved prior, frozen (eval mode, no gradients), on ``device``."""
        config = read_prior_config(path)
        prior = cls(config["normalizer"], config["denoiser"], config["schedule"], config.get("info"))
        state = load_file(str(_resolve(path)))
        try:
            prior.denoiser.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{_resolve(path)}: weights do not match the stored configuration: {exc}") from None
        return prior.to(device).freeze()
