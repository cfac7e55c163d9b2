"""Differentiable heatmap read-out: soft-argmax (integral regression, IPR / DSNT).

``p = softmax(beta * h)`` over the ``H·W`` pixels of each channel, coordinates ``x = Σ p_i u_i`` with pixel
centres at integers (``u = (col, row)``, so a one-hot map at column 5 gives exactly 5.0). The gradient on the
logits is ``∂x/∂h_i = beta · p_i (u_i - x)``: it moves mass towards the pixels on the side the loss points to.

``beta`` (or ``temperature = 1 / beta``) must suit the heatmap's value range: the pose head regresses
Gaussians with peak 1 (MSE, UDP codec), for which ``beta = 50`` (the default) leaves a negligible share of
the softmax mass on the background (the bias towards the map centre that plain softmax has, Gu et al. 2021);
for DSNT-style logits use ``beta = 1``. Heatmap argmax stays the inference read-out; this is the training path.
"""

from __future__ import annotations

import torch

__all__ = ["soft_argmax"]


def soft_argmax(
    heatmaps: torch.Tensor, beta: float | torch.Tensor = 50.0, temperature: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-argmax coordinates of heatmaps.

    Args:
        heatmaps: ``(B, K, H, W)`` raw heatmaps (any float dtype; computed in float32).
        beta: inverse temperature, a float or a tensor broadcastable to ``(B, K)`` (e.g. a learnable
            per-joint ``(K,)``).
        temperature: ``1 / beta``; overrides ``beta`` when given.

    Returns:
        ``coords (B, K, 2)`` float32 ``(x, y)`` in heatmap pixels (pixel centres at integers), differentiable
        in ``heatmaps``; ``confidence (B, K)`` float32, detached: the heatmap's maximum (mmpose's score for
        MSE-trained heatmaps; clamp it to [0, 1] where a weight is needed).
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"soft_argmax: heatmaps must be (B, K, H, W), got {tuple(heatmaps.shape)}")
    b, k, h, w = heatmaps.shape
    if h == 0 or w == 0:
        raise ValueError(f"soft_argmax: empty heatmap size {h}x{w}")
    if temperature is not None:
        if temperature <= 0:
            raise ValueError(f"soft_argmax: temperature must be > 0, got {temperature}")
        beta = 1.0 / temperature
    flat = heatmaps.float().reshape(b, k, h * w)
    if isinstance(beta, torch.Tensor):
        beta = beta.float().unsqueeze(-1) if beta.ndim else beta.float()
    # softmax subtracts the per-channel maximum: stable for any beta and value range.
    prob = torch.softmax(flat * beta, dim=-1).reshape(b, k, h, w)
    xs = torch.arange(w, dtype=torch.float32, device=heatmaps.device)
    ys = torch.arange(h, dtype=torch.float32, device=heatmaps.device)
    x = (prob.sum(2) * xs).sum(-1)
    y = (prob.sum(3) * ys).sum(-1)
    confidence = flat.detach().amax(-1)
    return torch.stack([x, y], -1), confidence
