"""Frames of a clip: a video file OpenCV can decode, or a folder of images sorted by name.

Frames come out RGB ``uint8 (H, W, 3)``. A file that cannot be opened or decoded, an empty folder, and a frame
whose size differs from the first frame's are :class:`~hyper_sapiens.data.io.DataFileError`\\ s naming the file
and the frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data.io import DataFileError, decode_image_file
from ..data.unlabeled_topdown import IMAGE_SUFFIXES

__all__ = ["DEFAULT_FPS", "Clip", "open_clip"]

#: Frame rate assumed for a folder of frames without ``--fps`` (MINI-RGBD is recorded at 30 fps).
DEFAULT_FPS = 30.0


@dataclass
class Clip:
    """One input: where it is, its frame rate, size and frame count, and a way to read its frames.

    ``fps`` is frames per second; ``size`` is ``(width, height)`` in pixels of the first frame; ``frame_files``
    holds the image files of a folder input (``None`` for a video file).
    """

    path: Path
    fps: float
    size: tuple[int, int]
    num_frames: int
    frame_files: list[Path] | None = None

    @property
    def name(self) -> str:
        """A name for the outputs: the file's stem, or for a MINI-RGBD ``rgb/`` folder its sequence's name."""
        if self.frame_files is not None and self.path.name == "rgb" and self.path.parent.name:
            return self.path.parent.name
        return self.path.stem if self.frame_files is None else self.path.name

    def frames(self) -> Iterator[np.ndarray]:
        """Yield RGB ``uint8 (H, W, 3)`` frames in order; a size change or a decode failure is an error."""
        if self.frame_files is not None:
            for i, path in enumerate(self.frame_files):
                frame = cv2.cvtColor(decode_image_file(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                self._check_size(frame, f"{path}: frame {i}")
                yield frame
            return
        capture = cv2.VideoCapture(str(self.path))
        try:
            if not capture.isOpened():
                raise DataFileError(f"{self.path}: cannot open the video")
            count = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                self._check_size(frame, f"{self.path}: frame {count}")
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                count += 1
            if count == 0:
                raise DataFileError(f"{self.path}: no frame could be decoded")
        finally:
            capture.release()

    def _check_size(self, frame: np.ndarray, where: str) -> None:
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            raise DataFileError(f"{where}: frame size {w}x{h} differs from the clip's {self.size[0]}x{self.size[1]}")


def open_clip(path: str | os.PathLike, fps: float | None = None) -> Clip:
    """Open a video file or a folder of frames (files with an image suffix, sorted by name).

    Args:
        path: a video file (mp4, avi, mov, ... whatever OpenCV's build decodes) or a folder of images.
        fps: frames per second; default: the video's own rate, :data:`DEFAULT_FPS` for a folder (or a video
            that does not state one).
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataFileError(f"{p}: no frames ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        first = decode_image_file(files[0], cv2.IMREAD_COLOR)
        return Clip(p, float(fps or DEFAULT_FPS), (first.shape[1], first.shape[0]), len(files), files)
    if not p.is_file():
        raise DataFileError(f"{p}: no such video file or folder")
    capture = cv2.VideoCapture(str(p))
    try:
        if not capture.isOpened():
            raise DataFileError(f"{p}: cannot open the video (not a video, or a codec OpenCV lacks)")
        ok, frame = capture.read()
        if not ok or frame is None:
            raise DataFileError(f"{p}: no frame could be decoded")
        stated = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()
    rate = float(fps) if fps else (stated if np.isfinite(stated) and stated > 0 else DEFAULT_FPS)
    return Clip(p, rate, (frame.shape[1], frame.shape[0]), max(count, 0))
