"""Random augmentation parameters (mmpose 1.x defaults) and texture randomisation for synthetic images.

Geometry follows mmpose's training pipeline for top-down UDP models: ``RandomFlip`` →
``RandomHalfBody`` → ``RandomBBoxTransform`` → ``TopdownAffine``. Texture randomisation (colour jitter,
grey, noise, blur, JPEG) is ours, applied to synthetic crops only, to widen the synthetic appearance
distribution towards real photographs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: COCO17 upper-body keypoints (face, shoulders, elbows, wrists) as mmpose's ``upper_body_ids``.
COCO17_UPPER_BODY = tuple(range(11))
#: COCO17 lower-body keypoints (hips, knees, ankles).
COCO17_LOWER_BODY = tuple(range(11, 17))


def truncated_normal(rng: np.random.Generator, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
    """Standard normal truncated to ``[-1, 1]`` (rejection sampling), as mmpose's ``truncnorm.rvs(-1, 1)``."""
    n = int(np.prod(size)) if size is not None else 1
    out = np.empty(n, dtype=np.float64)
    filled = 0
    while filled < n:
        draw = rng.standard_normal(2 * (n - filled) + 4)
        draw = draw[np.abs(draw) <= 1.0][: n - filled]
        out[filled : filled + draw.size] = draw
        filled += draw.size
    return out.reshape(size) if size is not None else float(out[0])


@dataclass
class BBoxAugmentConfig:
    """mmpose ``RandomBBoxTransform`` defaults: shift, scale and rotation of the top-down box."""

    shift_factor: float = 0.16
    shift_prob: float = 0.3
    scale_factor: tuple[float, float] = (0.5, 1.5)
    scale_prob: float = 1.0
    rotate_factor: float = 80.0
    rotate_prob: float = 0.6


def random_bbox_transform(
    center: np.ndarray, scale: np.ndarray, cfg: BBoxAugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """Jitter a box: ``(center (2,), scale (2,))`` pixels → new centre, scale and a rotation in degrees."""
    center = center.astype(np.float32).copy()
    scale = scale.astype(np.float32).copy()
    offset = truncated_normal(rng, (2,)) * cfg.shift_factor
    if rng.random() < cfg.shift_prob:
        center = center + (offset * scale).astype(np.float32)
    lo, hi = cfg.scale_factor
    factor = truncated_normal(rng) * (hi - lo) / 2 + (hi + lo) / 2
    if rng.random() < cfg.scale_prob:
        scale = scale * np.float32(factor)
    angle = truncated_normal(rng) * cfg.rotate_factor
    rotation = float(angle) if rng.random() < cfg.rotate_prob else 0.0
    return center, scale, rotation


@dataclass
class HalfBodyConfig:
    """mmpose ``RandomHalfBody`` defaults."""

    prob: float = 0.3
    min_total_keypoints: int = 9
    min_upper_keypoints: int = 2
    min_lower_keypoints: int = 3
    padding: float = 1.5
    upper_prioritized_prob: float = 0.7


def random_half_body(
    keypoints: np.ndarray,
    visible: np.ndarray,
    cfg: HalfBodyConfig,
    rng: np.random.Generator,
    upper: tuple[int, ...] = COCO17_UPPER_BODY,
    lower: tuple[int, ...] = COCO17_LOWER_BODY,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Maybe replace the box by one around the upper or lower body.

    Args:
        keypoints: ``(K, 2)`` pixels. visible: ``(K,)``; a keypoint counts when ``visible > 0``.

    Returns ``(center (2,), scale (2,))`` of the half-body box, or None to keep the original box.
    """
    seen = visible > 0
    if seen.sum() < cfg.min_total_keypoints or rng.random() >= cfg.prob:
        return None
    upper_ids = [i for i in upper if seen[i]]
    lower_ids = [i for i in lower if seen[i]]
    upper_ok = len(upper_ids) >= cfg.min_upper_keypoints
    lower_ok = len(lower_ids) >= cfg.min_lower_keypoints
    if not upper_ok and not lower_ok:
        return None
    if not lower_ok:
        chosen = upper_ids
    elif not upper_ok:
        chosen = lower_ids
    else:
        chosen = upper_ids if rng.random() < cfg.upper_prioritized_prob else lower_ids
    pts = keypoints[chosen]
    center = pts.mean(axis=0).astype(np.float32)
    size = (pts.max(axis=0) - pts.min(axis=0)).astype(np.float32)
    return center, size * np.float32(cfg.padding)


@dataclass
class TextureConfig:
    """Photometric randomisation of synthetic crops; each effect has its own probability."""

    prob: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.4
    hue: float = 0.05
    gray_prob: float = 0.1
    noise_prob: float = 0.3
    noise_std: tuple[float, float] = (2.0, 10.0)
    blur_prob: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 90)


def randomize_texture(image: np.ndarray, cfg: TextureConfig, rng: np.random.Generator) -> np.ndarray:
    """Colour jitter, grey, Gaussian blur, sensor noise and JPEG re-encoding of an RGB ``uint8 (H, W, 3)`` image."""
    if rng.random() >= cfg.prob:
        return image
    img = image.astype(np.float32)
    if cfg.brightness > 0:
        img *= rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    if cfg.contrast > 0:
        mean = img.mean()
        img = (img - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    if cfg.saturation > 0 or cfg.hue > 0:
        gray = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        img = (img - gray[..., None]) * rng.uniform(1 - cfg.saturation, 1 + cfg.saturation) + gray[..., None]
        if cfg.hue > 0:
            hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
            shift = int(round(rng.uniform(-cfg.hue, cfg.hue) * 180))
            hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
    if rng.random() < cfg.gray_prob:
        gray = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        img = np.repeat(gray[..., None], 3, axis=2)
    if rng.random() < cfg.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*cfg.blur_sigma))
    if rng.random() < cfg.noise_prob:
        img = img + rng.normal(0.0, rng.uniform(*cfg.noise_std), img.shape).astype(np.float32)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg_prob:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out
