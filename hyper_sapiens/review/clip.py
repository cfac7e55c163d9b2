"""A clip folder written by ``hyper-sapiens video`` (``OUT/<clip>/``), read for the review page.

What is read (``docs/video.md`` § Outputs): ``features.json`` (frame rate, frame count, frame size, the input's
path, the movement features), ``keypoints.json`` (the cleaned track), ``keypoints_raw.json`` (the model's track),
``keypoints_corrected.json`` when the SDS correction ran, and ``keypoints.csv`` (gaps, outliers, interpolated
points, the prior's per-frame score and flags). A missing or malformed file is a
:class:`~hyper_sapiens.data.io.DataFileError` naming it and the problem.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.io import DataFileError, read_json
from ..keypoints import COCO17

__all__ = ["ClipFolder", "clip_tracks", "load_clip", "read_track", "track_extras"]

K = COCO17.num_keypoints


@dataclass
class ClipFolder:
    """One clip's output folder.

    ``fps`` is frames per second, ``width``/``height`` the frame size in pixels, ``frames`` the frame count;
    ``source`` is the input path as the ``video`` verb recorded it (``features.json`` ``clip.input``, possibly
    relative to the folder ``video`` ran in); ``features`` is ``features.json`` as written.
    """

    folder: Path
    name: str
    fps: float
    width: int
    height: int
    frames: int
    source: str | None
    features: dict[str, Any] = field(repr=False)


def load_clip(folder: str | os.PathLike) -> ClipFolder:
    """Read ``features.json`` of a clip folder and check that ``keypoints.json`` is there."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(f"{folder}: no such clip folder (the video verb writes OUT/<clip>/)")
    path = folder / "features.json"
    if not path.is_file():
        raise DataFileError(f"{path}: missing; is {folder} a folder written by `hyper-sapiens video`?")
    features = read_json(path)
    if not isinstance(features, dict):
        raise DataFileError(f"{path}: expected a JSON object, got {type(features).__name__}")
    clip = features.get("clip")
    if not isinstance(clip, dict):
        raise DataFileError(f"{path}: no 'clip' section (frame size and input); rerun `hyper-sapiens video`")
    try:
        fps = float(features["fps"])
        frames = int(features["frames"])
        width, height = int(clip["width"]), int(clip["height"])
    except (KeyError, TypeError, ValueError) as err:
        raise DataFileError(f"{path}: fps, frames, clip.width and clip.height must be numbers ({err})") from None
    if not (math.isfinite(fps) and fps > 0) or frames < 1 or width < 1 or height < 1:
        raise DataFileError(f"{path}: fps {fps}, frames {frames}, size {width}x{height}: need positive values")
    if not (folder / "keypoints.json").is_file():
        raise DataFileError(f"{folder / 'keypoints.json'}: missing")
    source = clip.get("input")
    return ClipFolder(folder, folder.name, fps, width, height, frames,
                      str(source) if source else None, features)


def read_track(path: str | os.PathLike, frames: int) -> tuple[list[list[Any]], list[float | None]]:
    """A COCO keypoint results file of the ``video`` verb (``keypoints*.json``) as ``(points, frame_scores)``:
    ``points[t][k]`` is ``[x, y, score]`` in image pixels or ``None`` for a missing joint (written ``0, 0, 0``);
    ``frame_scores[t]`` the frame's mean keypoint score. Every frame ``0 .. frames-1`` must be there once."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list) or len(data) != frames:
        got = len(data) if isinstance(data, list) else type(data).__name__
        raise DataFileError(f"{path}: expected a list of {frames} frames (features.json), got {got}")
    points: list[list[Any]] = [[None] * K for _ in range(frames)]
    scores: list[float | None] = [None] * frames
    seen = set()
    for i, entry in enumerate(data):
        try:
            t = int(entry["frame"])
            values = [float(v) for v in entry["keypoints"]]
        except (KeyError, TypeError, ValueError):
            raise DataFileError(f"{path}: entry #{i} needs 'frame' and 'keypoints' numbers") from None
        if not 0 <= t < frames or t in seen or len(values) != 3 * K:
            raise DataFileError(f"{path}: entry #{i}: frame {t} (of {frames}) with {len(values)} keypoint values")
        seen.add(t)
        for k in range(K):
            x, y, s = values[3 * k: 3 * k + 3]
            if all(math.isfinite(v) for v in (x, y, s)) and not (x == 0 and y == 0 and s == 0):
                points[t][k] = [x, y, s]
        score = entry.get("score")
        scores[t] = float(score) if isinstance(score, (int, float)) and math.isfinite(score) else None
    return points, scores


def _flag(value: str) -> bool:
    return value.strip() == "1"


def _float(value: str) -> float | None:
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def track_extras(path: str | os.PathLike, frames: int) -> dict[str, list[Any]]:
    """From ``keypoints.csv``: per frame ``gap``, ``outlier`` and ``interpolated`` as bit masks over the 17 joints
    (bit k = joint k in COCO order), ``plausibility`` (the prior's score, ``None`` where unscored) and ``flagged``
    (``True``/``False``/``None``). A file without the rows of every frame and joint is an error naming it."""
    path = Path(path)
    out: dict[str, list[Any]] = {
        "gap": [0] * frames, "outlier": [0] * frames, "interpolated": [0] * frames,
        "plausibility": [None] * frames, "flagged": [None] * frames,
    }
    joints = {name: k for k, name in enumerate(COCO17.names)}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            need = {"frame", "joint", "gap", "outlier", "interpolated", "plausibility", "flagged"}
            missing = sorted(need - set(reader.fieldnames or ()))
            if missing:
                raise DataFileError(f"{path}: no column {', '.join(missing)} (written by `hyper-sapiens video`)")
            rows = 0
            for row in reader:
                rows += 1
                try:
                    t, k = int(row["frame"]), joints[row["joint"]]
                except (KeyError, ValueError):
                    raise DataFileError(f"{path}: line {rows + 1}: frame {row['frame']!r}, joint {row['joint']!r}")\
                        from None
                if not 0 <= t < frames:
                    raise DataFileError(f"{path}: line {rows + 1}: frame {t} outside 0..{frames - 1}")
                for key in ("gap", "outlier", "interpolated"):
                    if _flag(row[key]):
                        out[key][t] |= 1 << k
                out["plausibility"][t] = _float(row["plausibility"])
                flag = row["flagged"].strip()
                out["flagged"][t] = None if flag == "" else flag == "1"
    except OSError as err:
        raise DataFileError(f"cannot read {path}: {err.strerror or err}") from err
    if rows != frames * K:
        raise DataFileError(f"{path}: {rows} rows, expected {frames} frames x {K} joints = {frames * K}")
    return out


#: The tracks the page can draw, and the files they come from.
TRACK_FILES = (("raw", "keypoints_raw.json"), ("cleaned", "keypoints.json"), ("corrected", "keypoints_corrected.json"))


def clip_tracks(clip: ClipFolder) -> dict[str, Any]:
    """Everything the page draws from the model, read and checked once: ``tracks`` (``raw``, ``cleaned`` and, when
    written, ``corrected``: ``[t][k]`` = ``[x, y]`` pixels or ``None``), ``frame_scores`` (the cleaned file's mean
    keypoint score per frame), ``joint_scores`` (``[t][k]`` the model's score or ``None``) and ``extras``
    (:func:`track_extras`, or ``None`` without ``keypoints.csv``)."""
    tracks: dict[str, list[list[Any]]] = {}
    frame_scores = joint_scores = None
    for name, file in TRACK_FILES:
        path = clip.folder / file
        if not path.is_file():
            continue
        points, scores = read_track(path, clip.frames)
        tracks[name] = [[None if p is None else [round(p[0], 3), round(p[1], 3)] for p in row] for row in points]
        if name == "raw":
            joint_scores = [[None if p is None else round(p[2], 4) for p in row] for row in points]
        elif name == "cleaned":
            frame_scores = scores
    csv_path = clip.folder / "keypoints.csv"
    extras = track_extras(csv_path, clip.frames) if csv_path.is_file() else None
    return {"tracks": tracks, "frame_scores": frame_scores, "joint_scores": joint_scores, "extras": extras}
