"""Integral regression: the differentiable soft-argmax read-out of heatmaps and the coordinate loss on it.

``p = softmax(beta * h)`` over the ``H·W`` pixels of each channel, coordinates ``x = Σ p_i u_i`` with pixel
centres at integers (``u = (col, row)``, so a one-hot map at column 5 gives exactly 5.0). The gradient on the
logits is ``∂x/∂h_i = beta · p_i (u_i - x)``: it moves mass towards the pixels on the side the loss points to.
This is the integral pose regression of Sun et al., "Integral Human Pose Regression" (ECCV 2018, IPR) and
Nibali et al., "Numerical Coordinate Regression with Convolutional Neural Networks" (2018, DSNT).

``beta`` (or ``temperature = 1 / beta``) must suit the heatmap's value range: the pose head regresses
Gaussians with peak 1 (MSE, UDP codec), for which ``beta = 50`` (the default) leaves a negligible share of
the softmax mass on the background (the bias towards the map centre that plain softmax has, Gu et al.,
"Removing the Bias of Integral Pose Regression", ICCV 2021); for DSNT-style logits use ``beta = 1``. Heatmap
argmax stays the inference read-out; this is the training path.
"""

from __future__ import annotations

import torch

__all__ = ["integral_coord_loss", "local_soft_argmax", "soft_argmax"]


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


def local_soft_argmax(
    heatmaps: torch.Tensor, radius: int = 3, beta: float = 50.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-argmax inside a ``(2·radius + 1)²`` window centred on each channel's argmax.

    ``p = softmax(beta · h)`` over the window's pixels that lie on the map, ``x = Σ p_i u_i``: the argmax refined
    to sub-pixel precision by its neighbours. The background cannot pull the read-out towards the map centre: a flat
    window reads its centre, the argmax, and the read-out never leaves the window (at most ``radius`` pixels from the
    argmax). Gradients reach only the window's pixels (``∂x/∂h_i = beta · p_i (u_i - x)``); which pixel is the argmax
    is not differentiable.

    Args:
        heatmaps: ``(B, K, H, W)`` raw heatmaps (any float dtype; computed in float32).
        radius: half-width of the window in heatmap pixels (0: the argmax itself, no gradient).
        beta: inverse temperature inside the window (heatmap values are multiplied by it).

    Returns:
        ``coords (B, K, 2)`` float32 ``(x, y)`` in heatmap pixels (pixel centres at integers), differentiable in
        ``heatmaps``; ``confidence (B, K)`` float32, detached: the heatmap's maximum.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"local_soft_argmax: heatmaps must be (B, K, H, W), got {tuple(heatmaps.shape)}")
    if radius < 0:
        raise ValueError(f"local_soft_argmax: radius must be >= 0, got {radius}")
    b, k, h, w = heatmaps.shape
    if h == 0 or w == 0:
        raise ValueError(f"local_soft_argmax: empty heatmap size {h}x{w}")
    flat = heatmaps.float().reshape(b, k, h * w)
    confidence, index = flat.detach().max(-1)
    offsets = torch.arange(-radius, radius + 1, device=heatmaps.device)
    ys = (index // w)[..., None, None] + offsets[:, None]            # (B, K, S, 1)
    xs = (index % w)[..., None, None] + offsets[None, :]             # (B, K, 1, S)
    ys, xs = torch.broadcast_tensors(ys, xs)
    inside = ((ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)).reshape(b, k, -1)
    taps = (ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)).reshape(b, k, -1)
    logits = (flat.gather(-1, taps) * beta).masked_fill(~inside, float("-inf"))
    prob = torch.softmax(logits, dim=-1)
    x = (prob * xs.reshape(b, k, -1).float()).sum(-1)
    y = (prob * ys.reshape(b, k, -1).float()).sum(-1)
    return torch.stack([x, y], -1), confidence


def integral_coord_loss(
    heatmaps: torch.Tensor,
    keypoints: torch.Tensor,
    keypoint_weights: torch.Tensor,
    samples: torch.Tensor,
    input_size: tuple[int, int],
    beta: float = 50.0,
) -> torch.Tensor:
    """Integral-regression term: L1 between the soft-argmax coordinates and the labels, in heatmap widths.

    The labels are carried from crop to heatmap pixels with the UDP scale ``(W-1)/(w-1)``, ``(H-1)/(h-1)``;
    the per-keypoint error ``|Δx| + |Δy|`` (heatmap pixels) is divided by the heatmap width ``W``, so the loss
    does not depend on the heatmap resolution.

    Args:
        heatmaps: ``(B, K, H, W)`` predicted heatmaps (any float dtype; read out in float32).
        keypoints: ``(B, K, 2)`` target ``(x, y)`` in crop (model input) pixels.
        keypoint_weights: ``(B, K)`` the codec's keypoint weights (0 where a keypoint has no target).
        samples: ``(B,)`` which samples the term applies to (bool or 0/1), e.g. the labelled ones.
        input_size: crop size ``(w, h)`` in pixels.
        beta: soft-argmax inverse temperature (:func:`soft_argmax`).

    Returns:
        Scalar: the weighted mean of the per-keypoint errors over the selected samples; 0 when no keypoint
        has weight.
    """
    coords, _ = soft_argmax(heatmaps.float(), beta=beta)
    h, w = heatmaps.shape[-2:]
    scale = coords.new_tensor([(w - 1) / (input_size[0] - 1), (h - 1) / (input_size[1] - 1)])
    target = keypoints.float() * scale
    weight = keypoint_weights.float() * samples.float()[:, None]
    err = (coords - target).abs().sum(-1) / w
    return (err * weight).sum() / weight.sum().clamp_min(1.0)
