"""Metrics against mmpose 1.3.2's published test cases (``mmpose/tests/test_evaluation/``) and hand values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hyper_sapiens.evaluation import (
    CocoKeypointEvaluator,
    bbox_pck,
    g_error,
    ground_truth_as_results,
    keypoint_auc,
    keypoint_epe,
    keypoint_nme,
    oks_nms,
    pck_accuracy,
    pose_pck_accuracy,
    rescore,
    topdown_to_coco_results,
)
from hyper_sapiens.keypoints import COCO17

COCO_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-mini"


def _pck_data():
    gt = np.zeros((2, 5, 2))
    pred = np.zeros((2, 5, 2))
    gt[0] = [[10, 0], [10, 10], [-1, 0], [30, 30], [0, 10]]
    pred[0] = [[10, 0], [20, 20], [0, 0], [30, 30], [0, 10]]
    mask = np.array([[1, 1, 0, 1, 1]] * 2, dtype=bool)
    return pred, gt, mask


def test_pck_accuracy_mmpose_cases():
    pred, gt, mask = _pck_data()
    acc, avg, cnt = pck_accuracy(pred, gt, mask, np.full((2, 2), 10.0), 0.5)
    np.testing.assert_allclose(acc, [1, 0.5, -1, 1, 1])
    assert avg == pytest.approx(0.875) and cnt == 4
    acc, avg, cnt = pck_accuracy(pred, gt, mask, np.zeros((2, 2)), 0.5)
    np.testing.assert_allclose(acc, [-1] * 5)
    assert avg == 0 and cnt == 0
    acc, avg, cnt = pck_accuracy(pred, gt, mask, np.array([[0.0, 0.0], [10.0, 10.0]]), 0.5)
    np.testing.assert_allclose(acc, [1, 1, -1, 1, 1])
    assert avg == pytest.approx(1.0) and cnt == 4


def test_pck_threshold_is_strict():
    pred = np.array([[[5.0, 0.0]]])
    gt = np.zeros((1, 1, 2))
    acc, _, _ = pck_accuracy(pred, gt, np.ones((1, 1), bool), np.full((1, 2), 10.0), 0.5)
    assert acc[0] == 0.0  # distance 0.5 is not < 0.5


def _auc_data():
    gt = np.array([[[10, 0], [10, 10], [0, -1], [30, 30], [0, 10]]], dtype=float)
    pred = np.array([[[10, 4], [10, 18], [0, 0], [40, 40], [20, 10]]], dtype=float)
    mask = np.array([[1, 1, 0, 1, 1]], dtype=bool)
    return pred, gt, mask


def test_auc_epe_nme_mmpose_cases():
    pred, gt, mask = _auc_data()
    assert keypoint_auc(pred, gt, mask, 20, 4) == pytest.approx(0.375)
    gt[0, 2] = [-1, -1]
    assert keypoint_epe(pred, gt, mask) == pytest.approx(11.5355339)
    assert keypoint_nme(pred, gt, mask, np.ones((1, 2))) == pytest.approx(11.5355339)


def test_pose_pck_accuracy_mmpose_case():
    out = np.zeros((1, 5, 64, 64))
    tgt = np.zeros((1, 5, 64, 64))
    out[0, 0, 20, 20] = 1
    tgt[0, 0, 10, 10] = 1
    out[0, 1, 30, 30] = 1
    tgt[0, 1, 30, 30] = 1
    acc, avg, cnt = pose_pck_accuracy(out, tgt, np.array([[1, 1, 0, 0, 0]], dtype=bool))
    np.testing.assert_allclose(acc, [0, 1, -1, -1, -1])
    assert avg == pytest.approx(0.5) and cnt == 2


def test_bbox_pck_uses_the_longer_box_side():
    gt = np.zeros((1, 2, 2))
    pred = np.array([[[4.0, 0.0], [6.0, 0.0]]])
    box = np.array([[0.0, 0.0, 50.0, 100.0]])  # longer side 100 -> threshold 5 px at 0.05
    acc, avg, _ = bbox_pck(pred, gt, np.ones((1, 2), bool), box, 0.05)
    np.testing.assert_allclose(acc, [1, 0])
    assert avg == 0.5


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"pred \(2, 5, 2\) and gt \(2, 4, 2\)"):
        pck_accuracy(np.zeros((2, 5, 2)), np.zeros((2, 4, 2)), np.ones((2, 5), bool), np.ones((2, 2)), 0.5)
    with pytest.raises(ValueError, match="norm must be"):
        pck_accuracy(np.zeros((2, 5, 2)), np.zeros((2, 5, 2)), np.ones((2, 5), bool), np.ones((3, 2)), 0.5)


# ---------------------------------------------------------------- G-Error
def _skeleton(scale: float = 1.0, arm: float = 1.0) -> np.ndarray:
    kp = np.zeros((17, 2))
    kp[COCO17.index("left_shoulder")] = [1, 0]
    kp[COCO17.index("right_shoulder")] = [-1, 0]
    kp[COCO17.index("left_hip")] = [1, 4]
    kp[COCO17.index("right_hip")] = [-1, 4]
    kp[COCO17.index("left_elbow")] = [1 + 2 * arm, 0]
    kp[COCO17.index("right_elbow")] = [-1 - 2, 0]
    for name in (
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_wrist",
        "right_wrist",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ):
        kp[COCO17.index(name)] = [0, -1 - COCO17.index(name)]
    return kp * scale


def test_g_error_is_zero_for_constant_proportions_at_any_scale():
    frames = np.stack([_skeleton(s) for s in (1.0, 2.0, 0.5, 3.0)])
    assert g_error(frames)["g_error"] == pytest.approx(0.0, abs=1e-12)


def test_g_error_hand_value_for_one_varying_bone():
    frames = np.stack([_skeleton(arm=1.0), _skeleton(arm=2.0)])  # left upper arm 2/4 and 4/4 of the torso
    vis = np.zeros((2, 17))
    for name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_elbow"):
        vis[:, COCO17.index(name)] = 1
    res = g_error(frames, vis)
    # normalised lengths 0.5 and 1.0: var = 0.0625, mean = 0.75 -> 0.0625 / 0.5625 = 1/9 for that bone;
    # the other measurable bones (torso sides, shoulders, hips) are constant -> 0.
    per = {k: v for k, v in res["per_bone"].items() if np.isfinite(v)}
    left_arm = [k for k in per if per[k] > 0]
    assert len(left_arm) == 1 and per[left_arm[0]] == pytest.approx(1 / 9)
    assert res["g_error"] == pytest.approx((1 / 9) / len(per))


def test_g_error_per_group_averages_groups():
    a = np.stack([_skeleton(arm=1.0), _skeleton(arm=2.0)])
    b = np.stack([_skeleton(), _skeleton(2.0)])
    res = g_error(np.concatenate([a, b]), groups=["a", "a", "b", "b"])
    assert res["per_group"]["b"] == pytest.approx(0.0, abs=1e-12)
    assert res["g_error"] == pytest.approx(res["per_group"]["a"] / 2)


def test_one_wild_prediction_dominates_the_mean_g_error_but_not_the_median_form():
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.5, 3.0, 200)
    frames = np.stack([_skeleton(s) for s in scales])
    frames += rng.normal(0.0, 0.02, frames.shape) * scales[:, None, None]  # small, normal jitter on every joint
    calm = g_error(frames)
    assert calm["g_error_median"] == pytest.approx(calm["g_error"], rel=0.3)  # ~ equal without wild predictions
    wild = frames.copy()
    wild[0, COCO17.index("left_wrist")] += 40 * scales[0]  # one wrist ten torso lengths off
    res = g_error(wild)
    assert res["g_error"] > 3 * calm["g_error"]
    assert res["g_error_median"] == pytest.approx(calm["g_error_median"], rel=0.05)


# ---------------------------------------------------------------- COCO
needs_coco_mini = pytest.mark.skipif(not COCO_MINI.is_dir(), reason="shared/data/coco-mini not beside the checkout")


@needs_coco_mini
def test_coco_ap_is_one_on_ground_truth():
    data = json.loads((COCO_MINI / "test_coco.json").read_text())
    stats = CocoKeypointEvaluator(COCO_MINI / "test_coco.json").evaluate(ground_truth_as_results(data))
    assert all(v == pytest.approx(1.0) for v in stats.values()), stats


@needs_coco_mini
def test_coco_alignment_case_bbox_keypoint_oks_nms():
    """mmpose's CocoMetric alignment case 1: x*0.98, y*1.02, score v*0.8, bbox score 0.98 (float32 as there)."""
    data = json.loads((COCO_MINI / "test_coco.json").read_text())
    anns = data["annotations"]
    kp = np.array([a["keypoints"] for a in anns], dtype=np.float32).reshape(len(anns), 17, 3)
    kp[..., 0] *= 0.98
    kp[..., 1] *= 1.02
    kp[..., 2] *= 0.8
    pred, scores = kp[..., :2], kp[..., 2]
    w = np.array([a["bbox"][2] for a in anns]) * 1.25
    h = np.array([a["bbox"][3] for a in anns]) * 1.25
    results = topdown_to_coco_results(
        np.array([a["image_id"] for a in anns]), pred, scores, np.full(len(anns), 0.98, np.float32), w * h
    )
    stats = CocoKeypointEvaluator(data).evaluate(results)
    expected = {
        "AP": 0.5287458745874587,
        "AP .5": 0.9042904290429042,
        "AP .75": 0.5009900990099009,
        "AP (M)": 0.42475247524752474,
        "AP (L)": 0.6219554455445544,
        "AR": 0.5833333333333333,
        "AR .5": 0.9166666666666666,
        "AR .75": 0.5833333333333334,
        "AR (M)": 0.44000000000000006,
        "AR (L)": 0.6857142857142857,
    }
    for k, v in expected.items():
        assert stats[k] == pytest.approx(v, abs=1e-9), k


@needs_coco_mini
def test_coco_results_do_not_depend_on_the_input_order_and_drop_repeated_ids():
    """mmpose sorts each image's instances by id (and keeps the first of repeated ids) before OKS-NMS."""
    data = json.loads((COCO_MINI / "test_coco.json").read_text())
    anns = data["annotations"]
    kp = np.array([a["keypoints"] for a in anns], dtype=np.float32).reshape(len(anns), 17, 3)
    pred, scores = kp[..., :2] * np.float32([0.98, 1.02]), kp[..., 2] * 0.8
    areas = np.array([a["bbox"][2] * a["bbox"][3] * 1.5625 for a in anns])
    image_ids, ids = np.array([a["image_id"] for a in anns]), np.array([a["id"] for a in anns])
    bbox = np.full(len(anns), 0.98, np.float32)
    evaluator = CocoKeypointEvaluator(data)

    def stats(order, **extra):
        return evaluator.evaluate(topdown_to_coco_results(
            image_ids[order], pred[order], scores[order], bbox[order], areas[order], instance_ids=ids[order], **extra))

    forward = stats(np.arange(len(anns)))
    assert stats(np.arange(len(anns))[::-1]) == forward
    repeated = np.r_[np.arange(len(anns)), 0]  # the first instance once more (as from a duplicated detection)
    assert len(topdown_to_coco_results(image_ids[repeated], pred[repeated], scores[repeated], bbox[repeated],
                                       areas[repeated], instance_ids=ids[repeated], nms_thr=None)) == len(anns)


def test_rescore_and_oks_nms():
    np.testing.assert_allclose(
        rescore(np.array([[0.1, 0.5, 0.9], [0.1, 0.1, 0.2]]), np.array([0.5, 1.0])), [0.5 * 0.7, 0.0]
    )
    base = np.random.default_rng(0).uniform(0, 100, (17, 2))
    kps = np.stack([base, base + 0.5, base + 60])  # 0 and 1 overlap; 2 is elsewhere
    keep = oks_nms(kps, np.array([0.5, 0.9, 0.7]), np.full(3, 100.0 * 100.0), thr=0.9)
    assert keep == [1, 2]
