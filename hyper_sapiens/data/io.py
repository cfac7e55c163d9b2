"""Reading the files a sample is made of, with errors that name the file and the problem.

Conventions (``docs/synth.md`` § Output layout, § Conventions): images are returned RGB ``uint8 (H, W, 3)``;
depth in metres ``float32 (H, W)`` with 0 = invalid (files: uint16 PNG in millimetres); normals as float32 unit
vectors ``(H, W, 3)`` in the camera frame (x right, y down, z forward) plus a bool validity mask (files: 16-bit
PNG, ``round((n + 1) / 2 * 65535)``, channels (x, y, z) as cv2 reads them, invalid = (0, 0, 0)).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

cv2.setNumThreads(1)  # data workers parallelise across samples; OpenCV's own threads only contend


class DataFileError(ValueError):
    """A data file is missing, unreadable or malformed. The message names the file and the problem.

    Raised in a DataLoader worker, the error reaches the main process as a new ``DataFileError`` whose text is
    "Caught DataFileError in DataLoader worker ..." plus the worker's traceback; the constructor keeps only the
    original message, so the command line prints ``<verb>: error: <file>: ...`` either way.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(_worker_message(message), *args)


#: The last line of a worker's traceback that holds the DataFileError's own message.
_WORKER_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?DataFileError: ", re.MULTILINE)


def _worker_message(message: object) -> object:
    """The original message of a DataFileError re-raised by torch's DataLoader (``ExceptionWrapper``)."""
    if not (isinstance(message, str) and message.startswith("Caught DataFileError in DataLoader")):
        return message
    matches = list(_WORKER_ERROR_LINE.finditer(message))
    return message[matches[-1].end():].strip() if matches else message


def _check_exists(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"{what} file not found: {p}")
    return p


#: PNG's last chunk: length 0, type IEND (its CRC follows).
_PNG_IEND = b"\x00\x00\x00\x00IEND"


def truncation_problem(data: bytes) -> str | None:
    """Why an encoded JPEG or PNG looks cut short, or ``None``.

    OpenCV decodes a truncated JPEG or PNG partly (the missing rows grey) and only warns on stderr without the
    file's name. A JPEG is whole when an end-of-image marker (``FF D9``) follows its last start-of-scan marker
    (``FF DA``; inside a scan every ``FF`` byte is stuffed, so ``FF D9`` there is a marker); a PNG when it holds
    the ``IEND`` chunk. Data appended after either (a camera's trailer) is allowed. Other formats are not checked.
    """
    if data[:3] == b"\xff\xd8\xff":
        scan = data.rfind(b"\xff\xda")
        if scan < 0 or data.find(b"\xff\xd9", scan + 2) < 0:
            return "truncated JPEG (no end-of-image marker FF D9 after its last scan)"
    elif data[:8] == b"\x89PNG\r\n\x1a\n" and data.rfind(_PNG_IEND) < 0:
        return "truncated PNG (no IEND chunk)"
    return None


def decode_image_file(path: str | os.PathLike, flags: int, what: str = "image") -> np.ndarray:
    """Read a file once and decode it with ``cv2.imdecode(flags)``; a missing, truncated or undecodable file is a
    :class:`DataFileError` naming it (``what``: "image", "depth map", ... for the message)."""
    p = _check_exists(path, what.split()[0])
    try:
        data = p.read_bytes()
    except OSError as err:
        raise DataFileError(f"cannot read {what} {p}: {err.strerror or err}") from err
    problem = truncation_problem(data)
    if problem is not None:
        raise DataFileError(f"{p}: {problem}")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
    if decoded is None:
        raise DataFileError(f"cannot decode {what} {p}: the file is corrupt or not an image")
    return decoded


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB ``uint8 (H, W, 3)`` (grayscale is expanded to 3 channels).

    A truncated JPEG/PNG is an error (:func:`truncation_problem`), not a partly grey picture."""
    return cv2.cvtColor(decode_image_file(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_depth_png(path: str | os.PathLike, scale: float = 1e-3) -> np.ndarray:
    """Read a uint16 depth PNG; returns metres ``float32 (H, W)`` (``value * scale``), 0 = invalid."""
    p = Path(path)
    depth = decode_image_file(p, cv2.IMREAD_UNCHANGED, "depth map")
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise DataFileError(f"depth map {p} must be a single-channel uint16 PNG, got {depth.dtype} {depth.shape}")
    return depth.astype(np.float32) * np.float32(scale)


#: 16-bit normal PNGs store ``n = value * NORMAL_PNG_SCALE - 1`` per component (0 = invalid pixel).
NORMAL_PNG_SCALE = 2.0 / 65535.0


def read_normal_png_raw(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a 16-bit normal PNG undecoded: ``(values uint16 (H, W, 3), valid bool (H, W))``.

    For pipelines that resample first and decode the (much smaller) result with :func:`decode_normals`.
    """
    p = Path(path)
    raw = decode_image_file(p, cv2.IMREAD_UNCHANGED, "normal map")
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
    p = Path(path)
    mask = decode_image_file(p, cv2.IMREAD_UNCHANGED, "mask")
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
