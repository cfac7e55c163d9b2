"""JSON that stays JSON: non-finite numbers become ``null`` instead of the bare ``NaN`` / ``Infinity`` tokens
that Python's ``json`` writes by default and that strict readers (and RFC 8259) reject.

Every metrics and results file of the package (``metrics.json``, ``metrics.jsonl``, ``predict``'s results)
is written through :func:`dumps`, so a diverged model or a broken label shows up as ``null`` in the file, never
as a number that is not one.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["dumps", "finite_or_none"]


def finite_or_none(obj: Any) -> Any:
    """``obj`` with every non-finite float (Python or numpy) replaced by ``None``, containers walked
    recursively, numpy scalars and arrays turned into Python numbers and lists."""
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite_or_none(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`finite_or_none` of ``obj``, with ``allow_nan=False`` as a guard."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **kwargs)
