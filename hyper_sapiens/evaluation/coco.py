"""COCO keypoint AP/AR through pycocotools, with mmpose ``CocoMetric``'s defaults for top-down results.

``topdown_to_coco_results`` does what ``CocoMetric`` does before the evaluation: each image's instances
sorted by instance id and deduplicated by it (``_sort_and_unique_bboxes``, so ties resolve the same whatever
the input order), instance score = bbox score × mean of the keypoint scores above 0.2 (0 when none is),
OKS-NMS at 0.9 per image with the OKS scale taken from ``area`` (mmpose passes the product of the padded,
aspect-fixed box scale).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..keypoints import COCO17

STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")


def oks_iou(g: np.ndarray, d: np.ndarray, area_g: float, area_d: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """OKS of one pose ``g (K, 2)`` against poses ``d (M, K, 2)`` (mmpose ``oks_iou``, every keypoint counts)."""
    var = (2 * np.asarray(sigmas)) ** 2
    sq = ((d - g[None]) ** 2).sum(-1)
    e = sq / var[None] / ((area_g + np.asarray(area_d))[:, None] / 2 + np.spacing(1)) / 2
    return np.exp(-e).mean(axis=1)


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    thr: float = 0.9,
    sigmas: Sequence[float] = COCO17.sigmas,
) -> list[int]:
    """Greedy OKS-NMS: indices kept, highest score first; drops poses with OKS > ``thr`` to a kept one."""
    order = np.argsort(np.asarray(scores))[::-1]
    keep: list[int] = []
    sig = np.asarray(sigmas, dtype=np.float64)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ovr = oks_iou(keypoints[i], keypoints[rest], float(areas[i]), areas[rest], sig)
        order = rest[ovr <= thr]
    return keep


def rescore(keypoint_scores: np.ndarray, bbox_scores: np.ndarray, score_thr: float = 0.2) -> np.ndarray:
    """mmpose ``score_mode='bbox_keypoint'``: ``bbox_score × mean(s_k for s_k > thr)`` (0 if none)."""
    s = np.asarray(keypoint_scores, dtype=np.float64)
    above = s > score_thr
    mean = np.where(above.any(1), (s * above).sum(1) / np.maximum(above.sum(1), 1), 0.0)
    return np.asarray(bbox_scores, dtype=np.float64) * mean


def finite_instances(
    keypoints: np.ndarray, scores: np.ndarray, bbox_scores: np.ndarray, areas: np.ndarray
) -> np.ndarray:
    """``(N,)`` bool: instances whose keypoints ``(N, K, 2)``, scores ``(N, K)``, box score and area are all
    finite. The others (a diverged model's NaN outputs) are left out of COCO results: pycocotools would
    otherwise count a NaN OKS as a match."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    ok = np.isfinite(keypoints).reshape(len(keypoints), -1).all(1)
    ok &= np.isfinite(np.asarray(scores, dtype=np.float64)).reshape(len(keypoints), -1).all(1)
    return ok & np.isfinite(np.asarray(bbox_scores, dtype=np.float64)) & np.isfinite(np.asarray(areas, np.float64))


def topdown_to_coco_results(
    image_ids: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    bbox_scores: np.ndarray,
    areas: np.ndarray,
    category_id: int = 1,
    score_thr: float = 0.2,
    nms_thr: float | None = 0.9,
    rescore_instances: bool = True,
    sigmas: Sequence[float] = COCO17.sigmas,
    instance_ids: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Top-down predictions → COCO keypoint results, rescored and OKS-NMS'd per image.

    Args: ``image_ids (N,)``, ``keypoints (N, K, 2)`` image pixels, ``scores (N, K)``, ``bbox_scores (N,)``,
    ``areas (N,)`` (pixels², e.g. ``scale_w · scale_h``), ``instance_ids (N,)`` (annotation or detection ids;
    default: the input order). Within an image, instances are taken in ascending id order (stable) and only
    the first of repeated ids is kept, as mmpose does before its OKS-NMS. Instances with a non-finite value
    are left out (:func:`finite_instances`; count them with it).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(keypoints)
    if keypoints.ndim != 3 or keypoints.shape[2] != 2 or scores.shape != keypoints.shape[:2]:
        raise ValueError(f"keypoints {keypoints.shape} must be (N, K, 2) and scores {scores.shape} (N, K)")
    for name, arr in (("image_ids", image_ids), ("bbox_scores", bbox_scores), ("areas", areas)):
        if np.asarray(arr).shape != (n,):
            raise ValueError(f"{name} must be ({n},), got {np.asarray(arr).shape}")
    inst = rescore(scores, bbox_scores, score_thr) if rescore_instances else np.asarray(bbox_scores, np.float64)
    image_ids = np.asarray(image_ids)
    areas = np.asarray(areas, dtype=np.float64)
    results = []
    ids = np.arange(n) if instance_ids is None else np.asarray(instance_ids)
    if ids.shape != (n,):
        raise ValueError(f"instance_ids must be ({n},), got {ids.shape}")
    finite = finite_instances(keypoints, scores, bbox_scores, areas)
    for img in dict.fromkeys(image_ids.tolist()):
        idx = np.where((image_ids == img) & finite)[0]
        if len(idx) == 0:
            continue
        idx = idx[np.argsort(ids[idx], kind="stable")]
        idx = idx[np.r_[True, ids[idx][1:] != ids[idx][:-1]]]  # drop repeated ids, keep the first
        keep = (
            oks_nms(keypoints[idx], inst[idx], areas[idx], nms_thr, sigmas) if nms_thr is not None else range(len(idx))
        )
        for j in keep:
            i = idx[j]
            kp = np.concatenate([keypoints[i], scores[i][:, None]], axis=1)
            results.append(
                {
                    "image_id": int(img),
                    "category_id": category_id,
                    "keypoints": kp.reshape(-1).tolist(),
                    "score": float(inst[i]),
                }
            )
    return results


def ground_truth_as_results(coco: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every annotation with keypoints as a perfect prediction (score 1) — for self-checks."""
    out = []
    for ann in coco["annotations"]:
        if ann.get("num_keypoints", 0) > 0 and not ann.get("iscrowd", 0):
            out.append(
                {
                    "image_id": ann["image_id"],
                    "category_id": ann.get("category_id", 1),
                    "keypoints": list(map(float, ann["keypoints"])),
                    "score": 1.0,
                }
            )
    return out


class CocoKeypointEvaluator:
    """pycocotools ``COCOeval(iouType='keypoints')`` on a ground-truth file (path) or a loaded COCO dict."""

    def __init__(
        self, ann_file: str | os.PathLike | Mapping[str, Any], sigmas: Sequence[float] = COCO17.sigmas
    ) -> None:
        from pycocotools.coco import COCO

        from ..data.io import read_json

        data = read_json(ann_file) if not isinstance(ann_file, Mapping) else ann_file
        self.coco = COCO()
        self.coco.dataset = copy.deepcopy(dict(data))
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco.createIndex()
        self.sigmas = np.asarray(sigmas, dtype=np.float64)

    def evaluate(self, results: list[dict[str, Any]], image_ids: Sequence[int] | None = None) -> dict[str, float]:
        """AP/AR stats (names as mmpose's ``CocoMetric``); all zeros for an empty result list.

        ``image_ids``: score only these images (pycocotools ``params.imgIds``; default: every image)."""
        from pycocotools.cocoeval import COCOeval

        if not results:
            return dict.fromkeys(STAT_NAMES, 0.0)
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            dets = self.coco.loadRes(copy.deepcopy(results))
            ev = COCOeval(self.coco, dets, "keypoints")
            ev.params.kpt_oks_sigmas = self.sigmas
            if image_ids is not None:
                ev.params.imgIds = sorted({int(i) for i in image_ids})
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        return {name: float(v) for name, v in zip(STAT_NAMES, ev.stats, strict=True)}
