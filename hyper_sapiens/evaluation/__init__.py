"""Top-down inference (flip test, DARK-UDP decoding) and metrics with mmpose's semantics (PCK, AUC, EPE, NME,
COCO AP via pycocotools), G-Error, reports and plots."""

from __future__ import annotations

from .coco import CocoKeypointEvaluator, ground_truth_as_results, oks_iou, oks_nms, rescore, topdown_to_coco_results
from .g_error import bone_lengths, g_error
from .inference import decode_to_image, flip_heatmaps_back, predict_heatmaps, run_inference
from .metrics import PCK_THRESHOLDS, bbox_norm, evaluate_predictions
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
    "PCK_THRESHOLDS",
    "CocoKeypointEvaluator",
    "bbox_norm",
    "bbox_pck",
    "bone_lengths",
    "decode_to_image",
    "evaluate_predictions",
    "flip_heatmaps_back",
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
    "predict_heatmaps",
    "rescore",
    "run_inference",
    "topdown_to_coco_results",
]
