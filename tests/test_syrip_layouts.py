"""The real SyRIP layouts (``release`` and ``fidip``), written by ``synth --syrip-layout``: the full-size stage
configs read them, the mixed training file splits by ``is_synthetic``, image paths fall back to the SyRIP id
patterns, and the project's own layout keeps working."""

from __future__ import annotations

import json
import shutil

import pytest

from hyper_sapiens.config import load_config
from hyper_sapiens.data.coco_topdown import CocoTopDownDataset, image_domain
from hyper_sapiens.data.factory import pipeline_config
from hyper_sapiens.data.io import DataFileError
from hyper_sapiens.data.pipeline import TopDownTransform
from hyper_sapiens.data.sources import build_source
from hyper_sapiens.data.syrip_layout import SYRIP_LAYOUTS
from hyper_sapiens.synth import generate_dataset


@pytest.fixture(scope="module", params=["release", "fidip"])
def syrip(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"syrip_{request.param}") / "data"
    generate_dataset(root, preset="tiny", seed=0, workers=1, progress=False, syrip_layout=request.param)
    return request.param, root


def _transform():
    return TopDownTransform(pipeline_config({"pipeline": {"input_size": [48, 64]}}), train=False)


def test_files_are_where_the_real_layout_puts_them(syrip):
    layout, root = syrip
    files = SYRIP_LAYOUTS[layout]
    train = json.loads((root / "syrip" / files["train_ann"]).read_text())
    test = json.loads((root / "syrip" / files["test_ann"]).read_text())
    assert sorted(p.name for p in (root / "syrip" / "annotations").rglob("*.json")) == sorted(
        [p.split("/")[-1] for p in (files["train_ann"], files["test_ann"])])
    syn = [im for im in train["images"] if im["is_synthetic"]]
    real = [im for im in train["images"] if not im["is_synthetic"]]
    assert (len(syn), len(real), len(test["images"])) == (12, 8, 6)
    assert all(im["file_name"] == f"train{im['id']:05d}.jpg" for im in train["images"])
    assert min(im["id"] for im in syn) == 10001 and min(im["id"] for im in real) == 1
    assert [im["file_name"] for im in test["images"]] == [f"test{i}.jpg" for i in range(6)]
    assert all("domain" not in im for im in train["images"] + test["images"])
    # SyRIP's posture field, spelt as SyRIP spells it, so per-posture metrics read renders and real images alike
    assert {im["posture"] for im in train["images"] + test["images"]} <= {"Supine", "Prone", "Sitting", "Standing"}
    for folder, images in ((files["train_images"], train["images"]), (files["test_images"], test["images"])):
        assert all((root / "syrip" / folder / im["file_name"]).is_file() for im in images)
    dets = json.loads((root / "detections" / "test_real.json").read_text())
    assert {d["image_id"] for d in dets} <= {im["id"] for im in test["images"]}


def test_full_size_stage_configs_split_the_mixed_file_by_is_synthetic(syrip):
    layout, root = syrip
    cfg = load_config("stage2_mixed_ddp", [f"data.syrip={root / 'syrip'}", f"data.syrip_layout={layout}"])
    sources = {name: build_source(spec, _transform(), name) for name, spec in cfg.data.sources.items()}
    assert len(sources["syn"]) == 12 and {r.domain for r in sources["syn"].records} == {"syn"}
    assert len(sources["real"]) == 8 and {r.domain for r in sources["real"].records} == {"real"}
    assert sum(sources["real"].skipped.values()) == 12  # the synthetic images, counted, not silently lost
    val = build_source(cfg.data.val, _transform(), "val")
    assert len(val) == 6 and {r.domain for r in val.records} == {"real"}
    # without keep_domain a mixed source keeps every image, each with its own domain
    spec = dict(cfg.data.sources.real, keep_domain=None)
    mixed = build_source(spec, _transform(), "mixed")
    assert sorted(r.domain for r in mixed.records).count("syn") == 12 and len(mixed) == 20


def test_image_paths_fall_back_to_the_syrip_id_patterns(syrip, tmp_path):
    layout, root = syrip
    files = SYRIP_LAYOUTS[layout]
    data = json.loads((root / "syrip" / files["train_ann"]).read_text())
    for im in data["images"]:
        im["file_name"] = f"renamed_{im['id']}.jpg"  # a file_name that is not on disk: FiDIP uses the id
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps(data))
    ds = CocoTopDownDataset(ann, root / "syrip" / files["train_images"], _transform())
    assert all(r.image_path.endswith(f"train{r.image_id:05d}.jpg") for r in ds.records)
    images = tmp_path / "images"
    shutil.copytree(root / "syrip" / files["train_images"], images)
    (images / "train00001.jpg").unlink()
    with pytest.raises(DataFileError, match=r"image 1: no image file found; tried .*renamed_1.jpg.*train00001.jpg"):
        CocoTopDownDataset(ann, images, _transform())


def test_domain_fields():
    assert image_domain({"is_synthetic": True}, "real") == "syn"
    assert image_domain({"is_synthetic": 0}, "syn") == "real"
    assert image_domain({"is_synthetic": "False"}, "syn") == "real"
    assert image_domain({"domain": "real", "is_synthetic": True}, "syn") == "real"  # the project's field wins
    assert image_domain({}, "syn") == "syn"
    with pytest.raises(DataFileError, match="is_synthetic must be a boolean"):
        image_domain({"id": 3, "is_synthetic": "maybe"}, "real")
