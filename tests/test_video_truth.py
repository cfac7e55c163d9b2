"""hyper_sapiens.video.truth: error and jitter against hand-computed values on small hand-made arrays and files;
the demo's video phase around it (its report section, a failing verb)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from hyper_sapiens.data.io import DataFileError
from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.video.truth import (
    CLEANED_COLUMNS,
    RAW_COLUMNS,
    compare_with_truth,
    jitter,
    mean_error,
    minirgbd_truth,
    read_track,
)

K = COCO17.num_keypoints
J = {name: i for i, name in enumerate(COCO17.names)}
# COCO17 joint -> its MINI-RGBD (SMIL) row: the nose vertex, the arms' and legs' joints
SMIL_ROW = {"nose": 24, "left_shoulder": 16, "right_elbow": 19, "left_wrist": 20, "left_hip": 1, "right_knee": 5,
            "right_ankle": 8}
ABSENT = ("left_eye", "right_eye", "left_ear", "right_ear")  # MINI-RGBD has no eyes or ears


def _smil(t: int) -> np.ndarray:
    """The (25, 2) joints of frame ``t`` of a hand-made sequence: row r at (10 r + 2 t, 5 r + t²) pixels."""
    r = np.arange(25, dtype=np.float64)
    return np.stack([10 * r + 2 * t, 5 * r + t * t], axis=1)


def _write_sequence(seq: Path, frames: int) -> None:
    (seq / "joints_2Ddep").mkdir(parents=True)
    for t in range(frames):
        rows = np.concatenate([_smil(t), np.full((25, 1), 900.0), np.arange(25)[:, None]], axis=1)
        np.savetxt(seq / "joints_2Ddep" / f"syn_joints_2Ddep_{t:05d}.txt", rows, fmt="%.4f")


def _write_csv(path: Path, raw: np.ndarray, cleaned: np.ndarray) -> None:
    """A keypoints.csv with the verb's columns in another order, an extra trailing column and NaN as empty."""
    def cell(v: float) -> str:
        return "" if not np.isfinite(v) else f"{v:.3f}"

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["joint", "frame", "x", "y", "score", "x_raw", "y_raw", "x_corrected", "y_corrected"])
        for t in range(raw.shape[0]):
            for j, name in enumerate(COCO17.names):
                w.writerow([name, t, cell(cleaned[t, j, 0]), cell(cleaned[t, j, 1]), "0.9",
                            cell(raw[t, j, 0]), cell(raw[t, j, 1]), "1.0", "2.0"])


def test_jitter_is_the_mean_norm_of_the_second_difference():
    p = np.full((4, 2, 2), np.nan)
    p[:, 0] = [[0, 0], [1, 0], [4, 0], [9, 0]]      # x = t²: second differences 2, 2
    p[:, 1] = [[0, 0], [0, 0], [0, 3], [0, 0]]      # second differences (0, 3) and (0, -6)
    assert jitter(p) == pytest.approx((2 + 2 + 3 + 6) / 4)
    p[3, 1] = np.nan                                 # the second triple of joint 1 is incomplete
    assert jitter(p) == pytest.approx((2 + 2 + 3) / 3)
    moving = np.stack([np.arange(5.0) * 3, np.arange(5.0) * -2], axis=1)[:, None]   # constant velocity
    assert jitter(moving) == 0.0
    assert jitter(p[:3]) == pytest.approx((2 + 3) / 2)   # 3 frames: one second difference per joint
    assert math.isnan(jitter(p[:2])) and math.isnan(jitter(np.full((5, 3, 2), np.nan)))


def test_mean_error_counts_only_joints_present_in_both():
    truth = np.zeros((2, 3, 2))
    pred = np.zeros((2, 3, 2))
    pred[0, 0] = (3, 4)                   # 5 px
    pred[1, 1] = (6, 8)                   # 10 px
    pred[1, 2] = np.nan                   # missing in the track
    truth[0, 2] = np.nan                  # missing in the truth
    assert mean_error(pred, truth) == pytest.approx((5 + 0 + 0 + 10) / 4)
    assert math.isnan(mean_error(np.full((2, 3, 2), np.nan), truth))


def test_minirgbd_truth_is_coco17_with_nan_for_the_joints_mini_rgbd_lacks(tmp_path):
    _write_sequence(tmp_path / "01", 3)
    gt = minirgbd_truth(tmp_path / "01")
    assert gt.shape == (3, K, 2) and gt.dtype == np.float64
    for t in range(3):
        for name, row in SMIL_ROW.items():
            assert gt[t, J[name]] == pytest.approx(_smil(t)[row]), (t, name)
    assert np.isnan(gt[:, [J[n] for n in ABSENT]]).all()
    assert np.isfinite(gt).all(-1).sum() == 3 * 13
    with pytest.raises(DataFileError, match="joints_2Ddep"):
        minirgbd_truth(tmp_path / "missing")


def test_read_track_reads_columns_by_name(tmp_path):
    raw = np.arange(2 * K * 2, dtype=np.float64).reshape(2, K, 2)
    cleaned = raw + 0.5
    raw[1, J["left_wrist"]] = np.nan
    path = tmp_path / "keypoints.csv"
    _write_csv(path, raw, cleaned)
    got_raw = read_track(path, RAW_COLUMNS)
    assert got_raw.shape == (2, K, 2)
    np.testing.assert_allclose(got_raw, raw)      # NaN where the cell is empty
    np.testing.assert_allclose(read_track(path, CLEANED_COLUMNS), cleaned)
    longer = read_track(path, RAW_COLUMNS, num_frames=4)
    assert longer.shape == (4, K, 2) and np.isnan(longer[2:]).all()
    with pytest.raises(DataFileError, match="outside"):
        read_track(path, RAW_COLUMNS, num_frames=1)
    with pytest.raises(DataFileError, match="no column x_smooth"):
        read_track(path, ("x_smooth", "y"))


def test_compare_with_truth_on_a_hand_made_sequence(tmp_path):
    _write_sequence(tmp_path / "seq" / "01", 4)
    gt = minirgbd_truth(tmp_path / "seq" / "01")
    raw = np.nan_to_num(gt, nan=50.0)           # the track has eyes and ears: they must be ignored
    raw[:, [J[n] for n in ABSENT]] += 1000.0
    raw[1, J["nose"]] += (3.0, 4.0)             # 5 px off in frame 1
    raw[2, J["left_hip"]] += (-6.0, 8.0)        # 10 px off in frame 2
    cleaned = gt.copy()
    cleaned[0, J["right_knee"]] = np.nan        # a gap the cleaning left
    out = tmp_path / "video" / "minirgbd_01"
    out.mkdir(parents=True)
    _write_csv(out / "keypoints.csv", raw, cleaned)

    result = compare_with_truth(out, tmp_path / "seq" / "01")
    assert set(result) == {"mean_error_px", "jitter_px", "dropped", "frames"} and result["frames"] == 4
    # 13 joints x 4 frames compared; two of them off by 5 and 10 px
    assert result["mean_error_px"]["raw"] == pytest.approx(15.0 / 52, abs=1e-6)
    # the right knee of frame 0 is missing after cleaning: left out of raw_kept (it was exact in raw as well)
    assert result["dropped"] == 1 and result["mean_error_px"]["raw_kept"] == pytest.approx(15.0 / 51, abs=1e-6)
    assert result["mean_error_px"]["cleaned"] == pytest.approx(0.0, abs=1e-6)
    # the truth moves by (2 t, t²): second difference (0, 2) for every joint and frame
    assert result["jitter_px"]["truth"] == pytest.approx(2.0, abs=1e-6)
    assert result["jitter_px"]["cleaned"] == pytest.approx(2.0, abs=1e-6)
    # raw: second differences t = 1, 2 of 13 joints; the nose's are (0, 2) - 2 (3, 4) + ... by hand:
    #   nose t=1: (0,2) - 2*(3,4) = (-6,-6); t=2: (0,2) + (3,4) = (3,6)
    #   left_hip t=1: (0,2) + (-6,8) = (-6,10); t=2: (0,2) - 2*(-6,8) = (12,-14)
    by_hand = (11 * 2 * 2.0 + math.hypot(6, 6) + math.hypot(3, 6) + math.hypot(6, 10) + math.hypot(12, 14)) / 26
    assert result["jitter_px"]["raw"] == pytest.approx(by_hand, abs=1e-6)

    _write_csv(out / "keypoints.csv", raw[:3], cleaned[:3])
    with pytest.raises(DataFileError, match="3 frames"):
        compare_with_truth(out / "keypoints.csv", tmp_path / "seq" / "01")


def test_demo_report_video_section_links_the_files_and_shows_missing_values_as_na():
    from hyper_sapiens.demo import _video_lines

    clip = {"input": "data/videos/minirgbd_01.mp4", "truth": "data/minirgbd/01", "out": "video/minirgbd_01",
            "frames": 3, "mean_error_px": {"raw": 6.466, "raw_kept": 5.5, "cleaned": 4.0}, "dropped": 2,
            "jitter_px": {"raw": 1.5, "cleaned": None, "truth": 0.1}, "time_s": 0.3, "frames_per_s": 10.0}
    video = {"checkpoint": "runs/stage3/final.safetensors", "filter": "savgol", "prior": None,
             "clips": {"minirgbd_01": clip},
             "mean": {"frames": 3, "mean_error_px": clip["mean_error_px"], "jitter_px": clip["jitter_px"],
                      "dropped": 2, "frames_per_s": 10.0}}
    text = "\n".join(_video_lines(video))
    assert text.startswith("## Video") and "pixels/frame²" in text and "no prior" in text
    row = ("| [minirgbd_01](data/videos/minirgbd_01.mp4) | 3 | 6.47 | 5.50 | 4.00 | 2 | 1.50 | n/a | 0.10 | 10.0 | "
           "[skeleton.mp4](video/minirgbd_01/skeleton.mp4), [features.json](video/minirgbd_01/features.json) |")
    assert row in text


def test_demo_video_phase_stops_on_a_failing_verb(tmp_path, capsys):
    from hyper_sapiens.demo import VideoPhaseError, video_phase
    from hyper_sapiens.synth import generate_dataset

    meta = generate_dataset(tmp_path / "data", preset="tiny", seed=0, workers=1, progress=False, videos=True)
    with pytest.raises(VideoPhaseError, match="exit code 2"):
        video_phase(tmp_path, meta, tmp_path / "runs" / "stage3" / "missing.safetensors", "cpu")
    assert "video: error:" in capsys.readouterr().err
