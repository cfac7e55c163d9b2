"""Datasets and the one-affine-per-sample pipeline: real COCO files, synthetic depth/normals, flips, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hyper_sapiens.data.coco_topdown import CocoTopDownDataset
from hyper_sapiens.data.io import DataFileError
from hyper_sapiens.data.loader import camera_to_map, collate, make_loader, normalize_images
from hyper_sapiens.data.minirgbd import MiniRGBDDataset
from hyper_sapiens.data.mixing import MixedDataset
from hyper_sapiens.data.pipeline import PipelineConfig, TopDownTransform
from hyper_sapiens.data.transforms import flip_keypoints_horizontal
from hyper_sapiens.data.unlabeled_topdown import UnlabeledTopDownDataset
from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.losses import normals_from_depth

COCO_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-mini"
NO_AUG = {
    "flip_prob": 0.0,
    "half_body": {"prob": 0.0},
    "bbox": {"shift_prob": 0.0, "scale_prob": 0.0, "rotate_prob": 0.0},
    "texture": {"prob": 0.0},
}

needs_coco_mini = pytest.mark.skipif(not COCO_MINI.is_dir(), reason="shared/data/coco-mini not beside the checkout")


def _coco(transform: TopDownTransform, **kw) -> CocoTopDownDataset:
    return CocoTopDownDataset(COCO_MINI / "test_coco.json", COCO_MINI, transform, **kw)


@needs_coco_mini
def test_coco_mini_instances_and_unlabelled_split():
    t = TopDownTransform({}, train=False)
    all_ = _coco(t)
    assert len(all_) == 14
    assert len(_coco(t, labelled="labelled")) == 12
    unl = _coco(t, labelled="unlabelled")
    assert sorted(r.instance_id for r in unl.records) == [508900, 1202706]
    assert not any(r.has_keypoints for r in unl.records)


@needs_coco_mini
def test_coco_mini_udp_crop_matches_hand_computed_centre_scale():
    t = TopDownTransform({}, train=False)
    ds = _coco(t)
    i = [r.instance_id for r in ds.records].index(442619)
    s = ds[i]
    # bbox [280.79, 44.73, 218.7, 346.68] -> centre (x + w/2, y + h/2); padded 1.25 -> (273.375, 433.35);
    # aspect 192/256 = 0.75 -> width becomes 433.35 * 0.75 = 325.0125.
    np.testing.assert_allclose(s["center"], [390.14, 218.07], atol=1e-3)
    np.testing.assert_allclose(s["scale"], [325.0125, 433.35], atol=1e-3)
    # nose (367, 81): x' = (367 - 390.14 + 162.50625) * 191 / 325.0125, y' = (81 - 218.07 + 216.675) * 255 / 433.35
    np.testing.assert_allclose(s["keypoints"][0], [81.9017, 46.8433], atol=2e-3)
    assert s["image"].shape == (3, 256, 192) and s["image"].dtype == np.uint8
    # the crop pixel at the nose shows the image pixel at the nose
    import cv2

    img = cv2.cvtColor(cv2.imread(str(COCO_MINI / "000000000785.jpg")), cv2.COLOR_BGR2RGB).astype(float)
    for (x, y), (u, v) in zip(s["image_keypoints"][[5, 6, 11, 12]], s["keypoints"][[5, 6, 11, 12]], strict=True):
        crop_val = s["image"][:, int(round(v)), int(round(u))].astype(float)
        patch = img[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3].reshape(-1, 3)
        assert np.min(np.abs(patch - crop_val).sum(1)) < 30
    assert s["heatmaps"].shape == (17, 64, 48)
    assert s["keypoint_weights"].sum() == 17 and bool(s["has_keypoints"])


@needs_coco_mini
def test_unlabelled_detections_with_score_threshold():
    t = TopDownTransform({}, train=False)
    dets = json.loads((COCO_MINI / "test_coco_det_AP_H_56.json").read_text())
    thr = 0.5
    expected = sum(1 for d in dets if d["category_id"] == 1 and d["score"] >= thr)
    ds = UnlabeledTopDownDataset(
        COCO_MINI, COCO_MINI / "test_coco_det_AP_H_56.json", t, images_json=COCO_MINI / "test_coco.json", score_thr=thr
    )
    assert len(ds) == expected > 0
    s = ds[0]
    assert not s["has_keypoints"] and s["keypoint_weights"].sum() == 0 and s["heatmaps"].max() == 0


def _syn(tiny_dataset: Path, cfg: dict, train: bool) -> CocoTopDownDataset:
    root = tiny_dataset / "syrip"
    return CocoTopDownDataset(
        root / "annotations" / "train_syn.json",
        root / "images" / "train_syn",
        TopDownTransform(cfg, train=train),
        labelled="labelled",
    )


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip((a * b).sum(0), -1, 1)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_augmented_normals_agree_with_normals_of_augmented_depth(tiny_dataset, seed):
    cfg = {"bbox": {"rotate_prob": 1.0}, "flip_prob": 0.5, "texture": {"prob": 0.0}, "heatmap_size": [96, 128]}
    ds = _syn(tiny_dataset, cfg, train=True)
    s = ds[(seed % len(ds), seed)]
    assert s["depth_mask"].any() and s["normal_mask"].any() and bool(s["has_camera"])
    depth = torch.from_numpy(s["depth"])[None]
    cam = camera_to_map(torch.from_numpy(s["camera"])[None], (192, 256), (96, 128))
    n_depth, ok = normals_from_depth(depth, cam, torch.from_numpy(s["depth_mask"])[None])
    valid = ok[0, 0].numpy() & s["normal_mask"][0] & s["body_mask"][0]
    ang = _angle_deg(n_depth[0].numpy()[:, valid], s["normal"][:, valid])
    assert valid.sum() > 50
    # measured on the tiny set's 12 images x these 4 seeds: at most 5.1 degrees, except 8.2 for an infant on its
    # hands seen from floor level (grazing surfaces at heatmap resolution, issue 24's views); normals the
    # augmentation failed to rotate would be off by about the rotation (here up to 80 degrees)
    assert np.median(ang) < 10.0, (
        f"median angle {np.median(ang):.1f} deg (rotation {s['rotation']:.1f}, flip {s['flipped']})"
    )


def test_keypoints_stay_on_the_body_under_augmentation(tiny_dataset):
    cfg = {"bbox": {"rotate_prob": 1.0}, "flip_prob": 0.5, "heatmap_size": [192, 256]}  # mask at crop resolution
    ds = _syn(tiny_dataset, cfg, train=True)
    hits = total = 0
    for i in range(len(ds)):
        s = ds[(i, 100 + i)]
        vis = s["keypoints_visible"] > 0
        for (x, y), v in zip(s["keypoints"], vis, strict=True):
            xi, yi = int(round(x)), int(round(y))
            if v and 0 <= xi < 192 and 0 <= yi < 256:
                total += 1
                hits += bool(s["body_mask"][0, max(0, yi - 1) : yi + 2, max(0, xi - 1) : xi + 2].any())
    assert total > 50 and hits / total > 0.9


def test_flip_mirrors_every_field(tiny_dataset):
    base = dict(NO_AUG, heatmap_size=[48, 64])
    plain = _syn(tiny_dataset, base, train=True)[(0, 7)]
    flipped = _syn(tiny_dataset, dict(base, flip_prob=1.0), train=True)[(0, 7)]
    assert bool(flipped["flipped"]) and not bool(plain["flipped"])
    fi = list(COCO17.flip_indices)
    np.testing.assert_allclose(flipped["keypoints"][:, 0], 191 - plain["keypoints"][fi, 0], atol=1e-3)
    np.testing.assert_allclose(flipped["keypoints"][:, 1], plain["keypoints"][fi, 1], atol=1e-3)
    np.testing.assert_array_equal(flipped["keypoints_visible"], plain["keypoints_visible"][fi])
    diff = np.abs(flipped["image"].astype(int) - plain["image"][:, :, ::-1].astype(int))
    assert np.mean(diff) < 1.0
    mirrored_n = plain["normal"][:, :, ::-1] * np.array([-1, 1, 1])[:, None, None]
    both = flipped["normal_mask"][0] & plain["normal_mask"][0, :, ::-1]
    assert both.mean() > 0.2
    assert np.median(_angle_deg(flipped["normal"][:, both], mirrored_n[:, both])) < 1.0
    np.testing.assert_array_equal(flipped["depth_mask"], plain["depth_mask"][:, :, ::-1])


def test_flip_twice_is_identity_on_keypoints(tiny_dataset):
    """The pipeline's flipped crop, flipped back with the library's keypoint flip, is the unflipped crop."""
    base = dict(NO_AUG, heatmap_size=[48, 64])
    for index in range(3):
        plain = _syn(tiny_dataset, base, train=True)[(index, 11)]
        flipped = _syn(tiny_dataset, dict(base, flip_prob=1.0), train=True)[(index, 11)]
        back, back_vis = flip_keypoints_horizontal(
            flipped["keypoints"], flipped["keypoints_visible"], 192, COCO17.flip_indices
        )
        np.testing.assert_allclose(back, plain["keypoints"], atol=1e-3)
        np.testing.assert_array_equal(back_vis, plain["keypoints_visible"])
        np.testing.assert_array_equal(flipped["heatmaps"][COCO17.flip_indices, :, ::-1] > 0.5, plain["heatmaps"] > 0.5)


def test_texture_randomisation_only_touches_synthetic_images(tiny_dataset):
    root = tiny_dataset / "syrip"
    tex = dict(NO_AUG, texture={"prob": 1.0, "gray_prob": 1.0})
    syn = _syn(tiny_dataset, tex, train=True)
    assert np.ptp(syn[(0, 3)]["image"].astype(int), axis=0).max() == 0  # grey: all channels equal
    real = CocoTopDownDataset(
        root / "annotations" / "train_real.json", root / "images" / "train_real", TopDownTransform(tex, train=True)
    )
    assert np.ptp(real[(0, 3)]["image"].astype(int), axis=0).max() > 0


def test_same_key_same_sample_and_eval_is_deterministic(tiny_dataset):
    ds = _syn(tiny_dataset, {}, train=True)
    a, b, c = ds[(2, 11)], ds[(2, 11)], ds[(2, 12)]
    np.testing.assert_array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"]) or a["rotation"] != c["rotation"]


def test_minirgbd_dataset_converts_joints_and_computes_normals(tiny_dataset):
    ds = MiniRGBDDataset(tiny_dataset / "minirgbd", TopDownTransform({}, train=False))
    assert len(ds) == 6 and {r.group for r in ds.records} == {"01", "02"}
    rec = ds.records[0]
    assert rec.visible[[1, 2, 3, 4]].sum() == 0  # eyes/ears have no MINI-RGBD counterpart
    s = ds[0]
    assert s["normal_mask"].mean() > 0.3 and s["depth_mask"].mean() > 0.3
    n = s["normal"][:, s["normal_mask"][0]]
    assert np.median(n[2]) < -0.5  # seen from above: normals face the camera (z < 0)


def test_collate_and_loader_keep_masks(tiny_dataset):
    ds = _syn(tiny_dataset, {}, train=True)
    mixed = MixedDataset([("syn", ds)])
    loader = make_loader(mixed, [[(0, 0, 1), (0, 1, 2), (0, 2, 3)]], workers=0)
    batch = next(iter(loader))
    assert batch["image"].shape == (3, 3, 256, 192) and batch["image"].dtype == torch.uint8
    assert batch["depth_mask"].dtype == torch.bool and batch["heatmaps"].shape == (3, 17, 64, 48)
    x = normalize_images(batch["image"])
    assert x.dtype == torch.float32 and abs(float(x.mean())) < 3
    assert collate([ds[0]])["group"] == ["train_syn"]


# ---------------------------------------------------------------------------------------- errors
# Corrupt or truncated images, truncated JSON and wrong keypoint counts: tests/test_bad_input.py (inputs built there).


def test_missing_depth_file_is_reported(tiny_dataset, tmp_path):
    mini = tmp_path / "minirgbd"
    shutil.copytree(tiny_dataset / "minirgbd", mini)
    (mini / "01" / "depth" / "syn_00001_depth.png").unlink()
    with pytest.raises(DataFileError, match=r"depth file not found: .*syn_00001_depth.png"):
        MiniRGBDDataset(mini, TopDownTransform({}, train=False))


def test_skip_bad_counts_instead_of_failing(tiny_dataset, tmp_path):
    syrip = tmp_path / "syrip"
    shutil.copytree(tiny_dataset / "syrip", syrip)
    ds = CocoTopDownDataset(
        syrip / "annotations" / "train_syn.json",
        syrip / "images" / "train_syn",
        TopDownTransform({}, train=True),
        labelled="labelled",
    )
    Path(ds.records[0].image_path).write_bytes(b"broken")
    with pytest.raises(DataFileError):
        MixedDataset([("syn", ds)])[(0, 0, 5)]
    sample = MixedDataset([("syn", ds)], skip_bad=True)[(0, 0, 5)]
    assert int(sample["bad_skipped"]) == 1


def test_unknown_pipeline_key_is_rejected():
    message = r"data.pipeline.flip_probability: unknown key; did you mean data.pipeline.flip_prob\?"
    with pytest.raises(ValueError, match=message):
        PipelineConfig.from_dict({"flip_probability": 0.5})
    with pytest.raises(ValueError, match=r"data.pipeline.bbox.scale_factor: expected 2 values"):
        PipelineConfig.from_dict({"bbox": {"scale_factor": [0.5]}})


def test_geo_consistency_is_small_on_rendered_truth_and_large_on_shuffled_normals(tiny_dataset):
    from hyper_sapiens.losses import geo_consistency_loss

    ds = _syn(tiny_dataset, dict(NO_AUG, heatmap_size=[96, 128]), train=False)
    batch = collate([ds[i] for i in range(4)])
    depth, normal = batch["depth"], batch["normal"]
    mask = batch["depth_mask"] & batch["normal_mask"] & batch["body_mask"]
    cam = camera_to_map(batch["camera"], (192, 256), (96, 128))
    log_depth = torch.log(depth.clamp_min(1e-6))
    good = geo_consistency_loss(log_depth, normal, mask, camera=cam, mode="log_depth")
    shuffled = normal[torch.tensor([1, 2, 3, 0])]
    bad = geo_consistency_loss(log_depth, shuffled, mask, camera=cam, mode="log_depth")
    assert float(good) < np.radians(10) and float(bad) > 3 * float(good), (float(good), float(bad))
