"""Tracking error of the ``video`` verb against the true joints of a MINI-RGBD-style sequence.

A sequence written by ``hyper-sapiens synth`` (docs/synth.md) holds ``joints_2Ddep/syn_joints_2Ddep_%05d.txt``,
25 SMIL joints per frame whose first two columns are pixel coordinates. The verb writes ``keypoints.csv`` with
the raw track (``x_raw``, ``y_raw``) and the cleaned track (``x``, ``y``) in COCO17. This module puts both in
the same form, ``(T, 17, 2)`` float64 pixels with ``NaN`` where a joint is missing, and measures:

- **mean error**: mean Euclidean distance (pixels) between a track and the truth over the joints and frames
  where both exist;
- **jitter**: mean norm of the second difference ``p[t+1] - 2 p[t] + p[t-1]`` (pixels per frame², a
  frame-to-frame acceleration) over the joints and frames where the three positions exist. Smooth motion has a
  small one; the truth's own value is the floor a track can reach without lagging behind the motion.

Only the 13 COCO17 joints MINI-RGBD has (no eyes, no ears) are compared: the others are ``NaN`` in the truth,
and a track's joints are compared only where the truth has them.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..data.io import DataFileError
from ..data.minirgbd import read_minirgbd_joints
from ..keypoints import COCO17
from ..keypoints.converter import KeypointConverter
from .features import accelerations

__all__ = [
    "RAW_COLUMNS",
    "CLEANED_COLUMNS",
    "compare_with_truth",
    "jitter",
    "mean_error",
    "minirgbd_truth",
    "read_track",
]

#: ``keypoints.csv`` columns of the raw track (the model's keypoints before any cleaning).
RAW_COLUMNS = ("x_raw", "y_raw")
#: ``keypoints.csv`` columns of the cleaned track (gaps, interpolation, temporal filter).
CLEANED_COLUMNS = ("x", "y")


def minirgbd_truth(seq_dir: str | os.PathLike) -> np.ndarray:
    """The true 2D joints of a MINI-RGBD-style sequence in COCO17.

    Args:
        seq_dir: the sequence folder (``.../minirgbd/01``), holding ``joints_2Ddep/syn_joints_2Ddep_%05d.txt``.

    Returns:
        ``(T, 17, 2)`` float64 pixels, frames in file-name order; ``NaN`` for the COCO17 joints MINI-RGBD lacks
        (eyes and ears).

    Raises:
        DataFileError: no joint file in the folder, or a malformed one (named).
    """
    files = sorted((Path(seq_dir) / "joints_2Ddep").glob("syn_joints_2Ddep_*.txt"))
    if not files:
        raise DataFileError(f"{seq_dir}: no joints_2Ddep/syn_joints_2Ddep_*.txt files (not a MINI-RGBD sequence)")
    xy = np.stack([read_minirgbd_joints(f)[:, :2] for f in files]).astype(np.float64)
    kp, vis = KeypointConverter("minirgbd25")(xy)
    kp = np.asarray(kp, np.float64)
    kp[np.asarray(vis) == 0] = np.nan
    return kp


def read_track(csv_path: str | os.PathLike, columns: tuple[str, str], num_frames: int | None = None) -> np.ndarray:
    """One track of the ``video`` verb's ``keypoints.csv``, read by column name.

    Args:
        csv_path: a ``keypoints.csv`` (one row per frame and joint: ``frame``, ``joint`` and the coordinate
            columns; other columns, in any order, are ignored).
        columns: the x and y columns, e.g. :data:`RAW_COLUMNS` or :data:`CLEANED_COLUMNS`.
        num_frames: ``T``; default: the largest ``frame`` + 1.

    Returns:
        ``(T, 17, 2)`` float64 pixels in COCO17 order; empty or ``nan`` cells, and frames or joints without a
        row, are ``NaN``.

    Raises:
        DataFileError: a missing column, an unknown joint name, a frame outside ``[0, num_frames)`` or a
            value that is not a number (the file and the row are named).
    """
    path = Path(csv_path)
    index = {name: i for i, name in enumerate(COCO17.names)}
    cells: list[tuple[int, int, float, float]] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("frame", "joint", *columns) if c not in (reader.fieldnames or [])]
        if missing:
            raise DataFileError(f"{path}: no column {', '.join(missing)} (columns: {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            try:
                t = int(row["frame"])
                xy = [float(row[c]) if row[c] not in ("", "nan") else np.nan for c in columns]
            except ValueError as err:
                raise DataFileError(f"{path}: line {line}: {err}") from err
            if row["joint"] not in index:
                raise DataFileError(f"{path}: line {line}: unknown joint {row['joint']!r} (COCO17 names expected)")
            cells.append((t, index[row["joint"]], xy[0], xy[1]))
    frames = [c[0] for c in cells]
    t_max = max(frames) + 1 if frames else 0
    total = t_max if num_frames is None else int(num_frames)
    if frames and (min(frames) < 0 or t_max > total):
        raise DataFileError(f"{path}: frames {min(frames)}..{t_max - 1} outside 0..{total - 1}")
    out = np.full((total, COCO17.num_keypoints, 2), np.nan)
    for t, j, x, y in cells:
        out[t, j] = (x, y)
    return out


def mean_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean Euclidean distance between ``pred`` and ``truth`` (both ``(T, K, 2)`` pixels) over the joints and
    frames where both are finite; ``NaN`` when there are none."""
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(truth, np.float64), axis=-1)
    return float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")


def jitter(track: np.ndarray) -> float:
    """Mean norm of the second difference ``p[t+1] - 2 p[t] + p[t-1]`` of ``track (T, K, 2)`` pixels, i.e. pixels
    per frame², over the joints and frames ``t`` where the three positions are finite.

    ``NaN`` when there are none (fewer than 3 frames, or no joint present in 3 consecutive frames). A track
    moving at constant velocity has jitter 0.
    """
    p = np.asarray(track, np.float64)
    if p.shape[0] < 3:
        return float("nan")
    acc = accelerations(p, fps=1.0)  # the features' acceleration, per frame² instead of per s²
    return float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan")


def compare_with_truth(keypoints_csv: str | os.PathLike, seq_dir: str | os.PathLike) -> dict:
    """The raw and cleaned tracks of one ``video`` output against the truth of the sequence it was run on.

    Args:
        keypoints_csv: the verb's ``OUT/<clip>/keypoints.csv``, or the ``OUT/<clip>`` folder holding it.
        seq_dir: the MINI-RGBD-style sequence folder the clip shows (``.../minirgbd/01``).

    Returns:
        ``{"mean_error_px": {"raw", "raw_kept", "cleaned"}, "jitter_px": {"raw", "cleaned", "truth"},
        "dropped": n, "frames": T}``, pixels and pixels per frame² (see :func:`mean_error`, :func:`jitter`).
        ``raw_kept`` is the raw track's error over only the joints the cleaned track still has (the same joints
        as ``cleaned``: the fair before/after pair), ``dropped`` the number of joints (frames × joints) present in
        the raw track but missing after cleaning (dropped and not interpolated). Track joints are compared only
        where the truth has them; a value with nothing to average over is ``NaN``.

    Raises:
        DataFileError: unreadable files, or a track whose frame count differs from the truth's.
    """
    path = Path(keypoints_csv)
    if path.is_dir():
        path = path / "keypoints.csv"
    gt = minirgbd_truth(seq_dir)
    raw = read_track(path, RAW_COLUMNS)
    if raw.shape[0] != gt.shape[0]:
        raise DataFileError(f"{path}: {raw.shape[0]} frames, but {seq_dir} has {gt.shape[0]} frames of joints")
    cleaned = read_track(path, CLEANED_COLUMNS, gt.shape[0])
    absent = np.isnan(gt[..., 0])
    raw[absent] = np.nan
    cleaned[absent] = np.nan
    dropped = np.isfinite(raw).all(-1) & ~np.isfinite(cleaned).all(-1)
    raw_kept = raw.copy()
    raw_kept[dropped] = np.nan
    return {
        "mean_error_px": {"raw": mean_error(raw, gt), "raw_kept": mean_error(raw_kept, gt),
                          "cleaned": mean_error(cleaned, gt)},
        "jitter_px": {"raw": jitter(raw), "cleaned": jitter(cleaned), "truth": jitter(gt)},
        "dropped": int(dropped.sum()),
        "frames": int(gt.shape[0]),
    }
