"""Corrections of a clip's keypoints: validated, kept as a COCO keypoint file, mirrored into ``keypoints.csv``.

Every reviewed frame (a dragged joint, a joint marked not visible, or a frame accepted as it is) is saved at once:

* ``review/annotations.json``: COCO keypoints. ``images`` holds one entry per reviewed frame (``id`` = the frame
  index, ``file_name`` ``frame_NNNNNN.jpg``, ``width``, ``height``, ``frame``, ``time_s``, ``domain: real``);
  ``annotations`` one person per frame with at least one labelled joint: ``keypoints`` ``[x, y, v] x 17`` in
  the frame's pixels (pixel centres at integers; ``v`` 2 visible, 1 labelled but hidden, 0 not labelled, written
  ``0, 0, 0``), ``num_keypoints``, ``bbox`` (the labelled joints' box, see :func:`keypoint_bbox`), ``area``,
  ``iscrowd`` 0; ``categories`` the COCO person with the 17 names and the 1-based skeleton. It loads as a
  ``type: coco`` training source (``ann_file`` this file, ``image_root`` ``review/images``).
* ``review/images/frame_NNNNNN.jpg``: the frame at full size, decoded from the recording.
* ``keypoints.csv``: the columns :data:`CSV_REVIEW_COLUMNS` after the model's, on every row.

Every file is replaced atomically (:mod:`hyper_sapiens.io_atomic`); a refused correction changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.io import DataFileError, read_json
from ..io_atomic import atomic_write, atomic_write_bytes
from ..keypoints import COCO17, COCO17_SKELETON_1BASED
from .clip import ClipFolder
from .media import frame_name

__all__ = [
    "ANNOTATIONS",
    "CSV_REVIEW_COLUMNS",
    "IMAGES_DIR",
    "MAX_BODY_BYTES",
    "CorrectionError",
    "ReviewStore",
    "coco_category",
    "keypoint_bbox",
    "parse_correction",
    "validate_keypoints",
]

K = COCO17.num_keypoints
#: The COCO file of the corrections, relative to the clip folder.
ANNOTATIONS = Path("review") / "annotations.json"
#: The reviewed frames' images, relative to the clip folder.
IMAGES_DIR = Path("review") / "images"
#: Columns ``review`` adds to ``keypoints.csv``: ``reviewed`` (1 on the rows of a reviewed frame, else 0),
#: ``x_reviewed``/``y_reviewed`` (the reviewed position in pixels where ``v_reviewed`` > 0, else empty) and
#: ``v_reviewed`` (0/1/2 on reviewed frames, else empty).
CSV_REVIEW_COLUMNS = ("reviewed", "x_reviewed", "y_reviewed", "v_reviewed")
#: The largest correction body the server reads, bytes.
MAX_BODY_BYTES = 1_000_000
DRAIN_LIMIT_BYTES = 16_000_000   # an oversized body up to this size is read and dropped before the 413 reply
#: The box of the labelled joints is widened by this share of its longer side on each side ...
BOX_MARGIN = 0.1
#: ... and by at least this share of the frame's longer side.
MIN_BOX_MARGIN = 0.02
JPEG_QUALITY = 95


class CorrectionError(ValueError):
    """A correction the server refuses; the message is shown on the page."""


def coco_category() -> dict[str, Any]:
    """The COCO ``person`` category with the 17 keypoint names and the 1-based skeleton."""
    return {"supercategory": "person", "id": 1, "name": "person", "keypoints": list(COCO17.names),
            "skeleton": [list(p) for p in COCO17_SKELETON_1BASED]}


def validate_keypoints(values: Any, width: int, height: int, where: str = "keypoints") -> np.ndarray:
    """``(17, 3)`` float array ``x, y, v`` from 17 ``[x, y, v]`` triples; raises :class:`CorrectionError`
    unless every number is finite, ``v`` is 0, 1 or 2, and a labelled joint (``v`` > 0) lies in the frame
    (``0 <= x <= width - 1``, ``0 <= y <= height - 1`` pixels). Joints with ``v`` 0 become ``0, 0, 0``."""
    if not isinstance(values, list) or len(values) != K:
        n = len(values) if isinstance(values, list) else type(values).__name__
        raise CorrectionError(f"{where}: expected {K} joints as [x, y, v], got {n}")
    out = np.zeros((K, 3), np.float64)
    for k, item in enumerate(values):
        name = COCO17.names[k]
        if not isinstance(item, list) or len(item) != 3:
            raise CorrectionError(f"{where}: {name}: expected [x, y, v], got {item!r}"[:200])
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in item):
            raise CorrectionError(f"{where}: {name}: x, y, v must be numbers, got {item!r}"[:200])
        x, y, v = (float(c) for c in item)
        if not all(math.isfinite(c) for c in (x, y, v)):
            raise CorrectionError(f"{where}: {name}: non-finite value in {item!r}")
        if v not in (0.0, 1.0, 2.0):
            raise CorrectionError(f"{where}: {name}: visibility v must be 0, 1 or 2, got {item[2]!r}")
        if v > 0 and not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            raise CorrectionError(f"{where}: {name}: ({x:g}, {y:g}) lies outside the {width}x{height} frame "
                                  f"(0..{width - 1}, 0..{height - 1} pixels)")
        out[k] = (x, y, v) if v > 0 else (0.0, 0.0, 0.0)
    return out


def parse_correction(body: bytes, frames: int, width: int, height: int) -> tuple[int, np.ndarray | None]:
    """A POSTed correction ``{"frame": t, "keypoints": [[x, y, v] x 17] | null}`` (``null``: remove the frame's
    review) as ``(frame, (17, 3) array or None)``; a malformed body is a :class:`CorrectionError` saying why."""
    if len(body) > MAX_BODY_BYTES:
        raise CorrectionError(f"body of {len(body)} bytes; at most {MAX_BODY_BYTES}")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=lambda c: float("nan"))
    except (UnicodeDecodeError, ValueError) as err:
        raise CorrectionError(f"not JSON: {err}") from None
    if not isinstance(data, dict) or set(data) != {"frame", "keypoints"}:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise CorrectionError(f"expected an object with 'frame' and 'keypoints' only, got {keys}")
    frame = data["frame"]
    if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < frames:
        raise CorrectionError(f"frame must be an integer in 0..{frames - 1}, got {frame!r}")
    if data["keypoints"] is None:
        return frame, None
    return frame, validate_keypoints(data["keypoints"], width, height, f"frame {frame}")


def keypoint_bbox(kp: np.ndarray, width: int, height: int) -> list[float]:
    """COCO ``[x, y, w, h]`` (pixels) of the labelled joints (``v`` > 0) of ``kp (17, 3)``: their box, widened on
    each side by :data:`BOX_MARGIN` of its longer side and at least :data:`MIN_BOX_MARGIN` of the frame's longer
    side, clipped to the frame; ``[0, 0, 0, 0]`` without a labelled joint."""
    pts = kp[kp[:, 2] > 0, :2]
    if not len(pts):
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    pad = max(BOX_MARGIN * max(x1 - x0, y1 - y0), MIN_BOX_MARGIN * max(width, height))
    x0, y0 = max(0.0, x0 - pad), max(0.0, y0 - pad)
    x1, y1 = min(float(width), x1 + pad), min(float(height), y1 + pad)
    return [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)]


def _round(kp: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2), int(v)] for x, y, v in kp]


class ReviewStore:
    """The reviewed frames of one clip, ``{frame: (17, 3) x, y, v}``, and the files that hold them.

    ``read_frame(t)`` returns frame ``t`` as BGR ``uint8`` at full size (the training image); ``read_only`` (a
    reason) refuses every change. Saving is serialised by a lock: the server answers requests in threads.
    """

    def __init__(self, clip: ClipFolder, read_frame: Callable[[int], np.ndarray] | None,
                 read_only: str | None = None) -> None:
        self.clip = clip
        self.read_frame = read_frame
        self.read_only = read_only
        self.path = clip.folder / ANNOTATIONS
        self.images = clip.folder / IMAGES_DIR
        self.csv_path = clip.folder / "keypoints.csv"
        self.lock = threading.Lock()
        self.reviews: dict[int, np.ndarray] = self._load()
        self._csv_rows: tuple[list[str], list[list[str]]] | None = None

    # ------------------------------------------------------------------ reading
    def _load(self) -> dict[int, np.ndarray]:
        if not self.path.is_file():
            return {}
        data = read_json(self.path)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise DataFileError(f"{self.path}: not a COCO keypoints file (no 'images' list)")
        reviews = {}
        for image in data["images"]:
            try:
                reviews[int(image["id"])] = np.zeros((K, 3))
            except (KeyError, TypeError, ValueError):
                raise DataFileError(f"{self.path}: image entry without an integer id: {image!r}"[:300]) from None
        for ann in data.get("annotations", []):
            if not isinstance(ann, dict):
                raise DataFileError(f"{self.path}: an annotation is not an object: {ann!r}"[:300])
            t = ann.get("image_id")
            if t not in reviews:
                raise DataFileError(f"{self.path}: annotation {ann.get('id')} refers to unknown image_id {t}")
            kp = ann.get("keypoints")
            triples = [list(kp[3 * k: 3 * k + 3]) for k in range(K)] if isinstance(kp, list) and len(kp) == 3 * K \
                else kp
            try:
                reviews[t] = validate_keypoints(triples, self.clip.width, self.clip.height, f"annotation of frame {t}")
            except CorrectionError as err:
                raise DataFileError(f"{self.path}: {err}") from None
        bad = [t for t in reviews if not 0 <= t < self.clip.frames]
        if bad:
            raise DataFileError(f"{self.path}: frame {bad[0]} outside the clip's 0..{self.clip.frames - 1}")
        return reviews

    def as_lists(self) -> dict[str, list[list[float]]]:
        """``{"frame": [[x, y, v] x 17]}`` of every reviewed frame, for the page."""
        return {str(t): _round(kp) for t, kp in sorted(self.reviews.items())}

    def coco(self) -> dict[str, Any]:
        """The COCO keypoint file of the reviewed frames (module docstring)."""
        images, annotations = [], []
        for t, kp in sorted(self.reviews.items()):
            images.append({"id": t, "file_name": frame_name(t), "width": self.clip.width,
                           "height": self.clip.height, "frame": t, "time_s": round(t / self.clip.fps, 4),
                           "domain": "real"})
            n = int((kp[:, 2] > 0).sum())
            if n == 0:
                continue
            box = keypoint_bbox(kp, self.clip.width, self.clip.height)
            annotations.append({"id": t + 1, "image_id": t, "category_id": 1,
                                "keypoints": [v for row in _round(kp) for v in row], "num_keypoints": n,
                                "bbox": box, "area": round(box[2] * box[3], 2), "iscrowd": 0})
        info = {"description": f"hyper-sapiens review of clip {self.clip.name}", "clip": self.clip.name,
                "source": self.clip.source, "fps": self.clip.fps, "frames": self.clip.frames}
        return {"info": info, "images": images, "annotations": annotations, "categories": [coco_category()]}

    # ------------------------------------------------------------------ writing
    def save(self, frame: int, keypoints: np.ndarray | None) -> dict[str, Any]:
        """Record (or with ``None`` remove) the review of ``frame``: its training image, then
        ``annotations.json``, then ``keypoints.csv``. Returns ``{"frame", "keypoints", "reviewed"}``."""
        if self.read_only:
            raise PermissionError(self.read_only)
        with self.lock:
            image = self.images / frame_name(frame)
            if keypoints is not None and not image.is_file():
                if self.read_frame is None:
                    raise PermissionError("no recording to take the frame's image from")
                ok, data = cv2.imencode(".jpg", self.read_frame(frame), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:
                    raise OSError(f"{image}: cannot encode frame {frame} as JPEG")
                atomic_write_bytes(image, data.tobytes())
            reviews = dict(self.reviews)
            if keypoints is None:
                reviews.pop(frame, None)
            else:
                reviews[frame] = np.round(np.asarray(keypoints, np.float64), 2)  # as the file holds them
            old, self.reviews = self.reviews, reviews
            try:
                atomic_write_bytes(self.path, json.dumps(self.coco(), indent=1).encode("utf-8"))
            except BaseException:
                self.reviews = old
                raise
            if keypoints is None:
                image.unlink(missing_ok=True)
            self.write_csv()
        return {"frame": frame, "keypoints": None if keypoints is None else _round(reviews[frame]),
                "reviewed": len(reviews)}

    def _read_csv(self) -> tuple[list[str], list[list[str]]]:
        if self._csv_rows is None:
            try:
                with open(self.csv_path, newline="", encoding="utf-8") as f:
                    rows = list(csv.reader(f))
            except OSError as err:
                raise DataFileError(f"cannot read {self.csv_path}: {err.strerror or err}") from err
            if not rows or "frame" not in rows[0] or "joint" not in rows[0]:
                raise DataFileError(f"{self.csv_path}: no header with 'frame' and 'joint' columns")
            header = rows[0]
            keep = [i for i, name in enumerate(header) if name not in CSV_REVIEW_COLUMNS]
            self._csv_rows = ([header[i] for i in keep], [[r[i] if i < len(r) else "" for i in keep] for r in rows[1:]])
        return self._csv_rows

    def csv_text(self) -> str:
        """``keypoints.csv`` with the review columns (:data:`CSV_REVIEW_COLUMNS`) after the model's columns."""
        header, rows = self._read_csv()
        fi, ji = header.index("frame"), header.index("joint")
        joints = {name: k for k, name in enumerate(COCO17.names)}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([*header, *CSV_REVIEW_COLUMNS])
        for row in rows:
            try:
                t, k = int(row[fi]), joints[row[ji]]
            except (KeyError, ValueError):
                raise DataFileError(f"{self.csv_path}: row {row[:3]} has no frame index and joint name") from None
            kp = self.reviews.get(t)
            if kp is None:
                extra = ["0", "", "", ""]
            elif kp[k, 2] > 0:
                extra = ["1", f"{kp[k, 0]:.3f}", f"{kp[k, 1]:.3f}", str(int(kp[k, 2]))]
            else:
                extra = ["1", "", "", "0"]
            writer.writerow([*row, *extra])
        return out.getvalue()

    def write_csv(self) -> None:
        """Rewrite ``keypoints.csv`` atomically with the current reviews (only when its text changes)."""
        if not self.csv_path.is_file():
            return
        text = self.csv_text()
        with open(self.csv_path, newline="", encoding="utf-8") as f:
            if f.read() == text:
                return

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                f.write(text)

        atomic_write(self.csv_path, write)

    def sync_csv(self) -> None:
        """At start: bring ``keypoints.csv``'s review columns in line with ``annotations.json`` (a rerun of
        ``video`` rewrites the CSV without them); a clip never reviewed is left untouched."""
        if not self.csv_path.is_file():
            return
        with open(self.csv_path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        if self.reviews or any(name in header for name in CSV_REVIEW_COLUMNS):
            self.write_csv()
