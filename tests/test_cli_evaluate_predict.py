"""The evaluate and predict verbs end to end on a briefly trained small model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from engine_helpers import tiny_stage_config
from omegaconf import OmegaConf

from hyper_sapiens.cli import main
from hyper_sapiens.engine.trainer import Trainer

pytestmark = pytest.mark.slow  # every test uses the module's briefly trained model

COCO_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-mini"


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    cfg = tiny_stage_config(tiny_dataset, run, **{"run.steps": 4, "run.ckpt_every": 0})
    trainer = Trainer(cfg, progress=False)
    trainer.fit()
    trainer.close()
    cfg_file = run / "eval.yaml"
    cfg_file.write_text(OmegaConf.to_yaml(cfg))
    return run / "best.safetensors", cfg_file


def test_evaluate_writes_metrics_report_and_plots(trained, tmp_path, capsys):
    weights, cfg_file = trained
    out = tmp_path / "eval"
    assert (
        main(["evaluate", "--checkpoint", str(weights), "--config", str(cfg_file), "--out", str(out), "--no-progress"])
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("pck@0.05", "pck_per_joint", "keypoints_used", "g_error", "coco_ap", "num_instances", "epe"):
        assert key in metrics, key
    assert metrics["num_instances"] == 6 and len(metrics["pck_per_joint"]) == 17
    assert 0.0 <= metrics["pck@0.05"] <= 1.0 and metrics["coco_ap"] is not None
    for name in ("report.md", "pck_curve.png", "predictions_best.png", "predictions_worst.png"):
        assert (out / name).is_file(), name
    assert "PCK@0.05" in (out / "report.md").read_text()
    assert "PCK@0.05" in capsys.readouterr().out


@pytest.mark.skipif(not COCO_MINI.is_dir(), reason="shared/data/coco-mini not beside the checkout")
def test_predict_on_real_coco_photos_with_detections(trained, tmp_path):
    weights, _ = trained
    out = tmp_path / "kp.json"
    vis = tmp_path / "vis"
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(weights),
                "--images",
                str(COCO_MINI),
                "--detections",
                str(COCO_MINI / "test_coco_det_AP_H_56.json"),
                "--images-json",
                str(COCO_MINI / "test_coco.json"),
                "--score-thr",
                "0.5",
                "--out",
                str(out),
                "--vis",
                str(vis),
                "--batch-size",
                "8",
            ]
        )
        == 0
    )
    results = json.loads(out.read_text())
    dets = json.loads((COCO_MINI / "test_coco_det_AP_H_56.json").read_text())
    assert len(results) == sum(1 for d in dets if d["score"] >= 0.5)
    r = results[0]
    assert r["category_id"] == 1 and len(r["keypoints"]) == 51
    kp = np.array(r["keypoints"]).reshape(17, 3)
    x, y, w, h = r["bbox"]
    assert np.all(kp[:, 0] > x - w) and np.all(kp[:, 0] < x + 2 * w)  # image coordinates, near the box
    assert len(list(vis.glob("*.png"))) == 4


def test_predict_without_detections_uses_whole_images(trained, tmp_path):
    weights, _ = trained
    images = tmp_path / "imgs"
    images.mkdir()
    import cv2

    cv2.imwrite(str(images / "7.png"), np.full((60, 40, 3), 128, np.uint8))
    out = tmp_path / "kp.json"
    assert main(["predict", "--checkpoint", str(weights), "--images", str(images), "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert len(results) == 1 and results[0]["image_id"] == 7 and results[0]["bbox"] == [0.0, 0.0, 39.0, 59.0]


def test_evaluate_names_a_missing_checkpoint(trained, tmp_path, capsys):
    _, cfg_file = trained
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nope.safetensors"), "--config", str(cfg_file)]) == 2
    assert "nope.safetensors" in capsys.readouterr().err


def test_evaluate_and_predict_name_a_torchscript_checkpoint_without_a_traceback(trained, tmp_path, capsys):
    """A TorchScript archive runs code when loaded: refused as a named error (rc 2), never a traceback."""
    import zipfile

    _, cfg_file = trained
    hostile = tmp_path / "model_torchscript.pt"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("model/constants.pkl", b"")
        archive.writestr("model/code/__torch__.py", b"")
        archive.writestr("model/data.pkl", b"")
    assert main(["evaluate", "--checkpoint", str(hostile), "--config", str(cfg_file)]) == 2
    assert "model_torchscript.pt" in capsys.readouterr().err
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((40, 30, 3), 100, np.uint8))
    rc = main(["predict", "--checkpoint", str(hostile), "--images", str(images), "--out", str(tmp_path / "out.json")])
    assert rc == 2
    assert "model_torchscript.pt" in capsys.readouterr().err
