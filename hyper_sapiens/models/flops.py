"""Analytic FLOP count of the Sapiens model (matmuls and convolutions only).

FLOPs = 2 × multiply-accumulates of: the patch convolution, the qkv/proj/FFN linears, the two attention
matmuls (``QKᵀ`` and ``AV``), and the heads' transposed convolutions and convolutions. Normalisations,
activations, softmax and residual adds are not counted (the usual MFU convention; they are memory-bound).
A training step is counted as 3 × forward (backward = 2 × forward: input and weight gradients).
This is the same convention as ``torch.utils.flop_counter.FlopCounterMode`` (tested against it).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .heads import _UpsampleConvHead
from .vit import SapiensViT

__all__ = ["backbone_flops", "head_flops", "model_flops"]


def backbone_flops(backbone: SapiensViT, input_hw: Sequence[int], batch: int = 1) -> dict[str, int]:
    """Forward FLOPs of the backbone on ``batch`` images of ``input_hw = (H, W)`` pixels, by component."""
    gh, gw = backbone.output_grid(input_hw)
    n = gh * gw
    c = backbone.arch.embed_dims
    f = backbone.arch.feedforward_channels
    layers = backbone.arch.num_layers
    p = backbone.patch_size
    out = {
        "patch_embed": 2 * 3 * p * p * c * n,
        "qkv": layers * 2 * n * c * 3 * c,
        "attention": layers * 2 * 2 * n * n * c,  # QK^T and AV over all heads
        "proj": layers * 2 * n * c * c,
        "ffn": layers * 2 * 2 * n * c * f,
    }
    out = {k: v * batch for k, v in out.items()}
    out["total"] = sum(out.values())
    return out


def head_flops(head: _UpsampleConvHead, in_hw: Sequence[int], batch: int = 1) -> int:
    """Forward FLOPs of a head on a ``(batch, C, h, w)`` feature map, ``in_hw = (h, w)``."""
    h, w = int(in_hw[0]), int(in_hw[1])
    total = 0
    for module in head.modules():
        if isinstance(module, nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            total += 2 * module.in_channels * module.out_channels * kh * kw * h * w  # per input pixel
            sh, sw = module.stride
            ph, pw = module.padding
            oph, opw = module.output_padding
            h = (h - 1) * sh - 2 * ph + kh + oph
            w = (w - 1) * sw - 2 * pw + kw + opw
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            ph, pw = module.padding
            h = h + 2 * ph - kh + 1
            w = w + 2 * pw - kw + 1
            total += 2 * module.in_channels * module.out_channels * kh * kw * h * w  # per output pixel
    return total * batch


def model_flops(model: nn.Module, input_hw: Sequence[int], batch: int = 1) -> dict[str, int]:
    """Forward and training-step FLOPs of a :class:`HyperPoseModel` (or bare :class:`SapiensViT`).

    Returns ``backbone``, ``<name>_head`` for each head, ``forward`` and ``train_step`` (= 3 × forward).
    """
    backbone = model if isinstance(model, SapiensViT) else model.backbone
    out = {"backbone": backbone_flops(backbone, input_hw, batch)["total"]}
    grid = backbone.output_grid(input_hw)
    for name, head in getattr(model, "heads", {}).items():
        out[f"{name}_head"] = head_flops(head, grid, batch)
    out["forward"] = sum(out.values())
    out["train_step"] = 3 * out["forward"]
    return out
