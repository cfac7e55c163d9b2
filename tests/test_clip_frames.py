"""``hyper-sapiens frames``: every N-th frame of clips with a person box (OpenPose track or whole frame), read back as
a ``type: unlabeled`` training source. The clips (MPEG-4, drawn bright squares moving) and their OpenPose folders
(BODY_25 as fractions of the frame, one frame without a person) are drawn here."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyper_sapiens.cli import main
from hyper_sapiens.data.pipeline import PipelineConfig, TopDownTransform
from hyper_sapiens.data.sources import build_source
from hyper_sapiens.keypoints import KeypointConverter

SIZE = (160, 120)  # (w, h) pixels
FRAMES = 12


def _figure(t: int) -> np.ndarray:
    """COCO17 joints (17, 2) pixels of frame ``t``: a 30x60 px stick figure moving 4 px right per frame."""
    xs = np.linspace(30, 60, 17) + 4 * t
    ys = np.linspace(20, 80, 17)
    return np.stack([xs, ys], 1)


def _clip(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, SIZE)
    for t in range(FRAMES):
        frame = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
        cv2.rectangle(frame, (30 + 4 * t, 20), (60 + 4 * t, 80), (200, 220, 240), -1)
        writer.write(frame)
    writer.release()
    return path


def _openpose(folder: Path, name: str, empty: tuple[int, ...] = ()) -> Path:
    """OpenPose BODY_25 files of ``_figure`` as fractions of the frame; frames in ``empty`` hold nobody."""
    folder.mkdir(parents=True)
    for t in range(FRAMES):
        people = []
        if t not in empty:
            xy, vis = KeypointConverter("coco17", "body25")(_figure(t))
            rows = np.concatenate([xy / SIZE, np.full((len(xy), 1), 0.9)], 1) * (vis[:, None] > 0)
            people.append({"pose_keypoints_2d": rows.ravel().tolist()})
        (folder / f"{name}_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return folder


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    videos = tmp_path / "videos"
    videos.mkdir()
    _clip(videos / "a.mp4")
    _clip(videos / "b.mp4")
    _openpose(tmp_path / "openpose" / "a", "a", empty=(4,))
    return tmp_path


def test_openpose_boxes_every_nth_frame_and_a_training_source_reads_them(clips: Path, capsys) -> None:
    out = clips / "frames"
    rc = main(["frames", str(clips / "videos" / "a.mp4"), "--openpose", str(clips / "openpose"), "--every", "2",
               "--margin", "0.1", "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "frames.json").read_text())
    assert summary["clips"]["a"] == {"video": "a.mp4", "frames": 12, "fps": 10.0, "kept": 5, "no_person": 1,
                                     "past_the_end": 0, "box_source": "openpose"}
    images = json.loads((out / "images.json").read_text())["images"]
    assert [im["frame"] for im in images] == [0, 2, 6, 8, 10]  # frame 4 has nobody
    assert all((out / "images" / im["file_name"]).is_file() for im in images)
    dets = json.loads((out / "detections.json").read_text())
    for im, det in zip(images, dets, strict=True):
        t = im["frame"]
        lo, hi = _figure(t).min(0), _figure(t).max(0)
        pad = 0.1 * (hi - lo).max()
        np.testing.assert_allclose(det["bbox"], [lo[0] - pad, lo[1] - pad, *(hi - lo + 2 * pad)], atol=0.02)
        assert det["image_id"] == im["id"] and det["box_source"] == "openpose"
    transform = TopDownTransform(PipelineConfig(input_size=(48, 64)), train=False)
    source = build_source({"type": "unlabeled", "image_dir": str(out / "images"),
                           "detections": str(out / "detections.json"), "images_json": str(out / "images.json")},
                          transform, name="clips")
    assert len(source) == 5 and not any(r.has_keypoints for r in source.records)
    sample = source[0]
    assert sample["image"].shape == (3, 64, 48)


def test_whole_frame_boxes_and_missing_openpose_folders(clips: Path, capsys) -> None:
    rc = main(["frames", str(clips / "videos"), "--every", "5", "--out", str(clips / "whole"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    dets = json.loads((clips / "whole" / "detections.json").read_text())
    assert len(dets) == 6 and all(d["bbox"] == [0.0, 0.0, 160.0, 120.0] for d in dets)
    # b has no OpenPose folder: an error naming it, unless told to use the whole frame
    args = ["frames", str(clips / "videos"), "--openpose", str(clips / "openpose"), "--no-progress"]
    assert main([*args, "--out", str(clips / "strict")]) == 2
    assert "no OpenPose folder b/" in capsys.readouterr().err
    assert main([*args, "--missing-openpose", "whole-frame", "--out", str(clips / "mixed")]) == 0
    summary = json.loads((clips / "mixed" / "frames.json").read_text())
    assert summary["clips"]["a"]["box_source"] == "openpose" and summary["clips"]["b"]["box_source"] == "whole_frame"
    # an earlier extraction is never overwritten
    assert main([*args, "--missing-openpose", "whole-frame", "--out", str(clips / "mixed")]) == 2
    assert "earlier extraction" in capsys.readouterr().err


def test_bad_arguments_are_clear_errors(clips: Path, capsys) -> None:
    assert main(["frames", str(clips / "nothing.mp4"), "--out", str(clips / "x"), "--no-progress"]) == 2
    assert "no such video file or folder" in capsys.readouterr().err
    assert main(["frames", str(clips / "videos"), "--every", "0", "--out", str(clips / "x"), "--no-progress"]) == 2
    assert "every must be at least 1" in capsys.readouterr().err
