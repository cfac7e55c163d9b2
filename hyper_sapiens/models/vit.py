"""Sapiens vision transformer backbone in plain PyTorch.

A pre-norm ViT with the exact module and parameter names of the Sapiens checkpoints
(``mmpretrain.VisionTransformer`` as configured by the Sapiens pose/depth/normal configs, keys
``backbone.*`` without the prefix):

```text
pos_embed                        (1, Gh*Gw, C)   learnable, no class token
patch_embed.projection.{weight,bias}             Conv2d(3, C, 16, stride 16, padding=patch_padding)
layers.{i}.ln1 / .ln2                            LayerNorm(C, eps=1e-6)
layers.{i}.attn.qkv / .attn.proj                 Linear(C, 3C) / Linear(C, C), both with bias
layers.{i}.ffn.layers.0.0 / .ffn.layers.1        Linear(C, 4C) -> exact GELU -> Linear(4C, C)
ln1                                              final LayerNorm(C, eps=1e-6)
```

The output is the final-normed token grid as a feature map ``(B, C, Gh, Gw)`` (with
channels-last memory layout, which the convolutional heads consume without a copy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["ARCHS", "ViTArch", "SapiensViT", "resize_pos_embed", "patch_grid", "get_arch"]


@dataclass(frozen=True)
class ViTArch:
    """Transformer dimensions of one backbone size."""

    embed_dims: int
    num_layers: int
    num_heads: int
    ffn_ratio: int = 4

    @property
    def feedforward_channels(self) -> int:
        return self.embed_dims * self.ffn_ratio


# Source: facebookresearch/sapiens, pretrain/mmpretrain/models/backbones/vision_transformer.py, `arch_zoo`.
# `tiny` and `small` are ours: the same design with CPU-sized dimensions.
ARCHS: dict[str, ViTArch] = {
    "sapiens_0.3b": ViTArch(embed_dims=1024, num_layers=24, num_heads=16),
    "sapiens_0.6b": ViTArch(embed_dims=1280, num_layers=32, num_heads=16),
    "sapiens_1b": ViTArch(embed_dims=1536, num_layers=40, num_heads=24),
    "sapiens_2b": ViTArch(embed_dims=1920, num_layers=48, num_heads=32),
    "tiny": ViTArch(embed_dims=192, num_layers=6, num_heads=3),
    "small": ViTArch(embed_dims=384, num_layers=12, num_heads=6),
}
_ALIASES = {"0.3b": "sapiens_0.3b", "0.6b": "sapiens_0.6b", "1b": "sapiens_1b", "2b": "sapiens_2b"}


def get_arch(arch: str, **overrides: int) -> ViTArch:
    """The :class:`ViTArch` named ``arch`` (``sapiens_0.3b`` … ``sapiens_2b``, ``0.3b`` …, ``tiny``,
    ``small``) with ``embed_dims``/``num_layers``/``num_heads``/``ffn_ratio`` overridden where given."""
    name = _ALIASES.get(arch.lower(), arch.lower())
    if name not in ARCHS:
        raise ValueError(f"unknown backbone arch {arch!r}; choose one of {sorted(ARCHS)}")
    base = ARCHS[name]
    unknown = set(overrides) - {"embed_dims", "num_layers", "num_heads", "ffn_ratio"}
    if unknown:
        raise ValueError(f"unknown backbone overrides {sorted(unknown)} for arch {arch!r}")
    fields = {
        "embed_dims": base.embed_dims,
        "num_layers": base.num_layers,
        "num_heads": base.num_heads,
        "ffn_ratio": base.ffn_ratio,
    }
    fields.update({k: int(v) for k, v in overrides.items() if v is not None})
    out = ViTArch(**fields)
    if out.embed_dims % out.num_heads:
        raise ValueError(f"embed_dims {out.embed_dims} is not divisible by num_heads {out.num_heads}")
    return out


def patch_grid(img_size: tuple[int, int], patch_size: int, patch_padding: int | str) -> tuple[int, int]:
    """Token grid ``(Gh, Gw)`` for an input of ``img_size = (H, W)`` pixels.

    ``patch_padding`` is the patch convolution's zero padding in pixels (Sapiens pose/normal: 2),
    or ``"corner"`` (Sapiens depth: pad bottom/right up to a multiple of the patch size).
    """
    h, w = int(img_size[0]), int(img_size[1])
    if patch_padding == "corner":
        return math.ceil(h / patch_size), math.ceil(w / patch_size)
    pad = int(patch_padding)
    return (h + 2 * pad - patch_size) // patch_size + 1, (w + 2 * pad - patch_size) // patch_size + 1


def resize_pos_embed(pos_embed: torch.Tensor, src_grid: Sequence[int], dst_grid: Sequence[int]) -> torch.Tensor:
    """Bicubic resize of a position table ``(1, Gh*Gw, C)`` from ``src_grid`` to ``dst_grid`` (``(Gh, Gw)``).

    As Sapiens (``mmpretrain.models.utils.embed.resize_pos_embed``): ``F.interpolate(mode='bicubic',
    align_corners=False)`` on the ``(1, C, Gh, Gw)`` grid, computed in float32, returned in the input dtype.
    """
    src_h, src_w = int(src_grid[0]), int(src_grid[1])
    dst_h, dst_w = int(dst_grid[0]), int(dst_grid[1])
    if (src_h, src_w) == (dst_h, dst_w):
        return pos_embed
    if pos_embed.ndim != 3 or pos_embed.shape[1] != src_h * src_w:
        raise ValueError(f"pos_embed of shape {tuple(pos_embed.shape)} does not hold a {src_h}x{src_w} grid")
    channels = pos_embed.shape[2]
    grid = pos_embed.reshape(1, src_h, src_w, channels).permute(0, 3, 1, 2).float()
    with torch.autocast(device_type=pos_embed.device.type, enabled=False):
        resized = F.interpolate(grid, size=(dst_h, dst_w), mode="bicubic", align_corners=False)
    return resized.flatten(2).transpose(1, 2).to(pos_embed.dtype)


class PatchEmbed(nn.Module):
    """Non-overlapping patch convolution (``patch_embed.projection``), optionally with corner padding."""

    def __init__(self, embed_dims: int, patch_size: int, patch_padding: int | str, in_channels: int = 3) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.corner_padding = patch_padding == "corner"
        pad = 0 if self.corner_padding else int(patch_padding)
        self.projection = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size, padding=pad, bias=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.corner_padding:
            pad_h = -images.shape[-2] % self.patch_size
            pad_w = -images.shape[-1] % self.patch_size
            if pad_h or pad_w:
                images = F.pad(images, (0, pad_w, 0, pad_h))
        return self.projection(images)


class DropPath(nn.Module):
    """Stochastic depth: drops a sample's whole residual branch with probability ``p`` in training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(nn.Module):
    """Multi-head self-attention with a fused q|k|v projection and SDPA."""

    def __init__(self, embed_dims: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=True)
        self.proj = nn.Linear(embed_dims, embed_dims, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, head_dim)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class FFN(nn.Module):
    """``layers.0.0`` Linear(C, F) -> GELU (erf) -> ``layers.1`` Linear(F, C), named as mmcv's FFN."""

    def __init__(self, embed_dims: int, feedforward_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(embed_dims, feedforward_channels), nn.GELU()),
            nn.Linear(feedforward_channels, embed_dims),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TransformerBlock(nn.Module):
    """Pre-norm encoder block: ``x + attn(ln1(x))`` then ``x + ffn(ln2(x))``."""

    def __init__(self, arch: ViTArch, drop_path: float = 0.0) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(arch.embed_dims, eps=1e-6)
        self.attn = Attention(arch.embed_dims, arch.num_heads)
        self.ln2 = nn.LayerNorm(arch.embed_dims, eps=1e-6)
        self.ffn = FFN(arch.embed_dims, arch.feedforward_channels)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.ln1(x)))
        return x + self.drop_path(self.ffn(self.ln2(x)))


def sincos_pos_embed(grid: Sequence[int], dims: int, temperature: float = 10000.0) -> torch.Tensor:
    """2-D sine-cosine position table ``(1, Gh * Gw, dims)`` (row-major tokens): the first half of the
    channels encodes the row, the second half the column, each as ``[sin(p·ω_k), cos(p·ω_k)]`` with
    ``ω_k = temperature^(-k / (dims/4))``."""
    gh, gw = int(grid[0]), int(grid[1])
    if dims % 4:
        raise ValueError(f"sincos_pos_embed: dims must be a multiple of 4, got {dims}")
    quarter = dims // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64),
                                indexing="ij")
    parts = []
    for pos in (rows.reshape(-1), cols.reshape(-1)):
        angle = pos[:, None] * omega[None]
        parts += [angle.sin(), angle.cos()]
    return torch.cat(parts, dim=1).float()[None]


class SapiensViT(nn.Module):
    """Sapiens ViT backbone.

    Args:
        arch: ``"sapiens_0.3b" | "sapiens_0.6b" | "sapiens_1b" | "sapiens_2b" | "tiny" | "small"``.
        img_size: ``(H, W)`` pixels the position table is laid out for (Sapiens: ``(1024, 768)``).
            Other input sizes work: the table is bicubically resized on the fly.
        patch_size: patch side in pixels (16).
        patch_padding: patch-conv zero padding in pixels; Sapiens pose and normal use 2, depth uses
            ``"corner"`` (0 at sizes divisible by 16). Weights are the same shape either way.
        drop_path_rate: stochastic depth, linearly increasing from 0 to this over the blocks.
        grad_checkpointing: recompute each block in backward (saves activation memory in training).
        **overrides: ``embed_dims``, ``num_layers``, ``num_heads``, ``ffn_ratio``.

    ``forward(images (B, 3, H, W)) -> (B, C, Gh, Gw)``; with padding 2 and H, W multiples of 16,
    ``Gh, Gw = H/16, W/16``.
    """

    def __init__(
        self,
        arch: str = "sapiens_0.3b",
        img_size: Sequence[int] = (1024, 768),
        patch_size: int = 16,
        patch_padding: int | str = 2,
        drop_path_rate: float = 0.0,
        grad_checkpointing: bool = False,
        **overrides: int,
    ) -> None:
        super().__init__()
        if patch_padding != "corner" and not isinstance(patch_padding, int):
            raise ValueError(f"patch_padding must be an int or 'corner', got {patch_padding!r}")
        self.arch_name = arch
        self.arch = get_arch(arch, **overrides)
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self.patch_size = int(patch_size)
        self.patch_padding = patch_padding
        self.embed_dims = self.arch.embed_dims
        self.num_layers = self.arch.num_layers
        self.grad_checkpointing = bool(grad_checkpointing)
        self.grid = patch_grid(self.img_size, self.patch_size, patch_padding)
        # Number of leading blocks (plus the patch embedding) held frozen in eval mode; see `training.py`.
        self.num_frozen_blocks = 0
        self.patch_embed_frozen = False

        self.patch_embed = PatchEmbed(self.embed_dims, self.patch_size, patch_padding)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], self.embed_dims))
        # Linear stochastic-depth rule (numpy.linspace(0, rate, L) in Sapiens), in Python so meta-device builds work.
        rates = [drop_path_rate * i / max(self.num_layers - 1, 1) for i in range(self.num_layers)]
        self.layers = nn.ModuleList(TransformerBlock(self.arch, rates[i]) for i in range(self.num_layers))
        self.ln1 = nn.LayerNorm(self.embed_dims, eps=1e-6)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Init for training from scratch: the position table starts as a fixed 2-D sine-cosine table (as
        MAE, which pretrained Sapiens, uses; it stays learnable) so that tokens know where they are from the
        first step — with a small random table a from-scratch model learns to localise joints much more
        slowly; truncated normal (std 0.02) for linear weights, zero biases, unit LayerNorms; the patch conv
        keeps PyTorch's default. Loading a Sapiens checkpoint replaces all of it."""
        if self.pos_embed.is_meta:
            return
        self.pos_embed.copy_(sincos_pos_embed(self.grid, self.embed_dims))
        for module in self.layers.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def output_grid(self, input_hw: Sequence[int]) -> tuple[int, int]:
        """Feature-map size ``(Gh, Gw)`` for an input of ``(H, W)`` pixels."""
        return patch_grid(input_hw, self.patch_size, self.patch_padding)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images (B, 3, H, W)`` normalised RGB -> feature map ``(B, C, Gh, Gw)``."""
        x = self.patch_embed(images)
        b, c, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2)  # (B, Gh*Gw, C), row-major over (h, w)
        x = x + resize_pos_embed(self.pos_embed, self.grid, (gh, gw))
        use_ckpt = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            x = checkpoint(layer, x, use_reentrant=False) if use_ckpt else layer(x)
        x = self.ln1(x)
        return x.reshape(b, gh, gw, c).permute(0, 3, 1, 2)

    def train(self, mode: bool = True) -> SapiensViT:
        """As ``nn.Module.train``, but the frozen patch embedding and leading blocks stay in eval mode."""
        super().train(mode)
        if mode:
            if self.patch_embed_frozen:
                self.patch_embed.eval()
            for layer in self.layers[: self.num_frozen_blocks]:
                layer.eval()
        return self

    def parameter_counts(self) -> dict[str, int]:
        """Parameter counts by part: ``patch_embed``, ``pos_embed``, ``blocks``, ``final_norm``, ``total``,
        ``trainable``."""
        counts = {
            "patch_embed": sum(p.numel() for p in self.patch_embed.parameters()),
            "pos_embed": self.pos_embed.numel(),
            "blocks": sum(p.numel() for p in self.layers.parameters()),
            "final_norm": sum(p.numel() for p in self.ln1.parameters()),
        }
        counts["total"] = sum(p.numel() for p in self.parameters())
        counts["trainable"] = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return counts

    def describe(self, print_fn=print) -> dict[str, int]:
        """Print (through ``print_fn``) and return :meth:`parameter_counts`."""
        counts = self.parameter_counts()
        a = self.arch
        print_fn(
            f"SapiensViT {self.arch_name}: C={a.embed_dims} L={a.num_layers} heads={a.num_heads} "
            f"ffn={a.feedforward_channels} img={self.img_size[0]}x{self.img_size[1]} "
            f"grid={self.grid[0]}x{self.grid[1]} "
            f"patch_padding={self.patch_padding}"
        )
        for key, value in counts.items():
            print_fn(f"  {key:<12} {value:>15,d}")
        return counts

    def config(self) -> dict:
        """The constructor arguments that rebuild this backbone (JSON-serialisable)."""
        return {
            "arch": self.arch_name,
            "img_size": list(self.img_size),
            "patch_size": self.patch_size,
            "patch_padding": self.patch_padding,
            "embed_dims": self.arch.embed_dims,
            "num_layers": self.arch.num_layers,
            "num_heads": self.arch.num_heads,
            "ffn_ratio": self.arch.ffn_ratio,
        }
