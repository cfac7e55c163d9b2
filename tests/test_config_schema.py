"""The strict config schema: a misspelt key in any section fails before training, naming the closest key."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Literal

import pytest

from hyper_sapiens.config import load_config, validate_stage_config
from hyper_sapiens.config_schema import ConfigError, closest_key, from_mapping, validate_section
from hyper_sapiens.config_sections import PriorConfig, StageConfig
from hyper_sapiens.prior.command import load_prior_config

STAGE = "stage2_mixed_demo"
BASE = ["data.root=/data", "run.root=/runs"]

# one misspelt key per section of a stage config: (override, the key it names, the closest valid key)
STAGE_TYPOS = [
    ("seeed=1", "seeed", None),
    ("init_fromm=x", "init_fromm", "init_from"),
    ("run.stepss=100", "run.stepss", "run.steps"),
    ("optim.lrr=1", "optim.lrr", "optim.lr"),
    ("optim.ema.decayy=0.9", "optim.ema.decayy", "optim.ema.decay"),
    ("loss.pose.wieght=0", "loss.pose.wieght", "loss.pose.weight"),
    ("loss.syn_pose_scale.wieght=0", "loss.syn_pose_scale.wieght", "loss.syn_pose_scale.weight"),
    ("loss.coord.betta=1", "loss.coord.betta", "loss.coord.beta"),
    ("loss.depth.knd=ssi", "loss.depth.knd", "loss.depth.kind"),
    ("loss.normal.domain=[syn]", "loss.normal.domain", "loss.normal.domains"),
    ("loss.geo.modes=tilt", "loss.geo.modes", "loss.geo.mode"),
    ("loss.bone.refrence=x", "loss.bone.refrence", "loss.bone.reference"),
    ("loss.sds.min_confidense=0", "loss.sds.min_confidense", "loss.sds.min_confidence"),
    ("loss.sds.decay.finall=0.1", "loss.sds.decay.finall", "loss.sds.decay.final"),
    ("loss.sdss.weight=1", "loss.sdss", "loss.sds"),
    ("eval.flip_tset=false", "eval.flip_tset", "eval.flip_test"),
    ("data.workerz=1", "data.workerz", "data.workers"),
    ("data.batch.count.syn=1", "data.batch.count", "data.batch.counts"),
    ("data.pipeline.sigmaa=2", "data.pipeline.sigmaa", "data.pipeline.sigma"),
    ("data.pipeline.bbox.rotate_factr=2", "data.pipeline.bbox.rotate_factr", "data.pipeline.bbox.rotate_factor"),
    ("data.sources.syn.ann_fiel=x", "data.sources.syn.ann_fiel", "data.sources.syn.ann_file"),
    ("data.val.image_rot=x", "data.val.image_rot", "data.val.image_root"),
    ("model.archh=tiny", "model.archh", "model.arch"),
    ("model.heads.pose.conv_channel=[8]", "model.heads.pose.conv_channel", "model.heads.pose.conv_channels"),
    ("model.heads.poses.conv_channels=[8]", "model.heads.poses", "model.heads.pose"),
    ("sapiens_checkpoints.poses=x", "sapiens_checkpoints.poses", "sapiens_checkpoints.pose"),
]

PRIOR_TYPOS = [
    ("seeds=1", "seeds", "seed"),
    ("data.pathz=[]", "data.pathz", "data.paths"),
    ("prior.normaliser.scale=rms", "prior.normaliser", "prior.normalizer"),
    ("prior.normalizer.scale_facter=2", "prior.normalizer.scale_facter", "prior.normalizer.scale_factor"),
    ("prior.denoiser.hiden=64", "prior.denoiser.hiden", "prior.denoiser.hidden"),
    ("prior.schedule.num_step=10", "prior.schedule.num_step", "prior.schedule.num_steps"),
    ("augment.flip=0.5", "augment.flip", "augment.flip_prob"),
    ("train.lrr=1", "train.lrr", "train.lr"),
]


def _message(loader, *args) -> str:
    with pytest.raises(ConfigError) as info:
        loader(*args)
    return str(info.value)


@pytest.mark.parametrize(("override", "key", "closest"), STAGE_TYPOS, ids=[t[1] for t in STAGE_TYPOS])
def test_a_misspelt_stage_key_names_the_closest_one(override, key, closest):
    message = _message(load_config, STAGE, [*BASE, override])
    assert f"{key}: unknown key" in message
    if closest is None:
        assert "did you mean" not in message
    else:
        assert f"did you mean {closest}?" in message


@pytest.mark.parametrize(("override", "key", "closest"), PRIOR_TYPOS, ids=[t[1] for t in PRIOR_TYPOS])
def test_a_misspelt_prior_key_names_the_closest_one(override, key, closest):
    message = _message(load_prior_config, "prior_demo", [override])
    assert f"{key}: unknown key; did you mean {closest}?" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("run.steps=abc", "run.steps: expected an integer, got 'abc'"),
        ("optim.schedule=cos", "optim.schedule: must be one of ['cosine', 'step', 'constant'], got 'cos'"),
        ("optim.amp=3", "optim.amp: expected true or false, got 3"),
        ("loss.sds.t_range=[1,2,3]", "loss.sds.t_range: expected 2 values"),
        ("data.batch.counts.syn=many", "data.batch.counts.syn: expected an integer, got 'many'"),
        ("data.sources.syn.type=cocoa", "data.sources.syn.type: unknown source type 'cocoa'"),
    ],
)
def test_a_wrong_value_type_is_named(override, expected):
    assert expected in _message(load_config, STAGE, [*BASE, override])


def test_defaults_come_from_the_sections_and_loading_is_idempotent():
    cfg = load_config("stage1_syn_warmup_demo", BASE)
    assert cfg.optim.accumulation == 1 and cfg.optim.gamma == 0.1  # not in the YAML: the section defaults
    assert cfg.loss.bone.weight == 0.0 and cfg.loss.sds.weighting == "x0"
    assert cfg.eval.flip_test is True and cfg.run.stop_after is None
    assert validate_stage_config(cfg) == cfg
    assert validate_section(StageConfig, {}, "")["run"]["steps"] == 1000


def test_prior_defaults_and_base_chain(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("base: prior_demo\ntrain: {steps: 7}\n", encoding="utf-8")
    cfg = load_prior_config(str(child))
    assert cfg["train"]["steps"] == 7 and cfg["train"]["batch_size"] == 256  # from prior_demo
    assert cfg["data"]["max_frames"] is None  # the section default
    assert validate_section(PriorConfig, cfg, "") == cfg


def test_a_broken_interpolation_is_a_config_error():
    message = _message(load_config, STAGE, [*BASE, "run.dir=${run.nowhere}/x"])
    assert "run.nowhere" in message


@dataclass
class _Inner:
    size: tuple[int, int] = (1, 2)
    mode: Literal["a", "b"] = "a"


@dataclass
class _Outer:
    inner: _Inner = field(default_factory=_Inner)
    names: list[str] = field(default_factory=list)
    limit: float | None = None


def test_from_mapping_builds_typed_instances():
    obj = from_mapping(_Outer, {"inner": {"size": [3, 4]}, "limit": 2})
    assert obj.inner == _Inner(size=(3, 4), mode="a") and obj.limit == 2.0 and isinstance(obj.limit, float)
    with pytest.raises(ConfigError, match=r"_Outer.inner.mode: must be one of \['a', 'b'\], got 'c'"):
        from_mapping(_Outer, {"inner": {"mode": "c"}})
    assert closest_key("LR", ["lr", "steps"]) == "lr" and closest_key("zzz", ["lr"]) is None


def test_the_train_verb_stops_on_a_typo_before_writing_anything(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "hyper_sapiens", "train", "--config", "stage1_syn_warmup_demo",
         f"data.root={tmp_path}", f"run.dir={run_dir}", "optim.lrr=1"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "optim.lrr: unknown key; did you mean optim.lr?" in proc.stderr
    assert not run_dir.exists()
