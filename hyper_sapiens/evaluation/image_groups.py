"""Metrics per group of images: instances grouped by a field of their COCO image entry (``eval.group_by``).

SyRIP's image entries carry ``posture`` (Supine, Prone, Sitting, Standing); any other image field works the
same way (its value, as text, names the group; an image without the field is in group ``(none)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .metrics import evaluate_predictions

#: The group of an image that lacks the ``group_by`` field.
NO_VALUE = "(none)"

#: The per-group numbers kept from :func:`~hyper_sapiens.evaluation.metrics.evaluate_predictions`.
GROUP_KEYS = ("pck@0.05", "pck_auc", "epe", "g_error", "g_error_median", "pck_per_joint", "num_instances",
              "num_keypoints")


def image_labels(coco: Mapping[str, Any] | None, image_ids: Sequence[int], field: str) -> np.ndarray | None:
    """``(N,)`` object array: the ``field`` value (as text) of each instance's image, :data:`NO_VALUE` where the
    image lacks it; None when there is no COCO dict or no image has the field."""
    if coco is None:
        return None
    images = {int(im["id"]): im for im in coco.get("images", [])}
    if not any(field in im for im in images.values()):
        return None
    labels = [images.get(int(i), {}).get(field) for i in image_ids]
    return np.array([NO_VALUE if v is None else str(v) for v in labels], dtype=object)


def take(preds: Mapping[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """The instances of a predictions dict (arrays with a leading instance axis, ``group`` a list) where
    ``mask`` ``(N,)`` is true."""
    n = len(mask)
    out: dict[str, Any] = {}
    for key, value in preds.items():
        if isinstance(value, np.ndarray) and value.shape[:1] == (n,):
            out[key] = value[mask]
        elif isinstance(value, list) and len(value) == n:
            out[key] = [v for v, keep in zip(value, mask, strict=True) if keep]
        else:
            out[key] = value
    return out


def grouped_metrics(
    preds: Mapping[str, Any],
    labels: np.ndarray,
    subset: str | list | None = "all",
    coco_ap: Callable[[list[int]], Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{label: metrics}`` over the labelled instances of each group, labels in sorted order.

    Args:
        preds: run_inference-style predictions (``keypoints``, ``image_keypoints``, ``image_visible``,
            ``has_keypoints``, ``bbox``, ``image_id``, ``group``), one row per instance.
        labels: ``(N,)`` group of each instance (:func:`image_labels`).
        subset: the keypoints scored (``eval.keypoints``).
        coco_ap: image ids → ``{"coco_ap": .., "coco_ap_box_area": ..}`` of the group's images, or None.

    Each group holds :data:`GROUP_KEYS` and, with ``coco_ap``, ``coco_ap`` and ``coco_ap_box_area``. Groups
    without a labelled instance are left out.
    """
    labelled = np.asarray(preds["has_keypoints"]).astype(bool)
    out: dict[str, dict[str, Any]] = {}
    for label in sorted(set(labels.tolist())):
        mask = labels == label
        if not (mask & labelled).any():
            continue
        sub = take(preds, mask)
        metrics = evaluate_predictions(sub, subset=subset)
        entry = {key: metrics[key] for key in GROUP_KEYS}
        if coco_ap is not None:
            ap = coco_ap(sorted({int(i) for i in sub["image_id"]}))
            entry.update(coco_ap=ap["coco_ap"], coco_ap_box_area=ap["coco_ap_box_area"])
        out[str(label)] = entry
    return out
