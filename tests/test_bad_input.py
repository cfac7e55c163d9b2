"""Bad numbers never become silent wrong figures: named errors at load time, null in JSON, left out of COCO AP.

Every input is built here (a small COCO keypoint file and a grey image); nothing outside the repository is read.
"""

from __future__ import annotations

import json
import logging
import math

import cv2
import numpy as np
import pytest

from hyper_sapiens import json_safe
from hyper_sapiens.data.coco_topdown import CocoTopDownDataset
from hyper_sapiens.data.io import DataFileError
from hyper_sapiens.data.pipeline import PipelineConfig, TopDownTransform
from hyper_sapiens.engine.run_log import RunLog
from hyper_sapiens.evaluation import CocoKeypointEvaluator, topdown_to_coco_results
from hyper_sapiens.evaluation.coco import finite_instances


def _person(ann_id: int, image_id: int, x0: float, y0: float) -> dict:
    """A 17-keypoint annotation whose joints lie on a grid inside the box ``(x0, y0, 60, 90)``."""
    kp = []
    for j in range(17):
        kp += [x0 + 10 + 3 * j, y0 + 5 + 5 * j, 2]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
            "bbox": [x0, y0, 60, 90], "area": 60 * 90, "keypoints": kp}


def _coco(tmp_path, annotations: list[dict]) -> tuple:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    cv2.imwrite(str(images / "a.png"), np.full((160, 200, 3), 128, np.uint8))
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 160}],
            "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    ann_file = tmp_path / "ann.json"
    ann_file.write_text(json.dumps(data), encoding="utf-8")  # Python's json writes NaN as the bare token NaN
    return ann_file, images


def _load(ann_file, images) -> CocoTopDownDataset:
    transform = TopDownTransform(PipelineConfig(input_size=(48, 64), heatmap_size=(12, 16)), train=False)
    return CocoTopDownDataset(ann_file, images, transform, use_dense=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keypoints_at": (3, 0, float("nan"))}, "annotation 7 keypoint left_ear: non-finite"),
        ({"keypoints_at": (9, 1, float("inf"))}, "annotation 7 keypoint left_wrist: non-finite"),
        ({"keypoints_at": (0, 2, 3)}, "annotation 7 keypoint nose: visibility 3 (must be 0, 1 or 2)"),
        ({"bbox": [10, float("nan"), 60, 90]}, "annotation 7 has a non-finite bbox"),
    ],
)
def test_a_broken_label_is_an_error_naming_file_annotation_and_keypoint(tmp_path, change, message):
    ann = _person(7, 1, 20, 30)
    if "keypoints_at" in change:
        j, k, value = change["keypoints_at"]
        ann["keypoints"][3 * j + k] = value
    else:
        ann["bbox"] = change["bbox"]
    ann_file, images = _coco(tmp_path, [ann])
    with pytest.raises(DataFileError) as info:
        _load(ann_file, images)
    assert str(ann_file) in str(info.value) and message in str(info.value)


def test_labelled_keypoints_at_negative_coordinates_are_kept_and_counted(tmp_path, caplog):
    ann = _person(7, 1, 20, 30)
    ann["keypoints"][3 * 10: 3 * 10 + 2] = [-4.0, 50.0]  # right_wrist, v = 2
    ann_file, images = _coco(tmp_path, [ann, _person(8, 1, 100, 40)])
    with caplog.at_level(logging.WARNING):
        ds = _load(ann_file, images)
    assert len(ds) == 2 and ds.negative_keypoints == ["annotation 7 right_wrist (-4, 50, v=2)"]
    assert "1 labelled keypoints at negative coordinates, kept as written" in caplog.text


def _strict_loads(text: str):
    def refuse(token):
        raise ValueError(f"non-JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_json_files_hold_null_where_a_number_is_not_finite(tmp_path):
    record = {"step": 3, "loss": float("nan"), "eval": {"epe": np.float32("inf"), "pck": [0.5, float("-inf")]}}
    expected = {"step": 3, "loss": None, "eval": {"epe": None, "pck": [0.5, None]}}
    assert _strict_loads(json_safe.dumps(record)) == expected
    log = RunLog(tmp_path)
    log.write({"step": 1, "grad_norm": float("nan"), "loss": 0.25})
    assert _strict_loads((tmp_path / "metrics.jsonl").read_text()) == {"step": 1, "grad_norm": None, "loss": 0.25}


def test_coco_ap_with_a_nan_prediction_equals_the_ap_without_it():
    anns = [_person(1, 1, 20, 30), _person(2, 1, 100, 40), _person(3, 2, 30, 20)]
    gt = {"images": [{"id": 1, "width": 200, "height": 160}, {"id": 2, "width": 200, "height": 160}],
          "annotations": anns, "categories": [{"id": 1, "name": "person"}]}
    kp = np.array([a["keypoints"] for a in anns], np.float64).reshape(3, 17, 3)[..., :2]
    kp = kp + np.random.default_rng(0).normal(0.0, 2.0, kp.shape)
    scores = np.full((3, 17), 0.9)
    image_ids, box_scores, areas = np.array([1, 1, 2]), np.ones(3), np.full(3, 60.0 * 90 * 1.5)
    clean = CocoKeypointEvaluator(gt).evaluate(topdown_to_coco_results(image_ids, kp, scores, box_scores, areas))

    # a fourth, diverged prediction on image 2: NaN keypoints where a second person would be
    bad_kp = np.concatenate([kp, np.full((1, 17, 2), np.nan)])
    bad = (np.array([1, 1, 2, 2]), bad_kp, np.concatenate([scores, np.full((1, 17), 0.9)]), np.ones(4),
           np.full(4, 60.0 * 90 * 1.5))
    results = topdown_to_coco_results(*bad)
    assert len(results) == 3 and all(math.isfinite(v) for r in results for v in r["keypoints"])
    assert finite_instances(bad[1], bad[2], bad[3], bad[4]).tolist() == [True, True, True, False]
    assert CocoKeypointEvaluator(gt).evaluate(results) == clean
    assert clean["AP"] > 0.5
