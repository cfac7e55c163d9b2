"""Top-down geometry with mmpose 1.3.2 semantics: boxes → centre/scale, the UDP warp, flips, back-projection.

Conventions: pixel centres at integer coordinates; boxes ``xyxy`` in pixels; ``scale`` is the ``(w, h)`` of
the padded box in pixels (mmpose 1.x); sizes are ``(w, h)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def _check_last(name: str, array: np.ndarray, size: int) -> None:
    if array.ndim < 1 or array.shape[-1] != size:
        raise ValueError(f"{name}: expected shape (..., {size}), got {array.shape}")


def bbox_xywh2xyxy(bbox: np.ndarray) -> np.ndarray:
    """``(..., 4)`` COCO ``x, y, w, h`` → ``x1, y1, x2, y2`` (``x2 = x + w``)."""
    bbox = np.asarray(bbox, dtype=np.float32)
    _check_last("bbox_xywh2xyxy", bbox, 4)
    out = bbox.copy()
    out[..., 2:] = bbox[..., :2] + bbox[..., 2:]
    return out


def bbox_xyxy2cs(bbox: np.ndarray, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 4)`` xyxy → ``center (..., 2)``, ``scale (..., 2)`` = padded ``(w, h)`` (mmpose ``bbox_xyxy2cs``)."""
    bbox = np.asarray(bbox, dtype=np.float32)
    _check_last("bbox_xyxy2cs", bbox, 4)
    center = (bbox[..., :2] + bbox[..., 2:]) * np.float32(0.5)
    scale = (bbox[..., 2:] - bbox[..., :2]) * np.float32(padding)
    return center, scale


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow ``scale (..., 2)`` to the input's ``w / h`` (mmpose ``TopdownAffine._fix_aspect_ratio``)."""
    scale = np.asarray(scale, dtype=np.float32)
    _check_last("fix_aspect_ratio", scale, 2)
    w, h = scale[..., 0], scale[..., 1]
    ar = np.float32(aspect_ratio)
    return np.where((w > h * ar)[..., None], np.stack([w, w / ar], -1), np.stack([h * ar, h], -1)).astype(np.float32)


def get_udp_warp_matrix(
    center: Sequence[float], scale: Sequence[float], rot: float, output_size: tuple[int, int]
) -> np.ndarray:
    """The ``(2, 3)`` float32 UDP affine (Huang et al. 2020) mapping image pixels to crop pixels.

    The box centre lands on ``((w-1)/2, (h-1)/2)``; ``rot`` is in degrees, with mmpose's sign (its UDP and
    standard warps rotate in opposite directions).
    """
    cx, cy = (float(v) for v in np.asarray(center, np.float64).reshape(2))
    sw, sh = (float(v) for v in np.asarray(scale, np.float64).reshape(2))
    w, h = output_size
    theta = np.deg2rad(rot)
    cos, sin = np.cos(theta), np.sin(theta)
    sx, sy = (w - 1.0) / sw, (h - 1.0) / sh
    return np.array(
        [
            [cos * sx, -sin * sx, sx * (-cx * cos + cy * sin + 0.5 * sw)],
            [sin * sy, cos * sy, sy * (-cx * sin - cy * cos + 0.5 * sh)],
        ],
        dtype=np.float32,
    )


def warp_image(
    image: np.ndarray,
    matrix: np.ndarray,
    output_size: tuple[int, int],
    interpolation: int = cv2.INTER_LINEAR,
    border_value: float = 0,
) -> np.ndarray:
    """Warp ``(H, W[, C])`` to ``(h, w[, C])`` with ``cv2.warpAffine`` (constant border); any channel count."""
    if image.ndim == 3 and image.shape[2] > 4:
        return np.stack(
            [
                warp_image(image[..., c], matrix, output_size, interpolation, border_value)
                for c in range(image.shape[2])
            ],
            axis=2,
        )
    return cv2.warpAffine(
        image,
        np.asarray(matrix, np.float32),
        tuple(output_size),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border_value,
    )


def warp_keypoints(keypoints: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine to ``(..., K, 2)`` points (visibility is not changed by a warp)."""
    keypoints = np.asarray(keypoints)
    _check_last("warp_keypoints", keypoints, 2)
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"warp_keypoints: matrix must be (2, 3), got {m.shape}")
    out = keypoints.astype(np.float64) @ m[:, :2].T + m[:, 2]
    return out.astype(keypoints.dtype if np.issubdtype(keypoints.dtype, np.floating) else np.float32)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The exact inverse ``(2, 3)`` of a ``(2, 3)`` affine."""
    m = np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(m)[:2].astype(np.float32)


def crop_to_image(points: np.ndarray, center: np.ndarray, scale: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Crop pixels → image pixels with mmpose's back-projection ``p / (w, h) * s + c - s / 2``.

    Points decoded by :class:`~hyper_sapiens.data.codecs.UDPHeatmap` are ``p_hm / (W-1) * w``, so the chain
    is ``p_hm / (W-1) * s + c - s/2``: the exact inverse of the UDP warp (rotation 0) followed by the encode.
    """
    points = np.asarray(points, np.float64)
    size = np.asarray(input_size, np.float64)
    return (
        points / size * np.asarray(scale, np.float64)
        + np.asarray(center, np.float64)
        - 0.5 * np.asarray(scale, np.float64)
    )


def heatmap_to_image(
    points: np.ndarray, center: np.ndarray, scale: np.ndarray, heatmap_size: tuple[int, int]
) -> np.ndarray:
    """Heatmap pixels → image pixels for UDP: ``p / (W-1, H-1) * s + c - s/2``."""
    size = np.asarray(heatmap_size, np.float64) - 1.0
    points = np.asarray(points, np.float64)
    return (
        points / size * np.asarray(scale, np.float64)
        + np.asarray(center, np.float64)
        - 0.5 * np.asarray(scale, np.float64)
    )


def flip_keypoints_horizontal(
    keypoints: np.ndarray, visible: np.ndarray, image_width: int, flip_indices: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """mmpose ``RandomFlip`` on ``(..., K, 2)`` points and ``(..., K)`` visibility: ``x' = W - 1 - x``, swap sides."""
    keypoints = np.asarray(keypoints)
    visible = np.asarray(visible)
    idx = list(flip_indices)
    if keypoints.shape[-2] != len(idx) or visible.shape != keypoints.shape[:-1]:
        raise ValueError(
            f"flip_keypoints_horizontal: keypoints {keypoints.shape} / visible {visible.shape} "
            f"do not match {len(idx)} flip indices"
        )
    out = keypoints[..., idx, :].copy()
    out[..., 0] = image_width - 1 - out[..., 0]
    return out, visible[..., idx].copy()

