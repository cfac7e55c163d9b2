"""``evaluate`` on SyRIP's FiDIP layout: per-posture metrics, ``--predictions`` (any model's COCO results) scored
like a checkpoint, COCO AP with published and box areas, the area warning, photograph grids and the errors.

The data is drawn here: six JPEG images in FiDIP's layout (``annotations/person_keypoints_validate_infant.json``,
``images/validate_infant/test%d.jpg``), one of them 1600×1200, each annotation's ``area`` 16 times its box (as
SyRIP's published test file has it).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyper_sapiens.cli import main
from hyper_sapiens.data.records import InstanceRecord
from hyper_sapiens.evaluation.coco_areas import area_check
from hyper_sapiens.evaluation.photo_grid import TILE, photo_tile
from hyper_sapiens.evaluation.results_file import match_results
from hyper_sapiens.keypoints import COCO17

POSTURES = ["Supine", "Supine", "Prone", "Prone", "Sitting", "Sitting"]
SITES = ["A", "B", "A", "B", "A", "B"]
SMALL_BOX = (40.0, 30.0, 120.0, 100.0)  # x, y, w, h in a 200x160 image
LARGE_BOX = (400.0, 300.0, 960.0, 800.0)  # in the 1600x1200 image
AREA_RATIO = 16.0
# 17 keypoints as fractions of the box (distinct, inside it)
TEMPLATE = np.stack([np.linspace(0.1, 0.9, 17), 0.15 + 0.7 * ((np.arange(17) * 7) % 17) / 16], axis=1)


def _box(i: int) -> tuple[float, float, float, float]:
    return LARGE_BOX if i == 5 else SMALL_BOX


def _truth(i: int) -> np.ndarray:
    x, y, w, h = _box(i)
    return TEMPLATE * [w, h] + [x, y]


@pytest.fixture(scope="module")
def syrip(tmp_path_factory) -> Path:
    """SyRIP's validate split in FiDIP's layout, drawn; returns the SyRIP folder."""
    root = tmp_path_factory.mktemp("syrip_fidip")
    (root / "annotations").mkdir()
    images_dir = root / "images" / "validate_infant"
    images_dir.mkdir(parents=True)
    images, annotations = [], []
    for i in range(6):
        width, height = (1600, 1200) if i == 5 else (200, 160)
        x, y, w, h = _box(i)
        kp = _truth(i)
        picture = np.full((height, width, 3), 90 + 20 * i, np.uint8)
        cv2.rectangle(picture, (int(x), int(y)), (int(x + w), int(y + h)), (200, 170, 150), -1)
        for px, py in kp:
            cv2.circle(picture, (int(px), int(py)), max(2, int(w) // 60), (40, 40, 200), -1)
        assert cv2.imwrite(str(images_dir / f"test{i}.jpg"), picture)
        images.append({"id": i, "file_name": f"test{i}.jpg", "width": width, "height": height,
                       "is_synthetic": False, "posture": POSTURES[i], "site": SITES[i]})
        annotations.append({"id": 100 + i, "image_id": i, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                            "bbox": [x, y, w, h], "area": AREA_RATIO * w * h,
                            "keypoints": np.concatenate([kp, np.full((17, 1), 2.0)], 1).reshape(-1).tolist()})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.names)}]}
    (root / "annotations" / "person_keypoints_validate_infant.json").write_text(json.dumps(coco))
    return root


def _results(shifts: dict[int, np.ndarray] | None = None, ids=range(6)) -> list[dict]:
    """The ground truth as COCO results, keypoints of image i moved by ``shifts[i]`` ``(17, 2)`` pixels."""
    out = []
    for i in ids:
        kp = _truth(i) + (shifts or {}).get(i, 0.0)
        out.append({"image_id": i, "category_id": 1, "score": 0.9,
                    "keypoints": np.concatenate([kp, np.full((17, 1), 0.8)], 1).reshape(-1).tolist()})
    return out


def _evaluate(syrip: Path, tmp_path: Path, results: list | None, *extra: str, name: str = "res.json") -> tuple:
    path = tmp_path / name
    path.write_text(json.dumps(results))
    out = tmp_path / "eval"
    rc = main(["evaluate", "--predictions", str(path), "--config", "eval_syrip_real", f"data.syrip={syrip}", *extra,
               "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text()) if rc == 0 else None
    return rc, metrics, out


def test_perfect_predictions_score_one_everywhere_per_posture_and_both_ap(syrip, tmp_path, capsys):
    rc, m, out = _evaluate(syrip, tmp_path, _results())
    assert rc == 0
    assert m["pck@0.05"] == 1.0 and m["epe"] == 0.0 and m["num_instances"] == 6
    assert m["coco_ap"] == pytest.approx(1.0) and m["coco_ap_box_area"] == pytest.approx(1.0)
    groups = m["groups"]["posture"]
    assert sorted(groups) == ["Prone", "Sitting", "Supine"]
    for g in groups.values():
        assert g["pck@0.05"] == 1.0 and g["num_instances"] == 2 and g["coco_ap_box_area"] == pytest.approx(1.0)
    report = (out / "report.md").read_text()
    assert "## Per `posture`" in report and "| Prone | 2 | 1.0000" in report
    for name in ("predictions_best.png", "predictions_worst.png", "pck_curve.png"):
        assert cv2.imread(str(out / name)) is not None, name
    assert "posture Sitting: PCK@0.05 1.0000" in capsys.readouterr().out


def test_shifted_predictions_give_the_expected_pck_normalised_by_the_longer_box_side(syrip, tmp_path):
    long_side = 120.0  # the small boxes are 120 x 100
    shifts = {2: np.zeros((17, 2)), 3: np.zeros((17, 2))}
    shifts[2][:8, 0] = 0.1 * long_side  # image 2 (Prone): 8 joints off by 0.1 of the box -> wrong
    shifts[3][8, 0] = 0.049 * long_side  # just inside the threshold -> right
    shifts[3][9, 1] = 5.5  # 0.055 of the box height but 0.046 of its longer side -> right
    rc, m, _ = _evaluate(syrip, tmp_path, _results(shifts))
    assert rc == 0
    assert m["pck@0.05"] == pytest.approx((6 * 17 - 8) / (6 * 17))
    prone = m["groups"]["posture"]["Prone"]
    assert prone["pck@0.05"] == pytest.approx((34 - 8) / 34) and prone["num_instances"] == 2
    assert m["groups"]["posture"]["Supine"]["pck@0.05"] == 1.0
    assert m["pck_per_joint"]["nose"] == pytest.approx(5 / 6) and m["pck_per_joint"]["right_ankle"] == 1.0


def _expected_ap(oks: float) -> float:
    """COCO AP when every instance has this OKS: the share of thresholds 0.5, 0.55, ..., 0.95 it reaches."""
    thresholds = np.linspace(0.5, 0.95, 10)
    assert np.abs(thresholds - oks).min() > 1e-4  # not on a threshold: no rounding question
    return float((oks >= thresholds).mean())


def test_coco_ap_with_published_and_with_box_areas(syrip, tmp_path, caplog):
    c = 0.05  # every keypoint moved by c * sqrt(box area): the same OKS for every instance
    shifts = {i: np.tile([c * np.sqrt(_box(i)[2] * _box(i)[3]), 0.0], (17, 1)) for i in range(6)}
    with caplog.at_level(logging.WARNING, logger="hyper_sapiens.evaluation.coco_areas"):
        rc, m, _ = _evaluate(syrip, tmp_path, _results(shifts))
    assert rc == 0
    var = (2 * np.asarray(COCO17.sigmas)) ** 2
    oks_box = float(np.exp(-(c**2) / var / 2).mean())
    oks_published = float(np.exp(-(c**2) / var / AREA_RATIO / 2).mean())
    assert m["coco_ap_box_area"] == pytest.approx(_expected_ap(oks_box))
    assert m["coco_ap"] == pytest.approx(_expected_ap(oks_published))
    assert m["coco_ap"] > m["coco_ap_box_area"]
    assert m["groups"]["posture"]["Prone"]["coco_ap_box_area"] == pytest.approx(_expected_ap(oks_box))
    # the annotations' area is 16 x their box: one warning with the count, and the count in metrics.json
    warnings = [r for r in caplog.records if "area" in r.getMessage()]
    assert len(warnings) == 1 and "6 of 6 annotations" in warnings[0].getMessage()
    assert m["area_check"]["far_from_box"] == 6 and m["area_check"]["median_ratio"] == pytest.approx(AREA_RATIO)


def test_area_check_counts_areas_far_from_their_box():
    anns = [{"bbox": [0, 0, 10, 10], "area": a, "num_keypoints": 3} for a in (100.0, 1600.0, 5.0, 30.0, 390.0)]
    anns.append({"bbox": [0, 0, 10, 10], "area": 1e6, "num_keypoints": 0})  # not scored by COCO AP: not counted
    check = area_check({"annotations": anns})
    assert check["annotations"] == 5 and check["far_from_box"] == 2 and check["limits"] == [0.25, 4.0]


def test_group_by_any_image_field_or_none(syrip, tmp_path):
    rc, m, _ = _evaluate(syrip, tmp_path, _results(), "eval.group_by=site")
    assert rc == 0 and sorted(m["groups"]["site"]) == ["A", "B"] and m["groups"]["site"]["A"]["num_instances"] == 3
    rc, m, out = _evaluate(syrip, tmp_path, _results(), "eval.group_by=null")
    assert rc == 0 and m["groups"] == {} and "## Per" not in (out / "report.md").read_text()
    rc, m, out = _evaluate(syrip, tmp_path, _results(), "eval.group_by=weather")
    assert rc == 0 and m["groups"] == {} and "no image has the field `weather`" in (out / "report.md").read_text()


def test_errors_name_the_files_and_image_ids(syrip, tmp_path, capsys):
    rc, _, _ = _evaluate(syrip, tmp_path, _results(ids=[0, 1, 2, 3, 5]), name="missing.json")
    err = capsys.readouterr().err
    assert rc == 2 and "missing.json" in err and "no result for 1 labelled instances, in images [4]" in err
    rc, _, _ = _evaluate(syrip, tmp_path, _results() + [dict(_results()[0], image_id=99)], name="unknown.json")
    err = capsys.readouterr().err
    assert rc == 2 and "unknown.json" in err and "[99]" in err and "person_keypoints_validate_infant.json" in err
    bad = _results()
    bad[3]["keypoints"] = bad[3]["keypoints"][:50]
    rc, _, _ = _evaluate(syrip, tmp_path, bad, name="short.json")
    err = capsys.readouterr().err
    assert rc == 2 and "short.json: result #3 (image_id 3)" in err and "got 50" in err
    rc, _, _ = _evaluate(syrip, tmp_path, {"image_id": 0}, name="dict.json")
    assert rc == 2 and "dict.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", "a.safetensors", "--predictions", "b.json", "--config", "eval_syrip_real"])
    assert "not allowed with" in capsys.readouterr().err


def _record(image_id: int, offset: float) -> InstanceRecord:
    kp = TEMPLATE * 50 + offset
    return InstanceRecord(image_path="x.jpg", bbox=[offset, offset, offset + 50, offset + 50], keypoints=kp,
                          visible=np.ones(17), has_keypoints=True, domain="real", image_id=image_id)


def test_results_match_the_instance_they_are_closest_to():
    records = [_record(0, 0.0), _record(0, 300.0)]
    results = [{"image_id": 0, "score": s, "keypoints": np.concatenate([r.keypoints, np.ones((17, 1))], 1).ravel()}
               for s, r in ((0.9, records[1]), (0.5, records[0]))]
    assert match_results(records, results, "r.json") == [1, 0]


def test_photo_tiles_of_a_large_photograph_keep_the_box_and_the_keypoints_together():
    photo = np.zeros((3000, 4000, 3), np.uint8)
    photo[1000:2000, 1500:2500] = (255, 0, 0)  # the box, red
    tile, matrix = photo_tile(photo, np.array([1500, 1000, 2500, 2000], np.float32))
    assert tile.shape == (TILE, TILE, 3) and tile.dtype == np.uint8
    centre = matrix[:, :2] @ [2000.0, 1500.0] + matrix[:, 2]
    assert np.allclose(centre, (TILE - 1) / 2, atol=0.01)
    c = int(round(float(centre[0])))
    assert tuple(tile[c, c]) == (255, 0, 0) and tuple(tile[2, 2]) == (0, 0, 0)  # box in the middle, padding outside


def test_a_checkpoint_is_scored_the_same_way_with_crops_at_its_own_size(syrip, tmp_path):
    from hyper_sapiens.models.pretrained import packaged_weights_path

    out = tmp_path / "ckpt_eval"
    rc = main(["evaluate", "--checkpoint", str(packaged_weights_path("tiny_adult_pose")), "--config",
               "eval_syrip_real", f"data.syrip={syrip}", "data.workers=0", "--out", str(out), "--no-progress"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["num_instances"] == 6 and sorted(m["groups"]["posture"]) == ["Prone", "Sitting", "Supine"]
    for key in ("coco_ap", "coco_ap_box_area", "g_error", "g_error_median", "area_check"):
        assert m[key] is not None, key
    assert (out / "predictions_worst.png").is_file() and "## Per `posture`" in (out / "report.md").read_text()
