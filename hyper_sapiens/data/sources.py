"""Build datasets from config sections (``data.sources.<name>`` / ``data.val``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import RecordDataset
from .coco_topdown import CocoTopDownDataset
from .minirgbd import MiniRGBDDataset
from .pipeline import TopDownTransform
from .unlabeled_topdown import UnlabeledTopDownDataset

SOURCE_TYPES = ("coco", "minirgbd", "unlabeled")


def build_source(spec: Mapping[str, Any], transform: TopDownTransform, name: str = "") -> RecordDataset:
    """One dataset from a source spec.

    ``type: coco`` — ``ann_file``, ``image_root``, optional ``extras_root``, ``domain``, ``labelled``
    (``all``/``labelled``/``unlabelled``), ``detections``, ``det_score_thr``, ``use_dense``.
    ``type: minirgbd`` — ``root``, optional ``sequences``, ``frame_step``, ``camera``, ``domain``.
    ``type: unlabeled`` — ``image_dir``, ``detections``, optional ``images_json``, ``score_thr``, ``domain``.
    """
    spec = dict(spec)
    kind = spec.pop("type", "coco")
    where = f"data source {name!r}" if name else "data source"
    try:
        if kind == "coco":
            dataset: RecordDataset = CocoTopDownDataset(transform=transform, **spec)
        elif kind == "minirgbd":
            dataset = MiniRGBDDataset(transform=transform, **spec)
        elif kind == "unlabeled":
            dataset = UnlabeledTopDownDataset(transform=transform, **spec)
        else:
            raise ValueError(f"{where}: unknown type {kind!r}; choose one of {SOURCE_TYPES}")
    except TypeError as err:  # unknown / missing keys
        raise ValueError(f"{where} (type {kind}): {err}") from err
    if len(dataset) == 0:
        raise ValueError(f"{where} (type {kind}) holds no instances: {spec}")
    if name:
        dataset.name = name
    return dataset
