"""Surface-normal losses (camera frame, unit vectors, channel dim 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .masking import masked_mean


def angle_between(a: torch.Tensor, b: torch.Tensor, dim: int = 1, eps: float = 1e-12) -> torch.Tensor:
    """Angle in radians between vector fields ``a`` and ``b`` along ``dim``.

    Computed as ``atan2(|a×b|, a·b)``, which keeps a finite, accurate gradient near 0 and π
    where ``acos`` of the cosine does not. Inputs need not be unit length.
    """
    cross = torch.linalg.cross(a, b, dim=dim)
    sin = torch.sqrt(cross.square().sum(dim) + eps)
    cos = (a * b).sum(dim)
    return torch.atan2(sin, cos)


def normal_angular_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean angular error (radians) between predicted and target normals over valid pixels.

    Args:
        pred: ``(B, 3, H, W)`` predicted normals (normalised inside).
        target: ``(B, 3, H, W)`` unit target normals.
        mask: ``(B, 1, H, W)`` bool, valid target pixels.
    """
    if pred.ndim != 4 or pred.shape[1] != 3 or pred.shape != target.shape or mask.shape[1] != 1:
        raise ValueError(
            f"normal_angular_loss: pred {tuple(pred.shape)} / target {tuple(target.shape)} must be (B, 3, H, W) "
            f"and mask {tuple(mask.shape)} (B, 1, H, W)"
        )
    angle = angle_between(F.normalize(pred, dim=1, eps=1e-6), target, dim=1)
    return masked_mean(angle, mask[:, 0])


def normal_cosine_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos`` between predicted and target normals (the Sapiens / Metric3D form)."""
    cos = (F.normalize(pred, dim=1, eps=1e-6) * target).sum(1)
    return masked_mean(1.0 - cos, mask[:, 0])
