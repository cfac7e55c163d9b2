"""Mixed-source batches: fixed per-batch counts (stage 2: 16 syn + 16 real) or ratios (stage 3: 80/20).

The sampler is epoch-free: for every source it walks an infinite stream of seeded permutations
(one per pass over the source), so a batch is a pure function of ``(seed, micro-batch number, slot)``.
That makes it

* **resumable**: start at any micro-batch number and get exactly the batches an uninterrupted run got;
* **distributed-aware**: the global batch of a step is cut into ``world_size × accumulation`` slots;
  rank ``r`` at accumulation micro-step ``m`` takes slot ``m · world_size + r``. Two processes with
  accumulation 1 therefore see exactly the batches that one process sees with accumulation 2. Ranks read
  disjoint positions of each stream, so they never share a sample within a step, except where a step
  straddles the end of one pass and the start of the next.

Keys are ``(source, index, seed)`` triples; :class:`MixedDataset` turns them into samples, each with
its own augmentation seed, whatever the number of loader workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset, Sampler

from .io import DataFileError

log = logging.getLogger(__name__)

SampleKey = tuple[int, int, int]


def counts_from_ratios(batch_size: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """Per-batch counts that sum to ``batch_size`` and follow ``ratios`` (largest remainder rounding).

    >>> counts_from_ratios(10, {"real": 0.8, "syn": 0.2})
    {'real': 8, 'syn': 2}
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    total = float(sum(ratios.values()))
    if total <= 0 or any(v < 0 for v in ratios.values()):
        raise ValueError(f"ratios must be non-negative and sum to > 0, got {dict(ratios)}")
    exact = {k: batch_size * v / total for k, v in ratios.items()}
    counts = {k: int(np.floor(v)) for k, v in exact.items()}
    order = sorted(exact, key=lambda k: (counts[k] - exact[k], list(ratios).index(k)))
    for k in order[: batch_size - sum(counts.values())]:
        counts[k] += 1
    return counts


class _PermutationStream:
    """An infinite stream over ``range(size)``: pass ``e`` is ``permutation(seed, source, e)``."""

    def __init__(self, size: int, seed: int, source: int) -> None:
        if size <= 0:
            raise ValueError(f"source {source} is empty")
        self.size, self.seed, self.source = size, seed, source
        self._cache: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) > 4:
                self._cache.pop(min(self._cache))
            rng = np.random.default_rng([self.seed, self.source, epoch])
            self._cache[epoch] = rng.permutation(self.size)
        return self._cache[epoch]

    def take(self, start: int, count: int) -> list[int]:
        """Elements ``start .. start + count - 1`` of the stream."""
        out = []
        for pos in range(start, start + count):
            out.append(int(self._perm(pos // self.size)[pos % self.size]))
        return out


class MixedBatchSampler(Sampler[list[SampleKey]]):
    """Yields micro-batches of ``(source, index, seed)`` keys with a fixed count per source.

    Args:
        sizes: source name → number of samples, in a fixed order (the source ids are positions).
        counts: source name → samples per micro-batch (per rank). Sources with 0 are never drawn.
        seed: fixes the permutations and every sample's augmentation seed.
        start: the first micro-batch number to yield (for resume: ``step · accumulation``).
        num_batches: stop after this many micro-batches (None: infinite).
        rank, world_size: this process and the number of processes.
        accumulation: micro-batches per optimiser step (gradient accumulation).
    """

    def __init__(
        self,
        sizes: Mapping[str, int],
        counts: Mapping[str, int],
        seed: int = 0,
        start: int = 0,
        num_batches: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        accumulation: int = 1,
    ) -> None:
        unknown = sorted(set(counts) - set(sizes))
        if unknown:
            raise ValueError(f"batch counts name unknown sources {unknown}; sources: {list(sizes)}")
        if not 0 <= rank < world_size or accumulation < 1:
            raise ValueError(f"bad rank/world_size/accumulation: {rank}/{world_size}/{accumulation}")
        self.names = list(sizes)
        self.counts = {name: int(counts.get(name, 0)) for name in self.names}
        if sum(self.counts.values()) <= 0:
            raise ValueError(f"a batch needs at least one sample, counts = {dict(counts)}")
        self.seed, self.start, self.num_batches = int(seed), int(start), num_batches
        self.rank, self.world_size, self.accumulation = rank, world_size, accumulation
        self.streams = {
            name: _PermutationStream(int(sizes[name]), self.seed, i)
            for i, name in enumerate(self.names)
            if self.counts[name] > 0
        }

    @property
    def batch_size(self) -> int:
        return sum(self.counts.values())

    def batch(self, micro: int) -> list[SampleKey]:
        """The keys of this rank's micro-batch number ``micro`` (0-based, counted per rank)."""
        step, m = divmod(micro, self.accumulation)
        slots = self.world_size * self.accumulation
        slot = m * self.world_size + self.rank
        keys: list[SampleKey] = []
        for source, name in enumerate(self.names):
            count = self.counts[name]
            if count == 0:
                continue
            first = (step * slots + slot) * count
            for j, index in enumerate(self.streams[name].take(first, count)):
                aug_seed = int(np.random.SeedSequence([self.seed, source, first + j]).generate_state(1)[0])
                keys.append((source, index, aug_seed))
        return keys

    def __iter__(self) -> Iterator[list[SampleKey]]:
        micro = self.start
        while self.num_batches is None or micro < self.start + self.num_batches:
            yield self.batch(micro)
            micro += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("an infinite MixedBatchSampler has no length")
        return self.num_batches


class MixedDataset(Dataset):
    """Named sources behind one index space of ``(source, index, seed)`` keys.

    With ``skip_bad`` a sample whose files are broken (:class:`DataFileError`, or any decoding error)
    is replaced by the next record of the same source, and the sample carries ``bad_skipped`` (how many
    were skipped for it) so the trainer can count and log them; the error itself is logged.
    """

    def __init__(
        self,
        sources: Mapping[str, Dataset] | Sequence[tuple[str, Dataset]],
        skip_bad: bool = False,
        max_skips: int = 16,
    ) -> None:
        items = list(sources.items()) if isinstance(sources, Mapping) else list(sources)
        self.names = [name for name, _ in items]
        self.sources = [ds for _, ds in items]
        self.skip_bad = skip_bad
        self.max_skips = max_skips

    @property
    def sizes(self) -> dict[str, int]:
        return {name: len(ds) for name, ds in zip(self.names, self.sources, strict=True)}

    def __len__(self) -> int:
        return sum(len(ds) for ds in self.sources)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        source, index, seed = key
        dataset = self.sources[source]
        skipped = 0
        while True:
            try:
                sample = dataset[(index, seed)]
                break
            except (DataFileError, ValueError, OSError) as err:
                if not self.skip_bad or skipped >= self.max_skips:
                    raise
                log.warning("skipping bad sample %d of source %r: %s", index, self.names[source], err)
                skipped += 1
                index = (index + 1) % len(dataset)
        sample["bad_skipped"] = np.int64(skipped)
        sample["source"] = np.int64(source)
        return sample
