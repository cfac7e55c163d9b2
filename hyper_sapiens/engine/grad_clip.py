"""Gradient-norm clipping whose result does not depend on how the gradients are split over processes.

``torch.nn.utils.clip_grad_norm_`` sums float32 squares in the order the tensors (or their FSDP shards)
come, so one process, DDP ranks and FSDP shards get norms that differ in the last bit, the clip factor
with them, and every weight after a few steps. Here each tensor's (or shard's) sum of squares is taken in
float64, summed over shards with one all-reduce, and the clip factor computed in float64: its float32
value is then the same for any split, except in the rare case where the float64 sums round to either side
of a float32 boundary (relative 1e-16 against float32's 6e-8). A sharded run then reproduces the single
process run bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

from .distributed import DistInfo

__all__ = ["clip_grad_norm_exact", "global_grad_norm"]


def global_grad_norm(params: Iterable[torch.nn.Parameter], info: DistInfo) -> float:
    """*Collective when any gradient is sharded.* The L2 norm of all gradients together, in float64.

    Plain tensors (one process, or DDP after its all-reduce: the same on every rank) count once; the local
    shards of a sharded ``DTensor`` (FSDP) are summed over ranks; a replicated ``DTensor`` counts once.
    """
    local = torch.zeros((), dtype=torch.float64)
    sharded = torch.zeros((), dtype=torch.float64)
    any_sharded = False
    for p in params:
        g = p.grad
        if g is None:
            continue
        if isinstance(g, DTensor):
            part = g.to_local().detach().double().square().sum().cpu()
            if any(placement.is_shard() for placement in g.placements):
                sharded += part
                any_sharded = True
            else:
                local += part
        else:
            local += g.detach().double().square().sum().cpu()
    if any_sharded and info.distributed:
        buf = sharded.to(info.device)
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        sharded = buf.cpu()
    return math.sqrt(float(local + sharded))


def clip_grad_norm_exact(params: Iterable[torch.nn.Parameter], max_norm: float, info: DistInfo) -> float:
    """Scale the gradients so that their global L2 norm is at most ``max_norm`` (no clipping for
    ``max_norm <= 0``); returns the norm before clipping (``inf``/``nan`` when a gradient is not finite,
    and then nothing is scaled). The same factor as torch's, ``max_norm / (norm + 1e-6)`` capped at 1."""
    params = [p for p in params if p.grad is not None]
    norm = global_grad_norm(params, info)
    if max_norm > 0 and math.isfinite(norm):
        coef = min(max_norm / (norm + 1e-6), 1.0)
        if coef < 1.0:
            for p in params:
                p.grad.mul_(coef)
    return norm
