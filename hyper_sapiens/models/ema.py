"""Exponential moving average (EMA) of model weights, with warm-up.

After the ``t``-th call of :meth:`ModelEMA.update` (``t = 0, 1, 2, ...`` counts earlier updates)::

    d_t = min(decay, (1 + t) / (warmup_steps + t))
    ema = d_t * ema + (1 - d_t) * weights          # every floating-point parameter and buffer

so early on the EMA follows the weights closely (``d_0 = 1 / warmup_steps``) and the decay rises towards
``decay``; with ``warmup_steps=10`` this is the classic ``(1 + t) / (10 + t)`` rule. ``warmup_steps <= 1``
disables the warm-up (``d_t = decay`` from the first update).
Non-floating buffers (integer counters) are copied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["ModelEMA"]


def _unwrap(model: nn.Module) -> nn.Module:
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


class ModelEMA:
    """EMA copy of a model (``ema.module``), kept in eval mode with gradients off.

    Args:
        model: the model being trained (DDP / compiled wrappers are unwrapped).
        decay: the final decay (0.9998 by default).
        warmup_steps: warm-up constant of the rule above (``<= 1``: no warm-up).
        device: keep the EMA on this device (default: the model's).
    """

    def __init__(
        self, model: nn.Module, decay: float = 0.9998, warmup_steps: int = 10, device: torch.device | None = None
    ) -> None:
        self._set_rule(decay, warmup_steps)
        self.module = copy.deepcopy(_unwrap(model)).eval()
        if device is not None:
            self.module.to(device)
        self.module.requires_grad_(False)

    def _set_rule(self, decay: float, warmup_steps: int) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup_steps = int(warmup_steps)
        self.num_updates = 0

    def decay_at(self, t: int) -> float:
        """The decay used by the update that follows ``t`` earlier updates."""
        if self.warmup_steps <= 1:
            return self.decay
        return min(self.decay, (1.0 + t) / (self.warmup_steps + t))

    def shadow(self) -> Mapping[str, torch.Tensor]:
        """The EMA tensors that :meth:`update` blends into, by state-dict key."""
        return self.module.state_dict()

    @torch.no_grad()
    def update(self, model: nn.Module) -> float:
        """Blend ``model``'s current weights into the EMA; returns the decay used."""
        d = self.decay_at(self.num_updates)
        source = _unwrap(model).state_dict()
        ema_float, src_float = [], []
        for key, ema_value in self.shadow().items():
            value = source[key].detach()
            if ema_value.dtype.is_floating_point:
                ema_float.append(ema_value)
                src_float.append(value.to(device=ema_value.device, dtype=ema_value.dtype))
            else:
                ema_value.copy_(value)
        if ema_float:
            torch._foreach_lerp_(ema_float, src_float, 1.0 - d)
        self.num_updates += 1
        return d

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "warmup_steps": self.warmup_steps,
            "num_updates": self.num_updates,
            "module": self.module.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.warmup_steps = int(state["warmup_steps"])
        self.num_updates = int(state["num_updates"])
        self.module.load_state_dict(state["module"])
