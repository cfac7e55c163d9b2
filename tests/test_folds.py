"""k-fold splits of a COCO file (``data/folds.py``) and the ``folds``/``fold``/``fold_take`` keys of a coco source:
stratified by posture, disjoint and complete, fixed by the split seed alone, and read through a config."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyper_sapiens.data.coco_topdown import CocoTopDownDataset
from hyper_sapiens.data.folds import fold_of_images, select_fold
from hyper_sapiens.data.pipeline import PipelineConfig, TopDownTransform
from hyper_sapiens.data.sources import build_source

POSTURES = ["Prone"] * 9 + ["Supine"] * 7 + ["Sitting"] * 3 + ["Standing"]


def _images(n: int = len(POSTURES)) -> list[dict]:
    return [{"id": 100 + 3 * i, "file_name": f"{i}.png", "width": 64, "height": 48, "posture": POSTURES[i]}
            for i in range(n)]


def test_every_image_is_in_exactly_one_fold_and_folds_share_each_posture():
    images = _images()
    assigned = fold_of_images(images, 5)
    assert sorted(assigned) == sorted(im["id"] for im in images)
    sizes = Counter(assigned.values())
    assert sorted(sizes) == [0, 1, 2, 3, 4] and max(sizes.values()) - min(sizes.values()) <= 1
    posture = {im["id"]: im["posture"] for im in images}
    for name, count in Counter(POSTURES).items():
        per_fold = Counter(f for i, f in assigned.items() if posture[i] == name)
        # dealt in turn: a posture's images differ by at most one between folds
        assert max(per_fold.values()) - min(per_fold.get(k, 0) for k in range(5)) <= 1, (name, count, per_fold)


def test_the_split_depends_on_ids_and_split_seed_not_on_file_order():
    images = _images()
    shuffled = [images[i] for i in np.random.default_rng(3).permutation(len(images))]
    assert fold_of_images(images, 4) == fold_of_images(shuffled, 4)
    assert fold_of_images(images, 4, split_seed=1) != fold_of_images(images, 4)


def test_fold_and_rest_are_complementary_with_their_annotations():
    data = {"images": _images(), "annotations": [{"id": i, "image_id": im["id"]} for i, im in enumerate(_images())]}
    held = select_fold(data, 5, 2, "fold")
    rest = select_fold(data, 5, 2, "rest")
    held_ids = {im["id"] for im in held["images"]}
    rest_ids = {im["id"] for im in rest["images"]}
    assert held_ids.isdisjoint(rest_ids) and held_ids | rest_ids == {im["id"] for im in data["images"]}
    assert {a["image_id"] for a in held["annotations"]} == held_ids
    assert {a["image_id"] for a in rest["annotations"]} == rest_ids
    with pytest.raises(ValueError, match="fold_take"):
        select_fold(data, 5, 0, "train")
    with pytest.raises(ValueError, match="fold must be in 0..4"):
        select_fold(data, 5, 5, "fold")
    with pytest.raises(ValueError, match="at least 2"):
        fold_of_images(data["images"], 1)


@pytest.fixture
def coco_file(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    images, anns = _images(), []
    for i, im in enumerate(images):
        cv2.imwrite(str(tmp_path / "images" / im["file_name"]), np.full((48, 64, 3), 20 * (i % 10), np.uint8))
        kp = np.zeros((17, 3))
        kp[:, 0], kp[:, 1], kp[:, 2] = np.linspace(10, 50, 17), np.linspace(8, 40, 17), 2
        anns.append({"id": i + 1, "image_id": im["id"], "category_id": 1, "bbox": [5, 5, 50, 40], "area": 2000,
                     "num_keypoints": 17, "keypoints": kp.ravel().tolist(), "iscrowd": 0})
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return path


def test_a_coco_source_keeps_its_fold_and_its_coco_dict_follows(coco_file: Path):
    transform = TopDownTransform(PipelineConfig(input_size=(48, 64)), train=False)
    spec = {"type": "coco", "ann_file": str(coco_file), "image_root": str(coco_file.parent / "images"), "folds": 5}
    rest = build_source({**spec, "fold": 1, "fold_take": "rest"}, transform)
    held = build_source({**spec, "fold": 1, "fold_take": "fold"}, transform)
    everything = CocoTopDownDataset(coco_file, coco_file.parent / "images", transform)
    assert len(rest) == 16 and len(held) == 4 and len(everything) == 20
    assert {r.image_id for r in rest.records}.isdisjoint({r.image_id for r in held.records})
    # the evaluation's COCO AP and image groups read dataset.coco: it holds the fold's images only
    assert {im["id"] for im in held.coco["images"]} == {r.image_id for r in held.records}
    assert held.fold == {"folds": 5, "fold": 1, "take": "fold", "stratify": "posture", "images": 4, "of": 20}
