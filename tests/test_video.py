"""The ``video`` verb: cleaning and features against hand-computed values, the tracker's box, the verb end to end
on a drawn stick-figure clip with the shipped tiny weights, and its errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyper_sapiens.cli import main
from hyper_sapiens.keypoints import COCO17, COCO17_LIMB_NAMES
from hyper_sapiens.video.cleaning import (
    clean_track,
    interpolate_gaps,
    mask_low_scores,
    one_euro_filter,
    reject_outliers,
    savgol_filter,
)
from hyper_sapiens.video.features import movement_features
from hyper_sapiens.video.outputs import CSV_COLUMNS
from hyper_sapiens.video.tracker import BoxTrack, keypoint_box

WEIGHTS = Path(__file__).resolve().parents[1] / "hyper_sapiens" / "weights" / "tiny_adult_pose.safetensors"
K = COCO17.num_keypoints
J = {name: i for i, name in enumerate(COCO17.names)}


def _pose() -> np.ndarray:
    """A still COCO17 pose (pixels) whose torso length is exactly 40 px (shoulders at y=100, hips at y=140)."""
    pose = np.zeros((K, 2))
    for i, name in enumerate(COCO17.names):
        side = -1 if name.startswith("left") else 1
        pose[i] = (200 + side * 15 * (i % 5 + 1), 60 + 8 * i)
    pose[J["left_shoulder"]], pose[J["right_shoulder"]] = (180, 100), (220, 100)
    pose[J["left_hip"]], pose[J["right_hip"]] = (180, 140), (220, 140)
    return pose


# ------------------------------------------------------------------ features
def test_constant_speed_gives_that_speed_and_no_acceleration():
    fps, v, t = 25.0, 50.0, 30
    direction = np.array([0.6, 0.8])
    track = _pose()[None] + (np.arange(t) / fps * v)[:, None, None] * direction
    f = movement_features(track, fps)
    for name in COCO17.names:
        speed = f["joints"][name]["speed"]
        assert speed["mean"] == pytest.approx(v) and speed["median"] == pytest.approx(v)
        assert speed["p95"] == pytest.approx(v) and speed["n"] == t - 1
        assert f["joints"][name]["acceleration"]["p95"] == pytest.approx(0.0, abs=1e-6)
    assert f["torso_length_px"] == pytest.approx(40.0)
    assert f["duration_s"] == pytest.approx(t / fps)
    # 50 px/s = 1.25 torso lengths/s > 0.5: every frame pair moves
    assert f["joints"]["nose"]["share_moving"] == 1.0 and f["limbs_share_moving"] == 1.0
    assert f["units"]["speed"] == "px/s" and f["units"]["acceleration"] == "px/s^2"


def test_sinusoid_range_of_motion_and_acceleration():
    fps, amp, t = 40.0, 12.0, 81  # 1 Hz: frames 10, 30, ... sit on the peaks
    track = np.repeat(_pose()[None], t, axis=0)
    time = np.arange(t) / fps
    track[:, J["left_wrist"], 0] += amp * np.sin(2 * np.pi * time)
    f = movement_features(track, fps)
    wrist = f["joints"]["left_wrist"]
    assert wrist["range_xy_px"] == pytest.approx([2 * amp, 0.0])
    assert wrist["range_px"] == pytest.approx(2 * amp)
    assert wrist["range_torso"] == pytest.approx(2 * amp / 40.0)
    # the second difference of A sin(wt) is about A w^2 |sin|: its largest value near A (2 pi)^2 px/s^2
    assert max(np.abs(np.diff(track[:, J["left_wrist"], 0], 2)) * fps**2) == pytest.approx(
        amp * (2 * np.pi) ** 2, rel=0.01)
    assert f["joints"]["right_wrist"]["range_px"] == 0.0
    assert f["joints"]["right_wrist"]["speed"]["mean"] == 0.0


def test_symmetry_and_share_of_time_moving():
    fps, t = 30.0, 61
    track = np.repeat(_pose()[None], t, axis=0)
    time = np.arange(t) / fps
    bump = np.sin(np.pi * time) ** 2 * 30.0  # speeds vary over time, the same shape on both sides
    track[:, J["left_wrist"], 1] += 2 * bump
    track[:, J["right_wrist"], 1] += bump
    # the left ankle is still for the first 30 frames, then moves at 60 px/s (1.5 torso lengths/s)
    track[30:, J["left_ankle"], 0] += np.arange(t - 30) * 60.0 / fps
    f = movement_features(track, fps)
    wrists = f["symmetry"]["wrists"]
    assert wrists["speed_correlation"] == pytest.approx(1.0)
    assert wrists["mean_speed_ratio"] == pytest.approx(2.0)
    assert f["symmetry"]["ankles"]["speed_correlation"] is None  # the right ankle never moves
    assert f["joints"]["left_ankle"]["share_moving"] == pytest.approx(30 / 60)
    assert f["joints"]["left_ankle"]["speed"]["p95"] == pytest.approx(60.0)


def test_missing_frames_are_left_out_of_the_statistics_and_implausible_share():
    fps, t = 10.0, 11
    track = _pose()[None] + (np.arange(t) * 2.0)[:, None, None] * np.array([1.0, 0.0])
    track[5, J["nose"]] = np.nan
    f = movement_features(track, fps, implausible=np.array([1, 0, 0, 0, np.nan, 0, 0, 0, 0, 1, 0.0]))
    assert f["joints"]["nose"]["speed"]["n"] == t - 1 - 2 and f["joints"]["nose"]["speed"]["mean"] == pytest.approx(20)
    assert f["joints"]["nose"]["acceleration"]["n"] == t - 2 - 3
    assert f["share_implausible"] == pytest.approx(2 / 10)
    assert f["joints"]["nose"]["present"] == pytest.approx(10 / 11)


def _rotate(pose: np.ndarray, angle: float, centre=(200.0, 120.0)) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return (pose - centre) @ np.array([[c, s], [-s, c]]) + centre


def test_g_error_of_a_rigid_skeleton_is_zero():
    """Translated, rotated and zoomed copies of one pose keep every bone / torso ratio: G-Error 0."""
    t = 20
    track = np.stack([_rotate(_pose(), 0.05 * i) * (1 + 0.02 * i) + (3.0 * i, -1.5 * i) for i in range(t)])
    f = movement_features(track, 25.0)
    assert f["g_error"] == pytest.approx(0.0, abs=1e-12)
    assert set(f["g_error_per_bone"]) == set(COCO17_LIMB_NAMES)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in f["g_error_per_bone"].values())
    assert {"g_error", "g_error_per_bone"} <= set(f["units"]) & set(f["definitions"])


def test_g_error_of_a_stretching_forearm_matches_the_formula_and_skips_missing_frames():
    """The left forearm alternates between its length and 1.5 times it; the torso (40 px) stays. Per bone,
    G_b = Var(l) / mean(l)^2 with l = length / torso: for the forearm the factors [1, 1.5, 1, 1.5] give
    Var = 0.0625, mean = 1.25, G_b = 0.04; the other 11 limbs are constant, so G = 0.04 / 12. A frame without
    the wrist counts for no forearm value, a frame without a hip for no bone at all."""
    pose = _pose()
    elbow, wrist = J["left_elbow"], J["left_wrist"]
    track = np.repeat(pose[None], 6, axis=0)
    factors = [1.0, 1.5, 1.0, 1.5, 1.0, 1.0]
    for i, fac in enumerate(factors):
        track[i, wrist] = pose[elbow] + fac * (pose[wrist] - pose[elbow])
    track[4, wrist] = np.nan                 # no forearm in frame 4
    track[5, J["left_hip"]] = np.nan         # no torso in frame 5: no bone counts
    track[5, wrist] = pose[elbow] + 3.0 * (pose[wrist] - pose[elbow])   # would change G if counted
    f = movement_features(track, 30.0)
    ratios = np.array(factors[:4]) * np.linalg.norm(pose[wrist] - pose[elbow]) / 40.0
    expected = ratios.var() / ratios.mean() ** 2
    assert expected == pytest.approx(0.04)
    assert f["g_error_per_bone"]["left_forearm"] == pytest.approx(expected)
    assert f["g_error_per_bone"]["right_forearm"] == pytest.approx(0.0, abs=1e-12)
    assert f["g_error"] == pytest.approx(expected / len(COCO17_LIMB_NAMES))


# ------------------------------------------------------------------ SDS correction of flagged frames
@pytest.fixture(scope="module")
def pose_prior():
    """A small prior trained in-process (about 2 s on one core) on jittered copies of :func:`_pose`, some joints
    hidden: it knows one pose, so a wrist far from it is implausible."""
    import torch

    from hyper_sapiens.prior import PosePrior
    from hyper_sapiens.prior.normalize import augment_normalized

    torch.manual_seed(0)
    prior = PosePrior(denoiser={"hidden": 64, "blocks": 1, "embed_dim": 32, "groups": 8})
    base = prior.normalize(torch.as_tensor(_pose()[None], dtype=torch.float32)).x
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(prior.denoiser.parameters(), lr=3e-3)
    for _ in range(300):
        x, m = augment_normalized(base + 0.05 * torch.randn((128, K, 2), generator=gen), torch.ones(128, K),
                                  "coco17", gen, rotate_deg=0.0, flip_prob=0.0, joint_mask_prob=0.1)
        t = torch.randint(0, prior.num_steps, (128,), generator=gen)
        eps = torch.randn(x.shape, generator=gen)
        loss = ((prior.denoiser(prior.schedule.q_sample(x, t, eps), t, m) - eps).square().sum(-1) * m).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return prior.freeze()


def _track_with_a_bad_frame() -> np.ndarray:
    """8 frames of the pose drifting right; frame 3's left wrist is thrown 150 px away and its nose is missing,
    frame 1 lacks its right ankle."""
    track = _pose()[None] + (np.arange(8) * 1.5)[:, None, None] * np.array([1.0, 0.0])
    track[3, J["left_wrist"]] += (150.0, 90.0)
    track[3, J["nose"]] = np.nan
    track[1, J["right_ankle"]] = np.nan
    return track


def test_sds_correction_moves_the_flagged_wrist_back_and_leaves_the_rest(pose_prior):
    from hyper_sapiens.video.correction import correct_frames, correction_summary
    from hyper_sapiens.video.plausibility import flag_implausible, frame_plausibility

    track = _track_with_a_bad_frame()
    scores = frame_plausibility(pose_prior, track, "cpu")
    flags, threshold = flag_implausible(scores)
    assert flags.tolist() == [0, 0, 0, 1, 0, 0, 0, 0], scores
    # the wrist is 175 px = 6 torso sizes (28 px) off; each step moves a coordinate by at most lr torso sizes
    corrected = correct_frames(pose_prior, track, flags, steps=40, lr=0.2)
    after = frame_plausibility(pose_prior, corrected, "cpu")
    assert after[3] < 0.5 * scores[3] and after[3] < threshold
    truth = _pose()[J["left_wrist"]] + (4.5, 0.0)
    wrist = J["left_wrist"]
    assert np.linalg.norm(corrected[3, wrist] - truth) < 0.25 * np.linalg.norm(track[3, wrist] - truth)
    others = [i for i in range(8) if i != 3]
    assert np.array_equal(corrected[others], track[others], equal_nan=True)   # bit for bit, NaN included
    assert np.isnan(corrected[3, J["nose"]]).all() and np.isfinite(np.delete(corrected[3], J["nose"], 0)).all()
    # deterministic, and a no-op without steps
    assert np.array_equal(correct_frames(pose_prior, track, flags, steps=40, lr=0.2), corrected, equal_nan=True)
    assert np.array_equal(correct_frames(pose_prior, track, flags, steps=0), track, equal_nan=True)
    summary = correction_summary(track, corrected, flags, scores, after, threshold, 40, 0.2)
    shift = np.linalg.norm(corrected[3] - track[3], axis=-1)
    assert summary["frames_corrected"] == 1 and summary["joints_corrected"] == K - 1
    assert summary["mean_shift_px"] == pytest.approx(np.nanmean(shift))
    assert summary["score_before"] == pytest.approx(scores[3]) and summary["score_after"] == pytest.approx(after[3])
    assert summary["still_flagged_after"] == 0 and summary["steps"] == 40 and summary["lr"] == 0.2


def test_sds_correction_keeps_the_frames_place_and_size(pose_prior):
    """Correcting a moved and zoomed copy of the track gives the same copy of the corrected track: the
    steps happen in the prior's normalised frame and are mapped back with each frame's own normalisation."""
    from hyper_sapiens.video.correction import correct_frames

    track = _track_with_a_bad_frame()
    flags = np.array([0, 0, 0, 1, 0, 0, 0, 0.0])
    corrected = correct_frames(pose_prior, track, flags, steps=10, lr=0.2)

    def move(p: np.ndarray) -> np.ndarray:
        return p * 2.5 + (700.0, -300.0)

    moved = correct_frames(pose_prior, move(track), flags, steps=10, lr=0.2)
    np.testing.assert_allclose(moved, move(corrected), atol=0.05)   # float32 steps on coordinates up to ~1000 px
    assert np.abs(moved[3] - move(track)[3])[np.isfinite(moved[3])].max() > 5.0   # and the frame did move
    with pytest.raises(ValueError, match="step size"):
        correct_frames(pose_prior, track, flags, steps=2, lr=0.0)


# ------------------------------------------------------------------ cleaning
def test_low_scores_become_gaps_and_short_gaps_are_interpolated_exactly():
    t = 20
    truth = np.stack([np.arange(t) * 3.0 + 5, np.arange(t) * -1.5 + 100], -1)[:, None].repeat(2, 1)
    scores = np.ones((t, 2))
    scores[6:9, 0] = 0.1           # a 3-frame gap: filled
    scores[10:17, 1] = 0.1         # a 7-frame gap: longer than max_gap, stays missing
    scores[:2, 0] = 0.0            # a gap at the start: nothing to interpolate from
    masked = mask_low_scores(truth, scores, 0.3)
    assert np.isnan(masked[6:9, 0]).all() and np.isfinite(masked[9, 0]).all()
    filled, interpolated = interpolate_gaps(masked, max_gap=5)
    np.testing.assert_allclose(filled[6:9, 0], truth[6:9, 0], atol=1e-9)
    assert interpolated[6:9, 0].all() and interpolated.sum() == 3
    assert np.isnan(filled[10:17, 1]).all() and np.isnan(filled[:2, 0]).all()
    cleaned = clean_track(truth, scores, fps=30.0, max_gap=5, method="none")
    assert cleaned.gap.sum() == 3 + 7 + 2
    np.testing.assert_allclose(cleaned.keypoints[2:, 0], truth[2:, 0], atol=1e-9)


def test_outliers_are_found_dropped_and_interpolated():
    fps, t = 30.0, 60
    rng = np.random.default_rng(1)
    time = np.arange(t) / fps
    truth = _pose()[None] + np.stack([20 * np.sin(2 * time), 10 * np.cos(3 * time)], -1)[:, None]  # smooth motion
    noisy = truth + rng.normal(0, 0.3, truth.shape)
    spikes = [(5, J["left_wrist"]), (30, J["left_wrist"]), (31, J["right_ankle"]), (47, J["nose"])]
    for frame, joint in spikes:
        noisy[frame, joint] += (12.0, -9.0)   # 15 px off
    noisy[40:43, J["left_knee"]] = np.nan    # missing joints are not outliers, and do not make any
    _, outlier = reject_outliers(noisy, window=7, k=3.0, min_px=2.0)
    assert sorted(zip(*np.nonzero(outlier), strict=True)) == sorted(spikes)
    assert not reject_outliers(noisy, k=0.0)[1].any()                            # k = 0: off
    assert not reject_outliers(noisy, min_px=20.0)[1].any()                      # 15 px < the floor
    with pytest.raises(ValueError, match="odd"):
        reject_outliers(noisy, window=6)
    cleaned = clean_track(noisy, np.ones((t, K)), fps, method="none")
    for frame, joint in spikes:
        assert cleaned.outlier[frame, joint] and cleaned.gap[frame, joint] and cleaned.interpolated[frame, joint]
        # filled from the frames either side: back within the noise of the truth
        assert np.linalg.norm(cleaned.keypoints[frame, joint] - truth[frame, joint]) < 1.5
    assert cleaned.outlier.sum() == len(spikes)


@pytest.mark.parametrize("method", ["one-euro", "savgol"])
def test_filters_reduce_jitter_of_a_noisy_constant_velocity_track(method):
    fps, t = 30.0, 150
    rng = np.random.default_rng(0)
    truth = np.stack([np.arange(t) * 1.0 + 50, np.arange(t) * 0.5 + 80], -1)[:, None].repeat(K, 1)  # 30 px/s
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    cleaned = clean_track(noisy, np.ones((t, K)), fps, method=method, outlier_k=0).keypoints  # the filter alone

    def acc_rms(x):
        return float(np.sqrt((np.diff(x, 2, axis=0) ** 2).sum(-1).mean()))

    def mean_error(x):
        return float(np.linalg.norm(x - truth, axis=-1).mean())

    assert acc_rms(cleaned) < 0.5 * acc_rms(noisy)
    assert mean_error(cleaned) <= mean_error(noisy)


def test_savgol_keeps_linear_motion_and_restarts_at_gaps():
    t = 30
    line = np.stack([np.arange(t) * 2.0, np.arange(t) * 0.5], -1)[:, None]
    np.testing.assert_allclose(savgol_filter(line, 7, 2), line, atol=1e-9)
    holed = line.copy()
    holed[12] = np.nan
    out = savgol_filter(holed, 7, 2)
    assert np.isnan(out[12]).all()
    np.testing.assert_allclose(np.delete(out, 12, axis=0), np.delete(line, 12, axis=0), atol=1e-9)
    with pytest.raises(ValueError, match="odd"):
        savgol_filter(line, 6, 2)


def test_one_euro_follows_a_still_joint_and_lags_less_with_beta():
    still = np.full((40, 1, 2), 7.0)
    np.testing.assert_allclose(one_euro_filter(still, 30.0), still)
    ramp = (np.arange(60) * 5.0)[:, None, None].repeat(2, -1)
    lag0 = np.abs(one_euro_filter(ramp, 30.0, beta=0.0) - ramp)[-1].max()
    lag1 = np.abs(one_euro_filter(ramp, 30.0, beta=0.1) - ramp)[-1].max()
    assert lag1 < lag0
    with pytest.raises(ValueError):
        one_euro_filter(ramp, 0.0)


# ------------------------------------------------------------------ tracker
def test_keypoint_box_and_track_reinitialisation():
    kp = np.array([[10.0, 20.0], [30.0, 60.0], [20.0, 40.0], [25.0, 30.0], [0.0, 0.0]])
    sc = np.array([0.9, 0.9, 0.9, 0.9, 0.1])
    np.testing.assert_allclose(keypoint_box(kp, sc, 0.3, margin=0.25), [0, 10, 40, 70])
    assert keypoint_box(kp, sc, 0.95) is None
    track = BoxTrack((100, 100), reinit_score=0.5, smoothing=0.5)
    assert track.current()[1] == "frame"
    track.update(kp[:4], sc[:4])
    box, source = track.current()
    assert source == "track" and box[2] - box[0] > 20
    track.update(kp[:4] + 10, sc[:4])  # smoothed: half way to the new box
    np.testing.assert_allclose(track.current()[0], box + 5)
    track.update(kp[:4], np.full(4, 0.2))  # mean score below reinit_score: back to the whole frame
    assert track.current()[1] == "frame"


# ------------------------------------------------------------------ the verb
def _draw_figure(t: int, size=(128, 96)) -> np.ndarray:
    """A dark stick figure on a light background whose arms wave (BGR uint8)."""
    w, h = size
    img = np.full((h, w, 3), 205, np.uint8)
    cx = w // 2 + int(4 * np.sin(t / 3))
    dark = (40, 40, 40)
    cv2.circle(img, (cx, 18), 8, dark, -1)
    cv2.line(img, (cx, 26), (cx, 60), dark, 6)
    cv2.line(img, (cx, 34), (cx - 22, 40 + int(10 * np.sin(t / 2))), dark, 3)
    cv2.line(img, (cx, 34), (cx + 22, 40 - int(10 * np.sin(t / 2))), dark, 3)
    cv2.line(img, (cx, 60), (cx - 12, 88), dark, 3)
    cv2.line(img, (cx, 60), (cx + 12, 88), dark, 3)
    return img


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    frames = root / "seq01" / "rgb"
    frames.mkdir(parents=True)
    video = root / "wave.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (128, 96))
    for t in range(10):
        img = _draw_figure(t)
        cv2.imwrite(str(frames / f"syn_{t:05d}.png"), img)
        writer.write(img)
    writer.release()
    return {"frames": frames, "video": video, "root": root}


def test_video_verb_writes_tracks_features_video_and_plots(clips, tmp_path, capsys):
    from hyper_sapiens.prior import PosePrior

    prior = PosePrior().save(tmp_path / "prior")
    out = tmp_path / "out"
    code = main(["video", "--checkpoint", str(WEIGHTS), str(clips["video"]), str(clips["frames"]), "--out", str(out),
                 "--batch-size", "4", "--device", "cpu", "--filter", "savgol", "--window", "5", "--prior", str(prior)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "frames/s" in captured.out
    for name, fps in (("wave", 15.0), ("seq01", 30.0)):  # a MINI-RGBD rgb/ folder is named by its sequence
        d = out / name
        for file in ("keypoints.csv", "keypoints.json", "keypoints_raw.json", "features.json", "skeleton.mp4",
                     "trajectories.png", "speed.png", "plausibility.png"):
            assert (d / file).is_file(), (name, file)
        assert not (d / "keypoints_corrected.json").exists()  # no --correct-steps
        with open(d / "keypoints.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 10 * K
        assert rows[-1]["frame"] == "9" and float(rows[K]["time_s"]) == pytest.approx(1 / fps, abs=1e-4)
        assert rows[0]["box_source"] in ("frame", "refined") and any(r["plausibility"] for r in rows)
        assert not any(r["x_corrected"] or r["y_corrected"] for r in rows)
        results = json.loads((d / "keypoints.json").read_text())
        assert [r["frame"] for r in results] == list(range(10)) and len(results[0]["keypoints"]) == 3 * K
        features = json.loads((d / "features.json").read_text())
        assert features["fps"] == fps and features["frames"] == 10
        assert set(features["joints"]) == set(COCO17.names) and features["share_implausible"] is not None
        assert features["clip"]["prior_threshold"] is not None and features["clip"]["correction"] is None
        assert "g_error" in features and set(features["g_error_per_bone"]) == set(COCO17_LIMB_NAMES)
        cap = cv2.VideoCapture(str(d / "skeleton.mp4"))
        assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
        cap.release()


def test_video_verb_corrects_flagged_frames_apart_from_the_cleaned_track(clips, tmp_path, pose_prior, capsys):
    """Threshold 0 flags every scored frame: each is corrected, written to keypoints_corrected.json and the
    x_corrected / y_corrected columns, summarised in clip.correction; keypoints.json keeps the cleaned track.
    Without a prior the same options correct nothing and the columns stay (empty)."""
    prior = pose_prior.save(tmp_path / "prior")
    base = ["video", "--checkpoint", str(WEIGHTS), str(clips["frames"]), "--device", "cpu", "--no-video",
            "--batch-size", "5", "--correct-steps", "3", "--correct-lr", "0.5"]
    out = tmp_path / "out"
    assert main([*base, "--out", str(out), "--prior", str(prior), "--prior-threshold", "0"]) == 0
    d = out / "seq01"
    with open(d / "keypoints.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS and CSV_COLUMNS[-2:] == ("x_corrected", "y_corrected")
    flagged = [r for r in rows if r["flagged"] == "1"]
    assert flagged and all(r["flagged"] in ("0", "1", "") for r in rows)
    for r in rows:
        assert bool(r["x_corrected"]) == bool(r["x"])  # missing stays missing
        if r["flagged"] != "1":
            assert (r["x_corrected"], r["y_corrected"]) == (r["x"], r["y"])
    assert any(r["x_corrected"] != r["x"] for r in flagged if r["x"])
    cleaned = json.loads((d / "keypoints.json").read_text())
    corrected = json.loads((d / "keypoints_corrected.json").read_text())
    assert [c["frame"] for c in corrected] == list(range(10)) and len(corrected[0]["keypoints"]) == 3 * K
    assert corrected != cleaned
    row = next(r for r in flagged if r["x"])
    t, k = int(row["frame"]), COCO17.names.index(row["joint"])
    assert corrected[t]["keypoints"][3 * k] == pytest.approx(float(row["x_corrected"]), abs=1e-3)
    assert cleaned[t]["keypoints"][3 * k] == pytest.approx(float(row["x"]), abs=1e-3)
    features = json.loads((d / "features.json").read_text())
    corr = features["clip"]["correction"]
    assert corr["steps"] == 3 and corr["lr"] == 0.5
    assert corr["frames_corrected"] == len({r["frame"] for r in flagged}) and corr["mean_shift_px"] > 0
    assert corr["score_before"] is not None and corr["score_after"] is not None
    assert corr["still_flagged_after"] == corr["frames_corrected"]  # nothing scores below 0
    assert (d / "plausibility.png").is_file()

    out2 = tmp_path / "out2"
    assert main([*base, "--out", str(out2), "--no-prior"]) == 0
    assert "--correct-steps needs a prior" in capsys.readouterr().err
    d2 = out2 / "seq01"
    assert (d2 / "trajectories.png").is_file() and not (d2 / "plausibility.png").exists()
    assert not (d2 / "keypoints_corrected.json").exists()
    with open(d2 / "keypoints.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS and not any(r["x_corrected"] or r["flagged"] for r in rows)
    assert json.loads((d2 / "features.json").read_text())["clip"]["correction"] is None


def test_video_verb_takes_boxes_from_a_detections_file(clips, tmp_path, capsys):
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 2, "category_id": 1, "bbox": [30, 5, 70, 88], "score": 0.9},
                                {"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}]))
    out = tmp_path / "out"
    code = main(["video", "--checkpoint", str(WEIGHTS), str(clips["frames"]), "--out", str(out), "--detections",
                 str(dets), "--device", "cpu", "--no-video", "--no-plots", "--batch-size", "3", "--no-flip-test",
                 "--no-progress"])
    assert code == 0
    captured = capsys.readouterr()
    assert "video seq01" not in captured.err and "seq01: 10 frames" in captured.out  # no bar, the summary line
    with open(out / "seq01" / "keypoints.csv", newline="") as f:
        sources = {int(r["frame"]): r["box_source"] for r in csv.DictReader(f)}
    assert sources[2] == "detection" and sources[0] in ("frame", "refined")
    assert not (out / "seq01" / "skeleton.mp4").exists()


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar, if one was drawn
    assert err.startswith("video: error: ")
    return err


def test_video_errors_name_the_file_and_frame(clips, tmp_path, capsys):
    base = ["video", "--checkpoint", str(WEIGHTS), "--out", str(tmp_path / "out"), "--device", "cpu",
            "--no-video", "--no-plots"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert str(empty) in _error(capsys, [*base, str(empty)])
    fake = tmp_path / "notavideo.mp4"
    fake.write_bytes(b"this is not a video")
    assert str(fake) in _error(capsys, [*base, str(fake)])
    assert "no such video" in _error(capsys, [*base, str(tmp_path / "missing.avi")])
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for t in range(3):
        cv2.imwrite(str(mixed / f"{t:03d}.png"), _draw_figure(t, (128, 96) if t < 2 else (96, 96)))
    err = _error(capsys, [*base, str(mixed)])
    assert "002.png: frame 2" in err and "96x96" in err
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    cv2.imwrite(str(truncated / "000.png"), _draw_figure(0))
    data = (truncated / "000.png").read_bytes()
    (truncated / "001.png").write_bytes(data[: len(data) // 2])
    assert "001.png" in _error(capsys, [*base, str(truncated)])
    assert "--batch-size" in _error(capsys, [*base, "--batch-size", "0", str(clips["frames"])])
    assert "--correct-steps" in _error(capsys, [*base, "--correct-steps", "-1", str(clips["frames"])])
    assert "--correct-lr" in _error(capsys, [*base, "--correct-lr", "0", str(clips["frames"])])


def test_the_runs_prior_is_found_beside_the_checkpoint(tmp_path):
    from hyper_sapiens.video.plausibility import flag_implausible, run_prior

    run = tmp_path / "run"
    run.mkdir()
    ckpt = run / "best.safetensors"
    assert run_prior(ckpt) is None
    (run / "prior.safetensors").write_bytes(b"")
    (run / "config.yaml").write_text("eval:\n  prior: null\nloss:\n  sds:\n    prior: prior.safetensors\n")
    assert run_prior(ckpt) == str(run / "prior.safetensors")
    (run / "config.yaml").write_text("loss:\n  sds:\n    prior: /nowhere/prior.safetensors\n")
    assert run_prior(ckpt) is None
    flags, thr = flag_implausible(np.array([1.0, 1.0, 1.0, 5.0, np.nan]))
    assert thr == 3.0 and np.array_equal(flags[:4], [0, 0, 0, 1]) and np.isnan(flags[4])
    flags, thr = flag_implausible(np.array([1.0, 2.0]), threshold=1.5)
    assert thr == 1.5 and flags.tolist() == [0.0, 1.0]


def test_track_clip_shares_the_box_within_a_batch_and_follows_the_keypoints():
    import torch

    from hyper_sapiens.data.pipeline import PipelineConfig, codec_from_pipeline
    from hyper_sapiens.video.tracker import track_clip

    pipe = PipelineConfig(input_size=(32, 32), heatmap_size=(16, 16), augment=False)
    codec = codec_from_pipeline(pipe)
    rng = np.random.default_rng(0)
    peaks = rng.uniform(4, 12, (K, 2))  # heatmap pixels: joints spread over the middle of the crop
    yy, xx = np.mgrid[0:16, 0:16]
    maps = np.exp(-((xx[None] - peaks[:, :1, None]) ** 2 + (yy[None] - peaks[:, 1:, None]) ** 2) / 2) * 0.9
    seen = []

    def fake_model(images: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(images.shape[0])
        return {"heatmaps": torch.as_tensor(maps, dtype=torch.float32)[None].repeat(images.shape[0], 1, 1, 1)}

    frames = [np.zeros((60, 80, 3), np.uint8) for _ in range(7)]
    result = track_clip(frames, fake_model, pipe, codec, torch.device("cpu"), (80, 60), batch_size=3,
                        flip_test=False, refine=False)
    assert seen == [3, 3, 1]
    assert result.box_source == ["frame"] * 3 + ["track"] * 4
    np.testing.assert_array_equal(result.boxes[3], result.boxes[5])  # one box per batch
    assert result.keypoints.shape == (7, K, 2) and np.all(result.scores > 0.7)
    # the track's box lies around the first batch's keypoints, inside the frame
    lo, hi = result.keypoints[2].min(0), result.keypoints[2].max(0)
    box = result.boxes[3]
    assert (box[:2] <= lo).all() and (box[2:] >= hi).all() and box[2] <= 79 and box[3] <= 59
    # with the second pass, the whole-frame batch is predicted again on each frame's own keypoint box
    seen.clear()
    refined = track_clip(frames, fake_model, pipe, codec, torch.device("cpu"), (80, 60), batch_size=3,
                         flip_test=False)
    assert seen == [3, 3, 3, 1]
    assert refined.box_source == ["refined"] * 3 + ["track"] * 4
    first = BoxTrack((80, 60)).box_from(result.keypoints[0], result.scores[0])
    np.testing.assert_allclose(refined.boxes[0], first)
