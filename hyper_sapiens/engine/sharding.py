"""FSDP for the large backbones: ``run.strategy: fsdp`` under ``torchrun``.

Every transformer block, then the whole model, is wrapped with PyTorch's ``fully_shard`` (FSDP2): each
rank holds 1/world_size of every parameter, gradient and AdamW moment (split along dim 0), and a block's
full weights exist only while that block runs forward or backward. What changes for the trainer:

- gradient sync over accumulation micro-batches is switched with ``set_requires_gradient_sync``;
- the EMA blends each rank's own shards (:class:`ShardedEMA`), no replica of the model per rank;
- ``last.ckpt`` holds full tensors gathered to rank 0 (model and EMA with the same keys as a DDP run,
  the optimizer state keyed by parameter name), so a checkpoint does not depend on the number of ranks;
- evaluation and the ``*.safetensors`` files use an unsharded replica on rank 0 filled from the gathered
  weights (:func:`gather_model_state`).

Functions marked *collective* must be called by every rank at the same point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.tensor import DTensor, distribute_tensor

from ..models.ema import ModelEMA

__all__ = [
    "ShardedEMA",
    "gather_model_state",
    "gather_optimizer_state",
    "load_full_state",
    "shard_model",
]

#: Full (unsharded) tensors, on the CPU of rank 0 only (the other ranks get empty dicts).
_GATHER_TO_RANK0 = StateDictOptions(full_state_dict=True, cpu_offload=True)
#: Every rank passes the same full tensors; each keeps its own shard.
_LOAD_FULL = StateDictOptions(full_state_dict=True)


def shard_model(model: nn.Module, device: torch.device, world_size: int) -> nn.Module:
    """Shard ``model`` in place over ``world_size`` ranks: each backbone block is one FSDP unit, the rest
    (patch embedding, position table, heads) the root unit. Call before building the optimizer."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (world_size,))
    backbone = getattr(model, "backbone", None)
    for block in getattr(backbone, "layers", []):
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def gather_model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """*Collective.* The full state dict of a sharded ``model`` on rank 0 (CPU tensors); ``{}`` elsewhere."""
    return get_model_state_dict(model, options=_GATHER_TO_RANK0)


def gather_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """*Collective.* The full optimizer state (keyed by parameter name) on rank 0; ``{}`` elsewhere."""
    return get_optimizer_state_dict(model, optimizer, options=_GATHER_TO_RANK0)


def load_full_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any],
) -> None:
    """*Collective.* Load full state dicts (as gathered above, read on every rank) into the sharded model."""
    set_model_state_dict(model, dict(model_state), options=_LOAD_FULL)
    set_optimizer_state_dict(model, optimizer, dict(optimizer_state), options=_LOAD_FULL)


class ShardedEMA(ModelEMA):
    """:class:`ModelEMA`'s rule on a sharded model: each rank keeps and blends its own shard of every tensor.

    There is no ``module`` (FSDP modules cannot be deep-copied); :meth:`state_dict` gathers full tensors
    to rank 0 and :meth:`load_state_dict` takes full tensors on every rank, so the files match
    :class:`ModelEMA`'s.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9998, warmup_steps: int = 10) -> None:
        self._set_rule(decay, warmup_steps)
        self.module = None
        with torch.no_grad():
            self._tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def shadow(self) -> Mapping[str, torch.Tensor]:
        return self._tensors

    def state_dict(self) -> dict[str, Any]:
        """*Collective.* Full EMA tensors on rank 0 (CPU); ``module`` is ``{}`` on the other ranks."""
        rank0 = not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0
        module = {}
        for key, value in self._tensors.items():
            full = value.full_tensor() if isinstance(value, DTensor) else value
            if rank0:
                module[key] = full.detach().to("cpu", copy=True)
        return {
            "decay": self.decay,
            "warmup_steps": self.warmup_steps,
            "num_updates": self.num_updates,
            "module": module,
        }

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """*Collective.* Every rank passes the same full tensors (as written by :meth:`state_dict`)."""
        self.decay = float(state["decay"])
        self.warmup_steps = int(state["warmup_steps"])
        self.num_updates = int(state["num_updates"])
        full = state["module"]
        missing = sorted(set(self._tensors) - set(full))
        if missing:
            raise ValueError(f"EMA state lacks {len(missing)} tensors, e.g. {missing[:3]}")
        for key, value in self._tensors.items():
            source = full[key].to(device=value.device, dtype=value.dtype)
            if isinstance(value, DTensor):
                shard = distribute_tensor(source, value.device_mesh, value.placements)
                value.to_local().copy_(shard.to_local())
            else:
                value.copy_(source)
