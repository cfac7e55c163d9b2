"""Sapiens ViT backbone: exact parameter counts, pos-embed interpolation, shapes, FLOPs, bf16 autocast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hyper_sapiens.models import SapiensViT, build_model, model_flops, patch_grid, resize_pos_embed

# Architecture table of facebookresearch/sapiens, pretrain/mmpretrain/models/backbones/vision_transformer.py
# (`arch_zoo`): (embed_dims, num_layers, num_heads); FFN = 4 * embed_dims. Pose configs
# (pose/configs/sapiens_pose/coco/sapiens_*-210e_coco-1024x768.py): img_size (1024, 768), patch 16,
# padding 2 -> 64x48 grid, no cls token, qkv bias, final norm.
SAPIENS_TABLE = {
    "sapiens_0.3b": (1024, 24, 16),
    "sapiens_0.6b": (1280, 32, 16),
    "sapiens_1b": (1536, 40, 24),
    "sapiens_2b": (1920, 48, 32),
}
# Rounded sizes quoted in the project notes (the Sapiens paper and model cards): billions.
NOTES_BILLIONS = {"sapiens_0.3b": 0.306, "sapiens_0.6b": 0.635, "sapiens_1b": 1.139, "sapiens_2b": 2.132}


def sapiens_backbone_params(c: int, layers: int, grid_tokens: int = 64 * 48) -> int:
    patch = c * 3 * 16 * 16 + c
    pos = grid_tokens * c
    block = 2 * 2 * c + (3 * c * c + 3 * c) + (c * c + c) + (4 * c * c + 4 * c) + (4 * c * c + c)
    return patch + pos + layers * block + 2 * c


@pytest.mark.parametrize("arch", list(SAPIENS_TABLE))
def test_sapiens_backbone_parameter_count_matches_config(arch):
    c, layers, heads = SAPIENS_TABLE[arch]
    expected = sapiens_backbone_params(c, layers)
    with torch.device("meta"):
        model = SapiensViT(arch, img_size=(1024, 768))
    assert model.arch.num_heads == heads
    assert model.arch.feedforward_channels == 4 * c
    assert model.grid == (64, 48)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert round(expected / 1e9, 3) == NOTES_BILLIONS[arch]


def _torch_encoder_layer(c: int, heads: int) -> nn.TransformerEncoderLayer:
    """PyTorch's own pre-norm encoder layer with the Sapiens block's settings (no dropout, exact GELU)."""
    return nn.TransformerEncoderLayer(
        c, heads, 4 * c, dropout=0.0, activation="gelu", layer_norm_eps=1e-6, batch_first=True, norm_first=True
    )


@pytest.mark.parametrize("arch,total", [("sapiens_0.3b", 306_244_608), ("sapiens_2b", 2_131_943_040)])
def test_backbone_is_patch_conv_plus_position_table_plus_torch_encoder_layers(arch, total):
    """The backbone's parameters, counted from the model, against the same design put together from
    PyTorch's modules (``nn.Conv2d`` patches, ``nn.TransformerEncoderLayer`` blocks, ``nn.LayerNorm``)."""
    c, layers, heads = SAPIENS_TABLE[arch]
    with torch.device("meta"):
        model = SapiensViT(arch, img_size=(1024, 768))
        block = sum(p.numel() for p in _torch_encoder_layer(c, heads).parameters())
        patch = sum(p.numel() for p in nn.Conv2d(3, c, 16, stride=16).parameters())
        final_norm = sum(p.numel() for p in nn.LayerNorm(c).parameters())
    assert [sum(p.numel() for p in layer.parameters()) for layer in model.layers] == [block] * layers
    assert sum(p.numel() for p in model.parameters()) == patch + 64 * 48 * c + layers * block + final_norm == total


def test_block_forward_equals_torch_transformer_encoder_layer():
    """A Sapiens block computes what ``nn.TransformerEncoderLayer(norm_first=True)`` computes with the same
    weights: the fused q|k|v rows, the head split and the residuals are checked against PyTorch's own
    attention (``nn.MultiheadAttention`` inside), not against this repository's arithmetic."""
    torch.manual_seed(0)
    c, heads = 48, 4
    model = SapiensViT("tiny", img_size=(32, 32), embed_dims=c, num_layers=1, num_heads=heads).eval()
    block = model.layers[0]
    with torch.no_grad():  # non-trivial norms and biases, so a swapped or missing one shows
        for param in block.parameters():
            param.add_(0.1 * torch.randn_like(param))
    ref = _torch_encoder_layer(c, heads).eval()
    ref.load_state_dict(
        {
            "self_attn.in_proj_weight": block.attn.qkv.weight,
            "self_attn.in_proj_bias": block.attn.qkv.bias,
            "self_attn.out_proj.weight": block.attn.proj.weight,
            "self_attn.out_proj.bias": block.attn.proj.bias,
            "linear1.weight": block.ffn.layers[0][0].weight,
            "linear1.bias": block.ffn.layers[0][0].bias,
            "linear2.weight": block.ffn.layers[1].weight,
            "linear2.bias": block.ffn.layers[1].bias,
            "norm1.weight": block.ln1.weight,
            "norm1.bias": block.ln1.bias,
            "norm2.weight": block.ln2.weight,
            "norm2.bias": block.ln2.bias,
        }
    )
    x = torch.randn(2, 12, c)
    with torch.no_grad():
        torch.testing.assert_close(block(x), ref(x), rtol=1e-5, atol=1e-5)


def test_state_dict_keys_are_sapiens_names():
    model = SapiensViT("tiny", img_size=(64, 48))
    keys = set(model.state_dict())
    expected = {"pos_embed", "patch_embed.projection.weight", "patch_embed.projection.bias", "ln1.weight", "ln1.bias"}
    for i in range(6):
        for name in ("ln1", "ln2", "attn.qkv", "attn.proj", "ffn.layers.0.0", "ffn.layers.1"):
            expected |= {f"layers.{i}.{name}.weight", f"layers.{i}.{name}.bias"}
    assert keys == expected
    assert model.state_dict()["layers.0.attn.qkv.weight"].shape == (576, 192)
    assert model.state_dict()["pos_embed"].shape == (1, 4 * 3, 192)
    assert model.layers[0].ln1.eps == 1e-6


def test_overrides_and_describe():
    model = SapiensViT("tiny", img_size=(64, 64), embed_dims=64, num_layers=2, num_heads=4)
    lines = []
    counts = model.describe(print_fn=lines.append)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["blocks"] == 2 * (12 * 64 * 64 + 13 * 64)
    assert "SapiensViT tiny" in lines[0]
    with pytest.raises(ValueError, match="divisible"):
        SapiensViT("tiny", embed_dims=64, num_heads=5)
    with pytest.raises(ValueError, match="unknown backbone arch"):
        SapiensViT("huge")


def test_resize_pos_embed_matches_interpolate():
    torch.manual_seed(0)
    table = torch.randn(1, 16 * 16, 8)
    out = resize_pos_embed(table, (16, 16), (20, 12))
    grid = table.reshape(1, 16, 16, 8).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(20, 12), mode="bicubic", align_corners=False).flatten(2).transpose(1, 2)
    assert out.shape == (1, 240, 8)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert resize_pos_embed(table, (16, 16), (16, 16)) is table
    bf16 = resize_pos_embed(table.bfloat16(), (16, 16), (20, 12))
    assert bf16.dtype == torch.bfloat16


def test_forward_at_other_size_uses_interpolated_table():
    torch.manual_seed(0)
    model = SapiensViT("tiny", img_size=(64, 48), num_layers=2).eval()
    bigger = SapiensViT("tiny", img_size=(96, 64), num_layers=2).eval()
    state = model.state_dict()
    state["pos_embed"] = resize_pos_embed(state["pos_embed"], (4, 3), (6, 4))
    bigger.load_state_dict(state)
    x = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        out = model(x)
        ref = bigger(x)
    assert out.shape == (2, 192, 6, 4)
    torch.testing.assert_close(out, ref)


def test_patch_padding_modes():
    assert patch_grid((1024, 768), 16, 2) == (64, 48)
    assert patch_grid((1024, 768), 16, "corner") == (64, 48)
    assert patch_grid((250, 200), 16, "corner") == (16, 13)
    corner = SapiensViT("tiny", img_size=(64, 48), num_layers=1, patch_padding="corner")
    assert corner(torch.randn(1, 3, 60, 40)).shape == (1, 192, 4, 3)
    padded = SapiensViT("tiny", img_size=(64, 48), num_layers=1, patch_padding=2)
    padded.load_state_dict(corner.state_dict())
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():  # same weights, different patch alignment -> different features
        assert not torch.allclose(corner(x), padded(x))


def test_grad_checkpointing_matches_plain_backward():
    torch.manual_seed(0)
    model = SapiensViT("tiny", img_size=(32, 32), num_layers=2)
    x = torch.randn(2, 3, 32, 32)
    model(x).square().mean().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.grad_checkpointing = True
    model(x).square().mean().backward()
    for g, p in zip(plain, model.parameters()):
        torch.testing.assert_close(p.grad, g)


def test_analytic_flops_equal_flop_counter():
    model = build_model({"arch": "tiny", "input_size": [48, 64], "heads": {"pose": {}, "depth": {}, "normal": {}}})
    x = torch.randn(2, 3, 64, 48)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    flops = model_flops(model, (64, 48), batch=2)
    assert flops["forward"] == counter.get_total_flops()
    assert flops["train_step"] == 3 * flops["forward"]


def test_bf16_autocast_runs_on_cpu():
    torch.manual_seed(0)
    model = build_model({"arch": "tiny", "input_size": [48, 64], "num_layers": 2, "heads": {"pose": {}, "normal": {}}})
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        ref = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = out["heatmaps"].square().mean() + out["normal"].mean()
    loss.backward()
    assert out["heatmaps"].dtype == torch.float32 and out["normal"].dtype == torch.float32
    assert torch.isfinite(out["heatmaps"]).all()
    cos = F.cosine_similarity(out["heatmaps"].flatten(), ref["heatmaps"].flatten(), dim=0)
    assert cos > 0.95
    assert model.backbone.layers[0].attn.qkv.weight.grad is not None
