"""Drawing new poses from the prior: ancestral DDPM sampling and DDIM (Song et al. 2021).

Both return normalised poses ``(N, [F,] K, D)`` (pelvis at the origin, torso size ``1 / scale_factor``);
map them to pixels with ``prior.denormalize`` and the parameters of a reference pose if needed.
``x0_clip`` bounds the intermediate clean estimates (normalised units) against rare blow-ups at high noise.
"""

from __future__ import annotations

import torch

from .model import PosePrior

__all__ = ["ddim_timesteps", "sample_ddim", "sample_ddpm"]


def _start(prior: PosePrior, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    return torch.randn((n,) + prior.pose_shape, generator=generator).to(device)


def _mask(prior: PosePrior, n: int, mask: torch.Tensor | None, device) -> torch.Tensor:
    if mask is None:
        return torch.ones((n,) + prior.pose_shape[:-1], device=device)
    return mask.float().to(device).expand((n,) + prior.pose_shape[:-1])


@torch.no_grad()
def sample_ddpm(
    prior: PosePrior,
    n: int,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
    x0_clip: float | None = 6.0,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Ancestral sampling through all ``T`` steps (posterior variance ``beta~_t``).

    ``mask`` ``(K,)`` or ``(N, K)`` marks the joints the prior conditions on as present (default all);
    hidden joints come out as whatever the prior guesses for them. Noise comes from ``generator``.
    """
    device = torch.device(device) if device is not None else next(prior.parameters()).device
    sched = prior.schedule
    m = _mask(prior, n, mask, device)
    x = _start(prior, n, generator, device)
    for step in range(sched.num_steps - 1, -1, -1):
        t = torch.full((n,), step, dtype=torch.long, device=device)
        x0 = sched.predict_x0(x, t, prior.predict_eps(x, t, m))
        if x0_clip is not None:
            x0 = x0.clamp(-x0_clip, x0_clip)
        mean, var = sched.posterior(x0, x, t)
        if step > 0:
            x = mean + var.sqrt() * torch.randn(x.shape, generator=generator).to(device)
        else:
            x = mean
    return x


def ddim_timesteps(num_steps: int, steps: int) -> list[int]:
    """``steps`` decreasing DDPM steps from ``num_steps - 1`` to 0 (evenly spaced, distinct)."""
    steps = max(1, min(int(steps), num_steps))
    seq = torch.linspace(num_steps - 1, 0, steps).round().long().tolist()
    return sorted(set(seq), reverse=True)


@torch.no_grad()
def sample_ddim(
    prior: PosePrior,
    n: int,
    steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    mask: torch.Tensor | None = None,
    x0_clip: float | None = 6.0,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """DDIM sampling over ``steps`` steps; ``eta = 0`` is deterministic given the start noise, ``eta = 1``
    matches DDPM's variance."""
    device = torch.device(device) if device is not None else next(prior.parameters()).device
    sched = prior.schedule
    m = _mask(prior, n, mask, device)
    x = _start(prior, n, generator, device)
    seq = ddim_timesteps(sched.num_steps, steps)
    abar = sched.alphas_cumprod
    for i, step in enumerate(seq):
        t = torch.full((n,), step, dtype=torch.long, device=device)
        eps = prior.predict_eps(x, t, m)
        x0 = sched.predict_x0(x, t, eps)
        if x0_clip is not None:
            x0 = x0.clamp(-x0_clip, x0_clip)
            eps = sched.predict_eps(x, t, x0)
        a_t = abar[step]
        a_prev = abar[seq[i + 1]] if i + 1 < len(seq) else abar.new_tensor(1.0)
        sigma = eta * ((1 - a_prev) / (1 - a_t)).sqrt() * (1 - a_t / a_prev).clamp_min(0).sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp_min(0).sqrt() * eps
        if eta > 0 and i + 1 < len(seq):
            x = x + sigma * torch.randn(x.shape, generator=generator).to(device)
    return x
