"""A run's metrics log: ``RUN/metrics.jsonl`` (one JSON object per record) and, optionally, TensorBoard.

On resume the records after the checkpoint's step are dropped, so each step appears once."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import json_safe
from ..io_atomic import atomic_write_bytes


def scalars(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """``(tag, value)`` for every finite number in a metrics record; nested dicts become ``outer/inner`` tags."""
    for key, value in record.items():
        if key == "step":
            continue
        if isinstance(value, dict):
            yield from scalars(value, f"{prefix}{key}/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            yield f"{prefix}{key}", float(value)


class RunLog:
    """Appends records (each with a ``step``) to ``run_dir/metrics.jsonl``; with ``tensorboard``, also writes
    their numbers to ``run_dir/tensorboard`` (``run.tensorboard: true``; needs the optional package)."""

    def __init__(self, run_dir: Path, tensorboard: bool = False) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise RuntimeError(
                    "run.tensorboard=true needs the tensorboard package: pip install 'hyper-sapiens[tensorboard]'"
                ) from err
            self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def drop_after(self, step: int) -> int:
        """Remove the records of steps after ``step`` (a resumed run repeats them: a kill loses what came after
        the last checkpoint); rewrites the file atomically. Returns how many records were dropped."""
        if not self.path.is_file():
            return 0
        lines = self.path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() and int(json.loads(line).get("step", 0)) <= step]
        if len(kept) == len(lines):
            return 0
        atomic_write_bytes(self.path, "".join(line + "\n" for line in kept).encode("utf-8"))
        return len(lines) - len(kept)

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json_safe.dumps(record, sort_keys=True) + "\n")
        if self.writer is not None:
            for tag, value in scalars(record):
                self.writer.add_scalar(tag, value, global_step=int(record["step"]))
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
