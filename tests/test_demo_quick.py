"""`hyper-sapiens demo --quick` end to end: every phase runs, the files exist, training beats no training."""

from __future__ import annotations

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
