"""Pictures for reports: skeletons drawn on images, crop grids, PCK-vs-threshold curves."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..keypoints import COCO17, COCO17_LIMBS

_LEFT = (66, 135, 245)  # RGB: the infant's left in blue, right in orange (as synth previews)
_RIGHT = (245, 150, 40)
_CENTRE = (80, 200, 80)


def _limb_colour(a: int, b: int) -> tuple[int, int, int]:
    names = (COCO17.names[a], COCO17.names[b])
    if all(n.startswith("left") for n in names):
        return _LEFT
    if all(n.startswith("right") for n in names):
        return _RIGHT
    return _CENTRE


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray | None = None,
    score_thr: float = 0.3,
    radius: int = 3,
    thickness: int = 2,
    low_confidence: str = "hide",
) -> np.ndarray:
    """Draw COCO17 keypoints ``(17, 2)`` (image pixels) and limbs on a copy of an RGB ``uint8 (H, W, 3)`` image.

    Points with ``scores <= score_thr`` are hidden with their limbs (``low_confidence="hide"``), or drawn as
    hollow circles joined by thin limbs (``"mark"``), so the whole predicted skeleton stays visible.
    """
    if low_confidence not in ("hide", "mark"):
        raise ValueError(f"low_confidence must be 'hide' or 'mark', got {low_confidence!r}")
    out = np.ascontiguousarray(image.copy())
    ok = np.ones(len(keypoints), bool) if scores is None else np.asarray(scores) > score_thr
    show = ok if low_confidence == "hide" else np.ones(len(keypoints), bool)
    pts = np.round(np.asarray(keypoints, np.float64)).astype(int)
    for a, b in COCO17_LIMBS:
        if show[a] and show[b]:
            width = thickness if ok[a] and ok[b] else 1
            cv2.line(out, tuple(pts[a]), tuple(pts[b]), _limb_colour(a, b), width, cv2.LINE_AA)
    for i, (x, y) in enumerate(pts):
        if show[i]:
            name = COCO17.names[i]
            colour = _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE
            cv2.circle(out, (int(x), int(y)), radius, colour, -1 if ok[i] else 1, cv2.LINE_AA)
    return out


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 2) -> np.ndarray:
    """Two RGB images of the same height next to each other with a white gap of ``gap`` pixels."""
    h = left.shape[0]
    return np.concatenate([left, np.full((h, gap, 3), 255, np.uint8), right], axis=1)


def save_rgb(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an RGB ``uint8`` image (PNG/JPEG by suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write image {path}")
    return path


def crop_grid(crops: Sequence[np.ndarray], captions: Sequence[str], columns: int = 8) -> np.ndarray:
    """Tile equally sized RGB crops ``(h, w, 3)`` into one image with a caption strip under each."""
    if not crops:
        raise ValueError("crop_grid needs at least one crop")
    h, w = crops[0].shape[:2]
    strip = 16
    rows = (len(crops) + columns - 1) // columns
    grid = np.full((rows * (h + strip), columns * w, 3), 255, np.uint8)
    for i, (crop, caption) in enumerate(zip(crops, captions, strict=True)):
        r, c = divmod(i, columns)
        y, x = r * (h + strip), c * w
        grid[y : y + h, x : x + w] = crop
        cv2.putText(grid, caption, (x + 3, y + h + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return grid


def plot_pck_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str = "PCK vs threshold (bbox-normalised)",
) -> Path:
    """Plot one or more PCK curves ``name → (thresholds, pck)`` to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=110)
    for name, (thr, pck) in curves.items():
        ax.plot(thr, pck, marker="o", markersize=3, label=name)
    ax.axvline(0.05, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("threshold (fraction of the longer box side)")
    ax.set_ylabel("PCK")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
