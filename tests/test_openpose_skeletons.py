"""OpenPose per-frame JSON folders as skeleton sequences (``hyper_sapiens/data/openpose.py``) and ``train-prior
--openpose``: fractions and pixels, several people per frame, frames without a person, missing joints, malformed
files, the frame size from a video, and training mixed with ``.npz`` skeletons.

Every folder is drawn here: a COCO17 stick figure in pixels, written in OpenPose's BODY_25 or BODY_18 order.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyper_sapiens.cli import main
from hyper_sapiens.data.openpose import (
    choose_people,
    load_openpose_sequences,
    openpose_folders,
    read_openpose_frame,
    read_openpose_sequence,
    video_frame_size,
)
from hyper_sapiens.data.skeletons import SkeletonFileError, SkeletonSequenceDataset
from hyper_sapiens.keypoints import BODY18, BODY25, COCO17, KeypointConverter

FRAME = (640, 360)  # (w, h) pixels
#: A COCO17 figure (x, y) pixels, about 100 px tall, its head at the top.
FIGURE = np.array([
    [50, 10], [46, 7], [54, 7], [42, 9], [58, 9], [36, 28], [64, 28], [30, 48], [70, 48], [28, 66], [72, 66],
    [40, 64], [60, 64], [39, 86], [61, 86], [38, 106], [62, 106],
], np.float64)


def _person(offset: tuple[float, float], layout: str = "body25", score: float = 0.8,
            missing: tuple[str, ...] = (), fractions: bool = True) -> list[float]:
    """One OpenPose person: the figure moved by ``offset`` pixels, in ``layout``'s order, as OpenPose writes it
    (``missing`` COCO17 joints and the layout's joints COCO17 lacks as 0, 0, 0)."""
    xy, vis = KeypointConverter("coco17", layout)(FIGURE + offset)
    for name in missing:
        vis[KeypointConverter("coco17", layout).table.tolist().index(COCO17.index(name))] = 0
    if fractions:
        xy = xy / FRAME
    rows = np.concatenate([xy, np.full((len(xy), 1), score)], 1) * (vis[:, None] > 0)
    return rows.reshape(-1).tolist()


def _write(folder: Path, name: str, frames: dict[int, list[list[float]]]) -> Path:
    """OpenPose files ``<name>_<frame:012d>_keypoints.json`` for each frame number."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, people in frames.items():
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p, "face_keypoints_2d": []}
                                          for p in people]}
        (folder / f"{name}_{n:012d}_keypoints.json").write_text(json.dumps(doc))
    return folder


def _track_folder(root: Path, name: str = "clip") -> Path:
    """A clip of 8 frame numbers (0-7, 5 missing): frame 0 two people (the right-hand one scores higher), frames 1-2
    the infant drifting right beside a high-scoring adult far away, frame 3 nobody, frame 4 the infant without
    its left wrist, frame 6 the infant, frame 7 the infant and the adult again."""
    infant, adult = (100.0, 200.0), (450.0, 120.0)
    frames = {
        0: [_person(infant, score=0.6), _person((300.0, 150.0), score=0.9)],
        1: [_person(adult, score=0.95), _person((310.0, 152.0), score=0.5)],
        2: [_person((318.0, 154.0), score=0.5), _person(adult, score=0.95)],
        3: [],
        4: [_person((320.0, 156.0), missing=("left_wrist",))],
        6: [_person((322.0, 158.0))],
        7: [_person(adult, score=0.95), _person((324.0, 160.0), score=0.4)],
    }
    return _write(root / name, name, frames)


def test_body18_to_coco_maps_all_17_points_once() -> None:
    conv = KeypointConverter("body18")
    assert conv.common_indices == tuple(range(17)) and len(set(conv.table.tolist())) == 17
    assert BODY18.num_keypoints == 18 and BODY18.names[1] == "Neck"
    # left stays left: COCO's left wrist is OpenPose's LWrist in both layouts
    assert BODY18.names[conv.table[COCO17.index("left_wrist")]] == "LWrist"
    assert BODY25.names[KeypointConverter("body25").table[COCO17.index("left_wrist")]] == "LWrist"


def test_fractions_scaled_by_the_frame_size_and_the_people_rule(tmp_path: Path) -> None:
    track = read_openpose_sequence(_track_folder(tmp_path), frame_size=FRAME)
    seq = track.sequence
    assert seq.keypoints.shape == (8, 17, 2) and seq.source_layout == "body25"
    assert (track.frames, track.empty_frames, track.multi_person_frames) == (8, 2, 4)
    # frame 0: the person with the larger sum of scores (the one at x + 300)
    np.testing.assert_allclose(seq.keypoints[0], FIGURE + (300.0, 150.0), atol=1e-3)
    # frames 1, 2, 7: the person nearest the last choice, not the higher-scoring adult
    for t, offset in ((1, (310.0, 152.0)), (2, (318.0, 154.0)), (6, (322.0, 158.0)), (7, (324.0, 160.0))):
        np.testing.assert_allclose(seq.keypoints[t], FIGURE + offset, atol=1e-3)
    # frame 3 (nobody) and 5 (no file): gaps, every joint unlabelled
    assert (seq.visible[[3, 5]] == 0).all() and (seq.keypoints[[3, 5]] == 0).all()
    # frame 4: the missing wrist is unlabelled, never a point at (0, 0) taken as real
    lw = COCO17.index("left_wrist")
    assert seq.visible[4, lw] == 0 and seq.visible[4].sum() == 16
    assert seq.visible[[0, 1, 2, 6, 7]].min() == 1


def test_choose_people_uses_only_joints_seen_in_both() -> None:
    prev = np.zeros((3, 3))
    prev[:, :2], prev[:, 2] = [[0, 0], [10, 0], [20, 0]], [1, 1, 0]  # third joint unseen
    near = prev.copy()
    near[2] = (500, 500, 0.9)  # far only on the joint the previous person lacks
    far = prev.copy()
    far[:2, 0] += 30
    far[:, 2] = 1.0
    chosen, out = choose_people([[prev], [], [far, near]])
    assert chosen.tolist() == [0, -1, 1]  # after the gap: nearest to the last chosen person
    assert np.isnan(out[1]).all()


def test_pixel_files_and_body18(tmp_path: Path) -> None:
    folder = _write(tmp_path / "px", "px", {0: [_person((100.0, 50.0), "body18", fractions=False)],
                                            1: [_person((102.0, 51.0), "body18", fractions=False)]})
    track = read_openpose_sequence(folder)
    assert track.sequence.source_layout == "body18"
    np.testing.assert_allclose(track.sequence.keypoints[1], FIGURE + (102.0, 51.0), atol=1e-4)
    with pytest.raises(SkeletonFileError, match="not fractions"):
        read_openpose_sequence(folder, frame_size=FRAME)
    with pytest.raises(SkeletonFileError, match=r"keypoint_scale 3.*frame size"):
        read_openpose_sequence(_track_folder(tmp_path))


def test_min_score_hides_unsure_joints(tmp_path: Path) -> None:
    person = np.asarray(_person((100.0, 100.0)), np.float64).reshape(25, 3)
    person[BODY25.index("RKnee"), 2] = 0.05
    folder = _write(tmp_path / "unsure", "unsure", {0: [person.reshape(-1).tolist()]})
    seq = read_openpose_sequence(folder, FRAME, min_score=0.1).sequence
    assert seq.visible[0, COCO17.index("right_knee")] == 0 and seq.visible[0].sum() == 16
    assert read_openpose_sequence(folder, FRAME).sequence.visible[0].sum() == 17


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read OpenPose JSON"),
        (json.dumps({"version": 1.3}), "no 'people' list"),
        (json.dumps({"people": [{"face_keypoints_2d": []}]}), "no pose_keypoints_2d"),
        (json.dumps({"people": [{"pose_keypoints_2d": [0.5] * 45}]}), "45 pose values"),
        ('{"people": [{"pose_keypoints_2d": [NaN' + ", 0.5" * 74 + "]}]}", "not a finite number"),
    ],
)
def test_malformed_files_are_errors_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    folder = _track_folder(tmp_path)
    bad = folder / "clip_000000000005_keypoints.json"
    bad.write_text(content)
    with pytest.raises(SkeletonFileError, match=message) as info:
        read_openpose_sequence(folder, FRAME)
    assert str(bad) in str(info.value)
    with pytest.raises(SkeletonFileError, match="clip_000000000005"):
        read_openpose_frame(bad)


def test_layouts_mixed_in_a_folder_are_an_error(tmp_path: Path) -> None:
    frames = {0: [_person((100.0, 100.0))], 1: [_person((100.0, 100.0), "body18")]}
    folder = _write(tmp_path / "mixed", "mixed", frames)
    with pytest.raises(SkeletonFileError, match=r"mixed_000000000001.*body18.*body25"):
        read_openpose_sequence(folder, FRAME)


def test_folders_of_folders_and_the_video_frame_size(tmp_path: Path) -> None:
    root = tmp_path / "openpose"
    _track_folder(root, "clip_a")
    _track_folder(root, "clip_b")
    assert [p.name for p in openpose_folders(root)] == ["clip_a", "clip_b"]
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("clip_a", "clip_b"):
        writer = cv2.VideoWriter(str(videos / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, FRAME)
        assert writer.isOpened()
        for _ in range(3):
            writer.write(np.zeros((FRAME[1], FRAME[0], 3), np.uint8))
        writer.release()
    assert video_frame_size(videos / "clip_a.mp4") == FRAME
    tracks = load_openpose_sequences([root], videos=videos)
    assert [t.frame_size for t in tracks] == [FRAME, FRAME]
    np.testing.assert_allclose(tracks[1].sequence.keypoints[0], FIGURE + (300.0, 150.0), atol=1e-3)
    (videos / "clip_b.mp4").unlink()
    with pytest.raises(FileNotFoundError, match="no video named clip_b"):
        load_openpose_sequences([root], videos=videos)
    with pytest.raises(FileNotFoundError, match="no OpenPose files"):
        openpose_folders(videos)


def test_dataset_drops_the_gaps_and_counts_them(tmp_path: Path) -> None:
    seq = read_openpose_sequence(_track_folder(tmp_path), FRAME).sequence
    ds = SkeletonSequenceDataset([], min_visible=8, sequences=[seq])
    assert len(ds) == 6 and ds.dropped == 2  # frames 3 and 5
    assert ds.summary()["source_layouts"] == ["body25"]
    windows = SkeletonSequenceDataset([], window=3, min_visible=8, sequences=[seq])
    assert [int(s) for _, s in windows.index] == [0]  # every other 3-frame window meets frame 3 or 5
    assert windows.dropped == 5
    with pytest.raises(SkeletonFileError, match="dataset reads"):
        SkeletonSequenceDataset([], dims=3, sequences=[seq])


def _npz_skeletons(folder: Path, count: int = 3) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        kp = FIGURE[None] + rng.normal(0, 2, (40, 17, 2)) + (100 * i, 0)
        np.savez(folder / f"seq_{i:05d}_coco17_2d.npz", keypoints=kp.astype(np.float32), layout="coco17")


def test_train_prior_mixes_openpose_folders_with_skeleton_files(tmp_path: Path, capsys) -> None:
    _npz_skeletons(tmp_path / "data" / "skeletons")
    _track_folder(tmp_path / "openpose", "clip_a")
    _track_folder(tmp_path / "openpose", "clip_b")
    out = tmp_path / "prior"
    rc = main(["train-prior", "--config", "prior_demo", f"data.root={tmp_path / 'data'}", "train.steps=3",
               "train.val_every=3", "train.log_every=1", "train.threads=1", "prior.denoiser.hidden=32", "data.stride=1",
               "--openpose", str(tmp_path / "openpose"), "--openpose-frame-size", "640x360", "--out", str(out),
               "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert (out / "prior.safetensors").is_file()
    assert "OpenPose" in printed and "2 without a person (gaps), 4 with several" in printed
    data = next(json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
                if json.loads(line).get("event") == "data")
    assert data["dataset"]["files"] == 5 and data["dataset"]["source_layouts"] == ["body25", "coco17"]
    assert data["dataset"]["dropped_min_visible"] == 4  # each clip's two gaps, frames 3 and 5
    assert [t["frames"] for t in data["openpose"]] == [8, 8]


def test_train_prior_openpose_errors(tmp_path: Path, capsys) -> None:
    _track_folder(tmp_path / "openpose", "clip")
    base = ["train-prior", "--config", "prior_demo", "data.paths=[]", "train.steps=1", "--out", str(tmp_path / "o")]
    assert main([*base, "--openpose", str(tmp_path / "openpose")]) == 2
    assert "keypoint_scale 3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--openpose", str(tmp_path / "openpose"), "--openpose-frame-size", "640by360"])
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
    assert main([*base, "--openpose-frame-size", "640x360"]) == 2
    assert "need OpenPose folders" in capsys.readouterr().err
