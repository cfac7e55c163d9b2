"""Synthetic adults, the pretraining recipe (``hyper-sapiens pretrain``) and its Sapiens-layout weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from file_helpers import tree_hash

from hyper_sapiens.cli import main
from hyper_sapiens.synth import render_sample, sample_shape
from hyper_sapiens.synth.adults import generate_adult_dataset
from hyper_sapiens.synth.body import rest_joints
from hyper_sapiens.synth.motion import POSTURES, sample_posture


def _proportions(population: str, n: int = 40) -> dict[str, float]:
    """Mean head height and leg length as fractions of the crown-heel length."""
    rng = np.random.default_rng(3)
    heads, legs = [], []
    for _ in range(n):
        shape = sample_shape(rng, population)
        j = rest_joints(shape)
        heads.append(2 * shape.head_radii[1] / shape.length)
        legs.append((j[1, 1] - j[7, 1]) / shape.length)  # hip to ankle
    return {"head": float(np.mean(heads)), "legs": float(np.mean(legs))}


def test_adults_have_adult_proportions_and_infants_keep_theirs():
    infant, adult = _proportions("infant"), _proportions("adult")
    # an infant's head is about a quarter of its length, an adult's about an eighth; adult legs are longer
    assert 0.2 < infant["head"] < 0.3, infant
    assert 0.1 < adult["head"] < 0.16, adult
    assert adult["legs"] > infant["legs"] + 0.08, (infant, adult)
    lengths = [sample_shape(np.random.default_rng(i), "adult").length for i in range(20)]
    assert 1.4 < min(lengths) and max(lengths) < 2.0, lengths
    with pytest.raises(ValueError, match="population"):
        sample_shape(np.random.default_rng(0), "giant")


def test_adult_postures_differ_from_infant_postures():
    rng = np.random.default_rng(0)
    adult = [sample_posture(rng, "adult") for _ in range(2000)]
    infant = [sample_posture(rng, "infant") for _ in range(2000)]
    share = {p: (adult.count(p) / 2000, infant.count(p) / 2000) for p in POSTURES}
    assert share["supine"][0] < share["supine"][1] - 0.2, share  # adults lie on the back less often
    # supine adults lie stretched out; supine infants flex hips and knees
    knees = {pop: np.mean([np.degrees(_angle(render_sample(i, "syn", (96, 96), posture="supine", population=pop),
                                             pop)) for i in range(12)]) for pop in ("infant", "adult")}
    assert knees["adult"] < knees["infant"] - 15, knees


def _angle(sample: dict, population: str) -> float:
    """Mean knee angle (radians between thigh and shank) of a rendered sample's 3D COCO joints."""
    j = sample["joints3d_coco"]
    out = []
    for hip, knee, ankle in ((11, 13, 15), (12, 14, 16)):
        a, b = j[hip] - j[knee], j[ankle] - j[knee]
        out.append(np.pi - np.arccos(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)))
    return float(np.mean(out))


@pytest.mark.slow
def test_adult_set_is_valid_coco_with_held_out_subjects_and_deterministic(tmp_path, capsys):
    from pycocotools.coco import COCO

    out = tmp_path / "adults"
    assert main(["synth", "--population", "adult", "--preset", "tiny", "--out", str(out), "--no-progress",
                 "--workers", "2"]) == 0
    assert "train 16, val 12" in capsys.readouterr().out
    subjects = {}
    for split in ("train", "val"):
        coco = COCO(str(out / "annotations" / f"{split}.json"))
        images = coco.dataset["images"]
        assert all(im["population"] == "adult" for im in images)
        assert all((out / "images" / split / im["file_name"]).is_file() for im in images)
        anns = coco.dataset["annotations"]
        assert all(a["num_keypoints"] >= 10 and len(a["keypoints"]) == 51 for a in anns)
        subjects[split] = {im["subject"] for im in images}
    assert not subjects["train"] & subjects["val"]
    again = tmp_path / "again"
    generate_adult_dataset(again, preset="tiny", seed=0, workers=1, progress=False)
    assert tree_hash(out) == tree_hash(again)
    assert main(["synth", "--population", "adult", "--preset", "demo", "--out", str(tmp_path / "x")]) == 2


def test_synth_refuses_to_write_adults_over_an_infant_set(tiny_dataset, tmp_path):
    import shutil

    copy = tmp_path / "infants"
    shutil.copytree(tiny_dataset, copy)
    with pytest.raises(FileExistsError, match="another synth data set"):
        generate_adult_dataset(copy, preset="tiny", workers=1, progress=False)


@pytest.mark.slow
def test_pretrain_recipe_in_pieces_writes_sapiens_layout_weights_and_manifest(tmp_path):
    """--stop-after then --resume completes the schedule; the weights load strictly as a Sapiens pose file."""
    from safetensors import safe_open

    from hyper_sapiens.config import load_config
    from hyper_sapiens.models import build_model, load_sapiens_checkpoint
    from hyper_sapiens.portable_paths import absolute_paths_in

    out = tmp_path / "pretrain"
    common = ["pretrain", "--config", "pretrain_tiny_adult", "--out", str(out), "--adult-preset", "tiny",
              "--infant-preset", "tiny", "--no-progress",
              "--device", "cpu", "--set", "run.steps=4", "--set", "run.eval_every=2", "--set", "run.ckpt_every=1",
              "--set", "data.batch.counts.adults=4", "--set", "data.workers=0"]
    assert main([*common, "--stop-after", "2"]) == 0
    assert not (out / "tiny_adult_pose.safetensors").exists()
    assert main(common) == 2  # last.ckpt exists: --resume is required
    assert main([*common, "--resume"]) == 0
    manifest = json.loads((out / "tiny_adult_pose.json").read_text())
    weights = out / "tiny_adult_pose.safetensors"
    assert manifest["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest["steps"] == 4 and manifest["seed"] == 0 and manifest["recipe"]["config"] == "pretrain_tiny_adult"
    assert [c["step"] for c in manifest["learning_curve"]] == [2, 4]
    assert all("adults_pck@0.05" in c and "infants_pck@0.05" in c for c in manifest["learning_curve"])
    assert set(manifest["figures"]) == {"adults_val", "infants_test_real"}
    assert absolute_paths_in(manifest) == [] and str(tmp_path) not in json.dumps(manifest)
    assert manifest["data"]["adults"]["path"] == "OUT/data/adults" and "terms" in manifest["data"]["adults"]
    assert manifest["recipe"]["resolved_config"]["run"]["dir"] == "OUT/train"
    with safe_open(str(weights), framework="pt") as fh:
        keys = list(fh.keys())
        assert {k.split(".")[0] for k in keys} == {"backbone", "head"}
        assert all(fh.get_tensor(k).dtype.is_floating_point for k in keys)
        assert fh.get_tensor("backbone.pos_embed").dtype == __import__("torch").float16
    cfg = load_config("pretrain_tiny_adult")
    report = load_sapiens_checkpoint(build_model(cfg.model), weights, part="pose", strict=True)
    assert report.ok and not report.missing


def test_low_confidence_joints_are_marked_not_hidden():
    from hyper_sapiens.evaluation.plots import draw_skeleton

    image = np.zeros((64, 64, 3), np.uint8)
    kp = np.tile(np.array([[32.0, 32.0]]), (17, 1))
    kp[0] = (10, 10)
    scores = np.ones(17)
    scores[0] = 0.1
    hidden = draw_skeleton(image, kp, scores, radius=4, low_confidence="hide")
    marked = draw_skeleton(image, kp, scores, radius=4, low_confidence="mark")
    assert hidden[6:15, 6:15].sum() == 0  # the low-confidence nose is not drawn
    ring = marked[6:15, 6:15].sum(axis=2)
    assert ring.sum() > 0 and ring[4, 4] == 0  # drawn as a hollow circle


def _real_adults_folder(adults: Path, root: Path) -> Path:
    """A stand-in for the real-adult crops in their layout (annotations/person_keypoints_{train,val}.json,
    images/<source>/...), drawn from a rendered adult set; as in LSP and MPII, the face points of the
    "lsp" images are unlabelled (v = 0)."""
    import shutil

    for split in ("train", "val"):
        data = json.loads((adults / "annotations" / f"{split}.json").read_text())
        by_id = {}
        for i, image in enumerate(data["images"]):
            source = "lsp" if i % 2 else "coco"
            target = root / "images" / source / f"{split}_{image['file_name']}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(adults / "images" / split / image["file_name"], target)
            image["file_name"] = f"{source}/{target.name}"
            image["source"] = source
            by_id[image["id"]] = source
        for ann in data["annotations"]:
            if by_id[ann["image_id"]] == "lsp":
                for j in range(5):
                    ann["keypoints"][3 * j: 3 * j + 3] = [0, 0, 0]
                ann["num_keypoints"] = sum(1 for v in ann["keypoints"][2::3] if v > 0)
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"person_keypoints_{split}.json").write_text(json.dumps(data))
    return root


def _fidip_syrip_folder(infants: Path, root: Path) -> Path:
    """A SyRIP folder in FiDIP's layout whose validate images are a rendered set's test_real images."""
    import shutil

    data = json.loads((infants / "syrip" / "annotations" / "test_real.json").read_text())
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "person_keypoints_validate_infant.json").write_text(json.dumps(data))
    shutil.copytree(infants / "syrip" / "images" / "test_real", root / "images" / "validate_infant")
    return root


@pytest.mark.slow
def test_real_recipe_starts_from_the_shipped_weights_and_names_its_sources_without_paths(tmp_path):
    """pretrain_tiny_real from tiny_adult_pose (here with 2 real + 2 rendered adults a step, so that both sources
    are read), every evaluation set on the curve,
    the manifest's data sources named with their terms and paths relative to named folders."""
    from hyper_sapiens.portable_paths import absolute_paths_in

    out = tmp_path / "pretrain"
    common = ["pretrain", "--out", str(out), "--adult-preset", "tiny", "--infant-preset", "tiny", "--no-progress",
              "--device", "cpu", "--set", "run.steps=2", "--set", "run.eval_every=2", "--set", "run.ckpt_every=1",
              "--set", "data.batch.counts.adults=2", "--set", "data.batch.counts.real_adults=2",
              "--set", "data.workers=0"]
    assert main(common) == 2  # the real recipe needs --real-adults
    from hyper_sapiens.synth import generate_dataset

    generate_adult_dataset(out / "data" / "adults", preset="tiny", seed=0, workers=1, progress=False)
    generate_dataset(out / "data" / "demo", preset="tiny", seed=0, workers=1, progress=False)  # reused by the verb
    real = _real_adults_folder(out / "data" / "adults", tmp_path / "real-adults")
    syrip = _fidip_syrip_folder(out / "data" / "demo", tmp_path / "syrip")
    assert main([*common, "--real-adults", str(tmp_path / "nowhere")]) == 2
    real_out = out
    assert main([*common, "--real-adults", str(real), "--syrip", str(syrip)]) == 0
    records = [json.loads(line) for line in (real_out / "train" / "metrics.jsonl").read_text().splitlines()]
    samples = [r["samples"] for r in records if "loss" in r]
    assert samples and set(samples) == {4}  # 2 real + 2 rendered adults a step
    logged = {key for r in records if r["step"] == 2 for key in r}
    assert {"eval", "eval_adults_rendered", "eval_infants_test_real", "eval_syrip_validate"} <= logged
    manifest = json.loads((real_out / "tiny_real_pose.json").read_text())
    assert manifest["recipe"]["config"] == "pretrain_tiny_real"
    assert set(manifest["figures"]) == {"real_adults_val", "adults_rendered", "infants_test_real", "syrip_validate"}
    by_posture = manifest["figures"]["syrip_validate"]["pck@0.05_by_posture"]  # the drawn set's postures
    assert by_posture and all(0.0 <= v <= 1.0 for v in by_posture.values())
    assert set(manifest["learning_curve"][-1]) == {
        "step", "real_adults_pck@0.05", "adults_rendered_pck@0.05", "infants_pck@0.05", "syrip_validate_pck@0.05"}
    assert set(manifest["data"]) == {"adults", "infants", "real_adults", "syrip"}
    assert manifest["data"]["real_adults"]["path"] == "REAL_ADULTS"
    assert "non-commercial" in manifest["data"]["real_adults"]["terms"]
    assert absolute_paths_in(manifest) == [] and str(tmp_path) not in json.dumps(manifest)
    assert manifest["recipe"]["command"].startswith("hyper-sapiens pretrain --config pretrain_tiny_real "
                                                    "--real-adults REAL_ADULTS --syrip SYRIP")
    assert set(manifest["paths"]) == {"OUT", "REAL_ADULTS", "SYRIP"}
