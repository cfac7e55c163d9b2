"""The pretrained weights shipped in the package: manifest, strict loading, and a real forward pass that beats
an untrained model on adults rendered afresh (not the manifest's numbers)."""

from __future__ import annotations

import pytest
import torch

from hyper_sapiens.config import load_config
from hyper_sapiens.devices import pick_device
from hyper_sapiens.evaluation.report import evaluate_checkpoint
from hyper_sapiens.models import build_model, load_sapiens_checkpoint
from hyper_sapiens.models.pretrained import PACKAGED_WEIGHTS, packaged_manifest, packaged_weights_path, sha256_of
from hyper_sapiens.portable_paths import absolute_paths_in
from hyper_sapiens.synth.adults import generate_adult_dataset

#: Each shipped file: its recipe and a stage config that starts from it through sapiens_checkpoints.pose.
SHIPPED = {
    "tiny_adult_pose": ("pretrain_tiny_adult", "pretrain_tiny_real"),
    "tiny_real_pose": ("pretrain_tiny_real", "stage1_syn_warmup_demo"),
}
#: How far above an untrained model each file must place freshly rendered adults (PCK@0.05, 12 crops): the
#: manifests hold 0.58 (tiny_adult_pose, adults val) and 0.309 (tiny_real_pose, held-out rendered adults)
MARGIN = {"tiny_adult_pose": 0.4, "tiny_real_pose": 0.1}


def test_every_shipped_file_is_listed():
    assert set(PACKAGED_WEIGHTS) == set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_match_their_manifest_and_load_strictly(name):
    path = packaged_weights_path(name)
    manifest = packaged_manifest(name)
    recipe, stage = SHIPPED[name]
    assert sha256_of(path) == manifest["sha256"]
    assert path.stat().st_size == manifest["bytes"] <= 10 * 2**20
    assert manifest["recipe"]["config"] == recipe and manifest["steps"] > 0
    assert absolute_paths_in(manifest) == []  # paths are named folders (OUT/...), not the maker's machine
    cfg = load_config(recipe)
    report = load_sapiens_checkpoint(build_model(cfg.model), path, part="pose", strict=True)
    assert report.ok and not report.missing and not report.unexpected
    # a packaged stage config loads the same file through sapiens_checkpoints.pose
    start = load_config(stage)
    assert start.sapiens_checkpoints.pose == str(path)
    assert load_sapiens_checkpoint(build_model(start.model), path, part="pose", strict=True).ok


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_localise_freshly_rendered_adults_better_than_untrained(name, tmp_path):
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
    for which in ("untrained", "shipped"):
        torch.manual_seed(0)
        model = build_model(cfg.model)
        if which == "shipped":
            load_sapiens_checkpoint(model, packaged_weights_path(name), part="pose", strict=True)
        metrics = evaluate_checkpoint(model, cfg, tmp_path / which, device, progress=False, title=which)
        assert metrics["num_instances"] == 12
        pck[which] = metrics["pck@0.05"]
    assert pck["untrained"] < 0.1, pck
    assert pck["shipped"] > pck["untrained"] + MARGIN[name], pck
