"""Layered unfreezing, unfreeze schedule, layer-decay parameter groups, EMA, SyncBN passthrough."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hyper_sapiens.models import (
    ModelEMA,
    UnfreezeSchedule,
    build_model,
    convert_sync_batchnorm,
    layer_decay_param_groups,
    set_trainable_blocks,
)

CFG = {
    "arch": "tiny",
    "input_size": [48, 64],
    "num_layers": 4,
    "embed_dims": 32,
    "num_heads": 2,
    "drop_path_rate": 0.3,
    "heads": {"pose": {"deconv_channels": [8, 8], "conv_channels": [8]}, "depth": {"deconv_channels": [8]}},
}


def trainable_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_set_trainable_blocks_exact_parameters_and_eval_mode():
    model = build_model(CFG)
    info = set_trainable_blocks(model, 2)
    names = trainable_names(model)
    expected = {"backbone.pos_embed", "backbone.ln1.weight", "backbone.ln1.bias"}
    expected |= {n for n, _ in model.named_parameters() if n.startswith(("backbone.layers.2.", "backbone.layers.3."))}
    expected |= {n for n, _ in model.named_parameters() if n.startswith(("pose_head.", "depth_head."))}
    assert names == expected
    assert info["trainable"] == sum(p.numel() for n, p in model.named_parameters() if n in expected)
    assert info["trainable_blocks"] == 2

    model.train()  # frozen parts stay in eval mode: no drop-path there
    assert not model.backbone.patch_embed.training
    assert [layer.training for layer in model.backbone.layers] == [False, False, True, True]
    assert model.pose_head.training

    model(torch.randn(2, 3, 64, 48))["heatmaps"].square().mean().backward()
    for name, param in model.named_parameters():
        if name in expected and name.startswith(("backbone", "pose_head")):
            assert param.grad is not None, name
        if name not in expected:
            assert param.grad is None, name

    set_trainable_blocks(model, 0, train_pos_embed=False)
    backbone_trainable = {n for n in trainable_names(model) if n.startswith("backbone.")}
    assert backbone_trainable == {"backbone.ln1.weight", "backbone.ln1.bias"}
    set_trainable_blocks(model, None)
    assert trainable_names(model) == {n for n, _ in model.named_parameters()}
    model.train()
    assert all(layer.training for layer in model.backbone.layers) and model.backbone.patch_embed.training


def test_unfreeze_schedule():
    model = build_model(CFG)
    schedule = UnfreezeSchedule({0: 1, 10: 3, 20: -1})
    assert [schedule.blocks_at(s) for s in (0, 9, 10, 19, 20, 1000)] == [1, 1, 3, 3, -1, -1]
    assert schedule.apply(model, 0) is True
    assert schedule.apply(model, 5) is False
    assert model.backbone.num_frozen_blocks == 3
    assert schedule.apply(model, 10) is True and model.backbone.num_frozen_blocks == 1
    assert schedule.apply(model, 25) is True and model.backbone.num_frozen_blocks == 0
    restored = UnfreezeSchedule({0: 0})
    restored.load_state_dict(schedule.state_dict())
    assert restored.milestones == schedule.milestones


def test_layer_decay_param_groups_follow_sapiens_rule():
    model = build_model(CFG)
    rate, lr, wd = 0.85, 5e-4, 0.1
    groups = layer_decay_param_groups(model, lr=lr, weight_decay=wd, layer_decay_rate=rate)
    by_name = {name: g for g in groups for name in g["param_names"]}
    assert set(by_name) == {n for n, _ in model.named_parameters()}
    num_layers = 4 + 2

    def check(name, layer_id, decay):
        group = by_name[name]
        assert group["lr"] == pytest.approx(lr * rate ** (num_layers - layer_id - 1)), name
        assert group["weight_decay"] == (wd if decay else 0.0), name
        assert group["group_name"] == f"layer_{layer_id}_{'decay' if decay else 'no_decay'}"

    check("backbone.pos_embed", 0, False)
    check("backbone.patch_embed.projection.weight", 0, True)
    check("backbone.patch_embed.projection.bias", 0, False)
    check("backbone.layers.0.attn.qkv.weight", 1, True)
    check("backbone.layers.0.ln1.weight", 1, False)
    check("backbone.layers.3.ffn.layers.1.weight", 4, True)
    check("backbone.ln1.weight", 5, False)
    check("pose_head.deconv_layers.0.weight", 5, True)
    check("pose_head.final_layer.bias", 5, False)
    assert len(groups) == 12  # 6 layer ids x {decay, no_decay}
    optimizer = torch.optim.AdamW(groups, lr=lr)
    assert len(optimizer.param_groups) == 12

    set_trainable_blocks(model, 1)
    frozen_out = layer_decay_param_groups(model, lr, wd, rate)
    assert "backbone.layers.0.attn.qkv.weight" not in {n for g in frozen_out for n in g["param_names"]}
    with_frozen = layer_decay_param_groups(model, lr, wd, rate, include_frozen=True)
    assert sum(len(g["params"]) for g in with_frozen) == len(list(model.parameters()))


class WithBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("scale", torch.ones(2))


def test_ema_update_rule_by_hand():
    model = WithBuffer()
    ema = ModelEMA(model, decay=0.9, warmup_steps=4)
    w0 = model.linear.weight.detach().clone()
    expected = w0.clone()
    for t in range(4):
        with torch.no_grad():
            model.linear.weight.add_(1.0)
            model.steps.add_(1)
            model.scale.mul_(2)
        d = ema.update(model)
        assert d == pytest.approx(min(0.9, (1 + t) / (4 + t)))
        expected = d * expected + (1 - d) * model.linear.weight.detach()
    torch.testing.assert_close(ema.module.linear.weight, expected)
    assert ema.module.steps.item() == 4  # integer buffers copied
    assert ema.decay_at(0) == pytest.approx(0.25) and ema.decay_at(100) == pytest.approx(0.9)
    assert not any(p.requires_grad for p in ema.module.parameters())
    state = ema.state_dict()
    other = ModelEMA(WithBuffer(), decay=0.5)
    other.load_state_dict(state)
    assert other.num_updates == 4 and other.decay == 0.9
    torch.testing.assert_close(other.module.linear.weight, expected)
    no_warmup = ModelEMA(model, decay=0.99, warmup_steps=0)
    assert no_warmup.update(model) == pytest.approx(0.99)


def test_convert_sync_batchnorm_is_noop_without_bn():
    model = build_model(CFG)
    before = [type(m) for m in model.modules()]
    assert [type(m) for m in convert_sync_batchnorm(model).modules()] == before
    with_bn = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    assert isinstance(convert_sync_batchnorm(with_bn)[1], nn.SyncBatchNorm)
