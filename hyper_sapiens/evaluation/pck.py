"""PCK, AUC, EPE and NME with mmpose 1.3.2's ``keypoint_eval`` semantics (numpy).

``pck_accuracy``: distances are normalised per axis by ``norm (N, 2)``; an instance whose norm has a 0
is excluded; masked keypoints count as invalid (-1); a joint is correct when its normalised distance is
*strictly* below ``thr``; per-joint accuracy is -1 for a joint with no valid sample; the mean is over
joints with a valid sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mask = np.asarray(mask).astype(bool)
    if pred.ndim != 3 or pred.shape != gt.shape or mask.shape != pred.shape[:2]:
        raise ValueError(f"{name}: pred {pred.shape} and gt {gt.shape} must be (N, K, D) and mask {mask.shape} (N, K)")
    return pred, gt, mask


def _distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Normalised distances ``(K, N)``; -1 where masked or where the instance's norm has a 0."""
    norm = np.array(norm, dtype=np.float64, copy=True)
    if norm.shape != (pred.shape[0], pred.shape[2]):
        raise ValueError(f"norm must be (N, {pred.shape[2]}), got {norm.shape}")
    m = mask.copy()
    m[np.where((norm == 0).sum(1))[0], :] = False
    norm[norm <= 0] = 1e6
    d = np.full(pred.shape[:2], -1.0)
    d[m] = np.linalg.norm(((pred - gt) / norm[:, None, :])[m], axis=-1)
    return d.T


def _distance_acc(d: np.ndarray, thr: float) -> float:
    valid = d != -1
    return float((d[valid] < thr).mean()) if valid.any() else -1.0


def pck_accuracy(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray, thr: float
) -> tuple[np.ndarray, float, int]:
    """mmpose ``keypoint_pck_accuracy``: ``(per_joint (K,), mean over valid joints, number of valid joints)``.

    Args: ``pred``/``gt`` ``(N, K, 2)`` pixels, ``mask`` ``(N, K)`` bool, ``norm`` ``(N, 2)`` pixels.
    """
    pred, gt, mask = _check(pred, gt, mask, "pck_accuracy")
    acc = np.array([_distance_acc(d, thr) for d in _distances(pred, gt, mask, norm)])
    valid = acc[acc >= 0]
    return acc, float(valid.mean()) if valid.size else 0.0, int(valid.size)


def bbox_pck(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, bboxes: np.ndarray, thr: float = 0.05
) -> tuple[np.ndarray, float, int]:
    """mmpose ``PCKAccuracy(norm_item='bbox')``: normalised by the longer side of each xyxy box ``(N, 4)``."""
    bboxes = np.asarray(bboxes, dtype=np.float64)
    if bboxes.ndim != 2 or bboxes.shape[1] != 4:
        raise ValueError(f"bbox_pck: bboxes must be (N, 4) xyxy, got {bboxes.shape}")
    side = np.max(bboxes[:, 2:] - bboxes[:, :2], axis=1, keepdims=True)
    return pck_accuracy(pred, gt, mask, np.tile(side, (1, 2)), thr)


def pck_curve(
    pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm: np.ndarray, thresholds: Sequence[float]
) -> np.ndarray:
    """Mean PCK at each threshold: ``(T,)``."""
    pred, gt, mask = _check(pred, gt, mask, "pck_curve")
    d = _distances(pred, gt, mask, norm)
    out = []
    for thr in thresholds:
        acc = np.array([_distance_acc(dk, thr) for dk in d])
        valid = acc[acc >= 0]
        out.append(valid.mean() if valid.size else 0.0)
    return np.asarray(out, dtype=np.float64)


def keypoint_auc(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm_factor: float, num_thrs: int = 20) -> float:
    """mmpose ``keypoint_auc``: mean PCK over thresholds ``i / num_thrs`` (i = 0 … num_thrs-1), norm in pixels."""
    pred, gt, mask = _check(pred, gt, mask, "keypoint_auc")
    norm = np.full((pred.shape[0], 2), float(norm_factor))
    return float(np.sum(pck_curve(pred, gt, mask, norm, [i / num_thrs for i in range(num_thrs)])) / num_thrs)


def keypoint_nme(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, normalize_factor: np.ndarray) -> float:
    """mmpose ``keypoint_nme``: mean normalised distance over valid keypoints."""
    pred, gt, mask = _check(pred, gt, mask, "keypoint_nme")
    d = _distances(pred, gt, mask, normalize_factor)
    valid = d[d != -1]
    return float(valid.mean()) if valid.size else 0.0


def keypoint_epe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """mmpose ``keypoint_epe``: mean end-point error (pixels) over valid keypoints."""
    pred, gt, mask = _check(pred, gt, mask, "keypoint_epe")
    d = _distances(pred, gt, mask, np.ones((pred.shape[0], pred.shape[2])))
    valid = d[d != -1]
    return float(valid.mean()) if valid.size else 0.0


def _heatmap_argmax(heatmaps: np.ndarray) -> np.ndarray:
    n, k, h, w = heatmaps.shape
    idx = heatmaps.reshape(n, k, -1).argmax(axis=2)
    return np.stack([idx % w, idx // w], axis=-1).astype(np.float64)


def pose_pck_accuracy(
    output: np.ndarray, target: np.ndarray, mask: np.ndarray, thr: float = 0.05, normalize: np.ndarray | None = None
) -> tuple[np.ndarray, float, int]:
    """mmpose ``pose_pck_accuracy`` on heatmaps ``(N, K, H, W)`` (argmax; default norm ``(H, W)`` for ``(x, y)``,
    the quirk mmpose has)."""
    output = np.asarray(output)
    target = np.asarray(target)
    if output.ndim != 4 or output.shape != target.shape:
        raise ValueError(f"pose_pck_accuracy: output {output.shape} and target {target.shape} must be (N, K, H, W)")
    n, _, h, w = output.shape
    if normalize is None:
        normalize = np.tile(np.array([[h, w]], dtype=np.float64), (n, 1))
    return pck_accuracy(_heatmap_argmax(output), _heatmap_argmax(target), mask, normalize, thr)
