"""Pose/depth/normal heads and the multi-task model: shapes, strides, parameter counts, config."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from hyper_sapiens.models import DepthHead, HyperPoseModel, NormalHead, PoseHeatmapHead, SapiensViT, build_model

# Head configs of facebookresearch/sapiens:
#   pose  (pose/configs/sapiens_pose/coco/*-1024x768.py): deconv (768, 768) k4, conv (768, 768) k1, 17 out
#   depth (seg/configs/sapiens_depth/render_people/*.py): deconv (384,)*4, conv (384, 384), 1 out
#   normal (seg/configs/sapiens_normal/normal_render_people/*.py): deconv (768,)*3, conv (768,)*3, 3 out
EMBED = {"sapiens_0.3b": 1024, "sapiens_0.6b": 1280, "sapiens_1b": 1536, "sapiens_2b": 1920}
# Rounded head sizes from the project notes (the Sapiens paper and model cards), millions.
NOTES_MILLIONS = {
    "pose": (23.2, 26.4, 29.5, 34.2),
    "depth": (13.7, 15.2, 16.8, 19.2),
    "normal": (33.2, 36.4, 39.5, 44.2),
}


def head_params(c: int, deconvs: tuple[int, ...], convs: tuple[int, ...], out: int) -> int:
    total, prev = 0, c
    for width in deconvs:  # ConvTranspose2d(prev, width, 4), no bias
        total += prev * width * 16
        prev = width
    for width in convs:  # Conv2d(prev, width, 1) with bias
        total += prev * width + width
        prev = width
    return total + prev * out + out


@pytest.mark.parametrize("index,arch", list(enumerate(EMBED)))
def test_sapiens_head_parameter_counts(index, arch):
    c = EMBED[arch]
    with torch.device("meta"):
        model = build_model({"arch": arch, "input_size": [768, 1024], "heads": {"pose": {}, "depth": {}, "normal": {}}})
    counts = model.parameter_counts()
    expected = {
        "pose": head_params(c, (768, 768), (768, 768), 17),
        "depth": head_params(c, (384,) * 4, (384, 384), 1),
        "normal": head_params(c, (768,) * 3, (768,) * 3, 3),
    }
    for name, value in expected.items():
        assert counts[f"{name}_head"] == value
        assert round(value / 1e6, 1) == NOTES_MILLIONS[name][index]
    assert model.output_strides == {"pose": 4, "depth": 1, "normal": 2}


def test_exact_head_counts_of_the_0_3b_model():
    """The built model's heads, counted by torch, against the Sapiens head configs summed by hand.

    pose:   1024·768·16 + 768·768·16 (two 4×4 deconvs, no bias) + 2·(768·768 + 768) (two 1×1 convs)
            + 768·17 + 17 (final 1×1)                    = 12,582,912 + 9,437,184 + 1,181,184 + 13,073
    depth:  1024·384·16 + 3·384·384·16 + 2·(384·384 + 384) + 384 + 1
                                                         = 6,291,456 + 7,077,888 + 295,680 + 385
    normal: 1024·768·16 + 2·768·768·16 + 3·(768·768 + 768) + 768·3 + 3
                                                         = 12,582,912 + 18,874,368 + 1,771,776 + 2,307
    """
    with torch.device("meta"):
        model = build_model(
            {"arch": "sapiens_0.3b", "input_size": [768, 1024], "heads": {"pose": {}, "depth": {}, "normal": {}}}
        )
    counts = model.parameter_counts()
    assert counts["pose_head"] == 23_214_353
    assert counts["depth_head"] == 13_665_409
    assert counts["normal_head"] == 33_231_363
    assert counts["backbone"] == 306_244_608
    assert counts["total"] == 306_244_608 + 23_214_353 + 13_665_409 + 33_231_363


@pytest.mark.parametrize("head_cls", [PoseHeatmapHead, DepthHead, NormalHead])
def test_conv_biases_before_instance_norm_cannot_change_the_output(head_cls):
    """Every (de)conv of a head is followed by InstanceNorm (per-channel mean removed), so the
    ``conv_layers`` biases are invisible in the output, and the last layer's bias is not: checks the
    Conv → InstanceNorm → SiLU order of the Sapiens heads (a bias after the norm, or a norm after the
    activation, would let it through). Why these biases have a zero gradient (docs/training.md)."""
    torch.manual_seed(0)
    head = head_cls(16, deconv_channels=(8, 8), conv_channels=(8, 8)).eval()
    feats = torch.randn(2, 16, 3, 4)
    with torch.no_grad():
        for param in head.parameters():  # O(1) activations (the init's std 0.001 would leave them tiny)
            param.copy_(0.3 * torch.randn_like(param))
        ref = head(feats)
        for name, param in head.named_parameters():
            if name.startswith("conv_layers.") and name.endswith(".bias"):
                param.add_(torch.randn_like(param))
        torch.testing.assert_close(head(feats), ref, rtol=1e-4, atol=1e-4)
        last = head.final_layer if head_cls is PoseHeatmapHead else head.conv_seg
        last.bias.add_(1.0)
        assert not torch.allclose(head(feats), ref, atol=1e-3)
    biases = [n for n, _ in head.named_parameters() if n.startswith("conv_layers.") and n.endswith(".bias")]
    assert biases == ["conv_layers.0.bias", "conv_layers.3.bias"]


def test_head_key_names_match_sapiens():
    pose = PoseHeatmapHead(32, deconv_channels=(8, 8), conv_channels=(8, 8))
    assert set(pose.state_dict()) == {
        "deconv_layers.0.weight",
        "deconv_layers.3.weight",
        "conv_layers.0.weight",
        "conv_layers.0.bias",
        "conv_layers.3.weight",
        "conv_layers.3.bias",
        "final_layer.weight",
        "final_layer.bias",
    }
    depth = DepthHead(32, deconv_channels=(8,) * 4, conv_channels=(8, 8))
    deconv_keys = {k for k in depth.state_dict() if k.startswith("deconv")}
    assert deconv_keys == {f"deconv_layers.{i}.weight" for i in (0, 3, 6, 9)}
    assert depth.state_dict()["conv_seg.weight"].shape == (1, 8, 1, 1)
    normal = NormalHead(32, deconv_channels=(8,) * 3, conv_channels=(8,) * 3)
    assert normal.state_dict()["conv_seg.weight"].shape == (3, 8, 1, 1)
    assert normal.state_dict()["deconv_layers.6.weight"].shape == (8, 8, 4, 4)


@pytest.mark.parametrize("hw", [(64, 48), (96, 80)])
def test_output_shapes_follow_input_size(hw):
    model = build_model(
        {
            "arch": "tiny",
            "input_size": [48, 64],
            "num_layers": 1,
            "heads": {
                "pose": {},
                "depth": {"deconv_channels": [16, 16, 16, 16], "conv_channels": [16]},
                "normal": {"deconv_channels": [16, 16, 16], "conv_channels": [16]},
            },
        }
    ).eval()
    h, w = hw
    with torch.no_grad():
        out = model(torch.randn(2, 3, h, w))
    assert set(out) == {"heatmaps", "depth", "normal"}
    assert out["heatmaps"].shape == (2, 17, h // 4, w // 4)
    assert out["depth"].shape == (2, 1, h, w)
    assert out["normal"].shape == (2, 3, h // 2, w // 2)
    assert model.output_strides == {"pose": 4, "depth": 1, "normal": 2}
    norms = out["normal"].norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_only_requested_heads_and_instance_norm_semantics():
    model = build_model({"arch": "tiny", "input_size": [48, 64], "num_layers": 1, "heads": {"depth": {}}})
    assert model.pose_head is None and model.normal_head is None
    assert set(model(torch.randn(1, 3, 64, 48))) == {"depth"}
    x = torch.randn(2, 5, 6, 7)
    from hyper_sapiens.models.heads import InstanceNorm

    torch.testing.assert_close(InstanceNorm()(x), torch.nn.InstanceNorm2d(5)(x))


def test_normal_axis_map():
    torch.manual_seed(0)
    identity = NormalHead(16, deconv_channels=(8,), conv_channels=(), dropout=0.0).eval()
    flipped = NormalHead(16, deconv_channels=(8,), conv_channels=(), dropout=0.0, axis_map="x,-y,-z").eval()
    swapped = NormalHead(16, deconv_channels=(8,), conv_channels=(), dropout=0.0, axis_map=["z", "y", "-x"]).eval()
    flipped.load_state_dict(identity.state_dict())
    swapped.load_state_dict(identity.state_dict())
    feats = torch.randn(1, 16, 3, 3)
    with torch.no_grad():
        raw = identity.forward_raw(feats)
        a, b, c = identity(feats), flipped(feats), swapped(feats)
    unit = raw / raw.norm(dim=1, keepdim=True)
    torch.testing.assert_close(a, unit)
    torch.testing.assert_close(b, unit * torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1))
    torch.testing.assert_close(c, torch.stack([unit[:, 2], unit[:, 1], -unit[:, 0]], dim=1))
    with pytest.raises(ValueError, match="exactly once"):
        NormalHead(16, axis_map="x,x,z")


def test_build_model_from_omegaconf_and_errors():
    cfg = OmegaConf.create(
        {"model": {"arch": "small", "input_size": [192, 256], "heads": {"pose": {"num_keypoints": 17}, "depth": None}}}
    )
    with torch.device("meta"):
        model = build_model(cfg)
    assert isinstance(model, HyperPoseModel) and isinstance(model.backbone, SapiensViT)
    assert model.backbone.img_size == (256, 192) and model.backbone.embed_dims == 384
    assert model.depth_head is None and model.config["heads"]["pose"]["deconv_channels"] == [256, 128]
    with pytest.raises(ValueError, match=r"model.input_sise: unknown key; did you mean model.input_size\?"):
        build_model({"arch": "tiny", "input_sise": [1, 2]})
    with pytest.raises(ValueError, match="model.heads.pose.width: unknown key"):
        build_model({"arch": "tiny", "input_size": [48, 64], "heads": {"pose": {"width": 3}}})
    with pytest.raises(ValueError, match="multiple of patch_size"):
        build_model({"arch": "tiny", "input_size": [50, 64]})
    with pytest.raises(ValueError, match="at least one head"):
        build_model({"arch": "tiny", "input_size": [48, 64], "heads": {}})


def test_forward_compiles_as_one_graph():
    cfg = {
        "arch": "tiny",
        "input_size": [48, 64],
        "num_layers": 1,
        "heads": {"pose": {}, "normal": {"axis_map": "x,-y,-z"}},
    }
    model = build_model(cfg).eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)  # fails on any graph break
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        out, ref = compiled(x), model(x)
    for key in ref:
        torch.testing.assert_close(out[key], ref[key])
