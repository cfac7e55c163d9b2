"""DDPM noise schedules (Ho et al. 2020; cosine: Nichol & Dhariwal 2021) and their closed forms.

Notation (discrete steps ``t = 0 .. T-1``, ``T = num_steps``, default 1000)::

    beta_t                          the per-step noise variance
    alpha_t      = 1 - beta_t
    abar_t       = prod_{s <= t} alpha_s          ("alphas_cumprod")
    x_t          = sqrt(abar_t) * x_0 + sqrt(1 - abar_t) * eps,   eps ~ N(0, I)   (q_sample)
    x0_hat       = (x_t - sqrt(1 - abar_t) * eps_hat) / sqrt(abar_t)            (predict_x0, one-step Tweedie)

``t = 0`` is the least noisy step (``abar_0 = 1 - beta_0``), ``t = T - 1`` almost pure noise.
Schedules:

* ``linear``: ``beta_t`` linear from ``beta_start = 1e-4`` to ``beta_end = 0.02`` (DDPM).
* ``cosine``: ``abar_t = f(t + 1) / f(0)``, ``f(u) = cos(((u / T) + s) / (1 + s) * pi / 2)^2``, ``s = 0.008``,
  with ``beta_t`` clipped to ``max_beta = 0.999`` (improved DDPM).

All tables are float64 on construction and stored as float32 buffers; :meth:`NoiseSchedule.to` moves them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["SCHEDULES", "NoiseSchedule", "cosine_betas", "linear_betas"]

SCHEDULES = ("linear", "cosine")


def linear_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DDPM's linear betas ``(num_steps,)`` float64; the ends are given for ``T = 1000`` and rescaled
    by ``1000 / T`` so that other step counts keep the same total noise."""
    scale = 1000.0 / num_steps
    return torch.linspace(beta_start * scale, beta_end * scale, num_steps, dtype=torch.float64)


def cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Improved-DDPM cosine betas ``(num_steps,)`` float64."""
    u = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


class NoiseSchedule(nn.Module):
    """A discrete DDPM schedule with the usual derived tables (non-persistent buffers, shape ``(T,)``).

    Args:
        kind: ``"linear"`` or ``"cosine"``.
        num_steps: ``T`` (1000 by default).

    Tables: ``betas``, ``alphas``, ``alphas_cumprod``, ``alphas_cumprod_prev`` (``abar_{t-1}``, 1 at t = 0),
    ``sqrt_alphas_cumprod`` (the signal scale ``a_t``), ``sqrt_one_minus_alphas_cumprod`` (the noise
    scale ``s_t``), ``posterior_variance`` (of ``q(x_{t-1} | x_t, x_0)``), ``posterior_mean_coef1/2``.
    """

    def __init__(self, kind: str = "cosine", num_steps: int = 1000) -> None:
        super().__init__()
        if kind not in SCHEDULES:
            raise ValueError(f"unknown noise schedule {kind!r}; known: {list(SCHEDULES)}")
        if int(num_steps) < 2:
            raise ValueError(f"num_steps must be >= 2, got {num_steps}")
        self.kind = kind
        self.num_steps = int(num_steps)
        betas = linear_betas(self.num_steps) if kind == "linear" else cosine_betas(self.num_steps)
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, 0)
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        tables = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": abar,
            "alphas_cumprod_prev": abar_prev,
            "sqrt_alphas_cumprod": abar.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1 - abar).sqrt(),
            "posterior_variance": betas * (1 - abar_prev) / (1 - abar),
            "posterior_mean_coef1": betas * abar_prev.sqrt() / (1 - abar),
            "posterior_mean_coef2": (1 - abar_prev) * alphas.sqrt() / (1 - abar),
        }
        for name, value in tables.items():
            self.register_buffer(name, value.float(), persistent=False)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, num_steps={self.num_steps}"

    @staticmethod
    def _gather(table: torch.Tensor, t: torch.Tensor | int, ndim: int) -> torch.Tensor:
        """``table[t]`` shaped ``(B, 1, ..., 1)`` to broadcast against a ``(B, ...)`` tensor of ``ndim`` dims."""
        t = torch.as_tensor(t, device=table.device, dtype=torch.long)
        values = table[t]
        return values.reshape(values.shape + (1,) * (ndim - values.ndim))

    def check_steps(self, t: torch.Tensor | int) -> None:
        t = torch.as_tensor(t)
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_steps):
            raise ValueError(f"timesteps must lie in [0, {self.num_steps - 1}], got {t.min()}..{t.max()}")

    def signal_scale(self, t: torch.Tensor | int) -> torch.Tensor:
        """``a_t = sqrt(abar_t)`` at the steps ``t``."""
        return self.sqrt_alphas_cumprod[torch.as_tensor(t, device=self.betas.device, dtype=torch.long)]

    def noise_scale(self, t: torch.Tensor | int) -> torch.Tensor:
        """``s_t = sqrt(1 - abar_t)`` at the steps ``t``."""
        return self.sqrt_one_minus_alphas_cumprod[torch.as_tensor(t, device=self.betas.device, dtype=torch.long)]

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor) -> torch.Tensor:
        """Diffuse ``x0 (B, ...)`` to step ``t`` (``(B,)`` or a scalar): ``a_t x0 + s_t noise``."""
        a = self._gather(self.sqrt_alphas_cumprod, t, x0.ndim).to(x0.dtype)
        s = self._gather(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim).to(x0.dtype)
        return a * x0 + s * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
        """One-step Tweedie estimate ``x0_hat = (x_t - s_t eps) / a_t`` from a noise prediction ``eps``."""
        a = self._gather(self.sqrt_alphas_cumprod, t, x_t.ndim).to(x_t.dtype)
        s = self._gather(self.sqrt_one_minus_alphas_cumprod, t, x_t.ndim).to(x_t.dtype)
        return (x_t - s * eps) / a

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor | int, x0: torch.Tensor) -> torch.Tensor:
        """The noise implied by ``x_t`` and a clean estimate ``x0``: ``(x_t - a_t x0) / s_t``."""
        a = self._gather(self.sqrt_alphas_cumprod, t, x_t.ndim).to(x_t.dtype)
        s = self._gather(self.sqrt_one_minus_alphas_cumprod, t, x_t.ndim).to(x_t.dtype)
        return (x_t - a * x0) / s

    def posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor | int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of ``q(x_{t-1} | x_t, x0)`` (variance broadcast like ``x_t``)."""
        c1 = self._gather(self.posterior_mean_coef1, t, x_t.ndim).to(x_t.dtype)
        c2 = self._gather(self.posterior_mean_coef2, t, x_t.ndim).to(x_t.dtype)
        var = self._gather(self.posterior_variance, t, x_t.ndim).to(x_t.dtype)
        return c1 * x0 + c2 * x_t, var.expand_as(x_t)
