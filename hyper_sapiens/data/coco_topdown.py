"""COCO keypoint files (SyRIP, our generated sets, COCO itself) as top-down instances."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..keypoints import COCO17
from .base import RecordDataset
from .folds import select_fold
from .io import DataFileError, read_json
from .pipeline import TopDownTransform
from .records import InstanceRecord

log = logging.getLogger(__name__)


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


#: Image file names that FiDIP's SyRIP loader builds from the image id when the path is not ``file_name``
#: (``lib/dataset/syrip.py``, ``image_path_from_index``: ``train%05d.jpg`` for the training sets,
#: ``test%d.jpg`` for ``validate_infant``).
SYRIP_NAME_PATTERNS = ("train{:05d}.jpg", "test{}.jpg")


def image_domain(image: dict[str, Any], default: str, where: str = "") -> str:
    """``syn`` or ``real`` for a COCO image entry: the project's ``domain`` field, else SyRIP's ``is_synthetic``
    (a bool, 0/1 or "true"/"false"), else ``default``."""
    if "domain" in image:
        return str(image["domain"])
    if "is_synthetic" in image:
        flag = image["is_synthetic"]
        if isinstance(flag, str):
            text = flag.strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise DataFileError(f"{where}image {image.get('id')}: is_synthetic must be a boolean, got {flag!r}")
            flag = text in ("true", "1", "yes")
        return "syn" if bool(flag) else "real"
    return default


def _load_detections(path: str | os.PathLike, score_thr: float) -> dict[int, list[tuple[int, dict[str, Any]]]]:
    """A COCO detection-results file → ``{image_id: [(entry index, detection), ...]}`` of the person boxes with
    ``score >= score_thr``. A malformed entry, a non-finite box or score, or a box of negative width or height is
    a :class:`DataFileError` naming the file and the entry (``detection #i``); zero-size boxes are left to the
    caller to count as skipped."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataFileError(f"{path}: a COCO detection-results file must hold a JSON list, got {type(data).__name__}")
    by_image: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for i, det in enumerate(data):
        if not isinstance(det, dict) or "image_id" not in det or "bbox" not in det or len(det["bbox"]) != 4:
            raise DataFileError(f"{path}: detection #{i} needs image_id and bbox [x, y, w, h], got {det!r}")
        _check_detection_numbers(path, i, det)
        if det.get("category_id", 1) != 1 or float(det.get("score", 1.0)) < score_thr:
            continue
        by_image.setdefault(int(det["image_id"]), []).append((i, det))
    return by_image


def _check_detection_numbers(path: str | os.PathLike, index: int, det: dict[str, Any]) -> None:
    """Detection ``index`` of ``path``: a finite box of non-negative size and a finite score, else an error."""
    where = detection_origin(path, index, det["image_id"])
    try:
        box = np.asarray(det["bbox"], np.float64)
        score = float(det.get("score", 1.0))
    except (TypeError, ValueError):
        raise DataFileError(
            f"{where}: bbox and score must be numbers, got bbox {det['bbox']!r}, score {det.get('score')!r}"
        ) from None
    if not np.isfinite(box).all() or not np.isfinite(score):
        raise DataFileError(f"{where}: non-finite bbox {det['bbox']} or score {det.get('score')}")
    if box[2] < 0 or box[3] < 0:
        raise DataFileError(f"{where}: negative box size {box[2]:g} x {box[3]:g} (bbox is [x, y, w, h])")


def detection_origin(path: str | os.PathLike, index: int, image_id: int) -> str:
    """How error messages name a detection: ``FILE: detection #INDEX (image_id ID)``."""
    return f"{path}: detection #{index} (image_id {image_id})"


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
            the annotations, one unlabelled instance per box (top-down inference on detected people). A non-finite
            or negative-size box is an error naming the file and entry, a zero-size one is counted in ``skipped``,
            one wholly outside its image an error when its sample is read.
        use_dense: read the depth/normal/mask files that image entries name.
        keep_domain: ``"syn"`` or ``"real"``: keep only the images of that domain (to split a file that holds
            both kinds, such as SyRIP's ``200R_1000S``, into two sources); the others are counted in ``skipped``.
        folds: ``k > 1``: split the file's images into ``k`` folds (:mod:`~hyper_sapiens.data.folds`, stratified
            by the image field ``fold_stratify``, SyRIP's ``posture`` by default) and keep fold ``fold``
            (``fold_take: fold``, the held-out images) or all the others (``fold_take: rest``); 0: every image.

    An image's domain is its ``domain`` field, else SyRIP's ``is_synthetic`` flag, else ``domain``. Its file is
    ``image_root/file_name``, else (SyRIP) ``image_root/train%05d.jpg`` or ``test%d.jpg`` from the image id;
    an image found nowhere is an error that lists the paths tried. Instances are kept unless ``iscrowd`` or
    their box has no area; those are counted in ``skipped``.
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
        keep_domain: str | None = None,
        folds: int = 0,
        fold: int = 0,
        fold_take: str = "rest",
        fold_stratify: str | None = "posture",
    ) -> None:
        if labelled not in ("all", "labelled", "unlabelled"):
            raise ValueError(f"labelled must be 'all', 'labelled' or 'unlabelled', got {labelled!r}")
        if keep_domain not in (None, "syn", "real"):
            raise ValueError(f"keep_domain must be 'syn', 'real' or null, got {keep_domain!r}")
        super().__init__([], transform, name=f"coco:{Path(ann_file).name}")
        self.negative_keypoints: list[str] = []  # labelled keypoints at x < 0 or y < 0: "annotation ID NAME (x, y, v)"
        self.ann_file = Path(ann_file)
        self.image_root = Path(image_root)
        if not self.image_root.is_dir():
            raise DataFileError(f"image folder not found: {self.image_root} (for {self.ann_file})")
        self.extras_root = Path(extras_root) if extras_root is not None else self.ann_file.parent.parent
        data = read_json(self.ann_file)
        if not isinstance(data, dict) or "images" not in data:
            raise DataFileError(f"{self.ann_file}: not a COCO keypoints file (no 'images' list)")
        where = f"{self.ann_file}: "
        domains = {int(img["id"]): image_domain(img, domain, where) for img in data["images"]}
        kinds = sorted(set(domains.values()))
        if keep_domain is None and len(kinds) > 1:
            log.info(
                "%s holds images of several domains %s: each sample keeps its own; set keep_domain on two sources "
                "to choose the mix per domain", self.ann_file, kinds,
            )
        if keep_domain is not None:
            dropped = {i for i, d in domains.items() if d != keep_domain}
            if dropped:
                self.skipped[f"images of the other domain (keep_domain={keep_domain})"] += len(dropped)
                data = dict(data, images=[im for im in data["images"] if int(im["id"]) not in dropped],
                            annotations=[a for a in data.get("annotations", [])
                                         if int(a.get("image_id", -1)) not in dropped])
        if folds:
            before = len(data["images"])
            data = select_fold(data, folds, fold, fold_take, fold_stratify, where=f"{self.ann_file}: ")
            self.fold = {"folds": folds, "fold": fold, "take": fold_take, "stratify": fold_stratify,
                         "images": len(data["images"]), "of": before}
            log.info("%s: fold %d of %d (%s): %d of %d images", self.ann_file, fold, folds,
                     "held out" if fold_take == "fold" else "the other folds", len(data["images"]), before)
        self.coco = data
        images = {int(img["id"]): dict(img, domain=domains[int(img["id"])]) for img in data["images"]}
        self._path_cache: dict[int, str] = {}
        group = group if group is not None else self.ann_file.stem
        if detections is not None:
            dets = _load_detections(detections, det_score_thr)
            for image_id in sorted(dets):
                if image_id not in images:
                    raise DataFileError(f"{detections}: image_id {image_id} is not in {self.ann_file}")
                for j, (index, det) in enumerate(dets[image_id]):
                    x, y, w, h = (float(v) for v in det["bbox"])
                    if w == 0 or h == 0:
                        self.skipped["empty detection boxes"] += 1
                        continue
                    rec = self._record(
                        images[image_id], np.array([x, y, x + w, y + h], np.float32), None, domain, use_dense, group
                    )
                    rec.instance_id = j
                    rec.bbox_score = float(det.get("score", 1.0))
                    rec.extra["origin"] = detection_origin(detections, index, image_id)
                    self.records.append(rec)
        else:
            for ann in data.get("annotations", []):
                self._add_annotation(ann, images, domain, labelled, use_dense, group)
        self._report_skipped(str(self.ann_file))
        if self.negative_keypoints:
            log.warning(
                "%s: %d labelled keypoints at negative coordinates, kept as written (first: %s)",
                self.ann_file, len(self.negative_keypoints), self.negative_keypoints[0],
            )

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
        kp = self._checked_keypoints(kp, ann_id)
        is_labelled = int(ann.get("num_keypoints", int((kp[:, 2] > 0).sum()))) > 0 and kp[:, :2].max() > 0
        if (labelled == "labelled" and not is_labelled) or (labelled == "unlabelled" and is_labelled):
            return
        if "bbox" not in ann or len(ann["bbox"]) != 4:
            raise DataFileError(f"{self.ann_file}: annotation {ann_id} has no bbox [x, y, w, h]")
        if not np.isfinite(np.asarray(ann["bbox"], dtype=np.float64)).all():
            raise DataFileError(f"{self.ann_file}: annotation {ann_id} has a non-finite bbox {ann['bbox']}")
        box = _clip_box(*(float(v) for v in ann["bbox"]), int(image["width"]), int(image["height"]))
        if box[2] <= box[0] or box[3] <= box[1]:
            self.skipped["empty boxes"] += 1
            return
        rec = self._record(image, box, kp if is_labelled else None, domain, use_dense, group)
        rec.instance_id = int(ann.get("id", len(self.records)))
        self.records.append(rec)

    def _checked_keypoints(self, values: list, ann_id: Any) -> np.ndarray:
        """``(17, 3)`` keypoints ``x, y, v`` of an annotation; a non-number, a non-finite value or a visibility
        other than 0/1/2 is a :class:`DataFileError` naming the file, the annotation and the keypoint (a NaN
        label would otherwise drop silently out of PCK). Labelled (v > 0) keypoints at negative coordinates
        are kept as written, listed in ``negative_keypoints`` and counted in a warning after loading."""
        try:
            kp = np.asarray(values, np.float64).reshape(-1, 3)
        except (TypeError, ValueError):
            raise DataFileError(f"{self.ann_file}: annotation {ann_id}: keypoints must be numbers") from None
        bad = np.flatnonzero(~np.isfinite(kp).all(1))
        if bad.size:
            x, y, v = kp[bad[0]]
            raise DataFileError(
                f"{self.ann_file}: annotation {ann_id} keypoint {COCO17.names[bad[0]]}: non-finite ({x}, {y}, {v})"
            )
        bad = np.flatnonzero(~np.isin(kp[:, 2], (0, 1, 2)))
        if bad.size:
            raise DataFileError(f"{self.ann_file}: annotation {ann_id} keypoint {COCO17.names[bad[0]]}: "
                                f"visibility {kp[bad[0], 2]:g} (must be 0, 1 or 2)")
        for j in np.flatnonzero((kp[:, 2] > 0) & ((kp[:, 0] < 0) | (kp[:, 1] < 0))):
            x, y, v = kp[j]
            self.negative_keypoints.append(f"annotation {ann_id} {COCO17.names[j]} ({x:g}, {y:g}, v={int(v)})")
        return kp.astype(np.float32)

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
            image_path=self._image_path(image),
            bbox=box,
            keypoints=kp[:, :2] if kp is not None else np.zeros((k, 2), np.float32),
            visible=np.minimum(kp[:, 2], 1.0) if kp is not None else np.zeros(k, np.float32),
            has_keypoints=kp is not None,
            domain=image["domain"],
            image_id=int(image["id"]),
            camera=None if cam is None else np.array([cam["fx"], cam["fy"], cam["cx"], cam["cy"]], np.float32),
            image_size=(int(image["width"]), int(image["height"])) if "width" in image else None,
            group=group,
            **extras,
        )

    def _image_path(self, image: dict) -> str:
        """``image_root/file_name`` when it exists, else FiDIP's SyRIP names from the id (see the class doc)."""
        image_id = int(image["id"])
        if image_id in self._path_cache:
            return self._path_cache[image_id]
        tried = []
        names = ([image["file_name"]] if image.get("file_name") else []) + [
            p.format(image_id) for p in SYRIP_NAME_PATTERNS
        ]
        for name in names:
            path = self.image_root / name
            if path.is_file():
                self._path_cache[image_id] = str(path)
                return str(path)
            tried.append(str(path))
        raise DataFileError(f"{self.ann_file}: image {image_id}: no image file found; tried {', '.join(tried)}")
