"""``benchmarks/peers.py`` without a TFLite file: the square crops, the map back from MoveNet's crop fractions to image
pixels, the results file and the scoring path, with MoveNet-like stand-ins on images drawn in FiDIP's layout.

Each drawn image is dark with one bright 5×5 dot at the nose's labelled position; one image is 640×480 with its box
at the right edge (the square crop leaves the image there), one box is taller than wide.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from benchmark_helpers import load_benchmark

from hyper_sapiens.keypoints import COCO17

SIZE = 192  # MoveNet Lightning's input side
#: (image width, height, box x, y, w, h): a small image, a box at the right edge of a larger one, a tall box
IMAGES = [
    (200, 160, 40.0, 30.0, 120.0, 100.0),
    (640, 480, 420.0, 100.0, 219.0, 300.0),
    (300, 400, 100.0, 60.0, 90.0, 280.0),
]
POSTURES = ["Supine", "Prone", "Sitting"]
TEMPLATE = np.stack([np.linspace(0.1, 0.9, 17), 0.15 + 0.7 * ((np.arange(17) * 7) % 17) / 16], axis=1)


peers = load_benchmark("peers")


def _truth(i: int) -> np.ndarray:
    _, _, x, y, w, h = IMAGES[i]
    return TEMPLATE * [w, h] + [x, y]


@pytest.fixture(scope="module")
def syrip(tmp_path_factory) -> Path:
    """A SyRIP validate split in FiDIP's layout, drawn; also copied as a demo folder's ``test_real``."""
    root = tmp_path_factory.mktemp("peers") / "syrip"
    (root / "annotations").mkdir(parents=True)
    images_dir = root / "images" / "validate_infant"
    images_dir.mkdir(parents=True)
    images, annotations = [], []
    for i, (width, height, x, y, w, h) in enumerate(IMAGES):
        kp = _truth(i)
        picture = np.full((height, width, 3), 20, np.uint8)
        nx, ny = (int(round(v)) for v in kp[0])
        picture[ny - 2:ny + 3, nx - 2:nx + 3] = 255
        assert cv2.imwrite(str(images_dir / f"test{i}.png"), picture)
        images.append({"id": i, "file_name": f"test{i}.png", "width": width, "height": height,
                       "is_synthetic": False, "posture": POSTURES[i]})
        kp[0] = (nx, ny)
        annotations.append({"id": 100 + i, "image_id": i, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                            "bbox": [x, y, w, h], "area": w * h,
                            "keypoints": np.concatenate([kp, np.full((17, 1), 2.0)], 1).reshape(-1).tolist()})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.names)}]}
    (root / "annotations" / "person_keypoints_validate_infant.json").write_text(json.dumps(coco))
    demo = root.parent / "demo"
    (demo / "syrip" / "annotations").mkdir(parents=True)
    shutil.copy(root / "annotations" / "person_keypoints_validate_infant.json",
                demo / "syrip" / "annotations" / "test_real.json")
    shutil.copytree(images_dir, demo / "syrip" / "images" / "test_real")
    return root


def _dot_finder(crop: np.ndarray) -> np.ndarray:
    """A MoveNet-like stand-in: every joint at the centroid of the crop's bright pixels, as fractions of the crop."""
    assert crop.shape == (SIZE, SIZE, 3) and crop.dtype == np.uint8
    ys, xs = np.nonzero(crop.mean(2) > 100)
    out = np.zeros((17, 3), np.float32)
    out[:] = (ys.mean() / (SIZE - 1), xs.mean() / (SIZE - 1), 0.9)
    return out


def test_known_crop_fractions_map_back_to_the_square_around_the_box(syrip: Path) -> None:
    records = peers.set_records(peers.eval_config("syrip_validate", syrip))
    for rec, (width, height, x, y, w, h) in zip(records, IMAGES, strict=True):
        image = np.zeros((height, width, 3), np.uint8)
        crop, matrix = peers.square_crop(image, rec.bbox, SIZE)
        assert crop.shape == (SIZE, SIZE, 3)
        side = 1.25 * max(w, h)  # the labelled box's longer side, padded; centred on the box
        cx, cy = x + w / 2, y + h / 2
        yxs = np.array([[0.0, 0.0, 0.5], [1.0, 1.0, 0.5], [0.5, 0.5, 0.5], [0.25, 0.75, 0.7]])
        got = peers.crop_fractions_to_image(yxs, matrix, SIZE)
        want = np.array([[cx - side / 2, cy - side / 2], [cx + side / 2, cy + side / 2], [cx, cy],
                         [cx + 0.25 * side, cy - 0.25 * side]])
        np.testing.assert_allclose(got[:, :2], want, atol=1e-3)
        np.testing.assert_allclose(got[:, 2], yxs[:, 2])


def test_crop_is_black_outside_the_image(syrip: Path) -> None:
    records = peers.set_records(peers.eval_config("syrip_validate", syrip))
    rec = records[1]  # the box at the right edge of a 640-pixel-wide image
    image = np.full((480, 640, 3), 200, np.uint8)
    crop, matrix = peers.square_crop(image, rec.bbox, SIZE)
    right_edge = peers.crop_fractions_to_image(np.array([[0.5, 1.0, 0.0]]), matrix, SIZE)[0, 0]
    assert right_edge > 640  # the square reaches past the image ...
    assert (crop[:, -3:] == 0).all() and (crop[:, :SIZE // 2] == 200).all()  # ... and is black there


def test_a_dot_found_in_the_crop_lands_on_its_image_pixel(syrip: Path) -> None:
    records = peers.set_records(peers.eval_config("syrip_validate", syrip))
    results = peers.peer_results(records, _dot_finder, SIZE)
    assert [r["image_id"] for r in results] == [0, 1, 2]
    for rec, result, (*_, w, h) in zip(records, results, IMAGES, strict=True):
        kp = np.asarray(result["keypoints"]).reshape(17, 3)
        image_px_per_crop_px = 1.25 * max(w, h) / (SIZE - 1)
        assert np.linalg.norm(kp[0, :2] - rec.keypoints[0]) < 0.75 * image_px_per_crop_px + 0.5
        assert result["category_id"] == 1 and result["score"] == pytest.approx(0.9)


def test_results_are_scored_by_the_project_evaluation(syrip: Path, tmp_path: Path) -> None:
    for set_name, root in (("syrip_validate", syrip), ("demo_test_real", syrip.parent / "demo")):
        cfg = peers.eval_config(set_name, root)
        results = peers.peer_results(peers.set_records(cfg), _dot_finder, SIZE)
        metrics = peers.score_results(results, cfg, tmp_path / set_name)
        assert (tmp_path / set_name / "results.json").is_file() and (tmp_path / set_name / "report.md").is_file()
        row = peers.summary(metrics)
        assert row["num_instances"] == 3
        assert metrics["pck_per_joint"]["nose"] == 1.0  # the nose, found in every crop
        assert 0.0 < row["pck@0.05"] < 1.0  # every other joint sits on the nose too
        assert set(row["pck_per_posture"]) == set(POSTURES)
        assert row["coco_ap"] is not None and row["coco_ap_box_area"] is not None
    report = {"models": {"stand-in": {"syrip_validate": row, "demo_test_real": None}}}
    table = peers.markdown_table(report)
    assert table.splitlines()[2].startswith("| stand-in | ") and table.splitlines()[2].endswith("|  |  |  |")


def test_a_wrong_prediction_names_the_image(syrip: Path) -> None:
    records = peers.set_records(peers.eval_config("syrip_validate", syrip))
    with pytest.raises(ValueError, match="test0.png"):
        peers.peer_results(records, lambda crop: np.full((17, 3), np.nan), SIZE)


def test_missing_litert_names_the_extra(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(peers.MissingExtraError, match=r"\.\[peers\]"):
        peers.MoveNet(tmp_path / "movenet.tflite")
    assert peers.main(["--syrip", str(tmp_path), "--movenet", str(tmp_path / "movenet.tflite")]) == 2


def test_demo_folder_without_test_real_is_an_error(tmp_path: Path, capsys) -> None:
    assert peers.main(["--demo-data", str(tmp_path), "--packaged", "tiny_adult_pose"]) == 2
    assert "test_real.json" in capsys.readouterr().err
