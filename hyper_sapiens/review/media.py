"""The recording behind a clip: where it is, whether a browser can play it, and its frames as images.

A browser plays H.264 (``avc1``), VP8, VP9 and AV1 in MP4/MOV/WebM/MKV files; OpenCV's own ``mp4v`` (MPEG-4
Part 2, which the ``video`` verb's ``skeleton.mp4`` uses and OpenCV reports as ``FMP4``), MJPG, HEVC and AVI
files it does not. The codec is read with OpenCV's ``CAP_PROP_FOURCC``. A recording a browser cannot play, or a
folder of frames, is shown as JPEG frames extracted once into ``<clip>/review/frames/``. Training images of
reviewed frames are always decoded from the recording itself at full size (:func:`read_frame`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data.io import DataFileError, decode_image_file
from ..io_atomic import atomic_write_bytes
from .clip import ClipFolder

__all__ = [
    "FRAMES_DIR",
    "MAX_FRAME_SIDE",
    "PLAYABLE_CODECS",
    "Media",
    "browser_playable",
    "extract_frames",
    "find_source",
    "frame_name",
    "prepare_media",
    "read_frame",
    "video_codec",
]

#: FOURCCs (lower case) that current browsers decode: H.264, VP8, VP9, AV1.
PLAYABLE_CODECS = frozenset({"avc1", "avc3", "h264", "x264", "vp08", "vp80", "vp09", "vp90", "av01"})
#: Containers a browser's ``<video>`` opens.
PLAYABLE_CONTAINERS = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv"})
#: Extracted display frames are scaled down to at most this many pixels on their longer side.
MAX_FRAME_SIDE = 1280
#: Where extracted display frames go, relative to the clip folder.
FRAMES_DIR = Path("review") / "frames"
JPEG_QUALITY = 90


def frame_name(index: int) -> str:
    """The file name of frame ``index`` (from 0) in ``review/frames/`` and ``review/images/``."""
    return f"frame_{index:06d}.jpg"


@dataclass
class Media:
    """What the page shows and where training images come from.

    ``kind`` is ``"video"`` (the page plays ``video``, served as is) or ``"frames"`` (the page shows
    ``frames_dir/frame_NNNNNN.jpg``); ``source`` is the recording (video file or folder of frames) the training
    images are decoded from; ``read_only`` the reason corrections are refused, or ``None``; ``note`` a line for
    the user (why frames are shown, a mismatch).
    """

    kind: str
    source: Path
    codec: str
    video: Path | None = None
    frames_dir: Path | None = None
    read_only: str | None = None
    note: str = ""


def video_codec(path: str | os.PathLike) -> str:
    """The FOURCC OpenCV reports for a video file, lower case without padding (``avc1``, ``fmp4``, ``mjpg``);
    ``""`` when it states none. A file OpenCV cannot open is a :class:`DataFileError`."""
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataFileError(f"{path}: cannot open the video (not a video, or a codec OpenCV lacks)")
        code = int(capture.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
    finally:
        capture.release()
    text = code.to_bytes(4, "little").decode("latin-1")
    return "".join(c for c in text if c.isprintable()).strip().lower()


def browser_playable(path: str | os.PathLike, codec: str) -> bool:
    """True when a browser's ``<video>`` plays ``path``: a playable codec in a playable container."""
    return codec in PLAYABLE_CODECS and Path(path).suffix.lower() in PLAYABLE_CONTAINERS


def find_source(clip: ClipFolder, video: str | os.PathLike | None = None) -> Path | None:
    """The recording: ``video`` when given (an error if missing), else ``features.json``'s ``clip.input`` as
    written, or relative to the current folder, the clip folder, or the two folders above it; ``None`` if
    nowhere."""
    if video is not None:
        path = Path(video)
        if not path.exists():
            raise DataFileError(f"{path}: no such video file or folder (--video)")
        return path
    if not clip.source:
        return None
    recorded = Path(clip.source)
    if recorded.is_absolute():
        return recorded if recorded.exists() else None
    for base in (Path.cwd(), clip.folder, clip.folder.parent, clip.folder.parent.parent):
        if (base / recorded).exists():
            return base / recorded
    return None


def _open_frames(source: Path, fps: float):
    from ..video.reader import open_clip

    return open_clip(source, fps)


def _marker(source: Path, count: int, max_side: int) -> dict:
    st = source.stat()
    return {"source": str(source.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "frames": count,
            "max_side": max_side}


def extract_frames(
    source: Path, out_dir: Path, fps: float, max_side: int = MAX_FRAME_SIDE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Decode every frame of ``source`` (video file or folder of frames) into ``out_dir/frame_NNNNNN.jpg``,
    scaled down to at most ``max_side`` pixels on the longer side; returns the frame count. Skipped when
    ``out_dir/frames.json`` says the same source (path, size, modification time) was extracted already."""
    marker_path = out_dir / "frames.json"
    if marker_path.is_file():
        try:
            old = json.loads(marker_path.read_text(encoding="utf-8"))
            if old == _marker(source, int(old.get("frames", -1)), max_side):
                return int(old["frames"])
        except (ValueError, OSError):
            pass
    out_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for rgb in _open_frames(source, fps).frames():
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        h, w = bgr.shape[:2]
        scale = max_side / max(h, w)
        if scale < 1:
            bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError(f"{out_dir}: cannot encode frame {count} as JPEG")
        (out_dir / frame_name(count)).write_bytes(data.tobytes())
        count += 1
        if progress is not None:
            progress(count)
    atomic_write_bytes(marker_path, json.dumps(_marker(source, count, max_side)).encode())
    return count


def read_frame(source: Path, index: int, size: tuple[int, int], fps: float) -> np.ndarray:
    """Frame ``index`` (from 0) of the recording as BGR ``uint8 (H, W, 3)`` at full size: the ``index``-th file
    of a folder, or the ``index``-th decoded frame of a video (a seek, then reading on from the start if the seek
    fails). A frame that cannot be read or whose size is not ``size`` ``(W, H)`` is a :class:`DataFileError`."""
    if source.is_dir():
        files = _open_frames(source, fps).frame_files or []
        if not 0 <= index < len(files):
            raise DataFileError(f"{source}: no frame {index} (the folder holds {len(files)} frames)")
        frame = decode_image_file(files[index], cv2.IMREAD_COLOR)
    else:
        capture = cv2.VideoCapture(str(source))
        try:
            if not capture.isOpened():
                raise DataFileError(f"{source}: cannot open the video")
            capture.set(cv2.CAP_PROP_POS_FRAMES, float(index))
            ok, frame = capture.read()
            if not ok or frame is None:  # a seek the backend refused: decode from the start
                capture.release()
                capture = cv2.VideoCapture(str(source))
                for _ in range(index + 1):
                    ok, frame = capture.read()
                    if not ok:
                        break
            if not ok or frame is None:
                raise DataFileError(f"{source}: cannot decode frame {index}")
        finally:
            capture.release()
    h, w = frame.shape[:2]
    if (w, h) != tuple(size):
        raise DataFileError(f"{source}: frame {index} is {w}x{h}, the clip's keypoints are for {size[0]}x{size[1]}")
    return frame


def _check_size(path: Path, clip: ClipFolder) -> None:
    """The recording's frame size must be the clip's: keypoints are in its pixels."""
    if path.is_dir():
        w, h = _open_frames(path, clip.fps).size
    else:
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                raise DataFileError(f"{path}: cannot open the video (not a video, or a codec OpenCV lacks)")
            w, h = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            capture.release()
    if (w, h) != (clip.width, clip.height):
        raise DataFileError(f"{path}: frames are {w}x{h}, but {clip.folder / 'features.json'} says the clip's "
                            f"keypoints are for {clip.width}x{clip.height}; is this the clip's recording?")


def prepare_media(
    clip: ClipFolder, video: str | os.PathLike | None = None, force_frames: bool = False, quiet: bool = False,
) -> Media:
    """Find the recording, check its codec, and extract JPEG frames when a browser cannot play it.

    Without the recording (``--video`` or ``features.json``'s ``clip.input``), the clip's own ``skeleton.mp4``
    is shown read-only: its frames carry the drawn skeleton, so they must not become training images.
    ``force_frames`` extracts frames even from a playable video (for a browser that cannot play its codec).
    """
    from tqdm.auto import tqdm

    source = find_source(clip, video)
    read_only = None
    skeleton = clip.folder / "skeleton.mp4"
    if source is None:
        if not skeleton.is_file():
            raise DataFileError(f"the recording {clip.source!r} named in {clip.folder / 'features.json'} was not "
                                "found; pass it with --video PATH")
        source = skeleton
        read_only = (f"the recording {clip.source!r} was not found, so the page shows skeleton.mp4, whose frames "
                     "carry the drawn skeleton; corrections are off (restart with --video PATH to correct)")
    elif source.is_file() and skeleton.is_file() and source.resolve() == skeleton.resolve():
        read_only = "skeleton.mp4 carries the drawn skeleton, so its frames are no training images; corrections are off"
    _check_size(source, clip)
    codec = "frames" if source.is_dir() else video_codec(source)
    if not force_frames and not source.is_dir() and browser_playable(source, codec):
        return Media("video", source, codec, video=source, read_only=read_only)
    why = ("a folder of frames" if source.is_dir() else "--frames" if force_frames
           else f"codec '{codec}' in a {source.suffix or 'suffix-less'} file, which browsers do not play")
    note = f"{source}: {why}; showing JPEG frames extracted into {clip.folder / FRAMES_DIR}"
    if not quiet:
        print(f"review: {note}", file=sys.stderr)
    with tqdm(total=clip.frames, desc="review: extracting frames", unit="frame", disable=quiet) as bar:
        count = extract_frames(source, clip.folder / FRAMES_DIR, clip.fps, progress=lambda n: bar.update(1))
    if count != clip.frames:
        extra = f"{source}: {count} frames decoded, the keypoints have {clip.frames}"
        note = f"{note}; {extra}"
        if not quiet:
            print(f"review: warning: {extra}", file=sys.stderr)
    return Media("frames", source, codec, frames_dir=clip.folder / FRAMES_DIR, read_only=read_only, note=note)
