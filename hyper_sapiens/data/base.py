"""A dataset of :class:`InstanceRecord`\\ s run through a :class:`TopDownTransform`."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from .pipeline import TopDownTransform
from .records import InstanceRecord

log = logging.getLogger(__name__)


def sample_rng(seed: int | None) -> np.random.Generator | None:
    """The augmentation generator of one sample; ``None`` (no augmentation) for a negative/None seed."""
    if seed is None or seed < 0:
        return None
    return np.random.default_rng(seed)


class RecordDataset(Dataset):
    """Records + transform. ``dataset[i]`` is the deterministic (evaluation) sample of record ``i``;
    ``dataset[(i, seed)]`` the augmented sample drawn with that seed (the mixing sampler's keys).

    Records the source could not use are counted in :attr:`skipped` (reason → count) and logged once.
    """

    def __init__(self, records: Sequence[InstanceRecord], transform: TopDownTransform, name: str = "") -> None:
        self.records = list(records)
        self.transform = transform
        self.name = name or type(self).__name__
        self.skipped: Counter[str] = Counter()

    def _report_skipped(self, source: str) -> None:
        if self.skipped:
            parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
            log.warning("%s: skipped %s in %s", self.name, parts, source)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = (key, None) if isinstance(key, (int, np.integer)) else key
        if not 0 <= index < len(self.records):
            raise IndexError(f"{self.name}: index {index} out of range for {len(self.records)} records")
        return self.transform(self.records[index], sample_rng(seed))

    def summary(self) -> dict[str, Any]:
        """Counts for logs: records, labelled, per domain and skipped."""
        labelled = sum(r.has_keypoints for r in self.records)
        domains = Counter(r.domain for r in self.records)
        return {
            "name": self.name,
            "records": len(self.records),
            "labelled": labelled,
            "domains": dict(domains),
            "skipped": dict(self.skipped),
        }
