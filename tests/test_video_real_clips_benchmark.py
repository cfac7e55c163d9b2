"""``benchmarks/video_real_clips.py``: the agreement of a track with an OpenPose track in torso lengths, and the
per-clip report read from the files the video verb writes (drawn here)."""

from __future__ import annotations

import json

import numpy as np
from benchmark_helpers import load_benchmark

from hyper_sapiens.keypoints import COCO17, KeypointConverter

SIZE = (320, 240)


bench = load_benchmark("video_real_clips")


def _pose(t: int) -> np.ndarray:
    """(17, 2) pixels: shoulders 40 px above the hips, so the torso length is 40 px."""
    kp = np.stack([np.linspace(100, 160, 17), np.linspace(60, 180, 17)], 1) + [2 * t, 0]
    kp[COCO17.index("left_shoulder")] = kp[COCO17.index("left_hip")] - [0, 40]
    kp[COCO17.index("right_shoulder")] = kp[COCO17.index("right_hip")] - [0, 40]
    return kp


def test_agreement_is_the_median_distance_in_torso_lengths():
    theirs = np.stack([_pose(t) for t in range(5)])
    visible = np.ones((5, 17))
    ours = theirs + [4.0, 0.0]  # 4 px = 0.1 torso lengths
    ours[0, 3] = np.nan  # a gap in our track
    ours[1, 9] += [40.0, 0.0]  # one wild joint: 1.1 torso lengths, does not move the median
    visible[2, 0] = 0  # OpenPose lacks a joint
    visible[4, COCO17.index("left_hip")] = 0  # no torso: frame 4 is left out
    result = bench.agreement(ours, theirs, visible)
    assert result["frames_compared"] == 4 and result["joint_frames"] == 4 * 17 - 2
    assert abs(result["median_all"] - 0.1) < 1e-9
    assert abs(result["per_joint"]["left_wrist"] - 0.1) < 1e-9 and set(result["per_joint"]) == set(COCO17.names)


def test_clip_report_reads_the_verb_outputs_and_the_openpose_folder(tmp_path):
    out = tmp_path / "clip"
    out.mkdir()
    rows = []
    for t in range(4):
        kp = np.concatenate([_pose(t) + [4.0, 0.0], np.full((17, 1), 0.9)], 1)
        if t == 3:
            kp[5] = 0  # a gap: written as 0, 0, 0
        rows.append({"frame": t, "keypoints": kp.ravel().tolist(), "flagged": t == 1})
    (out / "keypoints.json").write_text(json.dumps(rows))
    (out / "features.json").write_text(json.dumps({"clip": {"gaps": 1, "outliers": 0, "box_sources": {}}}))
    folder = tmp_path / "openpose" / "clip"
    folder.mkdir(parents=True)
    for t in range(4):
        xy, vis = KeypointConverter("coco17", "body25")(_pose(t))
        values = np.concatenate([xy / SIZE, np.full((len(xy), 1), 0.9)], 1) * (vis[:, None] > 0)
        (folder / f"clip_{t:012d}_keypoints.json").write_text(
            json.dumps({"people": [{"pose_keypoints_2d": values.ravel().tolist()}]}))
    report = bench.clip_report(out, tmp_path / "openpose", SIZE)
    assert report["frames"] == 4 and report["flagged_share"] == 0.25
    assert report["gap_share"] == round(1 / 68, 4)
    assert abs(report["openpose"]["median_all"] - 0.1) < 1e-6 and report["openpose"]["frames_compared"] == 4
