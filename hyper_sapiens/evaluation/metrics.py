"""Metrics of a set of top-down predictions: the numbers of ``metrics.json`` and of the trainer's validation.

PCK is normalised by the longer box side as mmpose's ``PCKAccuracy(norm_item='bbox')``
(open-mmlab/mmpose ``mmpose/evaluation/metrics/keypoint_2d_metrics.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..keypoints import COCO17, resolve_subset, subset_names
from .g_error import g_error
from .pck import keypoint_epe, pck_accuracy, pck_curve

PCK_THRESHOLDS = tuple(np.round(np.linspace(0.01, 0.2, 20), 4))


def bbox_norm(bbox: np.ndarray) -> np.ndarray:
    """mmpose ``PCKAccuracy(norm_item='bbox')``: the longer box side, for both axes. ``(N, 4)`` xyxy → ``(N, 2)``."""
    size = np.max(bbox[:, 2:4] - bbox[:, 0:2], axis=1, keepdims=True)
    return np.tile(size, (1, 2)).astype(np.float64)


def evaluate_predictions(
    preds: dict[str, Any], subset: str | list | None = "all", groups: bool = True
) -> dict[str, Any]:
    """PCK@0.05 (bbox-normalised) with per-joint values, the PCK curve, its AUC, EPE and G-Error.

    ``pck_auc`` is the mean of the bbox-normalised PCK over the 20 thresholds 0.01 … 0.2 (the area under
    the curve divided by its width); ``epe`` is the mean end-point error in image pixels; ``g_error`` is the
    mean form of :func:`~hyper_sapiens.evaluation.g_error.g_error` (one wild prediction can dominate it) and
    ``g_error_median`` its median/MAD form (robust to a few wild predictions), both on all 17 predicted joints.

    Args:
        preds: :func:`~hyper_sapiens.evaluation.inference.run_inference` output.
        subset: keypoints used (a preset name, names or indices; :func:`hyper_sapiens.keypoints.resolve_subset`).
        groups: G-Error per group (sequence) and averaged, else over the whole set.

    Only labelled instances count; a keypoint counts where its ground-truth visibility is > 0.
    """
    idx = list(resolve_subset(subset if subset is not None else "all"))
    names = list(subset_names(idx))
    labelled = preds["has_keypoints"].astype(bool)
    if not labelled.any():
        raise ValueError("no labelled instance in the evaluation set: PCK needs ground-truth keypoints")
    pred = preds["keypoints"][labelled][:, idx].astype(np.float64)
    gt = preds["image_keypoints"][labelled][:, idx].astype(np.float64)
    mask = preds["image_visible"][labelled][:, idx] > 0
    norm = bbox_norm(preds["bbox"][labelled])
    per_joint, mean, _ = pck_accuracy(pred, gt, mask, norm, 0.05)
    curve = pck_curve(pred, gt, mask, norm, PCK_THRESHOLDS)
    group_ids = np.asarray(preds["group"], dtype=object)[labelled] if groups else None
    full_pred = preds["keypoints"][labelled]
    ge = g_error(full_pred, np.ones(full_pred.shape[:2], np.float32), groups=group_ids)
    return {
        "pck@0.05": float(mean),
        "pck_per_joint": {n: float(v) for n, v in zip(names, per_joint, strict=True)},
        "keypoints_used": names,
        "pck_curve": {"thresholds": [float(t) for t in PCK_THRESHOLDS], "pck": [float(v) for v in curve]},
        "pck_auc": float(np.mean(curve)),
        "epe": float(keypoint_epe(pred, gt, mask)),
        "g_error": float(ge["g_error"]),
        "g_error_median": float(ge["g_error_median"]),
        "g_error_per_group": {str(k): float(v) for k, v in ge.get("per_group", {}).items()},
        "num_instances": int(labelled.sum()),
        "num_keypoints": int(mask.sum()),
        "layout": COCO17.name,
    }
