"""``benchmarks/review_from_openpose.py``: OpenPose as a stand-in reviewer. A drawn clip folder (as ``video`` writes
it, :mod:`review_helpers`) and a drawn OpenPose folder (BODY_25, in pixels or as fractions of the frame); the
flagged frames get corrections equal to OpenPose's mapped points, saved as the review page saves them, frames
without a usable OpenPose person are skipped and counted, and the file loads as the fine-tune config's source."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import review_helpers as H
from benchmark_helpers import load_benchmark

from hyper_sapiens.keypoints import COCO17, KeypointConverter

bench = load_benchmark("review_from_openpose")

K = COCO17.num_keypoints
OFFSET = np.array([2.0, 1.0])  # OpenPose's person sits off the drawn truth (the model's track is truth + noise)
NO_PERSON = 21  # flagged, OpenPose found nobody
TWO_PEOPLE = 45  # flagged, a small decoy with higher scores away from the infant
MISSING_JOINT = (20, COCO17.index("left_wrist"))  # flagged, OpenPose lacks the left wrist
FEW_JOINTS = 63  # only 4 joints


def _person(t: int) -> tuple[np.ndarray, np.ndarray]:
    """COCO17 ``(17, 2)`` pixels and scores of OpenPose's infant in frame ``t``."""
    scores = np.full(K, 0.5)
    if t == MISSING_JOINT[0]:
        scores[MISSING_JOINT[1]] = 0.0
    if t == FEW_JOINTS:
        scores[4:] = 0.0
    return H.true_pose(t) + OFFSET, scores


def _body25(xy: np.ndarray, scores: np.ndarray, units: str) -> list[float]:
    xy25, vis = KeypointConverter("coco17", "body25")(xy, scores)
    if units == "fractions":
        xy25 = xy25 / H.SIZE
    return (np.concatenate([xy25, vis[:, None]], 1) * (vis[:, None] > 0)).ravel().tolist()


def write_openpose(folder: Path, units: str = "pixels", frames: int = H.FRAMES) -> Path:
    """``folder/wave_<t:012d>_keypoints.json`` for every frame, as OpenPose writes them."""
    folder.mkdir(parents=True)
    for t in range(frames):
        people = []
        if t != NO_PERSON:
            people.append({"pose_keypoints_2d": _body25(*_person(t), units)})
        if t == TWO_PEOPLE:
            decoy = 0.15 * H.true_pose(t) + (130.0, 5.0)  # top right, clear of the infant
            people.insert(0, {"pose_keypoints_2d": _body25(decoy, np.full(K, 0.99), units)})
        (folder / f"wave_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    return folder


def _expected(t: int) -> list[list[float]]:
    xy, scores = _person(t)
    return [[round(x, 2), round(y, 2), 2] if s > 0 else [0, 0, 0] for (x, y), s in zip(xy, scores)]


def _run(capsys, *args: str) -> tuple[int, dict, str]:
    rc = bench.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else {}), err


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """The drawn clip (a folder of PNG frames) and its clip folder ``tmp_path/out/wave``."""
    return H.make_clip(tmp_path, "frames")


@pytest.mark.parametrize("units", ["pixels", "fractions"])
def test_flagged_frames_get_openposes_points_and_the_rest_are_counted(tmp_path, clip, units, capsys):
    openpose = write_openpose(tmp_path / "openpose" / "wave", units)
    rc, report, _ = _run(capsys, clip, "--openpose", openpose)
    assert rc == 0
    assert report["frames_selected"] == len(H.FLAGGED) and report["corrected"] == 2
    assert report["skipped"] == {"no_person": 1, "too_few_joints": 0, "already_reviewed": 0, "refused": 0}
    assert report["openpose_units"] == units and report["multi_person_frames"] == 1
    assert report["no_overlap_with_model"] == 0
    assert report["annotations"] == str(clip / "review" / "annotations.json")

    coco = json.loads((clip / "review" / "annotations.json").read_text())
    assert [im["id"] for im in coco["images"]] == [20, TWO_PEOPLE]
    for ann in coco["annotations"]:
        got = np.array(ann["keypoints"], np.float64).reshape(K, 3)
        assert np.allclose(got, _expected(ann["image_id"]), atol=0.006), ann["image_id"]
    assert coco["annotations"][0]["num_keypoints"] == K - 1  # the wrist OpenPose did not find: v = 0
    for t in (20, TWO_PEOPLE):  # the frame image is the recording's frame t (its bar code)
        image = cv2.imread(str(clip / "review" / "images" / f"frame_{t:06d}.jpg"))
        assert image.shape[:2] == (H.SIZE[1], H.SIZE[0]) and H.frame_code(image) == t
    with open(clip / "keypoints.csv", newline="") as f:
        reviewed = {int(r["frame"]) for r in csv.DictReader(f) if r["reviewed"] == "1"}
    assert reviewed == {20, TWO_PEOPLE}

    rc, again, _ = _run(capsys, clip, "--openpose", openpose)  # a second run overwrites no review
    assert rc == 0 and again["corrected"] == 0 and again["reviewed_frames"] == 2
    assert again["skipped"] == {"no_person": 1, "too_few_joints": 0, "already_reviewed": 2, "refused": 0}


def test_all_frames_evenly_capped_and_too_few_joints(tmp_path, clip, capsys):
    openpose = write_openpose(tmp_path / "openpose" / "wave")
    # the OpenPose root holding the clip's folder is accepted too
    rc, report, _ = _run(capsys, clip, "--openpose", tmp_path / "openpose", "--frames", "all", "--max-frames", "4")
    assert rc == 0 and report["openpose"] == str(openpose)
    assert report["frames_candidates"] == H.FRAMES and report["frames_selected"] == 4  # frames 0, 21, 42, 63
    assert report["corrected"] == 2 and report["skipped"]["no_person"] == 1
    assert report["skipped"]["too_few_joints"] == 1 and report["skipped_total"] == 2
    coco = json.loads((clip / "review" / "annotations.json").read_text())
    assert [im["id"] for im in coco["images"]] == [0, 42]


def test_the_corrections_load_through_the_finetune_configs_coco_source(tmp_path, clip, capsys):
    from hyper_sapiens.config import load_config
    from hyper_sapiens.data.factory import build_training_data, map_sizes_for, pipeline_config

    assert _run(capsys, clip, "--openpose", write_openpose(tmp_path / "op" / "wave"))[0] == 0
    cfg = load_config("finetune_reviewed_demo", [f"data.root={clip}", "run.root=runs"])
    pipeline = pipeline_config(cfg.data, map_sizes_for(tuple(cfg.model.input_size), {"pose": 4}))
    dataset, _ = build_training_data(cfg.data, pipeline, seed=0)
    records = sorted(dataset.sources[0].records, key=lambda r: r.image_id)
    assert [r.image_id for r in records] == [20, TWO_PEOPLE] and all(r.has_keypoints for r in records)
    assert np.allclose(records[1].keypoints, np.array(_expected(TWO_PEOPLE))[:, :2], atol=0.006)
    assert dataset[(0, 0, 0)]["image"].shape[-2:] == (256, 192)


def test_missing_folders_and_a_mismatched_frame_count_are_errors(tmp_path, clip, capsys):
    openpose = write_openpose(tmp_path / "openpose" / "wave")
    rc, _, err = _run(capsys, tmp_path / "nowhere", "--openpose", openpose)
    assert rc == 2 and str(tmp_path / "nowhere") in err
    rc, _, err = _run(capsys, clip, "--openpose", tmp_path / "no_openpose")
    assert rc == 2 and str(tmp_path / "no_openpose") in err
    longer = write_openpose(tmp_path / "longer" / "wave", frames=H.FRAMES + 6)
    rc, _, err = _run(capsys, clip, "--openpose", longer)
    assert rc == 2 and str(longer) in err and f"{H.FRAMES + 6} frames" in err
    assert not (clip / "review").exists()  # nothing written
