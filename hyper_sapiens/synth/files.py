"""Deterministic file writers: PNG/JPEG bytes, 16-bit depth and normal maps, npz, JSON, joint text files.

Every writer produces byte-identical files for identical inputs (no timestamps anywhere), so a
data set rendered twice with the same seed hashes the same.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_png(path: Path, array: np.ndarray) -> None:
    """Lossless PNG of a uint8 / uint16 array (1 or 3 channels, written as given)."""
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError(f"cv2 could not encode {path} (shape {array.shape}, dtype {array.dtype})")
    write_bytes(path, buf.tobytes())


def depth_to_png16(depth_m: np.ndarray) -> np.ndarray:
    """Depth in metres (0 invalid) -> uint16 millimetres (0 invalid, clipped to 65535)."""
    mm = np.floor(np.asarray(depth_m, dtype=np.float64) * 1000.0 + 0.5)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def normals_to_png16(normal: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Unit normals (H, W, 3) -> uint16 ``round((n + 1) / 2 * 65535)``, channels (x, y, z) as cv2 reads them.

    Invalid pixels are (0, 0, 0) (``docs/synth.md`` § SyRIP-style COCO files).
    """
    enc = np.floor((np.asarray(normal, dtype=np.float64) + 1.0) * 0.5 * 65535.0 + 0.5)
    enc = np.clip(enc, 0, 65535).astype(np.uint16)
    enc[~valid] = 0
    return enc


def save_npz(path: Path, **arrays: Any) -> None:
    """Like ``np.savez`` but with fixed zip timestamps, so identical arrays give identical bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, mode="w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            arr = np.asanyarray(arrays[key])
            raw = io.BytesIO()
            np.lib.format.write_array(raw, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, raw.getvalue())
    write_bytes(path, buf.getvalue())


def write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    write_bytes(path, (json.dumps(obj, indent=indent, ensure_ascii=False) + "\n").encode("utf-8"))


def write_joint_rows(path: Path, values: np.ndarray, decimals: int = 6) -> None:
    """MINI-RGBD joint text file: one row per joint, ``v0 v1 v2 id`` separated by spaces."""
    fmt = f"{{:.{decimals}f}}"
    lines = [" ".join([fmt.format(float(v)) for v in row] + [str(i)]) for i, row in enumerate(values)]
    write_bytes(path, ("\n".join(lines) + "\n").encode("ascii"))


def read_joint_rows(path: str | os.PathLike) -> np.ndarray:
    """Parse a MINI-RGBD joint file back to ``(25, 3)`` float64, checking the row ids."""
    rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if rows.shape != (25, 4):
        raise ValueError(f"{path}: expected 25 rows of 'x y z id', got array of shape {rows.shape}")
    if not np.array_equal(rows[:, 3], np.arange(25)):
        raise ValueError(f"{path}: joint ids must be 0..24 in order, got {rows[:, 3].tolist()}")
    return rows[:, :3]
