"""Render work items in a ``spawn`` process pool (or in this process), with a progress bar.

Every item draws its random numbers from its own seed, so the output never depends on which worker
rendered it or in which order results come back.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm


def default_workers() -> int:
    """Number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def map_items(items: Sequence[Any], run_item: Callable[[Any], Any], initializer: Callable[[Any], None], cfg: Any,
              workers: int | None, progress: bool, desc: str) -> list[Any]:
    """``[run_item(item) for item in items]`` in any order, after ``initializer(cfg)`` in every worker.

    ``workers=1`` runs in this process (and restores nothing: ``initializer`` must be idempotent); more
    use a ``spawn`` pool, so callers must run under ``if __name__ == "__main__":``. ``run_item`` and
    ``initializer`` must be module-level functions (picklable).
    """
    workers = min(default_workers() if workers is None else max(1, int(workers)), max(1, len(items)))
    results: list[Any] = []
    with tqdm(total=len(items), desc=desc, unit="item", disable=not progress) as bar:
        if workers == 1:
            initializer(cfg)
            for item in items:
                results.append(run_item(item))
                bar.update(1)
        else:
            ctx = mp.get_context("spawn")
            chunk = max(1, min(8, len(items) // (workers * 16)))
            with ctx.Pool(workers, initializer=initializer, initargs=(cfg,)) as pool:
                for res in pool.imap_unordered(run_item, items, chunksize=chunk):
                    results.append(res)
                    bar.update(1)
    return results
