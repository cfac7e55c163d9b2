"""Metrics with mmpose's semantics (PCK, AUC, EPE, NME, COCO AP via pycocotools), G-Error, reports and plots."""

from __future__ import annotations

from .coco import CocoKeypointEvaluator, ground_truth_as_results, oks_iou, oks_nms, rescore, topdown_to_coco_results
from .g_error import bone_lengths, g_error
from .pck import (
    bbox_pck,
    keypoint_auc,
    keypoint_epe,
    keypoint_nme,
    pck_accuracy,
    pck_curve,
    pose_pck_accuracy,
)

__all__ = [
    "CocoKeypointEvaluator",
    "bbox_pck",
    "bone_lengths",
    "g_error",
    "ground_truth_as_results",
    "keypoint_auc",
    "keypoint_epe",
    "keypoint_nme",
    "oks_iou",
    "oks_nms",
    "pck_accuracy",
    "pck_curve",
    "pose_pck_accuracy",
    "rescore",
    "topdown_to_coco_results",
]
