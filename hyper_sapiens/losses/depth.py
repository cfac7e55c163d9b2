"""Depth losses for relative depth.

The depth head's output is read as **log-depth up to an additive constant** (``silog_loss``)
or as **depth up to a positive scale and shift** (``ssi_loss``); which one is configuration.
Both are invariant to the global depth scale, so the head never needs metric units.
"""

from __future__ import annotations

import torch

from .masking import per_sample_masked_mean


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, name: str) -> None:
    if pred.ndim != 4 or pred.shape[1] != 1 or pred.shape != target.shape or mask.shape != pred.shape:
        raise ValueError(
            f"{name}: pred {tuple(pred.shape)}, target {tuple(target.shape)} and mask {tuple(mask.shape)} "
            "must all be (B, 1, H, W)"
        )


def silog_loss(
    pred_log_depth: torch.Tensor,
    target_depth: torch.Tensor,
    mask: torch.Tensor,
    variance_focus: float = 0.85,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al. 2014) on a log-depth prediction.

    Per sample, with ``d = pred_log_depth - log(target)`` over valid pixels:
    ``sqrt(mean(d²) - λ·mean(d)² + eps)``; the batch mean is taken over samples with at least
    one valid pixel. ``λ = 1`` is fully invariant to the depth scale (a shift of the log);
    the default 0.85 keeps a weak pull toward the absolute scale.

    Args:
        pred_log_depth: ``(B, 1, H, W)`` predicted log-depth (natural log of metres + any constant).
        target_depth: ``(B, 1, H, W)`` depth in metres; pixels ``<= 0`` are invalid.
        mask: ``(B, 1, H, W)`` bool, pixels that may be supervised.
    """
    _check(pred_log_depth, target_depth, mask, "silog_loss")
    valid = mask.to(torch.bool) & (target_depth > eps)
    d = pred_log_depth - torch.log(target_depth.clamp_min(eps))
    mean_sq, ok = per_sample_masked_mean(d.square(), valid)
    mean, _ = per_sample_masked_mean(d, valid)
    per_sample = torch.sqrt((mean_sq - variance_focus * mean.square()).clamp_min(0.0) + eps)
    okf = ok.to(per_sample.dtype)
    return (per_sample * okf).sum() / okf.sum().clamp_min(1.0)


def _median_mad_normalise(x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ``(x - median) / mean|x - median|`` over valid pixels; ``(B, N)`` inputs."""
    nan = torch.full_like(x, float("nan"))
    median = torch.nanmedian(torch.where(valid, x, nan), dim=1).values
    median = torch.nan_to_num(median, nan=0.0)
    centred = x - median[:, None]
    mad, _ = per_sample_masked_mean(centred.abs(), valid)
    return centred / mad.clamp_min(1e-6)[:, None], mad


def ssi_loss(pred: torch.Tensor, target_depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scale-and-shift-invariant MAE (MiDaS / Omnidata form) on relative depth.

    Prediction and target are each normalised per sample to zero median and unit mean absolute
    deviation over the valid pixels, then compared with a mean absolute error. Invariant to any
    positive scale and any shift of the prediction; a prediction that is inverted (nearer =
    larger) is penalised, so the output keeps "larger is farther".

    Args:
        pred: ``(B, 1, H, W)`` relative depth prediction.
        target_depth: ``(B, 1, H, W)`` depth (any positive units); ``<= 0`` invalid.
        mask: ``(B, 1, H, W)`` bool.
    """
    _check(pred, target_depth, mask, "ssi_loss")
    valid = (mask.to(torch.bool) & (target_depth > 0)).flatten(1)
    p, _ = _median_mad_normalise(pred.flatten(1), valid)
    g, _ = _median_mad_normalise(target_depth.flatten(1), valid)
    per_sample, ok = per_sample_masked_mean((p - g).abs(), valid & (valid.sum(1, keepdim=True) >= 2))
    okf = ok.to(per_sample.dtype)
    return (per_sample * okf).sum() / okf.sum().clamp_min(1.0)
