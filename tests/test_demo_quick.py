"""`hyper-sapiens demo --quick` end to end: every phase runs, the files exist, training beats no training, the
video phase tracks the rendered videos and compares them with their truth."""

from __future__ import annotations

import csv
import json

import pytest

from hyper_sapiens.cli import main

pytestmark = pytest.mark.slow  # the whole demo chain (synth, prior, three stages, evaluation)


def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--no-progress", "--device", "cpu"]) == 0
    for name in (
        "report.md",
        "metrics.json",
        "eval/metrics.json",
        "eval/report.md",
        "eval/pck_curve.png",
        "runs/prior/prior.safetensors",
        "runs/stage1/final.safetensors",
        "runs/stage2/final.safetensors",
        "runs/stage3/final.safetensors",
        "runs/stage3/metrics.jsonl",
        "data/meta.json",
        "data/videos/minirgbd_01.mp4",
        "data/videos/minirgbd_02.mp4",
        "video/minirgbd_01/keypoints.csv",
        "video/minirgbd_01/features.json",
        "video/minirgbd_01/skeleton.mp4",
        "video/minirgbd_02/keypoints.csv",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["quick"] is True and metrics["num_instances"] > 0
    assert metrics["pck@0.05"] > metrics["untrained_pck@0.05"], metrics
    stage2 = [json.loads(line) for line in (out / "runs/stage2/metrics.jsonl").read_text().splitlines()]
    steps = [r for r in stage2 if "loss" in r]
    assert all(r["syn_samples"] == r["real_samples"] for r in steps)  # 1:1 mixing
    assert any(r.get("sds", 0) > 0 for r in steps) and any(r.get("geo", 0) > 0 for r in steps)
    assert "PCK@0.05" in capsys.readouterr().out
    _check_video_phase(out, metrics)


def _check_video_phase(out, metrics):
    video = metrics["video"]
    assert set(video) == {"checkpoint", "filter", "prior", "clips", "mean"}
    assert video["checkpoint"] == "runs/stage3/final.safetensors" and video["filter"] == "savgol"
    assert video["prior"] == "runs/prior/prior.safetensors"  # the verb found it via runs/stage3/config.yaml
    assert list(video["clips"]) == ["minirgbd_01", "minirgbd_02"]
    for name, clip in video["clips"].items():
        assert set(clip) == {"input", "truth", "out", "frames", "mean_error_px", "jitter_px", "dropped", "time_s",
                             "frames_per_s"}
        assert clip["input"] == f"data/videos/{name}.mp4" and clip["out"] == f"video/{name}"
        assert clip["frames"] == 3 and clip["frames_per_s"] > 0
        assert set(clip["mean_error_px"]) == {"raw", "raw_kept", "cleaned"}
        assert set(clip["jitter_px"]) == {"raw", "cleaned", "truth"}
        assert clip["jitter_px"]["truth"] > 0 and clip["mean_error_px"]["raw"] > 0  # one second difference each
        # 3 frames < the savgol window: where a joint is kept and not interpolated, the cleaned track is the raw one
        with open(out / clip["out"] / "keypoints.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["gap"] == "0" and r["interpolated"] == "0"]
        assert rows and all((r["x"], r["y"]) == (r["x_raw"], r["y_raw"]) for r in rows)
    mean = video["mean"]
    assert mean["frames"] == 6
    assert set(mean) == {"frames", "mean_error_px", "jitter_px", "dropped", "frames_per_s"}
    raw = [c["mean_error_px"]["raw"] for c in video["clips"].values()]
    assert mean["mean_error_px"]["raw"] == pytest.approx(sum(raw) / 2)
    assert metrics["timings_s"]["video"] > 0
    report = (out / "report.md").read_text()
    assert "## Video" in report and "pixels/frame²" in report
    for link in ("(data/videos/minirgbd_01.mp4)", "(video/minirgbd_01/skeleton.mp4)",
                 "(video/minirgbd_01/features.json)"):
        assert link in report, link
