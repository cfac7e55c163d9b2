"""A folder of images plus a COCO detection-results JSON: unlabelled top-down instances."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..keypoints import COCO17
from .base import RecordDataset
from .coco_topdown import _load_detections, detection_origin
from .io import DataFileError, read_json
from .pipeline import TopDownTransform
from .records import InstanceRecord

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def image_files_by_id(image_dir: str | os.PathLike, images_json: str | os.PathLike | None = None) -> dict[int, Path]:
    """Map image ids to files: from a COCO file's ``images`` list, or from numeric file names (``000000000785.jpg``)."""
    root = Path(image_dir)
    if not root.is_dir():
        raise DataFileError(f"image folder not found: {root}")
    if images_json is not None:
        data = read_json(images_json)
        if not isinstance(data, dict) or "images" not in data:
            raise DataFileError(f"{images_json}: expected a COCO file with an 'images' list")
        return {int(img["id"]): root / img["file_name"] for img in data["images"]}
    found: dict[int, Path] = {}
    for path in sorted(root.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.stem.isdigit():
            found[int(path.stem)] = path
    return found


class UnlabeledTopDownDataset(RecordDataset):
    """One unlabelled instance per detection with ``score >= score_thr`` (category 1 only).

    A non-finite or negative-size box is an error naming the detections file and entry, a zero-size box is
    counted in ``skipped`` and logged, and a box wholly outside its image is an error when its sample is read.

    Args:
        image_dir: folder of images.
        detections: COCO detection-results JSON ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``.
        images_json: COCO file whose ``images`` map ids to ``file_name``; without it, files must be named by
            their numeric id.
        domain: ``"real"`` (default) or ``"syn"``.
    """

    def __init__(
        self,
        image_dir: str | os.PathLike,
        detections: str | os.PathLike,
        transform: TopDownTransform,
        images_json: str | os.PathLike | None = None,
        score_thr: float = 0.3,
        domain: str = "real",
    ) -> None:
        super().__init__([], transform, name=f"unlabelled:{Path(detections).name}")
        files = image_files_by_id(image_dir, images_json)
        dets = _load_detections(detections, score_thr)
        k = COCO17.num_keypoints
        for image_id in sorted(dets):
            if image_id not in files:
                raise DataFileError(f"{detections}: no image for image_id {image_id} in {image_dir}")
            for j, (index, det) in enumerate(dets[image_id]):
                x, y, w, h = (float(v) for v in det["bbox"])
                if w == 0 or h == 0:
                    self.skipped["empty detection boxes"] += 1
                    continue
                self.records.append(
                    InstanceRecord(
                        image_path=str(files[image_id]),
                        bbox=np.array([x, y, x + w, y + h], np.float32),
                        keypoints=np.zeros((k, 2), np.float32),
                        visible=np.zeros(k, np.float32),
                        has_keypoints=False,
                        domain=domain,
                        image_id=image_id,
                        instance_id=j,
                        bbox_score=float(det.get("score", 1.0)),
                        group=Path(image_dir).name,
                        extra={"origin": detection_origin(detections, index, image_id)},
                    )
                )
        self._report_skipped(str(detections))
