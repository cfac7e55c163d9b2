"""The prior's noise predictor: an MLP with residual blocks and a sinusoidal timestep embedding.

Shaped after DPoser's / GFPose's ``ScoreModelFC`` (Lu et al. 2023, github.com/moonbow721/DPoser; Ci et al.
2023), scaled down for CPU training: input -> ``Linear + time`` -> GroupNorm -> SiLU, then ``blocks``
residual blocks of two ``(Linear + time) -> GroupNorm -> SiLU`` layers, then a zero-initialised linear read-out of ε.

The input is the noisy pose with its hidden joints zeroed plus a per-joint presence channel, flattened:
``[x_t * m, m]`` of size ``F·K·D + F·K`` (F frames per window), so a missing joint is "unknown", not
"at the pelvis". DPoser/GFPose use width 1024, time embedding 512, 2 blocks; the default here is 512 / 128 / 2.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from ..config_schema import check_known_keys

__all__ = ["DenoiserConfig", "PoseDenoiser", "timestep_embedding"]


@dataclass(frozen=True)
class DenoiserConfig:
    """Size of the denoiser. ``num_joints``, ``dims`` and ``window`` follow the normaliser."""

    num_joints: int = 17
    dims: int = 2
    window: int = 1
    hidden: int = 512
    blocks: int = 2
    embed_dim: int = 128
    dropout: float = 0.0
    groups: int = 32

    def __post_init__(self) -> None:
        if self.hidden % self.groups:
            raise ValueError(f"denoiser hidden ({self.hidden}) must be a multiple of groups ({self.groups})")
        if self.embed_dim % 2:
            raise ValueError(f"denoiser embed_dim must be even, got {self.embed_dim}")
        if self.blocks < 0:
            raise ValueError(f"denoiser blocks must be >= 0, got {self.blocks}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DenoiserConfig:
        check_known_keys(data, [f.name for f in fields(cls)], "denoiser")
        return cls(**data)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style sinusoidal embedding ``(B, dim)`` of integer or real timesteps ``t (B,)``:
    ``[cos(t f_i), sin(t f_i)]`` with ``f_i = max_period^(-i / (dim/2))``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class _ResidualBlock(nn.Module):
    def __init__(self, hidden: int, embed_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden, hidden)
        self.time1 = nn.Linear(embed_dim, hidden)
        self.norm1 = nn.GroupNorm(groups, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.time2 = nn.Linear(embed_dim, hidden)
        self.norm2 = nn.GroupNorm(groups, hidden)
        self.act = nn.SiLU()
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h1 = self.drop(self.act(self.norm1(self.fc1(h) + self.time1(temb))))
        h2 = self.drop(self.act(self.norm2(self.fc2(h1) + self.time2(temb))))
        return h + h2


class PoseDenoiser(nn.Module):
    """ε-prediction network: ``forward(x_t, t, mask) -> eps_hat`` with ``x_t``'s shape.

    Args (of forward):
        x_t: ``(B, K, D)`` noisy normalised poses, or ``(B, F, K, D)`` windows.
        t: ``(B,)`` integer timesteps.
        mask: ``(B, K)`` / ``(B, F, K)`` joint presence (0/1); ``None`` = all present.
    """

    def __init__(self, config: DenoiserConfig | dict[str, Any] | None = None) -> None:
        super().__init__()
        if config is None:
            config = DenoiserConfig()
        elif isinstance(config, dict):
            config = DenoiserConfig.from_dict(config)
        self.config = c = config
        self.num_points = c.window * c.num_joints
        self.time_embed = nn.Sequential(nn.Linear(c.embed_dim, c.embed_dim), nn.SiLU())
        self.input = nn.Linear(self.num_points * (c.dims + 1), c.hidden)
        self.input_time = nn.Linear(c.embed_dim, c.hidden)
        self.input_norm = nn.GroupNorm(c.groups, c.hidden)
        self.act = nn.SiLU()
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(_ResidualBlock(c.hidden, c.embed_dim, c.groups, c.dropout) for _ in range(c.blocks))
        self.output = nn.Linear(c.hidden, self.num_points * c.dims)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        c = self.config
        b = x_t.shape[0]
        if x_t.shape[1:].numel() != self.num_points * c.dims:
            raise ValueError(f"PoseDenoiser: expected {self.num_points} points x {c.dims} dims per sample, "
                             f"got {tuple(x_t.shape)}")
        if mask is None:
            mask = x_t.new_ones(x_t.shape[:-1])
        m = mask.to(x_t.dtype)
        inp = torch.cat([(x_t * m[..., None]).reshape(b, -1), m.reshape(b, -1)], 1)
        temb = self.time_embed(timestep_embedding(t.reshape(b), c.embed_dim).to(x_t.dtype))
        h = self.drop(self.act(self.input_norm(self.input(inp) + self.input_time(temb))))
        for block in self.blocks:
            h = block(h, temb)
        return self.output(h).reshape(x_t.shape)
