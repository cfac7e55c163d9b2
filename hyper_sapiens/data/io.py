"""Reading the files a sample is made of, with errors that name the file and the problem.

Conventions (``docs/synth.md`` § Output layout, § Conventions): images are returned RGB ``uint8 (H, W, 3)``;
depth in metres ``float32 (H, W)`` with 0 = invalid (files: uint16 PNG in millimetres); normals as float32 unit
vectors ``(H, W, 3)`` in the camera frame (x right, y down, z forward) plus a bool validity mask (files: 16-bit
PNG, ``round((n + 1) / 2 * 65535)``, channels (x, y, z) as cv2 reads them, invalid = (0, 0, 0)).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

cv2.setNumThreads(1)  # data workers parallelise across samples; OpenCV's own threads only contend


class DataFileError(ValueError):
    """A data file is missing, unreadable or malformed. The message names the file and the problem."""


def _check_exists(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"{what} file not found: {p}")
    return p


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB ``uint8 (H, W, 3)`` (grayscale is expanded to 3 channels)."""
    p = _check_exists(path, "image")
    image = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if image is None:
        raise DataFileError(f"cannot decode image {p}: the file is corrupt or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_depth_png(path: str | os.PathLike, scale: float = 1e-3) -> np.ndarray:
    """Read a uint16 depth PNG; returns metres ``float32 (H, W)`` (``value * scale``), 0 = invalid."""
    p = _check_exists(path, "depth")
    depth = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise DataFileError(f"cannot decode depth map {p}: the file is corrupt or not a PNG")
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise DataFileError(f"depth map {p} must be a single-channel uint16 PNG, got {depth.dtype} {depth.shape}")
    return depth.astype(np.float32) * np.float32(scale)


#: 16-bit normal PNGs store ``n = value * NORMAL_PNG_SCALE - 1`` per component (0 = invalid pixel).
NORMAL_PNG_SCALE = 2.0 / 65535.0


def read_normal_png_raw(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a 16-bit normal PNG undecoded: ``(values uint16 (H, W, 3), valid bool (H, W))``.

    For pipelines that resample first and decode the (much smaller) result with :func:`decode_normals`.
    """
    p = _check_exists(path, "normal")
    raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataFileError(f"cannot decode normal map {p}: the file is corrupt or not a PNG")
    if raw.ndim != 3 or raw.shape[2] != 3 or raw.dtype != np.uint16:
        raise DataFileError(f"normal map {p} must be a 3-channel uint16 PNG, got {raw.dtype} {raw.shape}")
    valid = (raw[..., 0] | raw[..., 1] | raw[..., 2]) != 0
    return raw, valid


def decode_normals(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values (H, W, 3)`` as stored in a normal PNG (any numeric dtype, e.g. resampled) → unit normals
    ``float32 (H, W, 3)``, 0 where not ``valid``."""
    normals = values.astype(np.float32) * np.float32(NORMAL_PNG_SCALE) - np.float32(1.0)
    norm = np.sqrt(np.einsum("hwc,hwc->hw", normals, normals))[..., None]
    return np.where(valid[..., None], normals / np.maximum(norm, 1e-6), 0.0).astype(np.float32)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a single-channel uint8 mask (part ids or 0/255), returned as ``uint8 (H, W)``."""
    p = _check_exists(path, "mask")
    mask = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DataFileError(f"cannot decode mask {p}: the file is corrupt or not an image")
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.dtype != np.uint8:
        raise DataFileError(f"mask {p} must be uint8, got {mask.dtype}")
    return mask


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; a truncated or malformed file raises :class:`DataFileError` naming it."""
    p = _check_exists(path, "JSON")
    try:
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise DataFileError(f"malformed JSON in {p}: {err}") from err
