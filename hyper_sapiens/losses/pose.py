"""Heatmap regression loss with mmpose's ``KeypointMSELoss`` semantics."""

from __future__ import annotations

import torch


def keypoint_mse_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    keypoint_weights: torch.Tensor | None = None,
    sample_mask: torch.Tensor | None = None,
    skip_empty_channel: bool = False,
) -> torch.Tensor:
    """Mean squared heatmap error, weighted per keypoint, over the selected samples.

    Matches mmpose 1.3.2 ``KeypointMSELoss``: the squared error is multiplied by the keypoint
    weight (always, whatever ``use_target_weight`` says there) and averaged over *all*
    ``B·K·H·W`` entries, weights included in the numerator only. No factor 0.5.

    Args:
        pred: predicted heatmaps ``(B, K, H, W)``.
        target: target heatmaps ``(B, K, H, W)``.
        keypoint_weights: ``(B, K)`` weights from the codec (visibility-derived), or ``None``.
        sample_mask: ``(B,)`` bool, the samples that carry keypoint labels; ``None`` = all.
            Unselected samples do not count in the mean either.
        skip_empty_channel: also zero the weight of channels whose target is all zero.

    Returns:
        Scalar loss; exactly 0 (graph-connected) when no sample is selected.
    """
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(f"keypoint_mse_loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} "
                         "must both be (B, K, H, W)")
    b, k = pred.shape[:2]
    weights = pred.new_ones(b, k) if keypoint_weights is None else keypoint_weights.to(pred.dtype)
    if weights.shape != (b, k):
        raise ValueError(f"keypoint_mse_loss: keypoint_weights {tuple(weights.shape)} must be ({b}, {k})")
    if skip_empty_channel:
        weights = weights * (target != 0).flatten(2).any(2).to(pred.dtype)
    if sample_mask is not None:
        sample_mask = sample_mask.to(torch.bool)
        if sample_mask.shape != (b,):
            raise ValueError(f"keypoint_mse_loss: sample_mask {tuple(sample_mask.shape)} must be ({b},)")
        weights = weights * sample_mask[:, None].to(pred.dtype)
        count = sample_mask.sum()
    else:
        count = torch.tensor(b, device=pred.device)
    sq = (pred - target).square() * weights[:, :, None, None]
    denom = (count * k * pred.shape[2] * pred.shape[3]).clamp_min(1).to(pred.dtype)
    return sq.sum() / denom
