"""The pretrained weights shipped in the package: manifest, strict loading, and a real forward pass that beats
an untrained model on adults rendered afresh (not the manifest's numbers)."""

from __future__ import annotations

import pytest
import torch

from hyper_sapiens.config import load_config
from hyper_sapiens.devices import pick_device
from hyper_sapiens.evaluation.report import evaluate_checkpoint
from hyper_sapiens.models import build_model, load_sapiens_checkpoint
from hyper_sapiens.models.pretrained import packaged_manifest, packaged_weights_path, sha256_of
from hyper_sapiens.portable_paths import absolute_paths_in
from hyper_sapiens.synth.adults import generate_adult_dataset


def test_shipped_weights_match_their_manifest_and_load_strictly():
    path = packaged_weights_path("tiny_adult_pose")
    manifest = packaged_manifest("tiny_adult_pose")
    assert sha256_of(path) == manifest["sha256"]
    assert path.stat().st_size == manifest["bytes"] <= 10 * 2**20
    assert manifest["recipe"]["config"] == "pretrain_tiny_adult" and manifest["steps"] > 0
    assert absolute_paths_in(manifest) == []  # paths are named folders (OUT/...), not the maker's machine
    cfg = load_config(manifest["recipe"]["config"])
    report = load_sapiens_checkpoint(build_model(cfg.model), path, part="pose", strict=True)
    assert report.ok and not report.missing and not report.unexpected
    # the demo's stage 1 loads the same file through sapiens_checkpoints.pose
    stage1 = load_config("stage1_syn_warmup_demo")
    assert stage1.sapiens_checkpoints.pose == str(path)
    assert load_sapiens_checkpoint(build_model(stage1.model), path, part="pose", strict=True).ok


@pytest.mark.slow
def test_shipped_weights_localise_freshly_rendered_adults_far_better_than_untrained(tmp_path):
    data = tmp_path / "adults"
    generate_adult_dataset(data, preset="tiny", seed=7, workers=1, progress=False)  # subjects never trained on
    cfg = load_config(
        "pretrain_tiny_adult",
        [f"data.adults={data}", "data.workers=0", "eval.dataset.type=coco",
         f"eval.dataset.ann_file={data}/annotations/val.json", f"eval.dataset.image_root={data}/images/val",
         "eval.dataset.labelled=labelled"],
    )
    device = pick_device("cpu")
    pck = {}
    for name in ("untrained", "shipped"):
        torch.manual_seed(0)
        model = build_model(cfg.model)
        if name == "shipped":
            load_sapiens_checkpoint(model, packaged_weights_path("tiny_adult_pose"), part="pose", strict=True)
        metrics = evaluate_checkpoint(model, cfg, tmp_path / name, device, progress=False, title=name)
        assert metrics["num_instances"] == 12
        pck[name] = metrics["pck@0.05"]
    assert pck["untrained"] < 0.1, pck
    assert pck["shipped"] > pck["untrained"] + 0.4, pck
