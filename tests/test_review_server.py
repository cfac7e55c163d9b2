"""The ``review`` verb without a browser: the clip folder read as the ``video`` verb writes it, the recording's
codec deciding between video and extracted frames, frame-exact training images, the server's refusals (token,
paths outside the clip, bad corrections) leaving the folder untouched, and the saved corrections loading as a
``type: coco`` training source of the fine-tune config."""

from __future__ import annotations

import csv
import json
import os
import shutil
from http.server import ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
import review_helpers as H

from hyper_sapiens.cli import main
from hyper_sapiens.data.io import DataFileError
from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.review.command import build_app
from hyper_sapiens.review.corrections import CSV_REVIEW_COLUMNS, MAX_BODY_BYTES, keypoint_bbox
from hyper_sapiens.review.media import frame_name, read_frame
from hyper_sapiens.review.server import parse_range
from hyper_sapiens.video.outputs import CSV_COLUMNS

K = COCO17.num_keypoints


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path | None]:
    """The drawn clip as mp4v, VP9, H.264 (None where OpenCV cannot write VP9 or ffmpeg is missing) and a folder
    of frames."""
    root = tmp_path_factory.mktemp("recordings")
    return {codec: H.write_recording(root / f"wave_{codec}{'' if codec == 'frames' else '.mp4'}", codec)
            for codec in ("mp4v", "VP90", "h264", "frames")}


def _clip(tmp_path: Path, recording: Path, name: str = "wave") -> Path:
    return H.write_clip_folder(tmp_path / "out" / name, str(recording))


@pytest.fixture
def server(tmp_path, recordings):
    s = H.ReviewServer(_clip(tmp_path, recordings["mp4v"]))
    yield s
    s.close()


def _cleaned(clip: Path, t: int) -> list[list[float]]:
    kp = json.loads((clip / "keypoints.json").read_text())[t]["keypoints"]
    return [[kp[3 * k], kp[3 * k + 1], 2] for k in range(K)]


# ------------------------------------------------------------------ the clip and its recording
def test_mp4v_is_shown_as_extracted_frames_and_the_clip_data_is_the_video_outputs(tmp_path, recordings):
    clip = _clip(tmp_path, recordings["mp4v"])
    app = build_app(str(clip), quiet=True)
    assert app.media.kind == "frames" and app.media.codec == "fmp4"  # OpenCV's mp4v reads back as FMP4
    frames = sorted((clip / "review" / "frames").glob("frame_*.jpg"))
    assert len(frames) == H.FRAMES and frames[37].name == frame_name(37) == "frame_000037.jpg"
    assert H.frame_code(cv2.imread(str(frames[37]))) == 37
    data = json.loads(app.clip_json())
    page = data["clip"]
    assert (page["width"], page["height"], page["frames"], page["fps"]) == (*H.SIZE, H.FRAMES, H.FPS)
    assert page["media"]["kind"] == "frames" and page["media"]["url"] == "files/review/frames/"
    assert set(page["tracks"]) == {"raw", "cleaned", "corrected"} and data["reviews"] == {}
    results = json.loads((clip / "keypoints.json").read_text())
    for t in (0, 20, 63):
        kp = results[t]["keypoints"]
        assert page["tracks"]["cleaned"][t] == [[kp[3 * k], kp[3 * k + 1]] for k in range(K)]
    extras = page["extras"]
    assert [t for t, f in enumerate(extras["flagged"]) if f] == list(H.FLAGGED)
    wrist = 1 << H.J["left_wrist"]
    assert all(extras["gap"][t] & wrist for t in (10, 11, 12)) and extras["outlier"][30] & (1 << H.J["right_ankle"])
    assert page["features"]["units"]["speed"] == "px/s" and page["threshold"] == H.THRESHOLD
    again = build_app(str(clip), quiet=True)  # extracted once: the marker file says so
    assert again.media.kind == "frames" and frames[0].stat().st_mtime_ns == (clip / "review" / "frames" /
                                                                             frame_name(0)).stat().st_mtime_ns


def test_a_browser_codec_is_served_as_video_and_a_folder_as_frames(tmp_path, recordings):
    if recordings["VP90"] is None:
        pytest.skip("this OpenCV build cannot write VP9")
    app = build_app(str(_clip(tmp_path / "a", recordings["VP90"])), quiet=True)
    assert app.media.kind == "video" and app.media.codec in ("vp09", "vp90") and app.media.video is not None
    assert build_app(str(_clip(tmp_path / "b", recordings["VP90"])), force_frames=True, quiet=True).media.kind \
        == "frames"
    folder = build_app(str(_clip(tmp_path / "c", recordings["frames"])), quiet=True)
    assert folder.media.kind == "frames" and len(list((tmp_path / "c" / "out" / "wave" / "review" / "frames")
                                                      .glob("*.jpg"))) == H.FRAMES


@pytest.mark.parametrize("codec", ["mp4v", "VP90", "h264", "frames"])
def test_training_images_are_the_exact_frame(recordings, codec):
    if recordings[codec] is None:
        pytest.skip(f"cannot write {codec} here ({'no ffmpeg' if codec == 'h264' else 'OpenCV lacks it'})")
    for t in (0, 1, 37, 62, 63, 5):
        frame = read_frame(recordings[codec], t, H.SIZE, H.FPS)
        assert frame.shape == (H.SIZE[1], H.SIZE[0], 3) and H.frame_code(frame) == t


def test_the_recording_is_found_from_a_relative_path_and_checked(tmp_path, recordings, monkeypatch):
    shutil.copy(recordings["mp4v"], tmp_path / "wave.mp4")
    clip = H.write_clip_folder(tmp_path / "out" / "wave", "wave.mp4")  # as `video wave.mp4 --out out` writes it
    monkeypatch.chdir(clip)  # not where `video` ran: found beside OUT/
    assert build_app(str(clip), quiet=True).media.source.resolve() == (tmp_path / "wave.mp4").resolve()
    small = tmp_path / "small.mp4"
    writer = cv2.VideoWriter(str(small), cv2.VideoWriter_fourcc(*"mp4v"), H.FPS, (80, 60))
    writer.write(np.zeros((60, 80, 3), np.uint8))
    writer.release()
    with pytest.raises(DataFileError, match="80x60.*160x120"):
        build_app(str(clip), video=str(small), quiet=True)
    with pytest.raises(DataFileError, match="no such video"):
        build_app(str(clip), video=str(tmp_path / "missing.mp4"), quiet=True)


def test_without_the_recording_the_page_is_read_only_on_skeleton_mp4(tmp_path, recordings):
    clip = H.write_clip_folder(tmp_path / "out" / "wave", str(tmp_path / "gone.mp4"))
    with pytest.raises(DataFileError, match="--video"):
        build_app(str(clip), quiet=True)
    shutil.copy(recordings["mp4v"], clip / "skeleton.mp4")
    s = H.ReviewServer(clip)
    try:
        assert s.app.media.read_only and "skeleton.mp4" in s.app.media.read_only
        before = H.snapshot(clip)
        status, answer = s.post({"frame": 3, "keypoints": _cleaned(clip, 3)})
        assert status == 403 and "corrections are off" in answer["error"]
        assert H.snapshot(clip) == before
    finally:
        s.close()


def test_a_broken_clip_folder_is_an_error_naming_the_file(tmp_path, recordings, capsys):
    clip = _clip(tmp_path, recordings["mp4v"])
    (clip / "keypoints.json").write_text("[1, 2")
    assert main(["review", str(clip), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("review: error:") and "keypoints.json" in err and "Traceback" not in err, err
    assert main(["review", str(tmp_path / "nowhere"), "--no-browser"]) == 2
    assert "no such clip folder" in capsys.readouterr().err


def test_the_verb_prints_the_tokenised_loopback_url(tmp_path, recordings, capsys, monkeypatch):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", interrupted)
    assert main(["review", str(_clip(tmp_path, recordings["mp4v"])), "--no-browser"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:" in out and len(out.split("127.0.0.1:")[1].split("/")[1]) >= 30
    with pytest.raises(SystemExit):
        main(["review", "--help"])
    assert "usage: hyper-sapiens review" in capsys.readouterr().out


# ------------------------------------------------------------------ the server's refusals
def test_every_request_needs_the_token(server):
    token = server.token
    assert server.request("GET", "")[0] == 200 and server.request("GET", "api/clip")[0] == 200
    for path in ("/", "/api/clip", f"/{token[:-1]}/api/clip", f"/{token}x/api/clip", f"/api/clip?token={token}",
                 "/favicon.ico", f"/{token.upper()}/"):
        status, body, _ = server.request("GET", path, token=False)
        assert status == 403 and b"Traceback" not in body, path
    assert server.request("GET", f"/{token}", token=False)[0] == 301
    status, _, _ = server.request("GET", "api/clip", headers={"Host": "evil.example:80"})
    assert status == 403
    assert server.post({"frame": 1, "keypoints": None}, headers={"Origin": "http://evil.example"})[0] == 403


def test_files_outside_the_clip_folder_are_refused(server, tmp_path):
    clip = server.app.clip.folder
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    os.symlink(secret, clip / "link_out.txt")
    os.symlink(clip / "features.json", clip / "link_in.json")
    assert server.request("GET", "files/features.json")[0] == 200
    assert server.request("GET", "files/review/frames/frame_000003.jpg")[0] == 200
    assert server.request("GET", "files/link_in.json")[0] == 200
    refused = ["files/../secret.txt", "files/%2e%2e/secret.txt", "files/%2e%2e%2fsecret.txt", "files/%2E%2E%2F%2E%2E"
               "%2Fetc%2Fpasswd", "files/..%2f..%2fetc%2fpasswd", "files/review/../features.json",
               "files//etc/passwd", "files/%2fetc%2fpasswd", f"files/{secret}", "files/link_out.txt",
               "files/..%5csecret.txt", "files/features.json%00.png", "files/./features.json", "files/review//x"]
    for path in refused:
        status, body, _ = server.request("GET", path)
        assert status == 403 and b"not yours" not in body, path
    assert server.request("GET", "files/nothing.json")[0] == 404
    assert server.request("GET", "files/%252e%252e%252fsecret.txt")[0] == 404  # decoded once: a plain name
    assert server.request("GET", "static/../../features.json")[0] == 404
    assert server.request("GET", "static/review.js")[0] == 200


def test_range_requests(server):
    path = "files/keypoints.csv"
    whole = (server.app.clip.folder / "keypoints.csv").read_bytes()
    status, body, headers = server.request("GET", path, headers={"Range": "bytes=10-19"})
    assert status == 206 and body == whole[10:20] and headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    status, body, _ = server.request("GET", path, headers={"Range": "bytes=-7"})
    assert status == 206 and body == whole[-7:]
    status, body, _ = server.request("GET", path, headers={"Range": f"bytes={len(whole) - 3}-"})
    assert status == 206 and body == whole[-3:]
    assert server.request("GET", path, headers={"Range": f"bytes={len(whole)}-"})[0] == 416
    status, body, headers = server.request("GET", path, headers={"Range": "lines=1-2"})
    assert status == 200 and body == whole and headers["Accept-Ranges"] == "bytes"
    assert parse_range("bytes=5-2", 100) is None and parse_range("bytes=0-0,5-6", 100) is None
    assert parse_range("bytes=90-200", 100) == (90, 99)
    assert server.request("GET", "video")[0] == 404  # shown as frames: no video route


def test_refused_corrections_change_nothing(server):
    clip = server.app.clip.folder
    before = H.snapshot(clip)
    good = _cleaned(clip, 3)

    def with_joint(k, value):
        kp = [list(p) for p in good]
        kp[k] = value
        return kp

    cases = [
        ({"frame": H.FRAMES, "keypoints": good}, "frame must be an integer in 0..63"),
        ({"frame": -1, "keypoints": good}, "frame must be an integer"),
        ({"frame": True, "keypoints": good}, "frame must be an integer"),
        ({"frame": 2.0, "keypoints": good}, "frame must be an integer"),
        ({"frame": 3, "keypoints": good[:16]}, "expected 17 joints"),
        ({"frame": 3, "keypoints": with_joint(5, [10, 10, 3])}, "left_shoulder: visibility v must be 0, 1 or 2"),
        ({"frame": 3, "keypoints": with_joint(0, [H.SIZE[0], 10, 2])}, "nose: (160, 10) lies outside the 160x120"),
        ({"frame": 3, "keypoints": with_joint(0, [10, -1, 1])}, "outside the 160x120 frame"),
        ({"frame": 3, "keypoints": with_joint(0, ["10", 10, 2])}, "must be numbers"),
        ({"frame": 3, "keypoints": with_joint(0, [10, 10])}, "expected [x, y, v]"),
        ({"frame": 3, "keypoints": good, "extra": 1}, "'frame' and 'keypoints' only"),
        ([3, good], "'frame' and 'keypoints' only"),
    ]
    for data, expected in cases:
        status, answer = server.post(data)
        assert status == 400 and expected in answer["error"], (data if not isinstance(data, dict) else
                                                              data.get("frame"), answer)
    nan = json.dumps({"frame": 3, "keypoints": good}).replace(str(good[0][0]), "NaN", 1).encode()
    status, answer = server.post(None, raw=nan)
    assert status == 400 and "non-finite" in answer["error"]
    inf = json.dumps({"frame": 3, "keypoints": good}).replace(str(good[0][0]), "Infinity", 1).encode()
    assert server.post(None, raw=inf)[0] == 400
    for raw in (b"{not json", b"\xff\xfe{}", b""):
        status, answer = server.post(None, raw=raw)
        assert status == 400 and "not JSON" in answer["error"]
    big = b" " * (MAX_BODY_BYTES + 1)
    status, answer = server.post(None, raw=big)
    assert status == 413 and "at most 1000000" in answer["error"]
    status, _, _ = server.request("POST", "api/review", b"{}", {"Content-Type": "application/json",
                                                                "Content-Length": str(50 * MAX_BODY_BYTES)})
    assert status == 413  # refused from the header, before any byte of the body is read
    body = json.dumps({"frame": 3, "keypoints": good}).encode()
    assert server.request("POST", "api/review", body, {"Content-Type": "text/plain"})[0] == 415
    assert server.request("POST", "api/review", body, {"Content-Type": "application/json",
                                                       "Content-Length": "abc"})[0] == 411
    assert server.request("POST", "api/other", body, {"Content-Type": "application/json"})[0] == 404
    status, _, _ = server.request("POST", "api/review", body, {"Content-Type": "application/json"}, token=False)
    assert status == 403
    assert H.snapshot(clip) == before


# ------------------------------------------------------------------ saved corrections
def test_a_correction_is_saved_as_coco_csv_columns_and_a_frame_image(server):
    clip = server.app.clip.folder
    csv_before = list(csv.reader(open(clip / "keypoints.csv", newline="")))
    kp = _cleaned(clip, 7)
    kp[H.J["left_wrist"]] = [101.5, 40.25, 2]
    kp[H.J["right_ear"]] = [70.0, 30.0, 1]
    kp[H.J["left_ankle"]] = [0, 0, 0]
    status, answer = server.post({"frame": 7, "keypoints": kp})
    assert status == 200 and answer["reviewed"] == 1 and answer["frame"] == 7
    coco = json.loads((clip / "review" / "annotations.json").read_text())
    assert coco["images"] == [{"id": 7, "file_name": "frame_000007.jpg", "width": 160, "height": 120, "frame": 7,
                               "time_s": round(7 / H.FPS, 4), "domain": "real"}]
    (ann,) = coco["annotations"]
    assert ann["image_id"] == 7 and ann["num_keypoints"] == 16 and ann["iscrowd"] == 0
    saved = np.array(ann["keypoints"]).reshape(K, 3)
    assert saved[H.J["left_wrist"]].tolist() == [101.5, 40.25, 2] and saved[H.J["right_ear"], 2] == 1
    assert saved[H.J["left_ankle"]].tolist() == [0, 0, 0]
    assert np.allclose(saved[:, :2][saved[:, 2] > 0], np.array(kp)[:, :2][saved[:, 2] > 0], atol=0.006)
    assert ann["bbox"] == keypoint_bbox(saved, 160, 120) and ann["area"] == pytest.approx(ann["bbox"][2] *
                                                                                          ann["bbox"][3], abs=0.01)
    x, y, w, h = ann["bbox"]
    labelled = saved[saved[:, 2] > 0]
    assert x <= labelled[:, 0].min() and x + w >= labelled[:, 0].max() and y <= labelled[:, 1].min()
    assert coco["categories"][0]["keypoints"] == list(COCO17.names) and len(coco["categories"][0]["skeleton"]) == 19
    image = cv2.imread(str(clip / "review" / "images" / "frame_000007.jpg"))
    assert image.shape == (120, 160, 3) and H.frame_code(image) == 7
    rows = list(csv.reader(open(clip / "keypoints.csv", newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS + CSV_REVIEW_COLUMNS
    assert [r[: len(CSV_COLUMNS)] for r in rows] == [r[: len(CSV_COLUMNS)] for r in csv_before]  # model's unchanged
    by = {(int(r[0]), r[2]): dict(zip(rows[0], r)) for r in rows[1:]}
    assert {"reviewed": "1", "x_reviewed": "101.500", "y_reviewed": "40.250",
            "v_reviewed": "2"}.items() <= by[(7, "left_wrist")].items()
    assert (by[(7, "left_ankle")]["x_reviewed"], by[(7, "left_ankle")]["v_reviewed"]) == ("", "0")
    assert by[(8, "nose")]["reviewed"] == "0" and by[(8, "nose")]["v_reviewed"] == ""
    assert json.loads(server.request("GET", "api/clip")[1])["reviews"]["7"][H.J["left_wrist"]] == [101.5, 40.25, 2]
    status, answer = server.post({"frame": 7, "keypoints": None})
    assert status == 200 and answer["reviewed"] == 0
    assert not (clip / "review" / "images" / "frame_000007.jpg").exists()
    assert json.loads((clip / "review" / "annotations.json").read_text())["images"] == []


def test_reviews_reload_and_the_csv_columns_come_back_after_a_video_rerun(server):
    clip = server.app.clip.folder
    for t in (4, 9):
        assert server.post({"frame": t, "keypoints": _cleaned(clip, t)})[0] == 200
    lines = [r[: len(CSV_COLUMNS)] for r in csv.reader(open(clip / "keypoints.csv", newline=""))]
    with open(clip / "keypoints.csv", "w", newline="") as f:  # `video` writes the CSV again, without them
        csv.writer(f).writerows(lines)
    app = build_app(str(clip), quiet=True)
    assert sorted(app.store.reviews) == [4, 9]
    rows = list(csv.DictReader(open(clip / "keypoints.csv", newline="")))
    assert {int(r["frame"]) for r in rows if r["reviewed"] == "1"} == {4, 9}
    coco = json.loads((clip / "review" / "annotations.json").read_text())
    coco["annotations"][0]["keypoints"][2] = 7  # a visibility the page never writes: named at start
    (clip / "review" / "annotations.json").write_text(json.dumps(coco))
    with pytest.raises(DataFileError, match=r"annotations.json: annotation of frame 4: nose: visibility v must be"):
        build_app(str(clip), quiet=True)


def test_reviewed_frames_load_as_a_coco_training_source_of_the_finetune_config(server):
    from hyper_sapiens.config import load_config
    from hyper_sapiens.data.factory import build_training_data, map_sizes_for, pipeline_config

    clip = server.app.clip.folder
    for t in (2, 21, 40):
        assert server.post({"frame": t, "keypoints": _cleaned(clip, t)})[0] == 200
    empty = [[0, 0, 0]] * K  # a frame without the infant: reviewed, but no person to train on
    assert server.post({"frame": 50, "keypoints": empty})[0] == 200
    cfg = load_config("finetune_reviewed_demo", [f"data.root={clip}", "run.root=runs"])
    assert cfg.data.val is None and cfg.init_from == "runs/stage3/final.safetensors"
    pipeline = pipeline_config(cfg.data, map_sizes_for(tuple(cfg.model.input_size), {"pose": 4}))
    dataset, _ = build_training_data(cfg.data, pipeline, seed=0)
    assert dataset.names == ["reviewed"]
    source = dataset.sources[0]
    records = sorted(source.records, key=lambda r: r.image_id)
    assert [r.image_id for r in records] == [2, 21, 40] and all(r.has_keypoints for r in records)
    assert np.allclose(records[1].keypoints, np.array(_cleaned(clip, 21))[:, :2], atol=0.006)
    sample = dataset[(0, 1, 0)]
    print({k: getattr(v, "shape", v) for k, v in sample.items()})
    assert sample["image"].shape[-2:] == (256, 192)
    unset = load_config("finetune_reviewed_demo")  # loads, but names what to set when its data is read
    with pytest.raises(DataFileError, match="set data.root"):
        build_training_data(unset.data, pipeline, seed=0)
    full = load_config("finetune_reviewed", [f"data.root={clip}", "run.root=runs/me"])
    assert full.model.arch == "sapiens_0.3b"
    assert full.data.sources.reviewed.ann_file == f"{clip}/review/annotations.json"


def test_the_docs_multi_clip_finetune_example_loads(tmp_path, recordings):
    """The ``my_finetune.yaml`` of docs/video.md, its paths pointed at two reviewed test clips."""
    from hyper_sapiens.config import load_config
    from hyper_sapiens.data.factory import build_training_data, pipeline_config

    text = (Path(__file__).resolve().parents[1] / "docs" / "video.md").read_text(encoding="utf-8")
    example = "# my_finetune.yaml" + text.split("```yaml\n# my_finetune.yaml")[1].split("```")[0]
    clips = {}
    for name, frames in (("clip_a", (1, 2)), ("clip_b", (3, 4, 5))):
        clip = _clip(tmp_path, recordings["mp4v"], name)
        s = H.ReviewServer(clip)
        try:
            for t in frames:
                assert s.post({"frame": t, "keypoints": _cleaned(clip, t)})[0] == 200
        finally:
            s.close()
        clips[name] = clip
    b = clips["clip_b"]
    for old, new in (("video_out/clip_a", clips["clip_a"]), ("video_out/clip_b", b), ("video_out/clip_c", b),
                     ("demo_run/data/syrip/annotations/train_real.json", b / "review" / "annotations.json"),
                     ("demo_run/data/syrip/images/train_real", b / "review" / "images")):
        example = example.replace(old, str(new))
    (tmp_path / "my_finetune.yaml").write_text(example, encoding="utf-8")
    cfg = load_config(tmp_path / "my_finetune.yaml")
    assert cfg.init_from == "demo_run/runs/stage3/final.safetensors" and cfg.run.dir == "runs/finetune_reviewed_ab"
    dataset, _ = build_training_data(cfg.data, pipeline_config(cfg.data, {"heatmap": (48, 64)}), seed=0)
    assert dataset.sizes == {"reviewed": 2, "clip_b": 3, "replay": 3}
    assert cfg.data.val.ann_file == f"{b}/review/annotations.json"
