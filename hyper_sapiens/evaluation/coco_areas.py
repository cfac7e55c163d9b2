"""COCO AP two ways: with the annotation file's own ``area`` and with ``area`` = box width × height.

pycocotools scales each keypoint's OKS tolerance by the ground truth's ``area`` (s² in
``exp(-d² / (2 s² k²))``), so the number in that field decides how far a prediction may be off. Published files
do not agree on what it holds: SyRIP's test annotations (Huang et al., FG 2021) carry an ``area`` a median
15.6 times their box's width × height, its training annotations 0.05 times. AP with the published areas is
what the literature reports (``coco_ap``); AP with box areas (``coco_ap_box_area``) is comparable across files.
Annotations whose ``area`` is far from their box's are counted (:func:`area_check`) and logged once.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .coco import CocoKeypointEvaluator

log = logging.getLogger(__name__)

#: An annotation's ``area / (box w × h)`` outside these bounds is counted as far from its box.
AREA_RATIO_LIMITS = (0.25, 4.0)


def _scored(ann: Mapping[str, Any]) -> bool:
    """pycocotools scores a keypoint annotation unless it is a crowd or has no labelled keypoint."""
    return not ann.get("iscrowd", 0) and int(ann.get("num_keypoints", 1)) > 0


def _box_area(ann: Mapping[str, Any]) -> float:
    """Box width × height in pixels² (0 without a ``[x, y, w, h]`` box)."""
    box = ann.get("bbox")
    return float(box[2]) * float(box[3]) if box is not None and len(box) == 4 else 0.0


def with_box_areas(coco: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a COCO keypoints dict whose annotations' ``area`` is their box's width × height (pixels²)."""
    out = dict(coco)
    out["annotations"] = [dict(copy.deepcopy(ann), area=_box_area(ann)) for ann in coco.get("annotations", [])]
    return out


def area_check(
    coco: Mapping[str, Any], limits: tuple[float, float] = AREA_RATIO_LIMITS, source: str = "annotations"
) -> dict[str, Any]:
    """How the scored annotations' ``area`` compares with their box's width × height.

    Returns ``{"annotations": n scored with an area and a box, "far_from_box": n with area / box area outside
    limits, "limits": [low, high], "median_ratio": float | None}``; logs one warning naming ``source`` and the
    count when any annotation is far from its box."""
    ratios = np.array(
        [
            float(ann["area"]) / _box_area(ann)
            for ann in coco.get("annotations", [])
            if _scored(ann) and ann.get("area") is not None and _box_area(ann) > 0
        ],
        dtype=np.float64,
    )
    low, high = limits
    far = int(((ratios < low) | (ratios > high)).sum())
    median = float(np.median(ratios)) if ratios.size else None
    if far:
        log.warning(
            "%s: %d of %d annotations have an 'area' outside %g-%g times their box's width x height (median ratio "
            "%.3g); OKS tolerances follow 'area', so coco_ap uses the published areas and coco_ap_box_area the boxes'",
            source, far, ratios.size, low, high, median,
        )
    return {"annotations": int(ratios.size), "far_from_box": far, "limits": [low, high], "median_ratio": median}


class CocoApBothWays:
    """COCO keypoint AP/AR of one ground-truth dict with its published areas and with box areas.

    ``evaluate(results, image_ids)`` returns ``{"coco": stats, "coco_ap": AP, "coco_box_area": stats,
    "coco_ap_box_area": AP}`` (stats as :meth:`CocoKeypointEvaluator.evaluate`)."""

    def __init__(self, coco: Mapping[str, Any]) -> None:
        self.published = CocoKeypointEvaluator(coco)
        self.box_area = CocoKeypointEvaluator(with_box_areas(coco))

    def evaluate(self, results: list[dict[str, Any]], image_ids: Sequence[int] | None = None) -> dict[str, Any]:
        """Both evaluations of COCO keypoint ``results``, on ``image_ids`` only when given."""
        published = self.published.evaluate(results, image_ids)
        boxes = self.box_area.evaluate(results, image_ids)
        return {
            "coco": published,
            "coco_ap": float(published["AP"]),
            "coco_box_area": boxes,
            "coco_ap_box_area": float(boxes["AP"]),
        }
