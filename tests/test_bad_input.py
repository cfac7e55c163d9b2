"""Bad numbers never become silent wrong figures: named errors at load time, null in JSON, left out of COCO AP.

Every input is built here (small COCO keypoint files, grey or noisy images, truncated copies, detection files and a
one-step tiny model); nothing outside the repository is read. Policy: docs/errors.md.
"""

from __future__ import annotations

import json
import logging
import math
import re

import cv2
import numpy as np
import pytest

from hyper_sapiens import json_safe
from hyper_sapiens.data.coco_topdown import CocoTopDownDataset
from hyper_sapiens.data.io import DataFileError, read_image
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


# ------------------------------------------------------------------------------ broken files (built here)
def _photo(seed: int, size: tuple[int, int] = (160, 200)) -> np.ndarray:
    """A noisy picture, so a JPEG of it has real scan data to cut."""
    return (np.random.default_rng(seed).random((*size, 3)) * 255).astype(np.uint8)


def _labelled_set(root, name: str, count: int, ext: str = ".jpg") -> tuple:
    """``count`` noisy images ``1.jpg ...`` with one person each; returns ``(ann_file, image_dir, image_files)``."""
    images = root / name
    images.mkdir(parents=True)
    files, entries = [], []
    for i in range(1, count + 1):
        path = images / f"{i}{ext}"
        cv2.imwrite(str(path), _photo(i))
        files.append(path)
        entries.append({"id": i, "file_name": path.name, "width": 200, "height": 160})
    anns = [_person(100 + i, i, 20 + 5 * i, 30) for i in range(1, count + 1)]
    ann_file = root / f"{name}.json"
    ann_file.write_text(json.dumps({"images": entries, "annotations": anns,
                                    "categories": [{"id": 1, "name": "person"}]}), encoding="utf-8")
    return ann_file, images, files


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_a_truncated_image_is_an_error_naming_the_file(tmp_path, ext):
    path = tmp_path / f"photo{ext}"
    cv2.imwrite(str(path), _photo(0))
    assert read_image(path).shape == (160, 200, 3)
    path.write_bytes(path.read_bytes() + b"\0" * 16)  # padding after the end marker is allowed
    assert read_image(path).shape == (160, 200, 3)
    _truncate(path, 0.6)
    if ext == ".jpg":
        assert cv2.imread(str(path)) is not None  # OpenCV alone decodes what is left (rows grey), warns without name
    with pytest.raises(DataFileError, match=rf"{path}: truncated {'JPEG' if ext == '.jpg' else 'PNG'}"):
        read_image(path)


def test_an_empty_or_undecodable_image_is_an_error_naming_the_file(tmp_path):
    for name, data in (("empty.png", b""), ("text.jpg", b"not a jpeg at all")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataFileError, match=rf"cannot decode image {tmp_path / name}"):
            read_image(tmp_path / name)


def test_a_dataloader_worker_error_keeps_its_message(tmp_path):
    from torch.utils.data import DataLoader

    ann_file, images, files = _labelled_set(tmp_path, "imgs", 2)
    _truncate(files[1])
    loader = DataLoader(_load(ann_file, images), batch_size=2, num_workers=1)
    with pytest.raises(DataFileError) as info:
        next(iter(loader))
    assert str(info.value) == f"{files[1]}: truncated JPEG (no end-of-image marker FF D9 after its last scan)"


def test_truncated_json_names_the_file(tmp_path):
    ann_file, images, _ = _labelled_set(tmp_path, "imgs", 1)
    text = ann_file.read_text()
    ann_file.write_text(text[: len(text) // 2])
    with pytest.raises(DataFileError, match=rf"malformed JSON in {ann_file}"):
        _load(ann_file, images)


def test_wrong_keypoint_count_names_file_and_annotation(tmp_path):
    ann = _person(198196, 1, 20, 30)
    ann["keypoints"] = ann["keypoints"][:-3]
    ann_file, images = _coco(tmp_path, [ann])
    with pytest.raises(DataFileError, match=rf"{ann_file}: annotation 198196 has 48 keypoint values, expected 51"):
        _load(ann_file, images)


# ------------------------------------------------------------------------------ detection boxes
def _detections(tmp_path, boxes: list) -> object:
    dets = [{"image_id": 1, "category_id": 1, "bbox": box, "score": 0.9} for box in boxes]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets), encoding="utf-8")  # NaN/Infinity written as bare tokens
    return path


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ([10, 10, -5, 40], r"detection #1 \(image_id 1\): negative box size -5 x 40"),
        ([10, float("nan"), 5, 40], r"detection #1 \(image_id 1\): non-finite bbox"),
        ([10, 10, float("inf"), 40], r"detection #1 \(image_id 1\): non-finite bbox"),
    ],
)
def test_a_broken_detection_box_is_an_error_naming_file_and_entry(tmp_path, box, message):
    from hyper_sapiens.data.unlabeled_topdown import UnlabeledTopDownDataset

    ann_file, images = _coco(tmp_path, [_person(7, 1, 20, 30)])
    dets = _detections(tmp_path, [[20, 30, 60, 90], box])
    transform = TopDownTransform(PipelineConfig(input_size=(48, 64), heatmap_size=(12, 16)), train=False)
    with pytest.raises(DataFileError, match=rf"{dets}: {message}"):
        CocoTopDownDataset(ann_file, images, transform, detections=dets, use_dense=False)
    with pytest.raises(DataFileError, match=rf"{dets}: {message}"):
        UnlabeledTopDownDataset(images, dets, transform, images_json=ann_file)


def test_zero_size_detection_boxes_are_counted_and_logged(tmp_path, caplog):
    ann_file, images = _coco(tmp_path, [_person(7, 1, 20, 30)])
    dets = _detections(tmp_path, [[20, 30, 60, 90], [10, 10, 0, 40]])
    transform = TopDownTransform(PipelineConfig(input_size=(48, 64), heatmap_size=(12, 16)), train=False)
    with caplog.at_level(logging.WARNING):
        ds = CocoTopDownDataset(ann_file, images, transform, detections=dets, use_dense=False)
    assert len(ds) == 1 and ds.skipped == {"empty detection boxes": 1}
    assert "skipped 1 empty detection boxes" in caplog.text


def test_a_detection_box_outside_its_image_is_an_error_naming_file_and_entry(tmp_path):
    ann_file, images = _coco(tmp_path, [_person(7, 1, 20, 30)])
    dets = _detections(tmp_path, [[20, 30, 60, 90], [250, 10, 30, 40]])  # the image is 200 wide
    transform = TopDownTransform(PipelineConfig(input_size=(48, 64), heatmap_size=(12, 16)), train=False)
    ds = CocoTopDownDataset(ann_file, images, transform, detections=dets, use_dense=False)
    assert ds[0]["image"].shape == (3, 64, 48)
    with pytest.raises(DataFileError, match=rf"{dets}: detection #1 \(image_id 1\): box \[250, 10, 30, 40\] .* "
                                            r"lies outside the image .*a.png \(200x160\)"):
        ds[1]


# ------------------------------------------------------------------------------ through the command line
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> dict:
    """A 64x96 tiny ViT trained one step on 4 noisy pictures, a clean 3-picture validation set and the run's
    config; each test copies what it breaks."""
    from engine_helpers import tiny_stage_config
    from omegaconf import OmegaConf

    from hyper_sapiens.engine.trainer import Trainer

    root = tmp_path_factory.mktemp("bad_input_run")
    train_ann, train_images, _ = _labelled_set(root, "train", 4)
    val_ann, val_images, _ = _labelled_set(root, "val", 3)
    cfg = tiny_stage_config(root, root / "run", **{"run.steps": 1, "run.ckpt_every": 0})
    cfg.model.heads = {"pose": {"deconv_channels": [32, 32], "conv_channels": [32]}}
    cfg.loss = {"pose": {"weight": 1.0}}
    cfg.data.sources.syn.update(ann_file=str(train_ann), image_root=str(train_images), labelled="all")
    cfg.data.val.update(ann_file=str(val_ann), image_root=str(val_images))
    trainer = Trainer(cfg, progress=False)
    trainer.fit()
    trainer.close()
    config = root / "stage.yaml"
    config.write_text(OmegaConf.to_yaml(cfg), encoding="utf-8")
    return {"root": root, "config": config, "weights": root / "run" / "final.safetensors", "cfg": cfg}


def _broken_copy(src, dst, index: int):
    """Copy an image folder and truncate its ``index``-th image (sorted by name); returns that file."""
    import shutil

    shutil.copytree(src, dst)
    broken = sorted(dst.iterdir())[index]
    _truncate(broken)
    return broken


def test_evaluate_refuses_a_truncated_image_and_names_it(tiny_run, tmp_path, capsys):
    from hyper_sapiens.cli import main

    broken = _broken_copy(tiny_run["root"] / "val", tmp_path / "val", 1)
    code = main(["evaluate", "--checkpoint", str(tiny_run["weights"]), "--config", str(tiny_run["config"]),
                 "--out", str(tmp_path / "eval"), "--no-progress", f"data.val.image_root={tmp_path / 'val'}"])
    err = capsys.readouterr().err
    assert code == 2 and f"evaluate: error: {broken}: truncated JPEG" in err and "Traceback" not in err
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_predict_refuses_a_truncated_image_and_names_it(tiny_run, tmp_path, capsys):
    from hyper_sapiens.cli import main

    broken = _broken_copy(tiny_run["root"] / "val", tmp_path / "imgs", 0)
    code = main(["predict", "--checkpoint", str(tiny_run["weights"]), "--images", str(tmp_path / "imgs"),
                 "--out", str(tmp_path / "kp.json")])
    err = capsys.readouterr().err
    assert code == 2 and f"predict: error: {broken}: truncated JPEG" in err and "Traceback" not in err
    assert not (tmp_path / "kp.json").exists()


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ([500, 500, 40, 40], r"box \[500, 500, 40, 40\] \(x, y, w, h\) lies outside the image"),
        ([10, 10, -40, 40], "negative box size -40 x 40"),
        ([10, 10, 40, float("nan")], "non-finite bbox"),
    ],
)
def test_predict_refuses_a_broken_detection_box_and_names_file_and_entry(tiny_run, tmp_path, capsys, box, message):
    from hyper_sapiens.cli import main

    dets = _detections(tmp_path, [[20, 30, 60, 90], box])
    code = main(["predict", "--checkpoint", str(tiny_run["weights"]), "--images", str(tiny_run["root"] / "val"),
                 "--detections", str(dets), "--out", str(tmp_path / "kp.json")])
    err = capsys.readouterr().err
    assert code == 2 and re.search(rf"predict: error: {dets}: detection #1 \(image_id 1\): {message}", err), err
    assert not (tmp_path / "kp.json").exists()


def _train(tiny_run, tmp_path, broken_images, *overrides: str) -> int:
    from hyper_sapiens.cli import main

    return main(["train", "--config", str(tiny_run["config"]), "--no-progress", f"run.dir={tmp_path / 'run'}",
                 f"data.sources.syn.image_root={broken_images}", "run.steps=2", *overrides])


@pytest.mark.parametrize("workers", [0, 1])
def test_train_stops_on_a_truncated_image_with_a_named_error(tiny_run, tmp_path, capsys, workers):
    broken = _broken_copy(tiny_run["root"] / "train", tmp_path / "train", 2)
    assert _train(tiny_run, tmp_path, tmp_path / "train", f"data.workers={workers}") == 2
    err = capsys.readouterr().err
    assert f"train: error: {broken}: truncated JPEG" in err and "Traceback" not in err


def test_train_with_skip_bad_skips_a_truncated_image_counted_in_metrics(tiny_run, tmp_path, capsys):
    _broken_copy(tiny_run["root"] / "train", tmp_path / "train", 2)
    assert _train(tiny_run, tmp_path, tmp_path / "train", "data.skip_bad=true") == 0
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    bad = [r["bad_samples"] for r in records if "bad_samples" in r]
    assert bad and bad[-1] >= 1 and json.loads(out.strip().splitlines()[-1])["bad_samples"] == bad[-1]
    assert f"train: skipped {bad[-1]} broken samples" in err


def test_the_demo_report_shows_skipped_broken_samples():
    from hyper_sapiens.demo import _report

    stages = {"stage1": {"steps": 4, "time_s": 1.0, "pck@0.05": 0.2, "bad_samples": 0},
              "stage3": {"steps": 2, "time_s": 1.0, "pck@0.05": 0.3, "bad_samples": 3}}
    summary = {"from_scratch": False, "quick": True, "untrained_pck@0.05": 0.01, "pretrained_zero_shot_pck@0.05": None,
               "stages": stages, "pck@0.05": 0.3, "pck_auc": 0.4, "epe": 5.0, "g_error": 0.01, "coco_ap": None,
               "timings_s": {}, "total_time_s": 2.0}
    report = _report(summary, {})
    assert "- **stage3: 3 broken samples skipped** (`data.skip_bad`" in report and "stage1: 0" not in report
    stages["stage3"]["bad_samples"] = 0
    assert "broken samples" not in _report(summary, {})


def test_a_detection_that_is_not_numbers_is_an_error_naming_file_and_entry(tmp_path):
    from hyper_sapiens.data.unlabeled_topdown import UnlabeledTopDownDataset

    ann_file, images = _coco(tmp_path, [_person(7, 1, 20, 30)])
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 40], "score": "high"}]))
    transform = TopDownTransform(PipelineConfig(input_size=(48, 64), heatmap_size=(12, 16)), train=False)
    with pytest.raises(DataFileError, match=rf"{dets}: detection #0 \(image_id 1\): bbox and score must be numbers"):
        UnlabeledTopDownDataset(images, dets, transform, images_json=ann_file)


def test_train_prior_names_a_missing_data_root_with_exit_code_2(tmp_path, capsys):
    """Every verb exits 2 on bad input (docs/errors.md); train-prior with no skeleton files is one of them."""
    from hyper_sapiens.cli import main

    missing = tmp_path / "no_data_here"
    rc = main(["train-prior", "--config", "prior_demo", "--out", str(tmp_path / "prior"), "--no-progress",
               f"data.root={missing}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "train-prior: error:" in err and str(missing) in err
