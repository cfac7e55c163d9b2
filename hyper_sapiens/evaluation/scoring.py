"""The numbers of ``metrics.json`` from a predictions dict, whoever made the predictions.

``evaluate --checkpoint`` (the model's predictions) and ``evaluate --predictions`` (a results file) both end
here, so both are scored exactly the same way: PCK@0.05 of the longer box side, its curve and AUC, EPE,
per-joint PCK, G-Error (mean and median forms), COCO AP with the published and with box areas, and all of these
per group of images (``eval.group_by``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .coco_areas import CocoApBothWays, area_check
from .image_groups import grouped_metrics, image_labels
from .metrics import evaluate_predictions


def plausibility(prior_path: str | None, preds: Mapping[str, Any], device: torch.device) -> float | None:
    """Mean prior plausibility score of the predicted poses, all 17 joints as decoded (lower = more
    plausible), or None without a prior. Instances with non-finite keypoints are left out."""
    if not prior_path:
        return None
    from ..prior import PosePrior, score_keypoints

    prior = PosePrior.load(prior_path, device=device)
    kp = torch.as_tensor(preds["keypoints"], device=device)
    kp = kp[torch.isfinite(kp).flatten(1).all(1)]
    if not len(kp):
        return None
    scores = score_keypoints(prior, kp, torch.ones(kp.shape[:2], device=device))
    return float(scores[torch.isfinite(scores)].mean()) if torch.isfinite(scores).any() else None


def score_predictions(
    preds: Mapping[str, Any],
    coco: Mapping[str, Any] | None,
    results: list[dict[str, Any]] | None,
    subset: str | list | None,
    group_by: str | None,
    source: str = "annotations",
) -> dict[str, Any]:
    """Every metric of the report.

    Args:
        preds: one row per instance (:func:`~hyper_sapiens.evaluation.inference.run_inference` or
            :func:`~hyper_sapiens.evaluation.results_file.predictions_from_results`).
        coco: the test set's COCO keypoints dict (None for sets without one: no COCO AP, no image groups).
        results: COCO keypoint results to score COCO AP with (None: no COCO AP).
        subset: keypoints scored by PCK/EPE (``eval.keypoints``).
        group_by: image field whose values group the instances (``eval.group_by``; None: no groups).
        source: how the area warning names the annotations (their file).

    Returns :func:`~hyper_sapiens.evaluation.metrics.evaluate_predictions`' keys plus ``coco``, ``coco_ap``,
    ``coco_box_area``, ``coco_ap_box_area``, ``area_check`` (None without COCO AP), ``group_by`` and ``groups``
    (``{group_by: {value: metrics}}``, empty when no image has the field).
    """
    metrics = evaluate_predictions(dict(preds), subset=subset)
    scorer = CocoApBothWays(coco) if coco is not None and coco.get("annotations") and results is not None else None
    if scorer is not None:
        metrics.update(scorer.evaluate(results))
        metrics["area_check"] = area_check(coco, source=source)
    else:
        metrics.update(coco=None, coco_ap=None, coco_box_area=None, coco_ap_box_area=None, area_check=None)
    metrics["group_by"] = group_by
    metrics["groups"] = {}
    labels = image_labels(coco, preds["image_id"], group_by) if group_by else None
    if labels is not None:
        ap = (lambda ids: scorer.evaluate(results, ids)) if scorer is not None else None
        metrics["groups"] = {group_by: grouped_metrics(preds, labels, subset, ap)}
    return metrics


def source_name(dataset: Any) -> str:
    """The file a dataset was read from (its ``ann_file``), else its name: for messages."""
    ann = getattr(dataset, "ann_file", None)
    return str(Path(ann)) if ann is not None else str(getattr(dataset, "name", "dataset"))
