"""Frames of unlabelled clips as a training source: every N-th frame as a JPEG, with a person box per frame.

``hyper-sapiens frames CLIP... --out DIR`` writes::

    DIR/images/<clip>/<frame:06d>.jpg    every ``every``-th frame of each clip (frame numbers from 0)
    DIR/images.json                       COCO ``images`` (id, file_name relative to DIR/images, width, height,
                                          clip, frame, time_s)
    DIR/detections.json                   COCO detection results, one box per kept frame (``box_source`` says
                                          where it came from)
    DIR/frames.json                       what was kept and left out, per clip, and the settings

which a training config reads as ``{type: unlabeled, image_dir: DIR/images, detections: DIR/detections.json,
images_json: DIR/images.json}`` -- the unlabelled real frames the curriculum's stage 2 trains SDS and the
depth-normal term on.

The box of a frame: with ``openpose`` (a folder holding one OpenPose folder per clip, named like the clip), the box
around the joints OpenPose found for the chosen person (``hyper_sapiens.data.openpose``'s rule for several people),
grown by ``margin`` of its longer side on every side and clipped to the frame; a frame where that person has fewer
than ``min_joints`` joints is left out and counted (``no_person``). Without ``openpose``: the whole frame, for clips
where the infant fills the picture; a clip without an OpenPose folder is an error unless ``missing_openpose`` is
``"whole_frame"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.openpose import VIDEO_SUFFIXES, OpenPoseTrack, read_openpose_sequence
from ..data.skeletons import SkeletonFileError
from ..io_atomic import atomic_write, atomic_write_bytes
from .reader import Clip, open_clip
from .tracker import keypoint_box

__all__ = ["FrameBox", "clip_frame_boxes", "extract_frames", "read_clip_openpose"]

#: What to do with a clip that has no OpenPose folder.
MISSING_OPENPOSE = ("error", "whole_frame")


@dataclass(frozen=True)
class FrameBox:
    """The box of one kept frame: ``xywh`` pixels and where it came from (``openpose`` or ``whole_frame``)."""

    frame: int
    xywh: tuple[float, float, float, float]
    source: str


def clip_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Video files of ``inputs`` (files, or folders whose video files are taken in name order); two clips of one
    name are an error, since the outputs are named by clip."""
    clips: list[Path] = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            if not found:
                raise FileNotFoundError(f"{path}: no video files ({', '.join(VIDEO_SUFFIXES)}) in this folder")
            clips += found
        elif path.is_file():
            clips.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such video file or folder")
    names: dict[str, Path] = {}
    for clip in clips:
        if clip.stem in names:
            raise ValueError(f"two clips named {clip.stem}: {names[clip.stem]} and {clip}; outputs are named by clip")
        names[clip.stem] = clip
    return clips


def read_clip_openpose(folder: Path, frame_size: tuple[int, int]) -> OpenPoseTrack:
    """The OpenPose folder of a clip, its coordinates read as fractions of ``frame_size`` or, failing that, pixels."""
    try:
        return read_openpose_sequence(folder, frame_size)
    except SkeletonFileError as err:
        if "not fractions" not in str(err):
            raise
        return read_openpose_sequence(folder, None)


def clip_frame_boxes(clip: Clip, every: int, openpose: Path | None = None, margin: float = 0.15,
                     min_joints: int = 4, missing_openpose: str = "error") -> tuple[list[FrameBox], int]:
    """The boxes of the kept frames of ``clip`` (every ``every``-th from frame 0) and the count left out for want of
    a person in the OpenPose track (always 0 without ``openpose``). A clip without an OpenPose folder is an error,
    or with ``missing_openpose="whole_frame"`` boxed by its whole frame."""
    if missing_openpose not in MISSING_OPENPOSE:
        raise ValueError(f"missing_openpose must be one of {list(MISSING_OPENPOSE)}, got {missing_openpose!r}")
    w, h = clip.size
    wanted = range(0, max(clip.num_frames, 1), every)
    folder = openpose / clip.name if openpose is not None else None
    if folder is not None and not folder.is_dir() and missing_openpose == "error":
        raise FileNotFoundError(f"{openpose}: no OpenPose folder {clip.name}/ for the clip {clip.path} (give "
                                "--missing-openpose whole-frame to box such clips by their whole frame)")
    if folder is None or not folder.is_dir():
        return [FrameBox(t, (0.0, 0.0, float(w), float(h)), "whole_frame") for t in wanted], 0
    track = read_clip_openpose(folder, (w, h))
    keypoints, visible = track.sequence.keypoints, track.sequence.visible
    boxes, no_person = [], 0
    for t in wanted:
        row = t - track.first_frame
        box = None
        if 0 <= row < len(keypoints):
            box = keypoint_box(keypoints[row], visible[row], 0.5, margin, min_joints)
        if box is None:
            no_person += 1
            continue
        x0, y0 = float(np.clip(box[0], 0, w)), float(np.clip(box[1], 0, h))
        x1, y1 = float(np.clip(box[2], 0, w)), float(np.clip(box[3], 0, h))
        if x1 - x0 < 1 or y1 - y0 < 1:
            no_person += 1
            continue
        boxes.append(FrameBox(t, (x0, y0, x1 - x0, y1 - y0), "openpose"))
    return boxes, no_person


def _encode_jpeg(frame_rgb: np.ndarray, quality: int, where: str) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"{where}: could not encode the frame as JPEG")
    return buf.tobytes()


def extract_frames(inputs: Iterable[str | os.PathLike], out: str | os.PathLike, every: int = 10,
                   openpose: str | os.PathLike | None = None, margin: float = 0.15, min_joints: int = 4,
                   quality: int = 92, progress: bool = True, missing_openpose: str = "error") -> dict[str, Any]:
    """Write the frames, images and detections of every clip of ``inputs`` into ``out`` (module docstring);
    returns the summary written to ``out/frames.json``. ``out`` must not hold an earlier extraction."""
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    if not 0 <= margin <= 2:
        raise ValueError(f"margin must be in [0, 2] (a fraction of the box's longer side), got {margin}")
    out = Path(out)
    if (out / "images.json").exists():
        raise FileExistsError(f"{out}: holds an earlier extraction (images.json); choose another --out")
    clips = clip_inputs(inputs)
    openpose_root = Path(openpose) if openpose is not None else None
    if openpose_root is not None and not openpose_root.is_dir():
        raise FileNotFoundError(f"{openpose_root}: no such OpenPose folder")
    images: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    per_clip: dict[str, dict[str, Any]] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(clips), desc="frames", unit="clip")
    for path in clips:
        clip = open_clip(path)
        boxes, no_person = clip_frame_boxes(clip, every, openpose_root, margin, min_joints, missing_openpose)
        by_frame = {b.frame: b for b in boxes}
        folder = out / "images" / clip.name
        folder.mkdir(parents=True, exist_ok=True)
        decoded = 0
        for t, frame in enumerate(clip.frames()):
            decoded += 1
            box = by_frame.get(t)
            if box is None:
                continue
            name = f"{clip.name}/{t:06d}.jpg"
            atomic_write_bytes(out / "images" / name, _encode_jpeg(frame, quality, f"{path} frame {t}"))
            image_id = len(images) + 1
            h, w = frame.shape[:2]
            images.append({"id": image_id, "file_name": name, "width": int(w), "height": int(h), "clip": clip.name,
                           "frame": t, "time_s": round(t / clip.fps, 4)})
            detections.append({"image_id": image_id, "category_id": 1, "bbox": [round(v, 2) for v in box.xywh],
                               "score": 1.0, "box_source": box.source})
        past_end = sum(b.frame >= decoded for b in boxes)
        per_clip[clip.name] = {"video": path.name, "frames": decoded, "fps": clip.fps, "kept": len(boxes) - past_end,
                               "no_person": no_person, "past_the_end": past_end,
                               "box_source": boxes[0].source if boxes else None}
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    summary = {"every": every, "box_source": "openpose" if openpose_root else "whole_frame", "margin": margin,
               "min_joints": min_joints, "images": len(images), "clips": per_clip}
    coco = {"images": images, "categories": [{"id": 1, "name": "person"}]}
    atomic_write(out / "detections.json", lambda p: p.write_text(json.dumps(detections)))
    atomic_write(out / "frames.json", lambda p: p.write_text(json.dumps(summary, indent=2)))
    atomic_write(out / "images.json", lambda p: p.write_text(json.dumps(coco)))  # last: marks a finished extraction
    return summary
