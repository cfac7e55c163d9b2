"""Pose normalisation for the prior: pelvis-centred, size-normalised, optionally spine-aligned.

The prior sees poses in a canonical frame that removes what a plausible pose is free to change:

1. **centre** = the pelvis, the midpoint of the two hips (``layout.torso`` hips), in the input's units;
2. **size** (``scale="torso"``, default) = the RMS distance of the four torso joints (both shoulders, both
   hips) from their centroid, or (``scale="rms"``) the RMS distance of all present joints from the pelvis;
   the divisor is ``size * scale_factor``;
3. **rotation** (``align=True``): rotate in the image plane (x, y) so that the spine, pelvis -> mid-shoulder,
   points up (``-y``); 3D poses rotate about the camera z axis only. ``align=False`` keeps the input
   orientation (random in-plane rotation is then a training augmentation).

``x = R ((p - centre) / (size * scale_factor))`` per joint; joints with visibility 0 get ``mask = 0`` and
``x = 0``. Windows of T frames ``(B, T, K, D)`` use the centre frame ``T // 2`` for all three, so motion
within the window is kept. Every quantity is computed from the keypoints themselves with plain torch ops,
so gradients flow through the centre, size and rotation: a loss on ``x`` cannot be lowered by moving,
scaling (or, with ``align``, rotating) the whole skeleton -- its gradient on ``p`` has no such component.

A sample is ``valid`` when both hips are present, for ``scale="torso"`` (or ``align``) also both
shoulders, and its size is not degenerate (``size > min_relative_scale * rms radius``). Invalid samples
get ``mask = 0`` everywhere. :meth:`PoseNormalizer.inverse` maps normalised poses back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from ..config_schema import check_known_keys
from ..keypoints import KeypointLayout, get_layout

__all__ = [
    "PART_GROUPS",
    "NormalizedPose",
    "NormalizerConfig",
    "PoseNormalizer",
    "augment_normalized",
    "flip_normalized",
    "rotate_normalized",
]

# Joint groups masked together by part masking in training (a hidden limb or an occluded face).
PART_GROUPS: dict[str, tuple[tuple[int, ...], ...]] = {
    "coco17": ((0, 1, 2, 3, 4), (7, 9), (8, 10), (13, 15), (14, 16)),
}

_TINY = 1e-12


@dataclass(frozen=True)
class NormalizerConfig:
    """How poses are normalised (stored with every prior).

    Attributes:
        layout: keypoint layout name (COCO17 for the pose network's prior).
        dims: 2 (pixels) or 3 (metres or any unit).
        window: frames per sample; 1 = single poses ``(B, K, D)``, T > 1 = windows ``(B, T, K, D)``.
        scale: ``"torso"`` or ``"rms"`` (see the module docstring).
        align: rotate the spine to point up.
        scale_factor: extra divisor, chosen so that normalised coordinates have a spread near 1.
        min_relative_scale: size below this fraction of the RMS radius marks the sample invalid.
    """

    layout: str = "coco17"
    dims: int = 2
    window: int = 1
    scale: str = "torso"
    align: bool = False
    scale_factor: float = 1.0
    min_relative_scale: float = 0.05

    def __post_init__(self) -> None:
        if self.dims not in (2, 3):
            raise ValueError(f"normalizer dims must be 2 or 3, got {self.dims}")
        if self.scale not in ("torso", "rms"):
            raise ValueError(f"normalizer scale must be 'torso' or 'rms', got {self.scale!r}")
        if int(self.window) < 1:
            raise ValueError(f"normalizer window must be >= 1, got {self.window}")
        if self.scale_factor <= 0:
            raise ValueError(f"normalizer scale_factor must be > 0, got {self.scale_factor}")
        if get_layout(self.layout).torso is None:
            raise ValueError(f"layout {self.layout!r} has no torso joints to normalise by")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizerConfig:
        check_known_keys(data, [f.name for f in fields(cls)], "normalizer")
        return cls(**data)


@dataclass
class NormalizedPose:
    """Result of :class:`PoseNormalizer`.

    Attributes:
        x: ``(B, [T,] K, D)`` normalised coordinates, 0 where ``mask == 0``.
        mask: ``(B, [T,] K)`` float 0/1: the joint is present and the sample valid.
        center: ``(B, D)`` pelvis in input units.
        scale: ``(B,)`` divisor in input units (``size * scale_factor``).
        rotation: ``(B, D, D)`` rotation applied after centring and scaling (identity without ``align``).
        valid: ``(B,)`` bool.
    """

    x: torch.Tensor
    mask: torch.Tensor
    center: torch.Tensor
    scale: torch.Tensor
    rotation: torch.Tensor
    valid: torch.Tensor


class PoseNormalizer:
    """Normalise poses and undo it; see the module docstring. Accepts torch tensors or numpy arrays."""

    def __init__(self, config: NormalizerConfig | dict[str, Any] | None = None) -> None:
        if config is None:
            config = NormalizerConfig()
        elif isinstance(config, dict):
            config = NormalizerConfig.from_dict(config)
        self.config = config
        self.layout: KeypointLayout = get_layout(config.layout)
        self.num_joints = self.layout.num_keypoints

    def _check(self, kp: torch.Tensor) -> None:
        cfg = self.config
        want = (f"(B, {self.num_joints}, {cfg.dims})" if cfg.window == 1
                else f"(B, {cfg.window}, {self.num_joints}, {cfg.dims})")
        ndim = 3 if cfg.window == 1 else 4
        if kp.ndim != ndim or kp.shape[-2] != self.num_joints or kp.shape[-1] != cfg.dims:
            raise ValueError(f"PoseNormalizer: keypoints must be {want}, got {tuple(kp.shape)}")
        if cfg.window > 1 and kp.shape[1] != cfg.window:
            raise ValueError(f"PoseNormalizer: window of {kp.shape[1]} frames, the prior uses {cfg.window}")

    def __call__(self, keypoints: torch.Tensor | np.ndarray, visible: torch.Tensor | np.ndarray | None = None
                 ) -> NormalizedPose:
        """Normalise ``keypoints (B, [T,] K, D)`` with visibilities ``(B, [T,] K)`` (> 0 = present).

        ``None`` visibility means every joint is present. Gradients flow to ``keypoints``.
        """
        cfg = self.config
        kp = torch.as_tensor(keypoints)
        if not kp.is_floating_point():
            kp = kp.float()
        self._check(kp)
        if visible is None:
            present = torch.ones(kp.shape[:-1], dtype=torch.bool, device=kp.device)
        else:
            vis = torch.as_tensor(visible, device=kp.device)
            if vis.shape != kp.shape[:-1]:
                raise ValueError(f"PoseNormalizer: visibility {tuple(vis.shape)} must be {tuple(kp.shape[:-1])}")
            present = vis > 0
        windowed = cfg.window > 1
        ref = kp[:, kp.shape[1] // 2] if windowed else kp            # (B, K, D)
        ref_present = present[:, kp.shape[1] // 2] if windowed else present
        ls, rs, lh, rh = self.layout.torso
        center = 0.5 * (ref[:, lh] + ref[:, rh])                       # (B, D)
        valid = ref_present[:, lh] & ref_present[:, rh]
        w = ref_present.to(kp.dtype)
        radial = (ref - center[:, None]).square().sum(-1)              # (B, K)
        rms = ((radial * w).sum(1) / w.sum(1).clamp_min(1)).clamp_min(_TINY).sqrt()
        if cfg.scale == "torso":
            idx = [ls, rs, lh, rh]
            torso = ref[:, idx]
            size = (torso - torso.mean(1, keepdim=True)).square().sum(-1).mean(1).clamp_min(_TINY).sqrt()
            valid = valid & ref_present[:, idx].all(1)
        else:
            size = rms
        valid = valid & (size > cfg.min_relative_scale * rms)
        scale = (size * cfg.scale_factor).clamp_min(_TINY)
        rotation = torch.eye(cfg.dims, dtype=kp.dtype, device=kp.device).expand(kp.shape[0], -1, -1)
        if cfg.align:
            spine = 0.5 * (ref[:, ls] + ref[:, rs]) - center
            norm = (spine[:, 0].square() + spine[:, 1].square()).clamp_min(_TINY).sqrt()
            ux, uy = spine[:, 0] / norm, spine[:, 1] / norm
            rot2 = torch.stack([torch.stack([-uy, ux], -1), torch.stack([-ux, -uy], -1)], -2)   # R u = (0, -1)
            valid = valid & ref_present[:, ls] & ref_present[:, rs] & (norm > cfg.min_relative_scale * rms)
            if cfg.dims == 2:
                rotation = rot2
            else:
                top = torch.cat([rot2, rot2.new_zeros(kp.shape[0], 2, 1)], 2)
                bottom = torch.tensor([0.0, 0.0, 1.0], dtype=kp.dtype, device=kp.device).expand(kp.shape[0], 1, 3)
                rotation = torch.cat([top, bottom], 1)
        shape = (-1,) + (1,) * (kp.ndim - 2) + (cfg.dims,)
        centred = (kp - center.reshape(shape)) / scale.reshape(shape[:-1] + (1,))
        rot = rotation[:, None] if windowed else rotation             # (B, [1,] D, D)
        x = centred @ rot.transpose(-1, -2)
        mask = (present & valid.reshape((-1,) + (1,) * (present.ndim - 1))).to(kp.dtype)
        return NormalizedPose(x=x * mask[..., None], mask=mask, center=center, scale=scale, rotation=rotation,
                              valid=valid)

    def inverse(self, x: torch.Tensor, norm: NormalizedPose) -> torch.Tensor:
        """Map normalised poses ``x (B, [T,] K, D)`` back to input units with ``norm``'s parameters."""
        x = torch.as_tensor(x)
        rot = norm.rotation[:, None] if x.ndim == 4 else norm.rotation
        shape = (-1,) + (1,) * (x.ndim - 2)
        return (x @ rot) * norm.scale.reshape(shape + (1,)) + norm.center.reshape(shape + (x.shape[-1],))

    def numpy(self, keypoints: np.ndarray, visible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Numpy convenience: ``(x, mask)`` as float32 arrays."""
        with torch.no_grad():
            out = self(torch.as_tensor(np.asarray(keypoints, dtype=np.float32)),
                       None if visible is None else torch.as_tensor(np.asarray(visible)))
        return out.x.numpy(), out.mask.numpy()


def rotate_normalized(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate ``x (B, [T,] K, D)`` in the (x, y) plane by ``angles (B,)`` radians (z unchanged)."""
    c, s = torch.cos(angles), torch.sin(angles)
    shape = (-1,) + (1,) * (x.ndim - 2)
    c, s = c.reshape(shape).to(x.dtype), s.reshape(shape).to(x.dtype)
    xr = c * x[..., 0] - s * x[..., 1]
    yr = s * x[..., 0] + c * x[..., 1]
    return torch.cat([xr[..., None], yr[..., None], x[..., 2:]], -1)


def flip_normalized(x: torch.Tensor, mask: torch.Tensor, layout: KeypointLayout | str,
                    which: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror poses horizontally (negate x) and swap left/right joints (``layout.flip_indices``).

    ``which (B,)`` bool selects the samples to flip (all when ``None``).
    """
    perm = torch.as_tensor(get_layout(layout).flip_indices, device=x.device)
    fx = x.index_select(-2, perm)
    fx = torch.cat([-fx[..., :1], fx[..., 1:]], -1)
    fm = mask.index_select(-1, perm)
    if which is None:
        return fx, fm
    sel = which.reshape((-1,) + (1,) * (x.ndim - 1))
    return torch.where(sel, fx, x), torch.where(sel[..., 0], fm, mask)


def augment_normalized(
    x: torch.Tensor,
    mask: torch.Tensor,
    layout: KeypointLayout | str,
    generator: torch.Generator | None = None,
    rotate_deg: float = 180.0,
    flip_prob: float = 0.5,
    joint_mask_prob: float = 0.0,
    part_mask_prob: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training augmentation in the normalised frame (the pelvis stays at the origin, the size at 1).

    * in-plane rotation by ``U(-rotate_deg, rotate_deg)`` degrees per sample;
    * horizontal flip with left/right swap with probability ``flip_prob``;
    * each joint hidden with probability ``joint_mask_prob`` (per frame for windows);
    * with probability ``part_mask_prob`` one joint group of :data:`PART_GROUPS` (face, an arm, a leg)
      is hidden in the whole sample.

    Hidden joints get ``mask = 0`` and ``x = 0``. Returns ``(x, mask)``; the random draws come from
    ``generator`` only (CPU generator; the results are moved to ``x``'s device).
    """
    layout = get_layout(layout)
    b = x.shape[0]
    dev = x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(dev)

    if rotate_deg > 0:
        x = rotate_normalized(x, (rand(b) * 2 - 1) * math.radians(rotate_deg))
    if flip_prob > 0:
        x, mask = flip_normalized(x, mask, layout, rand(b) < flip_prob)
    if joint_mask_prob > 0:
        mask = mask * (rand(*mask.shape) >= joint_mask_prob).to(mask.dtype)
    groups = PART_GROUPS.get(layout.name, ())
    if part_mask_prob > 0 and groups:
        hide = rand(b) < part_mask_prob
        choice = (rand(b) * len(groups)).long().clamp_max(len(groups) - 1)
        table = torch.zeros(len(groups), layout.num_keypoints, dtype=torch.bool)
        for i, group in enumerate(groups):
            table[i, list(group)] = True
        hidden = table.to(dev)[choice] & hide[:, None]                          # (B, K)
        if mask.ndim == 3:
            hidden = hidden[:, None]
        mask = mask * (~hidden).to(mask.dtype)
    return x * mask[..., None], mask
