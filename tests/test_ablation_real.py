"""``hyper-sapiens ablate --recipe real``: the ``*_real`` stage configs on a drawn SyRIP folder (FiDIP's layout),
drawn clip frames and tiny renders; scored on the held-out fold or on validate with a column per posture; a second
run of the same command keeps the finished runs and trains nothing."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyper_sapiens import ablation
from hyper_sapiens.cli import main
from hyper_sapiens.keypoints import COCO17

pytestmark = pytest.mark.slow  # renders, a prior and two short trainings

POSTURES = ["Prone", "Supine", "Sitting", "Standing", "Prone"]
TEMPLATE = np.stack([np.linspace(0.15, 0.85, 17), 0.1 + 0.8 * ((np.arange(17) * 7) % 17) / 16], axis=1)


def _split(root: Path, name: str, image_dir: str, count: int, stem: str) -> None:
    """``count`` drawn photographs with their labels: a COCO file in FiDIP's layout."""
    folder = root / "images" / image_dir
    folder.mkdir(parents=True)
    images, annotations = [], []
    for i in range(count):
        w, h = 96 + 8 * (i % 3), 80
        box = (10.0 + i % 4, 8.0, 60.0, 60.0)
        kp = TEMPLATE * box[2:] + box[:2]
        picture = np.full((h, w, 3), 60 + 15 * (i % 8), np.uint8)
        for x, y in kp:
            cv2.circle(picture, (int(x), int(y)), 2, (220, 200, 40), -1)
        file_name = f"{stem}{i:05d}.jpg" if stem == "train" else f"{stem}{i}.jpg"
        assert cv2.imwrite(str(folder / file_name), picture)
        images.append({"id": i, "file_name": file_name, "width": w, "height": h, "is_synthetic": False,
                       "posture": POSTURES[i % len(POSTURES)]})
        annotations.append({"id": 1000 + i, "image_id": i, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                            "bbox": list(box), "area": box[2] * box[3],
                            "keypoints": np.concatenate([kp, np.full((17, 1), 2.0)], 1).ravel().tolist()})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.names)}]}
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / name).write_text(json.dumps(coco))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    from hyper_sapiens.prior.command import load_prior_config
    from hyper_sapiens.prior.train import train_prior
    from hyper_sapiens.synth import generate_dataset

    root = tmp_path_factory.mktemp("ablate_real")
    syrip = root / "syrip"
    _split(syrip, "person_keypoints_train_infant.json", "train_infant", 10, "train")
    _split(syrip, "person_keypoints_validate_infant.json", "validate_infant", 5, "test")
    videos = root / "videos"
    videos.mkdir()
    writer = cv2.VideoWriter(str(videos / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 80))
    for t in range(6):
        frame = np.full((80, 96, 3), 40, np.uint8)
        cv2.rectangle(frame, (20 + 2 * t, 10), (70 + 2 * t, 70), (180, 160, 150), -1)
        writer.write(frame)
    writer.release()
    assert main(["frames", str(videos), "--every", "2", "--out", str(root / "frames"), "--no-progress"]) == 0
    renders = root / "renders"
    generate_dataset(renders, preset="tiny", seed=0, progress=False)
    out = root / "ablation"
    prior_cfg = load_prior_config("prior_demo", [f"data.root={renders}", "train.steps=20", "train.batch_size=32",
                                                 "train.progress=false"])
    train_prior(prior_cfg, str(out / "runs" / "prior"))
    return {"syrip": syrip, "frames": root / "frames", "renders": renders, "out": out}


SMALL = ["data.workers=0", "data.val_batch_size=8",
         "stage1:data.batch.counts.syn=3", "stage1:data.batch.counts.minirgbd=1",
         "stage2:data.batch.counts.syn=1", "stage2:data.batch.counts.syrip_train=2", "stage2:data.batch.counts.clips=1",
         "stage3:data.batch.counts.syn=1", "stage3:data.batch.counts.syrip_train=2", "stage3:data.batch.counts.clips=1"]


def _ablate(inputs: dict[str, Path], out: Path, *extra: str) -> int:
    return main(["ablate", "--recipe", "real", "--syrip", str(inputs["syrip"]), "--frames", str(inputs["frames"]),
                 "--data", str(inputs["renders"]), "--out", str(out), "--seeds", "0", "--steps", "6",
                 "--device", "cpu", "--no-progress", "--set", *SMALL, *extra])


def test_real_recipe_trains_scores_validate_per_posture_and_resumes(inputs, monkeypatch, capsys):
    out = inputs["out"]
    assert _ablate(inputs, out, "--variants", "pretrained", "real_only", "+prior", "--score", "validate") == 0, \
        capsys.readouterr().err
    result = json.loads((out / "ablation.json").read_text())
    assert result["recipe"] == "real" and result["score_on"] == "validate"
    for variant in ("pretrained", "real_only", "+prior"):
        (row,) = result["runs"][variant]
        assert set(row["groups"]) == {"Prone", "Supine", "Sitting", "Standing"}  # validate's 5 images
        assert 0.0 <= row["pck@0.05"] <= 1.0
    # the full method's stage 2 trained SDS on the clip frames and the labelled SyRIP folds
    stage2 = [json.loads(line) for line in (out / "runs" / "+prior_seed0" / "stage2" / "metrics.jsonl").open()]
    steps = [r for r in stage2 if "loss" in r]
    assert steps and all(r["real_samples"] == 3 and r["syn_samples"] == 1 for r in steps)
    assert any(r.get("sds", 0) > 0 for r in steps)
    table = (out / "ablation.md").read_text()
    assert "real photographs (scored on SyRIP validate)" in table and "| Sitting PCK ↑ |" in table

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(ablation, "run_variant", no_training)
    assert _ablate(inputs, out, "--variants", "pretrained", "real_only", "+prior", "--score", "validate") == 0
    assert json.loads((out / "ablation.json").read_text())["runs"] == result["runs"]
    # other settings in the same folder are refused, not mixed
    assert _ablate(inputs, out, "--variants", "pretrained", "--score", "fold") == 2
    assert "holds runs of other settings" in capsys.readouterr().err


def test_real_recipe_scores_the_held_out_fold_by_default(inputs, tmp_path, capsys):
    out = tmp_path / "fold"
    (out / "runs").mkdir(parents=True)
    (out / "runs" / "prior").symlink_to(inputs["out"] / "runs" / "prior")
    assert _ablate(inputs, out, "--variants", "pretrained") == 0, capsys.readouterr().err
    result = json.loads((out / "ablation.json").read_text())
    assert result["score_on"] == "fold"
    metrics = json.loads((out / "runs" / "pretrained_seed0" / "eval" / "metrics.json").read_text())
    assert metrics["num_instances"] == 2  # fold 0 of 5 of the 10 training images
    assert "held-out fold of SyRIP's training images" in (out / "ablation.md").read_text()


def test_real_recipe_needs_its_folders(tmp_path, capsys):
    assert main(["ablate", "--recipe", "real", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "needs --syrip" in capsys.readouterr().err
