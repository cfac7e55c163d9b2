"""Build datasets from config sections (``data.sources.<name>`` / ``data.val``)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ..config_schema import ConfigError, check_known_keys
from .base import RecordDataset
from .coco_topdown import CocoTopDownDataset
from .minirgbd import MiniRGBDDataset
from .pipeline import TopDownTransform
from .unlabeled_topdown import UnlabeledTopDownDataset

SOURCE_TYPES = ("coco", "minirgbd", "unlabeled")
_SOURCE_CLASSES = {"coco": CocoTopDownDataset, "minirgbd": MiniRGBDDataset, "unlabeled": UnlabeledTopDownDataset}


def source_keys(kind: str) -> list[str]:
    """The keys a source spec of type ``kind`` may set (its dataset's constructor arguments, and ``type``)."""
    params = inspect.signature(_SOURCE_CLASSES[kind].__init__).parameters
    return ["type", *(p for p in params if p not in ("self", "transform"))]


def check_source_spec(spec: Mapping[str, Any], where: str = "data source") -> None:
    """Raise :class:`~hyper_sapiens.config_schema.ConfigError` for an unknown ``type`` or key of a source spec
    (``where`` is its dotted config path, e.g. ``data.sources.syn``), naming the closest allowed one."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a data source must be a mapping with a type and its files, got {spec!r}")
    kind = spec.get("type", "coco")
    if kind not in _SOURCE_CLASSES:
        raise ConfigError(f"{where}.type: unknown source type {kind!r}; choose one of {list(SOURCE_TYPES)}")
    check_known_keys(spec, source_keys(kind), where)


def build_source(spec: Mapping[str, Any], transform: TopDownTransform, name: str = "") -> RecordDataset:
    """One dataset from a source spec.

    ``type: coco`` — ``ann_file``, ``image_root``, optional ``extras_root``, ``domain``, ``labelled``
    (``all``/``labelled``/``unlabelled``), ``detections``, ``det_score_thr``, ``use_dense``.
    ``type: minirgbd`` — ``root``, optional ``sequences``, ``frame_step``, ``camera``, ``domain``.
    ``type: unlabeled`` — ``image_dir``, ``detections``, optional ``images_json``, ``score_thr``, ``domain``.
    """
    where = f"data source {name!r}" if name else "data source"
    check_source_spec(spec, where)
    spec = dict(spec)
    kind = spec.pop("type", "coco")
    try:
        dataset: RecordDataset = _SOURCE_CLASSES[kind](transform=transform, **spec)
    except TypeError as err:  # a missing required key
        raise ValueError(f"{where} (type {kind}): {err}") from err
    if len(dataset) == 0:
        raise ValueError(f"{where} (type {kind}) holds no instances: {spec}")
    if name:
        dataset.name = name
    return dataset
