"""Plausibility score of poses under the prior: the denoising error at a few low noise levels.

``score(x) = mean over t in timesteps, j < num_noise of  Σ_k m_k ||eps_hat(a_t x + s_t eps_j, t) - eps_j||²_k
/ (D Σ_k m_k)`` with a fixed set of noise draws ``eps_j`` (seeded, the same for every pose) -- a
deterministic Monte-Carlo estimate of the diffusion ELBO's low-noise terms, i.e. of ``-log p(x)`` up to
weighting and a constant. **Lower = more plausible.** A pose far from the training poses is denoised
towards them, so its error grows like ``(a_t / s_t)² d²`` for a distance ``d``; a typical pose scores near
the prior's validation loss at those steps. Use it as a metric (mean over a set) or a filter (threshold).
Samples whose normalisation is invalid (missing hips or torso) score ``NaN``; compare with ``<`` to drop them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .model import PosePrior

__all__ = ["DEFAULT_SCORE_STEPS", "plausibility_score", "score_keypoints"]

DEFAULT_SCORE_STEPS: tuple[int, ...] = (10, 25, 50, 100)


@torch.no_grad()
def plausibility_score(
    prior: PosePrior,
    x: torch.Tensor,
    mask: torch.Tensor | None = None,
    timesteps: Sequence[int] = DEFAULT_SCORE_STEPS,
    num_noise: int = 8,
    seed: int = 0,
    batch_size: int = 4096,
) -> torch.Tensor:
    """Scores ``(B,)`` (lower = more plausible) of normalised poses ``x (B, [F,] K, D)``.

    Args:
        mask: ``(B, [F,] K)`` joints to use (hidden from the prior and not scored when 0); ``None`` = all.
        timesteps: DDPM steps averaged over.
        num_noise: noise draws per step; the draws depend only on ``seed`` and the pose shape.
        batch_size: rows (poses x steps x draws) per denoiser call.
    """
    shape = prior.pose_shape
    if tuple(x.shape[1:]) != shape:
        raise ValueError(f"plausibility_score: x must be (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
    b = x.shape[0]
    device = x.device
    x = x.float()
    mask = torch.ones(x.shape[:-1], device=device) if mask is None else mask.float().to(device)
    steps = torch.as_tensor(list(timesteps), dtype=torch.long)
    prior.schedule.check_steps(steps)
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn((len(steps), num_noise) + shape, generator=gen).to(device)    # (S, J, ...)
    combos = len(steps) * num_noise
    t_all = steps.to(device).repeat_interleave(num_noise)                               # (S*J,)
    eps_all = noise.reshape((combos,) + shape)
    per_pose = max(1, batch_size // combos)
    out = torch.empty(b, device=device)
    for start in range(0, b, per_pose):
        xb, mb = x[start:start + per_pose], mask[start:start + per_pose]
        n = xb.shape[0]
        xr = xb.repeat_interleave(combos, 0)
        mr = mb.repeat_interleave(combos, 0)
        t = t_all.repeat(n)
        eps = eps_all.repeat((n,) + (1,) * len(shape))
        eps_hat = prior.predict_eps(prior.schedule.q_sample(xr, t, eps), t, mr)
        err = ((eps_hat - eps).square().sum(-1) * mr).reshape(n, combos, -1).sum(-1)
        count = mr.reshape(n, combos, -1).sum(-1) * shape[-1]
        out[start:start + n] = (err / count.clamp_min(1)).mean(1)
    out[mask.reshape(b, -1).sum(1) == 0] = float("nan")
    return out


@torch.no_grad()
def score_keypoints(
    prior: PosePrior,
    keypoints: torch.Tensor,
    visible: torch.Tensor | None = None,
    **kwargs,
) -> torch.Tensor:
    """:func:`plausibility_score` of keypoints in pixels ``(B, [F,] K, D)``, normalised by the prior first."""
    norm = prior.normalize(torch.as_tensor(keypoints).float(), None if visible is None else torch.as_tensor(visible))
    return plausibility_score(prior, norm.x, norm.mask, **kwargs)
