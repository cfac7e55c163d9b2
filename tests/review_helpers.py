"""Inputs for the ``review`` tests: a drawn clip (a moving stick figure whose frame index is drawn into the frame
as a 6-bit bar code) and the clip folder the ``video`` verb would write for it, made with the verb's own writing
functions (running the verb itself with a model takes too long for a unit test)."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np

from hyper_sapiens import json_safe
from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.review.command import build_app
from hyper_sapiens.review.server import make_server, url
from hyper_sapiens.video.cleaning import clean_track
from hyper_sapiens.video.features import movement_features
from hyper_sapiens.video.outputs import keypoint_results, write_keypoints_csv, write_keypoints_json

K = COCO17.num_keypoints
SIZE = (160, 120)
FPS = 30.0
FRAMES = 64
BITS = 6
J = {name: i for i, name in enumerate(COCO17.names)}
#: Frames the synthetic prior flags, and the prior threshold.
FLAGGED = (20, 21, 45)
THRESHOLD = 1.5


def true_pose(t: int) -> np.ndarray:
    """``(17, 2)`` pixel positions of the stick figure's joints in frame ``t``."""
    cx = 80 + 18 * np.sin(2 * np.pi * t / FRAMES)
    wave = 14 * np.sin(2 * np.pi * t / 16)
    p = {
        "nose": (cx, 32), "left_eye": (cx + 4, 29), "right_eye": (cx - 4, 29), "left_ear": (cx + 8, 31),
        "right_ear": (cx - 8, 31), "left_shoulder": (cx + 14, 45), "right_shoulder": (cx - 14, 45),
        "left_elbow": (cx + 24, 55 + 0.5 * wave), "right_elbow": (cx - 24, 55 - 0.5 * wave),
        "left_wrist": (cx + 32, 50 + wave), "right_wrist": (cx - 32, 50 - wave),
        "left_hip": (cx + 9, 75), "right_hip": (cx - 9, 75), "left_knee": (cx + 12, 92),
        "right_knee": (cx - 12, 92), "left_ankle": (cx + 14, 108), "right_ankle": (cx - 14, 108),
    }
    return np.array([p[name] for name in COCO17.names], np.float64)


def draw_frame(t: int) -> np.ndarray:
    """Frame ``t`` (BGR): the bar code of ``t`` in the top row (6 blocks of 20x12 px, bit i at x = 20 i, dark = 1)
    and the stick figure below."""
    w, h = SIZE
    img = np.full((h, w, 3), 215, np.uint8)
    for i in range(BITS):
        if (t >> i) & 1:
            img[0:12, 20 * i: 20 * i + 20] = 30
    pose = true_pose(t)
    for a, b in COCO17.bones:
        cv2.line(img, tuple(np.round(pose[a]).astype(int)), tuple(np.round(pose[b]).astype(int)), (60, 60, 60), 2)
    for x, y in pose:
        cv2.circle(img, (round(x), round(y)), 2, (20, 20, 160), -1)
    return img


def frame_code(img: np.ndarray) -> int:
    """The frame index drawn by :func:`draw_frame`, read back from an RGB or BGR frame of any scale."""
    h, w = img.shape[:2]
    sx, sy = w / SIZE[0], h / SIZE[1]
    value = 0
    for i in range(BITS):
        block = img[int(3 * sy): int(9 * sy), int((20 * i + 5) * sx): int((20 * i + 15) * sx)]
        if block.mean() < 120:
            value |= 1 << i
    return value


def write_recording(path: Path, codec: str) -> Path | None:
    """The drawn clip as a video (``mp4v``, ``VP90`` through OpenCV, ``h264`` through ffmpeg) or, for
    ``frames``, a folder of PNGs; ``None`` when this machine cannot write that codec."""
    if codec == "frames":
        path.mkdir(parents=True, exist_ok=True)
        for t in range(FRAMES):
            cv2.imwrite(str(path / f"f_{t:05d}.png"), draw_frame(t))
        return path
    if codec == "h264":
        if shutil.which("ffmpeg") is None:
            return None
        frames = path.parent / f"{path.stem}_png"
        write_recording(frames, "frames")
        done = subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-framerate", str(FPS), "-i",
                               str(frames / "f_%05d.png"), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "8",
                               str(path)], capture_output=True, timeout=60)
        return path if done.returncode == 0 and path.is_file() else None
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), FPS, SIZE)
    if not writer.isOpened():
        return None
    try:
        for t in range(FRAMES):
            writer.write(draw_frame(t))
    finally:
        writer.release()
    return path


def write_clip_folder(out: Path, source: str, corrected: bool = True) -> Path:
    """``out`` as the ``video`` verb writes a clip folder (keypoints.csv, keypoints.json, keypoints_raw.json,
    keypoints_corrected.json, features.json) for the drawn clip: the true pose plus noise as the model's track
    (with low scores at frames 10-12 of the left wrist and an outlier at frame 30 of the right ankle), cleaned by
    the verb's own cleaning, a prior score per frame that flags :data:`FLAGGED`."""
    rng = np.random.default_rng(0)
    truth = np.stack([true_pose(t) for t in range(FRAMES)])
    raw = truth + rng.normal(0, 0.6, truth.shape)
    scores = np.full((FRAMES, K), 0.9) - rng.uniform(0, 0.1, (FRAMES, K))
    scores[10:13, J["left_wrist"]] = 0.1
    raw[30, J["right_ankle"]] += (20.0, -15.0)
    cleaned = clean_track(raw, scores, FPS, window=9, order=2)
    plaus = 0.5 + 0.1 * np.sin(np.arange(FRAMES))
    plaus[list(FLAGGED)] = 2.0
    flags = (plaus > THRESHOLD).astype(np.float64)
    fixed = cleaned.keypoints.copy()
    fixed[list(FLAGGED)] += 1.5
    out.mkdir(parents=True, exist_ok=True)
    write_keypoints_csv(out / "keypoints.csv", FPS, raw, scores, cleaned.keypoints, cleaned.gap, cleaned.outlier,
                        cleaned.interpolated, ["track"] * FRAMES, plaus, flags, fixed if corrected else None)
    write_keypoints_json(out / "keypoints_raw.json", keypoint_results(raw, scores, FPS))
    write_keypoints_json(out / "keypoints.json", keypoint_results(cleaned.keypoints, scores, FPS, flags))
    if corrected:
        write_keypoints_json(out / "keypoints_corrected.json", keypoint_results(fixed, scores, FPS, flags))
    features = movement_features(cleaned.keypoints, FPS, 0.5, flags)
    features["clip"] = {
        "input": source, "frames": FRAMES, "width": SIZE[0], "height": SIZE[1], "filter": "savgol",
        "min_score": 0.3, "max_gap": 5, "gaps": int(cleaned.gap.sum()), "outliers": int(cleaned.outlier.sum()),
        "outlier_k": 3.0, "interpolated": int(cleaned.interpolated.sum()),
        "box_sources": {"detection": 0, "track": FRAMES, "frame": 0, "refined": 0},
        "prior": "prior.safetensors", "prior_threshold": THRESHOLD, "correction": None,
    }
    (out / "features.json").write_text(json_safe.dumps(features, indent=2), encoding="utf-8")
    return out


def make_clip(root: Path, codec: str = "mp4v", name: str = "wave") -> Path | None:
    """A recording ``root/<name>.<ext>`` (or a folder of frames) and its clip folder ``root/out/<name>/``; the
    folder, or ``None`` when the codec cannot be written here."""
    suffix = {"frames": "", "VP90": ".mp4", "mp4v": ".mp4", "h264": ".mp4", "MJPG": ".avi"}[codec]
    root.mkdir(parents=True, exist_ok=True)
    recording = write_recording(root / f"{name}{suffix}", codec)
    if recording is None:
        return None
    return write_clip_folder(root / "out" / name, str(recording))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes, to show that a refused request changed nothing."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class ReviewServer:
    """A review server on a free port, in a thread, with raw HTTP requests (http.client does not normalise
    paths, so ``..`` and encoded forms reach the server as written)."""

    def __init__(self, clip: Path, **kwargs) -> None:
        self.app = build_app(str(clip), quiet=True, **kwargs)
        self.httpd = make_server(self.app)
        self.port = self.httpd.server_address[1]
        self.token = self.app.token
        self.url = url(self.httpd, self.app)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                token: bool = True) -> tuple[int, bytes, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, (f"/{self.token}/" if token else "") + path, skip_host="Host" in (headers or {}),
                            skip_accept_encoding=True)
            for key, value in (headers or {}).items():
                conn.putheader(key, value)
            if body is not None and "Content-Length" not in (headers or {}):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            r = conn.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            conn.close()

    def post(self, data, raw: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
        body = raw if raw is not None else json.dumps(data).encode()
        status, answer, _ = self.request("POST", "api/review", body,
                                         {"Content-Type": "application/json", **(headers or {})})
        return status, json.loads(answer) if answer else {}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
