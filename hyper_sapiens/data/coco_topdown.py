"""COCO keypoint files (SyRIP, our generated sets, COCO itself) as top-down instances."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..keypoints import COCO17
from .base import RecordDataset
from .io import DataFileError, read_json
from .pipeline import TopDownTransform
from .records import InstanceRecord


def _clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> np.ndarray:
    """COCO ``[x, y, w, h]`` → xyxy clipped to the image as mmpose's ``parse_data_info`` does."""
    return np.array(
        [
            np.clip(x, 0, width - 1),
            np.clip(y, 0, height - 1),
            np.clip(x + w, 0, width - 1),
            np.clip(y + h, 0, height - 1),
        ],
        dtype=np.float32,
    )


def _load_detections(path: str | os.PathLike, score_thr: float) -> dict[int, list[dict[str, Any]]]:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataFileError(f"{path}: a COCO detection-results file must hold a JSON list, got {type(data).__name__}")
    by_image: dict[int, list[dict[str, Any]]] = {}
    for i, det in enumerate(data):
        if not isinstance(det, dict) or "image_id" not in det or "bbox" not in det or len(det["bbox"]) != 4:
            raise DataFileError(f"{path}: detection #{i} needs image_id and bbox [x, y, w, h], got {det!r}")
        if det.get("category_id", 1) != 1 or float(det.get("score", 1.0)) < score_thr:
            continue
        by_image.setdefault(int(det["image_id"]), []).append(det)
    return by_image


class CocoTopDownDataset(RecordDataset):
    """One sample per person instance of a COCO keypoints JSON.

    Args:
        ann_file: COCO keypoints JSON (17 COCO keypoints per annotation).
        image_root: folder the images' ``file_name`` is relative to.
        transform: the sample pipeline.
        extras_root: folder that ``depth_file`` / ``normal_file`` / ``mask_file`` of image entries are
            relative to (default: the parent of the annotation folder, as in ``syrip/``).
        domain: ``"syn"`` / ``"real"`` for images without a ``domain`` field.
        labelled: ``"all"``, ``"labelled"`` (instances with keypoints) or ``"unlabelled"``
            (``num_keypoints: 0``, trained through depth/normal/SDS terms only).
        detections: optional COCO detection-results JSON; its boxes (score ≥ ``det_score_thr``) replace
            the annotations, one unlabelled instance per box (top-down inference on detected people).
        use_dense: read the depth/normal/mask files that image entries name.

    Instances are kept unless ``iscrowd`` or their box has no area; those are counted in ``skipped``.
    """

    def __init__(
        self,
        ann_file: str | os.PathLike,
        image_root: str | os.PathLike,
        transform: TopDownTransform,
        extras_root: str | os.PathLike | None = None,
        domain: str = "real",
        labelled: str = "all",
        detections: str | os.PathLike | None = None,
        det_score_thr: float = 0.0,
        use_dense: bool = True,
        group: str | None = None,
    ) -> None:
        if labelled not in ("all", "labelled", "unlabelled"):
            raise ValueError(f"labelled must be 'all', 'labelled' or 'unlabelled', got {labelled!r}")
        super().__init__([], transform, name=f"coco:{Path(ann_file).name}")
        self.ann_file = Path(ann_file)
        self.image_root = Path(image_root)
        if not self.image_root.is_dir():
            raise DataFileError(f"image folder not found: {self.image_root} (for {self.ann_file})")
        self.extras_root = Path(extras_root) if extras_root is not None else self.ann_file.parent.parent
        data = read_json(self.ann_file)
        if not isinstance(data, dict) or "images" not in data:
            raise DataFileError(f"{self.ann_file}: not a COCO keypoints file (no 'images' list)")
        self.coco = data
        images = {int(img["id"]): img for img in data["images"]}
        group = group if group is not None else self.ann_file.stem
        if detections is not None:
            dets = _load_detections(detections, det_score_thr)
            for image_id in sorted(dets):
                if image_id not in images:
                    raise DataFileError(f"{detections}: image_id {image_id} is not in {self.ann_file}")
                for j, det in enumerate(dets[image_id]):
                    x, y, w, h = (float(v) for v in det["bbox"])
                    rec = self._record(
                        images[image_id], np.array([x, y, x + w, y + h], np.float32), None, domain, use_dense, group
                    )
                    rec.instance_id = j
                    rec.bbox_score = float(det.get("score", 1.0))
                    self.records.append(rec)
        else:
            for ann in data.get("annotations", []):
                self._add_annotation(ann, images, domain, labelled, use_dense, group)
        self._report_skipped(str(self.ann_file))

    def _add_annotation(self, ann: dict, images: dict, domain: str, labelled: str, use_dense: bool, group: str) -> None:
        ann_id = ann.get("id", "?")
        if ann.get("category_id", 1) != 1:
            self.skipped["non-person annotations"] += 1
            return
        image = images.get(int(ann.get("image_id", -1)))
        if image is None:
            raise DataFileError(
                f"{self.ann_file}: annotation {ann_id} refers to unknown image_id {ann.get('image_id')}"
            )
        if ann.get("iscrowd", 0):
            self.skipped["crowd annotations"] += 1
            return
        kp = ann.get("keypoints")
        if kp is None or len(kp) != 3 * COCO17.num_keypoints:
            raise DataFileError(
                f"{self.ann_file}: annotation {ann_id} has {0 if kp is None else len(kp)} keypoint values, "
                f"expected {3 * COCO17.num_keypoints} (17 COCO keypoints as x, y, v)"
            )
        kp = np.asarray(kp, np.float32).reshape(-1, 3)
        is_labelled = int(ann.get("num_keypoints", int((kp[:, 2] > 0).sum()))) > 0 and kp[:, :2].max() > 0
        if (labelled == "labelled" and not is_labelled) or (labelled == "unlabelled" and is_labelled):
            return
        if "bbox" not in ann or len(ann["bbox"]) != 4:
            raise DataFileError(f"{self.ann_file}: annotation {ann_id} has no bbox [x, y, w, h]")
        box = _clip_box(*(float(v) for v in ann["bbox"]), int(image["width"]), int(image["height"]))
        if box[2] <= box[0] or box[3] <= box[1]:
            self.skipped["empty boxes"] += 1
            return
        rec = self._record(image, box, kp if is_labelled else None, domain, use_dense, group)
        rec.instance_id = int(ann.get("id", len(self.records)))
        self.records.append(rec)

    def _record(
        self, image: dict, box: np.ndarray, kp: np.ndarray | None, domain: str, use_dense: bool, group: str
    ) -> InstanceRecord:
        k = COCO17.num_keypoints
        cam = image.get("camera")
        extras: dict[str, Any] = {}
        if use_dense:
            for key, field in (
                ("depth_file", "depth_path"),
                ("normal_file", "normal_path"),
                ("mask_file", "mask_path"),
            ):
                if image.get(key):
                    extras[field] = str(self.extras_root / image[key])
        return InstanceRecord(
            image_path=str(self.image_root / image["file_name"]),
            bbox=box,
            keypoints=kp[:, :2] if kp is not None else np.zeros((k, 2), np.float32),
            visible=np.minimum(kp[:, 2], 1.0) if kp is not None else np.zeros(k, np.float32),
            has_keypoints=kp is not None,
            domain=image.get("domain", domain),
            image_id=int(image["id"]),
            camera=None if cam is None else np.array([cam["fx"], cam["fy"], cam["cx"], cam["cy"]], np.float32),
            image_size=(int(image["width"]), int(image["height"])) if "width" in image else None,
            group=group,
            **extras,
        )
