"""Masked reductions shared by every loss: an empty mask gives 0, never NaN."""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` over the entries where ``mask`` is true (or > 0, used as weights).

    The result stays connected to the graph when the mask is empty (it is then exactly 0), so
    a term that has nothing to supervise in one batch still yields zero gradients instead of
    NaN, and distributed training sees every parameter used.

    Args:
        values: any shape.
        mask: broadcastable to ``values``; bool or float weights; ``None`` means all entries.
    """
    if mask is None:
        return values.mean() if values.numel() else values.sum() * 0.0
    weights = mask.to(values.dtype).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1e-12)


def per_sample_masked_mean(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample means over all non-batch dims: ``(means (B,), valid (B,) bool)``.

    ``means[b]`` is 0 for samples whose mask is empty; ``valid`` says which are not.
    """
    weights = mask.to(values.dtype).expand_as(values).flatten(1)
    total = weights.sum(1)
    means = (values.flatten(1) * weights).sum(1) / total.clamp_min(1e-12)
    return means, total > 0
