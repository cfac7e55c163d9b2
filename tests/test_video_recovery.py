"""The ``video`` verb end to end on a clip where the infant leaves the frame and comes back.

The model is replaced by a stand-in "detector" that sees only what is inside its crop: it finds the bright
rectangle (the infant) among the crop's pixels and puts the 17 joints at fixed places inside it, with
Gaussian heatmaps; a crop without the rectangle gives flat, low heatmaps. So the track can only find the infant
again if the verb goes back to the whole frame when the scores drop, and the keypoints after the return are
right only if the crop follows the infant from there on.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hyper_sapiens.cli import main
from hyper_sapiens.data.pipeline import PipelineConfig, codec_from_pipeline
from hyper_sapiens.keypoints import COCO17

K = COCO17.num_keypoints
FRAME = (160, 120)            # (W, H) pixels
BODY = (24, 32)               # the rectangle's (w, h) pixels
#: Where each joint sits inside the rectangle, as fractions of its width and height (COCO17 order).
LAYOUT = np.stack([np.linspace(0.1, 0.9, K), 0.05 + 0.9 * (np.arange(K) % 6) / 5], 1)
PIPE = PipelineConfig(input_size=(48, 64), heatmap_size=(12, 16), augment=False)


def _corner(t: int) -> tuple[float, float] | None:
    """Top-left corner of the rectangle in frame ``t``, ``None`` while it is out of the frame (frames 12-19)."""
    if t < 12:
        return 40.0 + 1.5 * t, 40.0
    if t < 20:
        return None
    return 120.0 - 1.5 * (t - 20), 60.0


def _truth(t: int) -> np.ndarray | None:
    c = _corner(t)
    return None if c is None else np.array(c) + LAYOUT * (np.array(BODY) - 1)


def _frame(t: int) -> np.ndarray:
    img = np.full((FRAME[1], FRAME[0], 3), 30, np.uint8)
    c = _corner(t)
    if c is not None:
        x, y = int(c[0]), int(c[1])
        img[y:y + BODY[1], x:x + BODY[0]] = 230
    return img


def _stand_in_model(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """uint8 crops ``(B, 3, 64, 48)`` -> heatmaps ``(B, 17, 16, 12)`` peaked at the joints of the bright
    rectangle seen in the crop (heatmap pixel = crop pixel / 4, UDP: ``(size - 1)`` scaling)."""
    b = images.shape[0]
    hw, hh = PIPE.heatmap_size
    iw, ih = PIPE.input_size
    yy, xx = np.mgrid[0:hh, 0:hw]
    maps = np.full((b, K, hh, hw), 0.05, np.float32)
    for i, crop in enumerate(images.numpy()):
        ys, xs = np.nonzero(crop.mean(0) > 130)
        if len(xs) < 4:
            continue
        lo, hi = np.array([xs.min(), ys.min()]), np.array([xs.max(), ys.max()])
        joints = (lo + LAYOUT * (hi - lo)) * (np.array([hw - 1, hh - 1]) / np.array([iw - 1, ih - 1]))
        d2 = (xx[None] - joints[:, :1, None]) ** 2 + (yy[None] - joints[:, 1:, None]) ** 2
        maps[i] = 0.9 * np.exp(-d2 / 2.0)
    return {"heatmaps": torch.from_numpy(maps)}


@pytest.fixture()
def clip(tmp_path) -> Path:
    folder = tmp_path / "leaves" / "rgb"
    folder.mkdir(parents=True)
    for t in range(32):
        cv2.imwrite(str(folder / f"syn_{t:05d}.png"), _frame(t))
    return folder


def _read(csv_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    raw = np.full((32, K, 2), np.nan)
    clean = np.full((32, K, 2), np.nan)
    score = np.full((32, K), np.nan)
    sources = [""] * 32
    index = {n: i for i, n in enumerate(COCO17.names)}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            t, k = int(row["frame"]), index[row["joint"]]
            raw[t, k] = float(row["x_raw"]), float(row["y_raw"])
            clean[t, k] = [float(row[c]) if row[c] else np.nan for c in ("x", "y")]
            score[t, k] = float(row["score"])
            sources[t] = row["box_source"]
    return raw, clean, score, sources


@pytest.mark.parametrize("batch_size", [1, 4])
def test_the_track_recovers_when_the_infant_comes_back(clip, tmp_path, monkeypatch, batch_size):
    import hyper_sapiens.evaluation.predictor as predictor

    monkeypatch.setattr(predictor, "load_predictor",
                        lambda *a, **k: (_stand_in_model, PIPE, codec_from_pipeline(PIPE), "stand-in"))
    out = tmp_path / "out"
    code = main(["video", "--checkpoint", str(tmp_path / "unused.safetensors"), str(clip), "--out", str(out),
                 "--device", "cpu", "--batch-size", str(batch_size), "--no-flip-test", "--no-prior",
                 "--no-video", "--no-plots", "--filter", "none"])
    assert code == 0
    raw, clean, score, sources = _read(out / "leaves" / "keypoints.csv")

    def error(t: int) -> float:
        return float(np.linalg.norm(raw[t] - _truth(t), axis=-1).max())

    # Before it leaves: found on the whole frame and cropped again around it, then followed by the track.
    assert sources[:batch_size] == ["refined"] * batch_size and all(s == "track" for s in sources[batch_size:12])
    assert max(error(t) for t in range(12)) < 5.0
    # While it is away: every joint scores low and becomes a gap (8 frames > --max-gap 5: not interpolated),
    # and the track has gone back to the whole frame.
    assert np.all(score[12:20] < 0.3) and np.isnan(clean[12:20]).all()
    assert all(s == "frame" for s in sources[12 + batch_size:20])
    # Back: the whole-frame crop finds it in the first batch after its return, the track follows it again.
    assert sources[20] == "refined"
    assert all(s == "track" for s in sources[20 + batch_size:])
    assert max(error(t) for t in range(20, 32)) < 5.0
    assert np.isfinite(clean[20:]).all()


def test_a_track_that_keeps_its_last_box_loses_the_infant(clip, monkeypatch):
    """The checks above can fail: a track that keeps its last box when the scores drop (instead of going back to
    the whole frame) never finds the infant on the other side of the frame."""
    from hyper_sapiens.video import tracker

    update = tracker.BoxTrack.update

    def keep_last_box(self, keypoints, scores):
        if float(scores.mean()) >= self.reinit_score:
            update(self, keypoints, scores)

    monkeypatch.setattr(tracker.BoxTrack, "update", keep_last_box)
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(clip.iterdir())]
    result = tracker.track_clip(frames, _stand_in_model, PIPE, codec_from_pipeline(PIPE), torch.device("cpu"),
                                FRAME, batch_size=1, flip_test=False)
    assert result.box_source[20:] == ["track"] * 12
    assert np.all(result.scores[20:] < 0.3)
