"""What the ``video`` verb writes: per-frame keypoints (CSV and COCO-style JSON), features, the drawn clip, plots."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..keypoints import COCO17

__all__ = [
    "CSV_COLUMNS",
    "write_keypoints_csv",
    "write_keypoints_json",
    "write_plausibility_plot",
    "write_plots",
    "write_skeleton_video",
]

#: Columns of ``keypoints.csv``, one row per frame and joint (docs/video.md describes each).
CSV_COLUMNS = (
    "frame", "time_s", "joint", "x_raw", "y_raw", "score", "gap", "outlier", "interpolated", "x", "y",
    "box_source", "plausibility", "flagged", "x_corrected", "y_corrected",
)


def _num(value: float, digits: int = 3) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def write_keypoints_csv(
    path: str | os.PathLike,
    fps: float,
    raw: np.ndarray,
    scores: np.ndarray,
    cleaned: np.ndarray,
    gap: np.ndarray,
    outlier: np.ndarray,
    interpolated: np.ndarray,
    box_source: list[str],
    plausibility: np.ndarray | None = None,
    flags: np.ndarray | None = None,
    corrected: np.ndarray | None = None,
) -> Path:
    """One row per frame and joint. ``raw``/``cleaned`` ``(T, K, 2)`` pixels, ``scores``/``gap``/``outlier``/
    ``interpolated`` ``(T, K)``, ``plausibility``/``flags`` ``(T,)`` or ``None``, ``corrected`` ``(T, K, 2)``
    pixels (the track after the SDS correction of flagged frames) or ``None`` (its columns stay empty). Empty
    cells are missing values."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for t in range(raw.shape[0]):
            plaus = _num(plausibility[t], 5) if plausibility is not None else ""
            flag = "" if flags is None or not np.isfinite(flags[t]) else str(int(flags[t]))
            for k, name in enumerate(COCO17.names):
                xc, yc = (corrected[t, k] if corrected is not None else (None, None))
                writer.writerow([
                    t, f"{t / fps:.4f}", name, _num(raw[t, k, 0]), _num(raw[t, k, 1]), _num(scores[t, k], 4),
                    int(gap[t, k]), int(outlier[t, k]), int(interpolated[t, k]),
                    _num(cleaned[t, k, 0]), _num(cleaned[t, k, 1]),
                    box_source[t], plaus, flag, _num(xc), _num(yc),
                ])
    return path


def keypoint_results(
    keypoints: np.ndarray, scores: np.ndarray, fps: float, flags: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """COCO keypoint results, one per frame: ``frame``, ``time_s``, ``image_id`` (= frame), ``category_id`` 1,
    ``keypoints`` ``[x, y, score] * 17`` (a missing joint is ``0, 0, 0``) and ``score`` (mean keypoint score)."""
    out = []
    for t in range(keypoints.shape[0]):
        flat: list[float] = []
        for k in range(keypoints.shape[1]):
            x, y = keypoints[t, k]
            s = scores[t, k]
            ok = np.isfinite(x) and np.isfinite(y) and np.isfinite(s)
            flat += [round(float(x), 3), round(float(y), 3), round(float(s), 4)] if ok else [0.0, 0.0, 0.0]
        entry: dict[str, Any] = {"frame": t, "time_s": round(t / fps, 4), "image_id": t, "category_id": 1,
                                 "keypoints": flat, "score": round(float(np.nanmean(scores[t])), 5)}
        if flags is not None:
            entry["flagged"] = bool(flags[t] == 1.0)
        out.append(entry)
    return out


def write_keypoints_json(path: str | os.PathLike, results: list[dict[str, Any]]) -> Path:
    from .. import json_safe

    path = Path(path)
    path.write_text(json_safe.dumps(results), encoding="utf-8")
    return path


def write_skeleton_video(
    path: str | os.PathLike, frames: Iterable[np.ndarray], keypoints: np.ndarray, fps: float, size: tuple[int, int]
) -> Path:
    """Draw the cleaned skeleton ``(T, 17, 2)`` on RGB frames and write an MP4 (``mp4v``) of ``size`` (W, H)."""
    import cv2

    from ..evaluation.plots import draw_skeleton

    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), tuple(size))
    if not writer.isOpened():
        raise OSError(f"cannot write video {path} (OpenCV has no mp4v encoder)")
    try:
        for t, frame in enumerate(frames):
            kp = keypoints[t]
            present = np.isfinite(kp).all(-1)
            drawn = draw_skeleton(frame, np.nan_to_num(kp), present.astype(np.float32), score_thr=0.5)
            writer.write(cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def write_plots(out_dir: str | os.PathLike, keypoints: np.ndarray, fps: float) -> list[Path]:
    """``trajectories.png`` (x and y over time of wrists and ankles) and ``speed.png`` (their speed over time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .features import SYMMETRY_PAIRS, speeds

    out_dir = Path(out_dir)
    names = [n for _, left, right in SYMMETRY_PAIRS for n in (left, right)]
    idx = [COCO17.names.index(n) for n in names]
    t = np.arange(keypoints.shape[0]) / fps
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for name, k in zip(names, idx, strict=True):
        axes[0].plot(t, keypoints[:, k, 0], label=name)
        axes[1].plot(t, keypoints[:, k, 1], label=name)
    axes[0].set_ylabel("x (px)")
    axes[1].set_ylabel("y (px)")
    axes[1].set_xlabel("time (s)")
    axes[0].legend(fontsize=7, ncol=4)
    fig.tight_layout()
    paths = [out_dir / "trajectories.png"]
    fig.savefig(paths[0], dpi=100)
    plt.close(fig)
    v = speeds(keypoints, fps)
    fig, ax = plt.subplots(figsize=(8, 3))
    for name, k in zip(names, idx, strict=True):
        ax.plot(t[1:], v[:, k], label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("speed (px/s)")
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    paths.append(out_dir / "speed.png")
    fig.savefig(paths[1], dpi=100)
    plt.close(fig)
    return paths


def write_plausibility_plot(
    path: str | os.PathLike,
    scores: np.ndarray,
    fps: float,
    threshold: float | None,
    flags: np.ndarray | None = None,
    corrected_scores: np.ndarray | None = None,
) -> Path:
    """``plausibility.png``: the prior score ``scores (T,)`` of every frame over time (s), ``threshold`` as a
    horizontal line, flagged frames (``flags (T,) == 1``) marked, and with ``corrected_scores (T,)`` the scores of
    the corrected flagged frames. Unscored frames (``NaN``) are left blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    s = np.asarray(scores, np.float64)
    t = np.arange(s.shape[0]) / fps
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(t, s, color="tab:blue", lw=1.2, label="prior score")
    if threshold is not None and np.isfinite(threshold):
        ax.axhline(threshold, color="tab:red", ls="--", lw=1.0, label=f"threshold {threshold:.3g}")
    if flags is not None:
        flagged = np.asarray(flags, np.float64) == 1.0
        if flagged.any():
            ax.scatter(t[flagged], s[flagged], color="tab:red", marker="x", s=30, zorder=3,
                       label=f"flagged ({int(flagged.sum())})")
            if corrected_scores is not None:
                c = np.asarray(corrected_scores, np.float64)
                ax.scatter(t[flagged], c[flagged], color="tab:green", marker="o", s=16, zorder=3,
                           label="after correction")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("prior score (lower = plausible)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
