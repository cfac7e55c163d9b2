"""Corrections of a clip's frames taken from OpenPose, saved as the review page saves a human's.

    python benchmarks/review_from_openpose.py OUT/clip --openpose OPENPOSE/clip [--video VIDEO] \\
        [--frames flagged|all] [--min-joints 6] [--max-frames N]

Closing the loop (review → fine-tune → track again) needs corrected frames of real clips. Where no person has
reviewed any, this script lets OpenPose (Cao et al., "OpenPose: Realtime Multi-Person 2D Pose Estimation using
Part Affinity Fields", TPAMI 2019) stand in for the human reviewer: OpenPose is another model, not the truth, so
what the loop is measured against is agreement with OpenPose, not accuracy.

What it does, for the clip folder ``OUT/clip`` written by ``hyper-sapiens video``:

* **Frames.** ``--frames flagged`` (default): the frames ``keypoints.csv`` marks as flagged (the prior's flags),
  read with the review page's own reader (:func:`hyper_sapiens.review.clip.clip_tracks`); ``all``: every frame.
  ``--max-frames N`` keeps N of them, evenly spaced over the selection. A frame already reviewed (by a person or
  an earlier run) is never overwritten: it is skipped and counted (``already_reviewed``).
* **OpenPose.** ``--openpose`` is the clip's folder of OpenPose files (``<name>_<frame:012d>_keypoints.json``,
  file number = frame index of the clip), or a folder holding one such folder named like the clip. It is read
  with :mod:`hyper_sapiens.data.openpose`: coordinates are fractions of the frame (``--keypoint_scale 3``) or
  pixels, as :func:`hyper_sapiens.video.frames.read_clip_openpose` decides for the whole folder. Its frames
  must span the clip's (``features.json`` ``frames``); otherwise the script stops naming both.
* **The person.** When a frame holds several people, the one whose box (around its labelled joints, in COCO17)
  has the largest intersection over union with the box of the model's keypoints in that frame (the cleaned
  track ``keypoints.json``; the raw one where the cleaned frame has no joint); if no box overlaps it (or the
  model has no joint there), the person with the largest sum of OpenPose scores. A lone person is taken as it
  is; corrections whose person does not overlap the model's box at all are counted (``no_overlap_with_model``).
* **The correction.** The person's BODY_25 (or BODY_18) joints mapped to COCO17
  (:class:`hyper_sapiens.keypoints.KeypointConverter`) in pixels, visibility 2; joints OpenPose did not find
  (score 0) get v = 0. A joint up to 1 pixel outside the frame is moved onto its edge; one further out gets
  v = 0 and is counted (``joints_dropped_outside_frame``). Frames where OpenPose has no person, or whose person
  has fewer than ``--min-joints`` COCO17 joints, are skipped and counted (``no_person``, ``too_few_joints``).
* **Saving.** Each correction goes through the page's own path: the POST body ``{"frame", "keypoints"}`` is
  checked by :func:`hyper_sapiens.review.corrections.parse_correction` and saved by
  :class:`~hyper_sapiens.review.corrections.ReviewStore` (``review/annotations.json``, the frame image
  ``review/images/frame_NNNNNN.jpg`` decoded from the recording by :func:`hyper_sapiens.review.media.read_frame`,
  ``keypoints.csv``'s review columns; every file replaced atomically). The recording is ``--video`` or the
  input ``features.json`` records, found as ``hyper-sapiens review`` finds it; ``skeleton.mp4`` is refused.

Prints one JSON object (the clip, frames selected, corrected, skipped by reason, the annotation file), which
``finetune_reviewed_demo`` / ``finetune_reviewed`` read with ``data.root=OUT/clip`` (docs/video.md). A missing
clip or OpenPose folder, a recording not found and a frame count that does not match exit with code 2 and a
message naming the path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hyper_sapiens.data.io import DataFileError
from hyper_sapiens.data.openpose import numbered_frame_files, read_openpose_frame
from hyper_sapiens.keypoints import COCO17, KeypointConverter
from hyper_sapiens.review.clip import ClipFolder, clip_tracks, load_clip
from hyper_sapiens.review.corrections import CorrectionError, ReviewStore, parse_correction
from hyper_sapiens.review.media import find_source, read_frame
from hyper_sapiens.video.frames import read_clip_openpose

K = COCO17.num_keypoints
#: Why a selected frame got no correction.
SKIP_REASONS = ("no_person", "too_few_joints", "already_reviewed", "refused")
#: A joint at most this many pixels outside the frame is moved onto its edge; further out it is dropped.
EDGE_TOLERANCE_PX = 1.0

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 pixels


# ------------------------------------------------------------------ inputs
def openpose_clip_folder(path: Path, clip_name: str) -> Path:
    """The folder of the clip's OpenPose files: ``path`` itself, or ``path/<clip_name>``."""
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such OpenPose folder (--openpose)")
    if numbered_frame_files(path):
        return path
    sub = path / clip_name
    if sub.is_dir() and numbered_frame_files(sub):
        return sub
    raise FileNotFoundError(f"{path}: no OpenPose files (*_keypoints.json) in it, nor in {sub}")


def openpose_scale(folder: Path, clip: ClipFolder) -> tuple[int, int] | None:
    """``(w, h)`` to multiply the folder's coordinates by (fractions), or ``None`` (pixels); checks every file and
    that the folder's frames span the clip's."""
    track = read_clip_openpose(folder, (clip.width, clip.height))
    span = track.first_frame + track.frames
    if span != clip.frames:
        raise DataFileError(f"{folder}: OpenPose files for frames 0..{span - 1} ({span} frames), but "
                            f"{clip.folder / 'features.json'} says the clip has {clip.frames} frames; is this "
                            "the clip's OpenPose folder?")
    return track.frame_size


def recording(clip: ClipFolder, video: str | None) -> Path:
    """The recording the frame images are decoded from, found as ``hyper-sapiens review`` finds it."""
    source = find_source(clip, video)
    if source is None:
        raise DataFileError(f"the recording {clip.source!r} named in {clip.folder / 'features.json'} was not "
                            "found; pass it with --video PATH")
    skeleton = clip.folder / "skeleton.mp4"
    if source.is_file() and skeleton.is_file() and source.resolve() == skeleton.resolve():
        raise DataFileError(f"{source}: skeleton.mp4 carries the drawn skeleton; its frames are no training images")
    return source


def select_frames(extras: dict[str, list[Any]] | None, clip: ClipFolder, which: str,
                  max_frames: int | None) -> tuple[list[int], int]:
    """``(frames to correct, candidates before --max-frames)``: the flagged frames (``keypoints.csv``) or all."""
    if which == "all":
        frames = list(range(clip.frames))
    else:
        if extras is None:
            raise DataFileError(f"{clip.folder / 'keypoints.csv'}: missing; the flagged frames are read from its "
                                "'flagged' column (or use --frames all)")
        frames = [t for t, flag in enumerate(extras["flagged"]) if flag is True]
        if all(flag is None for flag in extras["flagged"]):
            print(f"review_from_openpose: {clip.folder / 'keypoints.csv'} has no flags (video ran without a "
                  "prior); no frame selected, use --frames all", file=sys.stderr)
    candidates = len(frames)
    if max_frames is not None and candidates > max_frames:
        keep = np.linspace(0, candidates - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in keep]
    return frames, candidates


# ------------------------------------------------------------------ one frame
def openpose_people(path: Path | None, scale: tuple[int, int] | None) -> list[np.ndarray]:
    """The people of one OpenPose file as COCO17 ``(17, 3)`` arrays ``x, y, score`` in pixels (score 0: not
    found, coordinates 0); people without a joint are left out. ``None`` (no file): nobody."""
    if path is None:
        return []
    layout, people = read_openpose_frame(path)
    out = []
    for person in people:
        found = person[:, 2] > 0
        values = np.where(found[:, None], person, 0.0)
        if scale is not None:
            values[:, :2] *= scale
        coco, _ = KeypointConverter(layout, "coco17")(values, found.astype(np.float64))
        if (coco[:, 2] > 0).any():
            out.append(coco)
    return out


def points_box(points: np.ndarray) -> Box | None:
    """The box of ``(N, 2)`` pixel points, ``None`` without a point."""
    if not len(points):
        return None
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def model_box(tracks: dict[str, list[list[Any]]], t: int) -> Box | None:
    """The box of the model's joints in frame ``t``: the cleaned track, else the raw one."""
    for name in ("cleaned", "raw"):
        row = tracks[name][t] if name in tracks else []
        points = [p for p in row if p is not None]
        if points:
            return points_box(np.asarray(points, np.float64))
    return None


def iou(a: Box | None, b: Box | None) -> float:
    """Intersection over union of two boxes (0 when either is missing or both are empty)."""
    if a is None or b is None:
        return 0.0
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def choose_person(people: list[np.ndarray], model: Box | None) -> tuple[np.ndarray, float]:
    """The person (module docstring: the largest box overlap with the model, else the largest score sum) and the
    overlap of its box with the model's."""
    overlaps = [iou(points_box(p[p[:, 2] > 0, :2]), model) for p in people]
    best = int(np.argmax(overlaps))
    if overlaps[best] <= 0:
        best = int(np.argmax([p[:, 2].sum() for p in people]))
    return people[best], overlaps[best]


def correction(person: np.ndarray, width: int, height: int) -> tuple[list[list[float]], int]:
    """The page's ``[[x, y, v] x 17]`` for a COCO17 person (``x, y, score``): v = 2 where OpenPose found the
    joint, else ``0, 0, 0``; and the number of joints dropped for lying outside the frame."""
    keypoints, dropped = [], 0
    for x, y, score in person:
        if score <= 0:
            keypoints.append([0.0, 0.0, 0])
            continue
        tol = EDGE_TOLERANCE_PX
        if not (-tol <= x <= width - 1 + tol and -tol <= y <= height - 1 + tol):
            keypoints.append([0.0, 0.0, 0])
            dropped += 1
            continue
        keypoints.append([float(np.clip(x, 0, width - 1)), float(np.clip(y, 0, height - 1)), 2])
    return keypoints, dropped


# ------------------------------------------------------------------ the run
def review_clip(clip_folder: str, openpose: str, video: str | None = None, which: str = "flagged",
                min_joints: int = 6, max_frames: int | None = None) -> dict[str, Any]:
    """Correct the selected frames of a clip from its OpenPose folder; returns the report (module docstring)."""
    clip = load_clip(clip_folder)
    data = clip_tracks(clip)
    folder = openpose_clip_folder(Path(openpose), clip.name)
    scale = openpose_scale(folder, clip)
    files = numbered_frame_files(folder)
    source = recording(clip, video)
    frames, candidates = select_frames(data["extras"], clip, which, max_frames)
    store = ReviewStore(clip, lambda t: read_frame(source, t, (clip.width, clip.height), clip.fps))
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    corrected = multi = no_overlap = dropped = 0
    for t in frames:
        if t in store.reviews:
            skipped["already_reviewed"] += 1
            continue
        people = openpose_people(files.get(t), scale)
        if not people:
            skipped["no_person"] += 1
            continue
        multi += len(people) > 1
        person, overlap = choose_person(people, model_box(data["tracks"], t))
        if int((person[:, 2] > 0).sum()) < min_joints:
            skipped["too_few_joints"] += 1
            continue
        keypoints, out = correction(person, clip.width, clip.height)
        body = json.dumps({"frame": t, "keypoints": keypoints}).encode("utf-8")
        try:
            frame, values = parse_correction(body, clip.frames, clip.width, clip.height)
        except CorrectionError as err:
            print(f"review_from_openpose: frame {t} refused: {err}", file=sys.stderr)
            skipped["refused"] += 1
            continue
        store.save(frame, values)
        corrected += 1
        no_overlap += overlap <= 0
        dropped += out
    return {
        "clip": str(clip.folder), "openpose": str(folder), "reviewer": "openpose (stand-in for a human reviewer)",
        "openpose_units": "pixels" if scale is None else "fractions", "recording": str(source),
        "frames": which, "clip_frames": clip.frames, "frames_candidates": candidates,
        "frames_selected": len(frames), "corrected": corrected, "skipped": skipped,
        "skipped_total": sum(skipped.values()), "min_joints": min_joints, "multi_person_frames": multi,
        "no_overlap_with_model": no_overlap, "joints_dropped_outside_frame": dropped,
        "reviewed_frames": len(store.reviews), "annotations": str(store.path), "images": str(store.images),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python benchmarks/review_from_openpose.py OUT/clip "
                                     "--openpose OPENPOSE/clip")
    parser.add_argument("clip", metavar="CLIP_FOLDER", help="a clip folder written by `hyper-sapiens video`")
    parser.add_argument("--openpose", required=True, metavar="OPENPOSE_CLIP_FOLDER",
                        help="the clip's OpenPose JSON files (or a folder with them in a sub-folder named like "
                        "the clip)")
    parser.add_argument("--video", default=None, help="the recording, when features.json's path is not found")
    parser.add_argument("--frames", choices=("flagged", "all"), default="flagged",
                        help="frames to correct: those keypoints.csv flags (default) or all")
    parser.add_argument("--min-joints", type=int, default=6,
                        help="skip frames whose OpenPose person has fewer COCO17 joints (default 6)")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="correct at most N of the selected frames, evenly spaced")
    args = parser.parse_args(argv)
    if not 1 <= args.min_joints <= K:
        parser.error(f"--min-joints must be in 1..{K}, got {args.min_joints}")
    if args.max_frames is not None and args.max_frames < 1:
        parser.error(f"--max-frames must be at least 1, got {args.max_frames}")
    try:
        report = review_clip(args.clip, args.openpose, args.video, args.frames, args.min_joints, args.max_frames)
    except (DataFileError, ValueError, OSError) as err:
        print(f"review_from_openpose: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
