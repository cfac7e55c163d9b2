"""Any model's COCO keypoint results file, matched to the instances of an evaluation set.

A results file is a JSON list of ``{"image_id": int, "category_id": 1, "keypoints": [x1, y1, s1, ...]
(51 numbers: 17 COCO keypoints in image pixels with a score each), "score": float}`` (the format of COCO's
keypoint challenge, written by ``hyper-sapiens predict``, mmpose and FiDIP).

Rules (stated in ``docs/geometry-and-metrics.md``):

* A result for an image id that the annotation file does not hold is an error naming both files.
* In each image, results are taken in descending ``score`` order; each takes the not yet matched labelled
  instance with the highest OKS to it (COCO's greedy matching, computed over the instance's labelled
  keypoints with its box's width × height as area). Results left over (more than the image's instances) do not
  enter PCK/EPE/G-Error; they still count in COCO AP, which scores the file as it is.
* A labelled instance that no result matches is an error naming the image ids: PCK of a top-down model
  needs a prediction for each ground-truth instance, and an absent one is more likely a broken file than a
  miss.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.io import DataFileError, read_json
from ..keypoints import COCO17

#: Image ids listed in an error message before "...".
_SHOWN = 10


def _ids_text(ids: Sequence[int]) -> str:
    ids = sorted(set(ids))
    shown = ", ".join(str(i) for i in ids[:_SHOWN])
    return f"[{shown}{', ...' if len(ids) > _SHOWN else ''}]"


def _number(value: Any) -> float:
    """``value`` as a finite float, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"not finite: {value!r}")
    return out


def _checked_result(path: str | os.PathLike, index: int, entry: Any, num_keypoints: int) -> dict[str, Any]:
    """One results entry, checked and normalised (``category_id`` 1, floats); an error names the entry."""
    where = f"{path}: result #{index}"
    if not isinstance(entry, dict) or "image_id" not in entry or "keypoints" not in entry:
        raise DataFileError(f"{where}: needs image_id, keypoints and score, got {str(entry)[:120]}")
    image_id = entry["image_id"]
    if isinstance(image_id, bool) or not isinstance(image_id, int):
        raise DataFileError(f"{where}: image_id must be an integer, got {image_id!r}")
    where = f"{where} (image_id {image_id})"
    if entry.get("category_id", 1) != 1:
        raise DataFileError(f"{where}: category_id {entry['category_id']!r}; only people (category 1) are scored")
    values = entry["keypoints"]
    if not isinstance(values, list) or len(values) != 3 * num_keypoints:
        count = len(values) if isinstance(values, list) else type(values).__name__
        raise DataFileError(
            f"{where}: keypoints must be {3 * num_keypoints} numbers (x, y, score of {num_keypoints} COCO "
            f"keypoints), got {count}"
        )
    if "score" not in entry:
        raise DataFileError(f"{where}: no score (COCO AP ranks results by it)")
    try:
        keypoints = [_number(v) for v in values]
        score = _number(entry["score"])
    except ValueError as err:
        raise DataFileError(f"{where}: keypoints and score must be finite numbers ({err})") from None
    return {"image_id": image_id, "category_id": 1, "keypoints": keypoints, "score": score}


def read_keypoint_results(path: str | os.PathLike, num_keypoints: int = COCO17.num_keypoints) -> list[dict[str, Any]]:
    """Read and check a COCO keypoint results file; a malformed entry is a :class:`DataFileError` naming the file
    and the entry (``result #i (image_id N)``)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataFileError(f"{path}: a COCO keypoint results file must hold a JSON list, got {type(data).__name__}")
    if not data:
        raise DataFileError(f"{path}: the results file is empty")
    return [_checked_result(path, i, entry, num_keypoints) for i, entry in enumerate(data)]


def check_image_ids(results: Sequence[dict[str, Any]], known: set[int], path: str, ann_file: str) -> None:
    """Every result's image id must be an image of the annotation file, else an error naming both files."""
    unknown = [r["image_id"] for r in results if r["image_id"] not in known]
    if unknown:
        raise DataFileError(
            f"{path}: {len(unknown)} results name image ids that {ann_file} does not hold: {_ids_text(unknown)}"
        )


def _oks(gt: np.ndarray, visible: np.ndarray, area: float, pred: np.ndarray) -> float:
    """OKS of one prediction ``(K, 2)`` to one instance ``gt (K, 2)`` over its labelled keypoints (COCO17 σ)."""
    sigmas = np.asarray(COCO17.sigmas, dtype=np.float64)
    d2 = ((pred - gt) ** 2).sum(-1)
    e = d2 / (2 * sigmas) ** 2 / (2 * max(area, np.spacing(1)))
    return float(np.exp(-e)[visible].mean()) if visible.any() else 0.0


def _box_area(bbox: np.ndarray) -> float:
    """Width × height of an xyxy box, pixels²."""
    return float(np.prod(np.asarray(bbox, np.float64)[2:] - np.asarray(bbox, np.float64)[:2]))


def match_results(records: Sequence[Any], results: Sequence[dict[str, Any]], path: str) -> list[int]:
    """For each labelled record, the index of its result (see the module docstring); records without
    keypoints get -1. A labelled record left unmatched is a :class:`DataFileError` naming the image ids."""
    by_image: dict[int, list[int]] = {}
    for j, r in enumerate(results):
        by_image.setdefault(int(r["image_id"]), []).append(j)
    records_of: dict[int, list[int]] = {}
    for i, rec in enumerate(records):
        if rec.has_keypoints:
            records_of.setdefault(int(rec.image_id), []).append(i)
    match = [-1] * len(records)
    missing: list[int] = []
    for image_id, rec_idx in records_of.items():
        cands = sorted(by_image.get(image_id, []), key=lambda j: -results[j]["score"])
        free = list(rec_idx)
        for j in cands:
            if not free:
                break
            pred = np.asarray(results[j]["keypoints"], np.float64).reshape(-1, 3)[:, :2]
            oks = [_oks(records[i].keypoints, records[i].visible > 0, _box_area(records[i].bbox), pred) for i in free]
            match[free.pop(int(np.argmax(oks)))] = j
        missing += [image_id] * len(free)
    if missing:
        raise DataFileError(
            f"{path}: no result for {len(missing)} labelled instances, in images {_ids_text(missing)}; every labelled "
            "instance of the evaluation set needs one (an image with fewer results than people is not scored)"
        )
    return match


def predictions_from_results(dataset: Any, results: Sequence[dict[str, Any]], path: str) -> dict[str, Any]:
    """The predictions dict of :func:`~hyper_sapiens.evaluation.inference.run_inference` (one row per record of
    ``dataset``, in its order) from a checked results list.

    Returns ``keypoints (N, K, 2)`` image pixels, ``scores (N, K)`` (the results' per-keypoint scores),
    ``result_score (N,)``, and the ground truth fields ``image_keypoints``, ``image_visible``,
    ``has_keypoints``, ``bbox`` (xyxy, as the dataset clipped it), ``bbox_score``, ``image_id``,
    ``instance_id``, ``group``. Unlabelled records get NaN keypoints (no metric scores them)."""
    records = dataset.records
    match = match_results(records, results, path)
    k = COCO17.num_keypoints
    keypoints = np.full((len(records), k, 2), np.nan, np.float32)
    scores = np.zeros((len(records), k), np.float32)
    result_score = np.zeros(len(records), np.float32)
    for i, j in enumerate(match):
        if j >= 0:
            values = np.asarray(results[j]["keypoints"], np.float32).reshape(k, 3)
            keypoints[i], scores[i], result_score[i] = values[:, :2], values[:, 2], results[j]["score"]
    return {
        "keypoints": keypoints,
        "scores": scores,
        "result_score": result_score,
        "image_keypoints": np.stack([r.keypoints for r in records]).astype(np.float32),
        "image_visible": np.stack([r.visible for r in records]).astype(np.float32),
        "has_keypoints": np.array([r.has_keypoints for r in records], bool),
        "bbox": np.stack([r.bbox for r in records]).astype(np.float32),
        "bbox_score": np.array([r.bbox_score for r in records], np.float32),
        "image_id": np.array([r.image_id for r in records], np.int64),
        "instance_id": np.array([r.instance_id for r in records], np.int64),
        "group": [r.group for r in records],
    }
