"""Sapiens checkpoint reading (restricted unpickler), key mapping, pos-embed handling, safetensors, CLI."""

from __future__ import annotations

import collections
import json
import math
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from hyper_sapiens.cli import main as cli_main
from hyper_sapiens.models import (
    CheckpointMismatchError,
    PickledObject,
    SapiensViT,
    UnsafeCheckpointError,
    build_model,
    load_model,
    load_sapiens_checkpoint,
    load_state_file,
    read_torch_checkpoint,
    read_weights_metadata,
    resize_pos_embed,
    save_weights,
)

# A small arch of the Sapiens design: (embed_dims, num_layers, num_heads), FFN 4x, 64x48 input -> 4x3 grid.
C, LAYERS, HEADS = 32, 2, 2
INPUT_HW = (64, 48)
POSE_WIDTH = 16
MODEL_CFG = {
    "arch": "tiny",
    "embed_dims": C,
    "num_layers": LAYERS,
    "num_heads": HEADS,
    "input_size": [INPUT_HW[1], INPUT_HW[0]],
    "heads": {"pose": {"deconv_channels": [POSE_WIDTH, POSE_WIDTH], "conv_channels": [POSE_WIDTH, POSE_WIDTH]}},
}
SIDE_EFFECTS: list[str] = []


def sapiens_state_dict(seed: int = 0, grid: tuple[int, int] = (4, 3)) -> dict[str, torch.Tensor]:
    """A pose checkpoint's state dict written from the Sapiens key/shape table (facebookresearch/sapiens configs)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.05):
        return torch.randn(*shape, generator=g) * scale

    sd = {
        "backbone.pos_embed": rnd(1, grid[0] * grid[1], C, scale=0.02),
        "backbone.patch_embed.projection.weight": rnd(C, 3, 16, 16),
        "backbone.patch_embed.projection.bias": rnd(C),
        "backbone.ln1.weight": 1 + rnd(C),
        "backbone.ln1.bias": rnd(C),
    }
    for i in range(LAYERS):
        p = f"backbone.layers.{i}."
        sd.update(
            {
                p + "ln1.weight": 1 + rnd(C),
                p + "ln1.bias": rnd(C),
                p + "attn.qkv.weight": rnd(3 * C, C, scale=0.2),
                p + "attn.qkv.bias": rnd(3 * C),
                p + "attn.proj.weight": rnd(C, C, scale=0.2),
                p + "attn.proj.bias": rnd(C),
                p + "ln2.weight": 1 + rnd(C),
                p + "ln2.bias": rnd(C),
                p + "ffn.layers.0.0.weight": rnd(4 * C, C, scale=0.2),
                p + "ffn.layers.0.0.bias": rnd(4 * C),
                p + "ffn.layers.1.weight": rnd(C, 4 * C, scale=0.2),
                p + "ffn.layers.1.bias": rnd(C),
            }
        )
    w = POSE_WIDTH
    sd.update(
        {
            "head.deconv_layers.0.weight": rnd(C, w, 4, 4, scale=0.2),
            "head.deconv_layers.3.weight": rnd(w, w, 4, 4, scale=0.2),
            "head.conv_layers.0.weight": rnd(w, w, 1, 1, scale=0.2),
            "head.conv_layers.0.bias": rnd(w),
            "head.conv_layers.3.weight": rnd(w, w, 1, 1, scale=0.2),
            "head.conv_layers.3.bias": rnd(w),
            "head.final_layer.weight": rnd(17, w, 1, 1, scale=0.2),
            "head.final_layer.bias": rnd(17),
        }
    )
    return sd


def reference_pose_forward(sd: dict[str, torch.Tensor], img: torch.Tensor) -> torch.Tensor:
    """Sapiens' forward order written out with functional ops (explicit softmax attention, InstanceNorm)."""
    x = F.conv2d(img, sd["backbone.patch_embed.projection.weight"], sd["backbone.patch_embed.projection.bias"], 16, 2)
    b, c, h, w = x.shape
    x = x.flatten(2).transpose(1, 2) + sd["backbone.pos_embed"]
    hd = c // HEADS
    for i in range(LAYERS):
        p = f"backbone.layers.{i}."
        y = F.layer_norm(x, (c,), sd[p + "ln1.weight"], sd[p + "ln1.bias"], eps=1e-6)
        qkv = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).reshape(b, -1, 3, HEADS, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(b, -1, c)
        x = x + F.linear(y, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        y = F.layer_norm(x, (c,), sd[p + "ln2.weight"], sd[p + "ln2.bias"], eps=1e-6)
        y = F.gelu(F.linear(y, sd[p + "ffn.layers.0.0.weight"], sd[p + "ffn.layers.0.0.bias"]))
        x = x + F.linear(y, sd[p + "ffn.layers.1.weight"], sd[p + "ffn.layers.1.bias"])
    x = F.layer_norm(x, (c,), sd["backbone.ln1.weight"], sd["backbone.ln1.bias"], eps=1e-6)
    x = x.reshape(b, h, w, c).permute(0, 3, 1, 2)
    for i in (0, 3):
        x = F.silu(F.instance_norm(F.conv_transpose2d(x, sd[f"head.deconv_layers.{i}.weight"], None, 2, 1)))
    for i in (0, 3):
        x = F.silu(F.instance_norm(F.conv2d(x, sd[f"head.conv_layers.{i}.weight"], sd[f"head.conv_layers.{i}.bias"])))
    return F.conv2d(x, sd["head.final_layer.weight"], sd["head.final_layer.bias"])


class MetaThing:
    """A user class pickled into ``meta`` (like mmengine's objects): must come back as a placeholder."""

    def __init__(self):
        self.values = np.arange(4)

    def __setstate__(self, state):  # would record a side effect if ever called
        SIDE_EFFECTS.append("MetaThing.__setstate__")
        self.__dict__.update(state)


class ConfigDictLike(dict):
    pass


def record_side_effect(tag: str) -> str:
    SIDE_EFFECTS.append(tag)
    return tag


class CallsModuleFunction:
    def __reduce__(self):
        return (record_side_effect, ("reduce-called",))


class CallsSystem:
    def __reduce__(self):
        return (os.system, ("echo unsafe > /dev/null",))


class CallsEval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def write_mmengine_checkpoint(path, sd, extra_meta=None):
    cfg = ConfigDictLike(type="TopdownPoseEstimator")
    cfg["data_preprocessor"] = {"mean": [123.675, 116.28, 103.53]}
    meta = {
        "cfg": "model = dict(type='TopdownPoseEstimator')",
        "dataset_meta": {"flip_indices": np.array([0, 2, 1]), "sigmas": np.ones(17, dtype=np.float32)},
        "thing": MetaThing(),
        "config_dict": cfg,
        "history": collections.OrderedDict(loss=[0.1, 0.2]),
        "epoch": 210,
    }
    meta.update(extra_meta or {})
    torch.save({"meta": meta, "state_dict": collections.OrderedDict(sd)}, path)


def test_mmengine_checkpoint_loads_with_identical_outputs(tmp_path):
    SIDE_EFFECTS.clear()
    sd = sapiens_state_dict()
    path = tmp_path / "sapiens_tiny_coco.pth"
    write_mmengine_checkpoint(path, sd, {"callable": CallsModuleFunction()})
    torch.manual_seed(1)
    model = build_model(MODEL_CFG).eval()
    report = load_sapiens_checkpoint(model, path, part="pose")
    assert report.ok and not report.missing and not report.unexpected and not report.resized
    assert len(report.loaded) == len(sd) == len(model.state_dict())
    for key, value in model.state_dict().items():  # every tensor identical to the file's
        source_key = "head." + key[len("pose_head.") :] if key.startswith("pose_head.") else key
        assert torch.equal(value, sd[source_key]), key
    img = torch.randn(2, 3, *INPUT_HW)
    with torch.no_grad():
        ours = model(img)["heatmaps"]
    ref = reference_pose_forward(sd, img)
    assert ours.shape == (2, 17, 16, 12)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    assert SIDE_EFFECTS == []  # neither __setstate__ nor the __reduce__ callable of the pickle ran


def test_restricted_unpickler_materialises_tensors_and_placeholders(tmp_path):
    SIDE_EFFECTS.clear()
    path = tmp_path / "ckpt.pth"
    sd = sapiens_state_dict()
    sd["backbone.ln1.bias"] = sd["backbone.ln1.bias"].to(torch.bfloat16)
    write_mmengine_checkpoint(path, sd, {"callable": CallsModuleFunction(), "view": torch.arange(10)[2:8:2]})
    obj = read_torch_checkpoint(path)
    meta = obj["meta"]
    assert meta["cfg"].startswith("model = dict")
    assert meta["epoch"] == 210 and meta["history"] == {"loss": [0.1, 0.2]}
    assert isinstance(meta["thing"], PickledObject) and meta["thing"]._qualname == "MetaThing"
    assert isinstance(meta["dataset_meta"]["flip_indices"], PickledObject)  # numpy arrays stay inert
    assert isinstance(meta["config_dict"], PickledObject)
    assert meta["config_dict"].items["type"] == "TopdownPoseEstimator"
    assert isinstance(meta["callable"], PickledObject) and meta["callable"].args == ("reduce-called",)
    assert torch.equal(meta["view"], torch.tensor([2, 4, 6]))
    for key, value in sd.items():
        assert torch.equal(obj["state_dict"][key], value) and obj["state_dict"][key].dtype == value.dtype
    assert SIDE_EFFECTS == []


@pytest.mark.parametrize("payload", [CallsSystem(), CallsEval()])
def test_code_executing_pickle_is_refused(tmp_path, payload):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"backbone.ln1.weight": torch.ones(3)}, "meta": {"x": payload}}, path)
    with pytest.raises(UnsafeCheckpointError, match="evil.pth.*refusing to unpickle global"):
        read_torch_checkpoint(path)
    model = build_model(MODEL_CFG)
    with pytest.raises(UnsafeCheckpointError):
        load_sapiens_checkpoint(model, path, part="backbone")


def test_raw_pickle_and_garbage_are_refused(tmp_path):
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafeCheckpointError, match="not a torch zip archive"):
        read_torch_checkpoint(raw)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_torch_checkpoint(tmp_path / "missing.pth")


def test_pretrain_clean_checkpoint_drops_cls_and_resizes(tmp_path):
    sd = sapiens_state_dict()
    flat = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
    square = torch.randn(1, 8 * 8 + 1, C)  # MAE layout: cls entry + square grid (64x64 in Sapiens)
    flat["pos_embed"] = square
    flat["cls_token"] = torch.randn(1, 1, C)
    path = tmp_path / "sapiens_tiny_epoch_1600_clean.pth"
    torch.save(flat, path)
    backbone = SapiensViT("tiny", img_size=INPUT_HW, embed_dims=C, num_layers=LAYERS, num_heads=HEADS)
    report = load_sapiens_checkpoint(backbone, path, part="backbone")
    assert report.ok and report.source_format == "torch_pickle/pretrain"
    assert report.resized == {"backbone.pos_embed": ((1, 65, C), (1, 12, C))}
    expected = F.interpolate(
        square[:, 1:].reshape(1, 8, 8, C).permute(0, 3, 1, 2), size=(4, 3), mode="bicubic", align_corners=False
    )
    torch.testing.assert_close(backbone.pos_embed.data, expected.flatten(2).transpose(1, 2), rtol=0, atol=0)
    torch.testing.assert_close(backbone.layers[1].attn.qkv.weight.data, flat["layers.1.attn.qkv.weight"])


def test_pos_embed_resized_to_other_input_size(tmp_path):
    sd = sapiens_state_dict()
    path = tmp_path / "pose.pth"
    write_mmengine_checkpoint(path, sd)
    cfg = dict(MODEL_CFG, input_size=[64, 96])  # 96x64 input -> 6x4 grid; the file holds 4x3
    model = build_model(cfg)
    report = load_sapiens_checkpoint(model, path, part="pose", src_grid=(4, 3))
    assert report.resized["backbone.pos_embed"] == ((1, 12, C), (1, 24, C))
    expected = resize_pos_embed(sd["backbone.pos_embed"], (4, 3), (6, 4))
    torch.testing.assert_close(model.backbone.pos_embed.data, expected)


def test_strict_reports_missing_and_unexpected(tmp_path):
    sd = sapiens_state_dict()
    del sd["head.final_layer.bias"]
    sd["backbone.layers.0.attn.extra"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    write_mmengine_checkpoint(path, sd)
    model = build_model(MODEL_CFG)
    before = model.backbone.pos_embed.detach().clone()
    with pytest.raises(CheckpointMismatchError, match="pose_head.final_layer.bias") as err:
        load_sapiens_checkpoint(model, path, part="pose")
    assert "backbone.layers.0.attn.extra" in str(err.value)
    assert torch.equal(model.backbone.pos_embed, before)  # nothing was loaded
    report = load_sapiens_checkpoint(model, path, part="pose", strict=False)
    assert report.missing == ["pose_head.final_layer.bias"] and report.unexpected == ["backbone.layers.0.attn.extra"]
    # Backbone only: the head keys are ignored, not unexpected; strict passes apart from the extra key.
    report = load_sapiens_checkpoint(model, path, part="backbone", strict=False)
    assert "head.final_layer.weight" in report.ignored and report.missing == []


def test_depth_head_into_pose_model_without_backbone(tmp_path):
    sd = {k: v for k, v in sapiens_state_dict().items() if k.startswith("backbone.")}
    depth_cfg = {"deconv_channels": [8], "conv_channels": []}
    cfg = dict(MODEL_CFG, heads={"pose": MODEL_CFG["heads"]["pose"], "depth": depth_cfg})
    model = build_model(cfg)
    depth_sd = {"decode_head." + k: torch.randn_like(v) for k, v in model.depth_head.state_dict().items()}
    path = tmp_path / "depth.pth"
    write_mmengine_checkpoint(path, {**sd, **depth_sd})
    pos_before = model.backbone.pos_embed.detach().clone()
    report = load_sapiens_checkpoint(model, path, part="depth", load_backbone=False)
    assert report.ok and all(k.startswith("backbone.") for k in report.ignored)
    assert torch.equal(model.backbone.pos_embed, pos_before)
    assert torch.equal(model.depth_head.conv_seg.weight, depth_sd["decode_head.conv_seg.weight"])
    with pytest.raises(ValueError, match="no normal head"):
        load_sapiens_checkpoint(model, path, part="normal")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_torchscript_export_loads(tmp_path):
    sd = sapiens_state_dict()
    source = build_model(MODEL_CFG).eval()
    load_sapiens_checkpoint(source, "memory", part="pose", state_dict=sd)

    class TracedLike(torch.nn.Module):  # the module tree of Sapiens' traced TopdownPoseEstimator
        def __init__(self):
            super().__init__()
            self.backbone = source.backbone
            self.head = source.pose_head

        def forward(self, x):
            return self.head(self.backbone(x))

    path = tmp_path / "sapiens_tiny_coco_torchscript.pt2"
    with torch.no_grad():
        torch.jit.trace(TracedLike().eval(), torch.randn(1, 3, *INPUT_HW), check_trace=False).save(str(path))
    model = build_model(MODEL_CFG)
    with pytest.raises(UnsafeCheckpointError, match="torchscript.pt2: refused: a TorchScript archive"):
        load_sapiens_checkpoint(model, path, part="pose")  # torch.jit.load runs code: only with trust_code
    report = load_sapiens_checkpoint(model, path, part="pose", trust_code=True)
    assert report.source_format == "torchscript" and report.ok
    for key, value in sd.items():
        name = key.replace("head.", "pose_head.", 1) if key.startswith("head.") else key
        assert torch.equal(model.state_dict()[name], value)


def test_torch_export_archive_loads(tmp_path):
    source = build_model(MODEL_CFG).eval()

    class ExportLike(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = source.backbone
            self.head = source.pose_head

        def forward(self, x):
            return self.head(self.backbone(x))

    path = tmp_path / "sapiens_tiny_coco_bfloat16.pt2"
    torch.export.save(torch.export.export(ExportLike().eval(), (torch.randn(1, 3, *INPUT_HW),)), str(path))
    model = build_model(MODEL_CFG)
    with pytest.raises(UnsafeCheckpointError, match="bfloat16.pt2: refused: a torch.export archive"):
        load_sapiens_checkpoint(model, path, part="pose")  # torch.export.load unpickles with weights_only=False
    report = load_sapiens_checkpoint(model, path, part="pose", trust_code=True)
    assert report.source_format == "torch_export" and report.ok
    for a, b in zip(model.state_dict().values(), source.state_dict().values()):
        assert torch.equal(a, b)


def test_safetensors_round_trip(tmp_path):
    torch.manual_seed(3)
    normal_cfg = {"deconv_channels": [8], "axis_map": ["x", "-y", "-z"]}
    cfg = dict(MODEL_CFG, heads={**MODEL_CFG["heads"], "normal": normal_cfg})
    model = build_model(cfg).eval()
    path = save_weights(model, tmp_path / "weights.safetensors")
    meta = read_weights_metadata(path)
    assert meta["arch"] == "tiny" and meta["config"]["heads"]["normal"]["axis_map"] == ["x", "-y", "-z"]
    assert meta["input_size"] == "[48, 64]"
    restored = load_model(path).eval()
    img = torch.randn(1, 3, *INPUT_HW)
    with torch.no_grad():
        a, b = model(img), restored(img)
    for key in a:
        assert torch.equal(a[key], b[key])
    other = build_model(dict(MODEL_CFG, heads={"pose": {}}))
    with pytest.raises(CheckpointMismatchError, match="mismatched"):
        from hyper_sapiens.models import load_weights

        load_weights(other, path)


def test_a_bare_backbone_saves_with_its_constructor_config(tmp_path):
    backbone = SapiensViT("tiny", img_size=INPUT_HW, embed_dims=C, num_layers=LAYERS, num_heads=HEADS)
    meta = read_weights_metadata(save_weights(backbone, tmp_path / "backbone.safetensors"))
    assert meta["arch"] == "tiny" and meta["config"]["num_layers"] == LAYERS
    assert meta["input_size"] == json.dumps(list(INPUT_HW))


def test_load_state_file_refuses_pickled_objects(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, plain)
    assert torch.equal(load_state_file(plain)["w"], torch.ones(2))
    sapiens = tmp_path / "sapiens_pose.pth"
    write_mmengine_checkpoint(sapiens, sapiens_state_dict())
    with pytest.raises(UnsafeCheckpointError, match="sapiens_pose.pth.*convert-checkpoint"):
        load_state_file(sapiens)


def test_cli_convert_checkpoint(tmp_path, capsys):
    sd = sapiens_state_dict()
    src = tmp_path / "sapiens_pose.pth"
    write_mmengine_checkpoint(src, {**sd, "decode_head.conv_seg.weight": torch.zeros(1)})
    out = tmp_path / "converted.safetensors"
    assert cli_main(["convert-checkpoint", str(src), str(out), "--part", "pose"]) == 0
    assert "wrote" in capsys.readouterr().out
    tensors = load_file(str(out))
    assert set(tensors) == set(sd)  # the decode_head key of another part was dropped
    model = build_model(MODEL_CFG)
    report = load_sapiens_checkpoint(model, out, part="pose")
    assert report.ok and report.source_format == "safetensors"
    assert torch.equal(model.pose_head.final_layer.weight, sd["head.final_layer.weight"])
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": sd, "meta": {"x": CallsSystem()}}, evil)
    assert cli_main(["convert-checkpoint", str(evil), str(tmp_path / "e.safetensors")]) == 2
    assert "refusing" in capsys.readouterr().err


def _three_task_files(tmp_path):
    """Pose, depth and normal checkpoints in the Sapiens layouts, each with its own (different) backbone."""
    heads = {"pose": MODEL_CFG["heads"]["pose"], "depth": {"deconv_channels": [8], "conv_channels": []},
             "normal": {"deconv_channels": [8], "conv_channels": []}}
    model = build_model(dict(MODEL_CFG, heads=heads))
    files, states = {}, {}
    for i, part in enumerate(("pose", "depth", "normal")):
        backbone = {k: v for k, v in sapiens_state_dict(seed=10 + i).items() if k.startswith("backbone.")}
        if part == "pose":
            head = {k: v for k, v in sapiens_state_dict(seed=10).items() if k.startswith("head.")}
        else:
            own = getattr(model, f"{part}_head").state_dict()
            head = {"decode_head." + k: torch.randn(v.shape, generator=torch.Generator().manual_seed(i)) for k, v
                    in own.items()}
        states[part] = {**backbone, **head}
        files[part] = tmp_path / f"sapiens_{part}.pth"
        write_mmengine_checkpoint(files[part], states[part])
    return model, files, states


@pytest.mark.parametrize("backbone_from", [None, "pose", "normal"])
def test_three_task_checkpoints_load_one_backbone_and_each_head_from_its_file(tmp_path, backbone_from):
    from hyper_sapiens.models import load_sapiens_parts

    model, files, states = _three_task_files(tmp_path)
    reports = load_sapiens_parts(model, files, backbone_from=backbone_from)
    source = states[backbone_from or "pose"]  # the pose file's backbone by default
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, source["backbone." + key]), key
    assert torch.equal(model.pose_head.final_layer.weight, states["pose"]["head.final_layer.weight"])
    for part in ("depth", "normal"):
        head = getattr(model, f"{part}_head").state_dict()
        assert all(torch.equal(v, states[part]["decode_head." + k]) for k, v in head.items()), part
    assert list(reports)[0] == (backbone_from or "pose")  # the backbone's file loads first
    heads_only = [p for p in reports if p != (backbone_from or "pose")]
    assert all(all(k.startswith("backbone.") for k in reports[p].ignored) and reports[p].ignored for p in heads_only)
    if backbone_from != "depth":
        assert any("corner patch padding" in n for n in reports["depth"].notes)


def test_backbone_source_errors_are_clear(tmp_path):
    from hyper_sapiens.models import load_sapiens_parts

    model, files, _ = _three_task_files(tmp_path)
    with pytest.raises(ValueError, match="no depth file"):
        load_sapiens_parts(model, {"pose": files["pose"]}, backbone_from="depth")
    with pytest.raises(ValueError, match="would be overwritten"):
        load_sapiens_parts(model, {"backbone": files["pose"], "pose": files["pose"]}, backbone_from="pose")
    with pytest.raises(ValueError, match="unknown parts"):
        load_sapiens_parts(model, {"segmentation": files["pose"]})


def test_goliath_pose_checkpoint_is_named_as_the_cause(tmp_path):
    sd = sapiens_state_dict()
    sd["head.final_layer.weight"] = torch.zeros(308, POSE_WIDTH, 1, 1)
    sd["head.final_layer.bias"] = torch.zeros(308)
    path = tmp_path / "sapiens_0.3b_goliath_best_goliath_AP_573.pth"
    write_mmengine_checkpoint(path, sd)
    with pytest.raises(CheckpointMismatchError, match="Goliath pose model .308 keypoints.*sapiens-pose-coco"):
        load_sapiens_checkpoint(build_model(MODEL_CFG), path, part="pose")
    # its backbone is still usable
    assert load_sapiens_checkpoint(build_model(MODEL_CFG), path, part="backbone").ok
