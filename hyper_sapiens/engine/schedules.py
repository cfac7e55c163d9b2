"""Learning-rate and loss-weight schedules, pure functions of the step (nothing to save on resume)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def lr_factor(
    step: int,
    total_steps: int,
    schedule: str = "cosine",
    warmup_steps: int = 0,
    min_ratio: float = 0.0,
    milestones: tuple[int, ...] = (),
    gamma: float = 0.1,
) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warm-up from ``1/warmup`` over ``warmup_steps``, then ``cosine`` (to ``min_ratio`` at the
    last step), ``step`` (× ``gamma`` at each milestone) or ``constant``.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return gamma ** sum(step >= m for m in milestones)
    if schedule == "cosine":
        span = max(1, total_steps - warmup_steps - 1)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"optim.schedule must be cosine, step or constant, got {schedule!r}")


def term_weight(spec: Mapping[str, Any], step: int, total_steps: int) -> float:
    """The weight of a loss term at ``step``.

    ``weight`` × a linear ramp from 0 over ``warmup_steps`` starting at ``start_step`` (0 before it)
    × a decay from 1 to ``decay.final`` over the run (``decay.kind``: ``linear``, ``cosine`` or
    ``exp``) — stage 3's "α decays step by step".
    """
    weight = float(spec.get("weight", 0.0))
    if weight == 0.0:
        return 0.0
    start = int(spec.get("start_step", 0))
    if step < start:
        return 0.0
    warmup = int(spec.get("warmup_steps", 0))
    if warmup > 0:
        weight *= min(1.0, (step - start + 1) / warmup)
    decay = spec.get("decay")
    if decay:
        final = float(decay.get("final", 0.1))
        kind = decay.get("kind", "cosine")
        t = min(1.0, step / max(1, total_steps - 1))
        if kind == "linear":
            factor = 1.0 + (final - 1.0) * t
        elif kind == "cosine":
            factor = final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))
        elif kind == "exp":
            factor = final**t
        else:
            raise ValueError(f"loss decay.kind must be linear, cosine or exp, got {kind!r}")
        weight *= factor
    return weight
