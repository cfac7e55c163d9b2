"""OpenPose per-frame JSON folders read as skeleton sequences (for ``train-prior``).

OpenPose (Cao et al., "OpenPose: Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields", TPAMI 2019;
``github.com/CMU-Perceptual-Computing-Lab/openpose``, ``doc/02_output.md``) writes one file per video frame,
``<name>_<frame:012d>_keypoints.json``::

    {"version": 1.3, "people": [{"pose_keypoints_2d": [x1, y1, c1, x2, y2, c2, ...], ...}, ...]}

with 25 joints (BODY_25, 75 values) or 18 (its COCO model, BODY_18, 54 values) per person; older versions call
the list ``pose_keypoints``. A joint OpenPose did not find is ``0, 0, 0``. Coordinates are pixels by default, or
fractions of the frame's width and height (0–1) when OpenPose ran with ``--keypoint_scale 3``.

A folder of such files is one sequence (a folder holding no such files but sub-folders that do is read as one
sequence per sub-folder). The rules:

* **Order and gaps.** Frames are ordered by the frame number in the file names; a number missing from the run
  (``..._000000000007_keypoints.json`` absent between 6 and 8) is a frame without a person.
* **Units.** Without a frame size the coordinates must be pixels; with one (``frame_size=(w, h)``, or the size of
  the folder's video, a file named like the folder in ``videos``, read with OpenCV) they must be fractions and are
  multiplied by ``(w, h)``. A folder whose every coordinate lies in [0, 1] read as pixels, or one with
  coordinates above 1.5 read as fractions, is an error naming the folder (``--keypoint_scale 4``'s [-1, 1] is not
  read).
* **Missing joints.** A joint with a score at or below ``min_score`` (default 0: OpenPose's ``0, 0, 0``) is
  unlabelled: visibility 0, coordinates 0, never a point at (0, 0).
* **Several people.** In the first frame with a person, the person with the largest sum of joint scores; in every
  later frame, the person nearest to the one chosen last (mean distance in pixels over the joints labelled in
  both); when no one shares a labelled joint with it, again the largest sum of scores.
* **No person.** A frame without a person (or whose people have no labelled joint) stays in the sequence with
  every joint unlabelled: a gap. ``SkeletonSequenceDataset`` keeps only windows whose every frame has
  ``min_visible`` labelled joints, so gaps are dropped there and counted in ``dropped_min_visible``.

The chosen person is converted to the requested layout (COCO17 by default) with
:class:`~hyper_sapiens.keypoints.KeypointConverter`. A file that is not JSON, has no ``people`` list, a person
without keypoints, a keypoint count of neither layout, a layout different from the folder's other files or a
non-finite number raises :class:`~hyper_sapiens.data.skeletons.SkeletonFileError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..keypoints import KeypointConverter, get_layout
from .skeletons import SkeletonFileError, SkeletonSequence

__all__ = [
    "OPENPOSE_LAYOUTS",
    "OpenPoseTrack",
    "choose_people",
    "find_video",
    "load_openpose_sequences",
    "openpose_folders",
    "read_openpose_frame",
    "read_openpose_sequence",
    "video_frame_size",
]

#: Values per person (3 per joint) → layout name.
OPENPOSE_LAYOUTS: dict[int, str] = {75: "body25", 54: "body18"}
#: Suffixes tried when looking for a folder's video.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
#: Above this, a coordinate read as a fraction of the frame cannot be one.
_FRACTION_LIMIT = 1.5
_FRAME_NUMBER = re.compile(r"_(\d+)_keypoints\.json$")


@dataclass
class OpenPoseTrack:
    """One OpenPose folder read as a sequence, with what reading it found.

    Attributes:
        sequence: the chosen person per frame, in the requested layout (``keypoints (T, K, 2)`` pixels, 0 where
            unlabelled; ``visible (T, K)`` 1 or 0).
        frames: frames in the sequence (files plus numbers missing between them).
        empty_frames: frames without a person (gaps).
        multi_person_frames: frames with more than one person (where the rule chose).
        frame_size: ``(w, h)`` pixels the fractions were scaled by, or None for pixel files.
        first_frame: the frame number of the sequence's first row (files named ``*_<number>_keypoints.json``;
            0 when the files carry no numbers).
    """

    sequence: SkeletonSequence
    frames: int
    empty_frames: int
    multi_person_frames: int
    frame_size: tuple[int, int] | None = None
    first_frame: int = 0

    def summary(self) -> dict:
        """Counts for logs."""
        return {"folder": str(self.sequence.path), "layout": self.sequence.source_layout, "frames": self.frames,
                "empty_frames": self.empty_frames, "multi_person_frames": self.multi_person_frames,
                "frame_size": list(self.frame_size) if self.frame_size else None}


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*_keypoints.json") if p.is_file())


def numbered_frame_files(folder: str | os.PathLike) -> dict[int, Path]:
    """Frame index → OpenPose file of ``folder``: by the frame number in the names
    (``<name>_<frame:012d>_keypoints.json``), or the files' sorted order (0, 1, ...) when any name carries none.
    Empty when the folder holds no ``*_keypoints.json``; ``SkeletonFileError`` names two files with one number."""
    files = _frame_files(Path(folder))
    numbers = [_FRAME_NUMBER.search(p.name) for p in files]
    if not all(numbers):
        return dict(enumerate(files))
    by_number: dict[int, Path] = {}
    for p, m in zip(files, numbers, strict=True):
        n = int(m.group(1))
        if n in by_number:
            raise SkeletonFileError(f"{p}: frame {n} also read from {by_number[n].name}")
        by_number[n] = p
    return by_number


def openpose_folders(entry: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Path]:
    """The sequence folders of ``entry``: itself when it holds ``*_keypoints.json`` files, else its sub-folders that
    do (sorted). Relative entries are taken relative to ``root`` when given. ``FileNotFoundError`` names the entry
    when there is none."""
    path = Path(os.path.expanduser(str(entry)))
    if root is not None and not path.is_absolute():
        path = Path(root) / path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such OpenPose folder")
    if _frame_files(path):
        return [path]
    subs = sorted(p for p in path.iterdir() if p.is_dir() and _frame_files(p))
    if not subs:
        raise FileNotFoundError(f"{path}: no OpenPose files (*_keypoints.json) in this folder or its sub-folders")
    return subs


def read_openpose_frame(path: str | os.PathLike) -> tuple[str | None, list[np.ndarray]]:
    """One OpenPose file → ``(layout name or None when nobody is in it, people)``, each person ``(K, 3)`` float64
    ``x, y, score`` as written. Errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SkeletonFileError(f"{path}: cannot read OpenPose JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise SkeletonFileError(f"{path}: not an OpenPose keypoints file (no 'people' list)")
    layout, people = None, []
    for i, person in enumerate(data["people"]):
        values = None
        if isinstance(person, dict):
            values = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
        if not isinstance(values, list) or not values:
            raise SkeletonFileError(f"{path}: person {i} has no pose_keypoints_2d list")
        if len(values) not in OPENPOSE_LAYOUTS:
            raise SkeletonFileError(f"{path}: person {i} has {len(values)} pose values; expected 75 (BODY_25) or "
                                    "54 (BODY_18), x, y, score per joint")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
            raise SkeletonFileError(f"{path}: person {i} has a pose value that is not a finite number")
        name = OPENPOSE_LAYOUTS[len(values)]
        if layout is not None and name != layout:
            raise SkeletonFileError(f"{path}: people of two layouts ({layout}, {name}) in one file")
        layout = name
        people.append(np.asarray(values, np.float64).reshape(-1, 3))
    return layout, people


def choose_people(frames: Sequence[Sequence[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The rule for several people (module docstring) over ``frames`` (per frame a list of ``(K, 3)`` people,
    ``x, y, score``; joints with score 0 unlabelled). Returns ``(chosen (T,) int: index into each frame's people,
    -1 where nobody has a labelled joint; keypoints (T, K, 3))`` (NaN rows where none was chosen)."""
    k = next((p.shape[0] for people in frames for p in people), 0)
    chosen = np.full(len(frames), -1, np.int64)
    out = np.full((len(frames), k, 3), np.nan)
    last: np.ndarray | None = None
    for t, people in enumerate(frames):
        people = [p for p in people if (p[:, 2] > 0).any()]
        candidates = [i for i, p in enumerate(frames[t]) if (p[:, 2] > 0).any()]
        if not people:
            continue
        pick = None
        if last is not None:
            dists = []
            for p in people:
                both = (p[:, 2] > 0) & (last[:, 2] > 0)
                dists.append(np.linalg.norm(p[both, :2] - last[both, :2], axis=1).mean() if both.any() else np.inf)
            if np.isfinite(dists).any():
                pick = int(np.argmin(dists))
        if pick is None:
            pick = int(np.argmax([p[p[:, 2] > 0, 2].sum() for p in people]))
        chosen[t] = candidates[pick]
        out[t] = last = people[pick]
    return chosen, out


def video_frame_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` pixels of a video file, read with OpenCV; an unreadable file is a ``ValueError``."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ValueError(f"{path}: OpenCV cannot open this video")
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w <= 0 or h <= 0:
        raise ValueError(f"{path}: OpenCV reports no frame size ({w}x{h})")
    return w, h


def find_video(videos: str | os.PathLike, name: str) -> Path:
    """The video of sequence ``name`` in the folder ``videos``: ``name`` plus one of :data:`VIDEO_SUFFIXES`."""
    for suffix in VIDEO_SUFFIXES:
        for candidate in (Path(videos) / f"{name}{suffix}", Path(videos) / f"{name}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"{videos}: no video named {name} ({', '.join(VIDEO_SUFFIXES)}) for the OpenPose folder "
                            f"{name}; give the frame size instead")


def read_openpose_sequence(folder: str | os.PathLike, frame_size: tuple[int, int] | None = None,
                           min_score: float = 0.0, layout: str = "coco17") -> OpenPoseTrack:
    """Read one OpenPose folder as a sequence of ``layout`` (rules: module docstring).

    Args:
        folder: a folder of ``*_keypoints.json`` files, one per frame.
        frame_size: ``(w, h)`` pixels when the files hold fractions (``--keypoint_scale 3``); None: pixels.
        min_score: joints with an OpenPose score at or below this are unlabelled.
        layout: the output layout.
    """
    folder = Path(folder)
    by_number = numbered_frame_files(folder)
    if not by_number:
        raise FileNotFoundError(f"{folder}: no OpenPose files (*_keypoints.json)")
    first_frame, last = min(by_number), max(by_number)
    slots: list[Path | None] = [by_number.get(n) for n in range(first_frame, last + 1)]
    src_layout, frames = None, []
    for p in slots:
        name, people = read_openpose_frame(p) if p is not None else (None, [])
        if name is not None:
            if src_layout is not None and name != src_layout:
                raise SkeletonFileError(f"{p}: {name} keypoints, but earlier files of {folder} hold {src_layout}")
            src_layout = name
        for person in people:
            person[person[:, 2] <= min_score] = 0.0
        frames.append(people)
    if src_layout is None:
        raise SkeletonFileError(f"{folder}: no person in any of its {len(by_number)} OpenPose files")
    labelled = np.concatenate([p[p[:, 2] > 0, :2] for people in frames for p in people] or [np.zeros((0, 2))])
    if frame_size is None:
        if len(labelled) and labelled.min() >= 0 and labelled.max() <= 1:
            raise SkeletonFileError(f"{folder}: every coordinate lies in [0, 1]: fractions of the frame "
                                    "(--keypoint_scale 3); give the frame size (or the videos) to read them")
    else:
        w, h = (int(v) for v in frame_size)
        if w <= 0 or h <= 0:
            raise ValueError(f"{folder}: frame size must be positive, got {w}x{h}")
        if len(labelled) and (labelled.max() > _FRACTION_LIMIT or labelled.min() < -0.5):
            raise SkeletonFileError(f"{folder}: coordinates from {labelled.min():.3g} to {labelled.max():.3g} are not "
                                    "fractions of the frame (--keypoint_scale 3); read them as pixels (no frame size)")
        for people in frames:
            for person in people:
                person[:, :2] *= (w, h)
    chosen, picked = choose_people(frames)
    vis = np.nan_to_num(picked[..., 2], nan=0.0) > 0
    kp = np.where(vis[..., None], np.nan_to_num(picked[..., :2]), 0.0)
    out, out_vis = KeypointConverter(src_layout, get_layout(layout))(kp.astype(np.float32), vis.astype(np.float32))
    sequence = SkeletonSequence(folder, out, out_vis, src_layout, None, None)
    return OpenPoseTrack(sequence, frames=len(frames), empty_frames=int((chosen < 0).sum()),
                         multi_person_frames=sum(len(people) > 1 for people in frames),
                         frame_size=None if frame_size is None else (int(frame_size[0]), int(frame_size[1])),
                         first_frame=first_frame)


def load_openpose_sequences(
    entries: Iterable[str | os.PathLike],
    root: str | os.PathLike | None = None,
    frame_size: tuple[int, int] | None = None,
    videos: str | os.PathLike | None = None,
    min_score: float = 0.0,
    layout: str = "coco17",
) -> list[OpenPoseTrack]:
    """Every sequence folder of ``entries`` (:func:`openpose_folders`) read with :func:`read_openpose_sequence`.

    ``frame_size`` (w, h) applies to every folder; ``videos`` (a folder of clips, one per OpenPose folder, named like
    it) gives each folder its own video's frame size instead. Both None: the files hold pixels. Relative entries
    and ``videos`` are taken relative to ``root`` when given."""
    if frame_size is not None and videos is not None:
        raise ValueError("give the OpenPose frame size or the videos folder, not both")
    if videos is not None:
        videos = Path(os.path.expanduser(str(videos)))
        if root is not None and not videos.is_absolute():
            videos = Path(root) / videos
        if not videos.is_dir():
            raise FileNotFoundError(f"{videos}: no such videos folder")
    tracks = []
    for entry in entries:
        for folder in openpose_folders(entry, root):
            size = video_frame_size(find_video(videos, folder.name)) if videos is not None else frame_size
            tracks.append(read_openpose_sequence(folder, size, min_score, layout))
    return tracks
