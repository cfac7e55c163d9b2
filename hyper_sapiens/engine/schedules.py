"""Learning-rate and loss-weight schedules, pure functions of the step (nothing to save on resume)."""

from __future__ import annotations

import math

from ..config_sections import TermSection


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


def term_weight(term: TermSection, step: int, total_steps: int) -> float:
    """The weight of a loss term (a :class:`~hyper_sapiens.config_sections.TermSection`) at ``step``.

    ``weight`` × a linear ramp from 0 over ``warmup_steps`` starting at ``start_step`` (0 before it)
    × a decay from 1 to ``decay.final`` over the run (``decay.kind``: ``linear``, ``cosine`` or
    ``exp``) — stage 3's "α decays step by step".
    """
    weight = term.weight
    if weight == 0.0 or step < term.start_step:
        return 0.0
    if term.warmup_steps > 0:
        weight *= min(1.0, (step - term.start_step + 1) / term.warmup_steps)
    decay = term.decay
    if decay is not None:
        final = decay.final
        t = min(1.0, step / max(1, total_steps - 1))
        if decay.kind == "linear":
            factor = 1.0 + (final - 1.0) * t
        elif decay.kind == "cosine":
            factor = final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))
        else:  # exp
            factor = final**t
        weight *= factor
    return weight
