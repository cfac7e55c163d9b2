"""Clipping by a float64 global norm, and the InstanceNorm-fed biases whose true gradient is exactly 0."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hyper_sapiens.engine.distributed import DistInfo
from hyper_sapiens.engine.grad_clip import clip_grad_norm_exact, global_grad_norm
from hyper_sapiens.models.heads import InstanceNorm, PoseHeatmapHead, biases_before_instance_norm

ONE = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def _params_with_grads(seed: int = 0) -> list[nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.zeros(shape)) for shape in ((7, 5), (11,), (3, 3, 3))]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * 3
    return params


def test_clipping_scales_like_torch_and_returns_the_norm_before():
    ours, ref = _params_with_grads(), _params_with_grads()
    norm = clip_grad_norm_exact(ours, 1.0, ONE)
    ref_norm = torch.nn.utils.clip_grad_norm_(ref, 1.0)
    assert norm == pytest.approx(float(ref_norm), rel=1e-6)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=0)
    assert global_grad_norm(ours, ONE) == pytest.approx(1.0, rel=1e-6)


def test_no_clipping_below_the_bound_or_with_zero_and_nothing_scaled_when_not_finite():
    params = _params_with_grads()
    before = [p.grad.clone() for p in params]
    exact = math.sqrt(sum(float(g.double().square().sum()) for g in before))
    assert clip_grad_norm_exact(params, 0.0, ONE) == exact  # 0: measure only
    assert clip_grad_norm_exact(params, 1e9, ONE) == exact
    assert all(torch.equal(p.grad, b) for p, b in zip(params, before))
    params[1].grad[3] = float("nan")
    assert math.isnan(clip_grad_norm_exact(params, 1.0, ONE))
    assert torch.equal(params[0].grad, before[0])


def test_the_norm_does_not_depend_on_how_the_gradients_are_split():
    """Float64 sums: one tensor or the same values in pieces give the same float32 clip factor."""
    whole = nn.Parameter(torch.zeros(4097))
    whole.grad = torch.randn(4097, generator=torch.Generator().manual_seed(3)) * 1e3
    pieces = [nn.Parameter(torch.zeros(n)) for n in (1, 2048, 2048)]
    for p, g in zip(pieces, whole.grad.split([1, 2048, 2048])):
        p.grad = g.clone()
    clip_grad_norm_exact([whole], 1.0, ONE)
    clip_grad_norm_exact(pieces, 1.0, ONE)
    assert torch.equal(torch.cat([p.grad for p in pieces]), whole.grad)


def test_biases_before_instance_norm_are_found_and_really_cannot_change_the_output():
    head = PoseHeatmapHead(16, 17, deconv_channels=(8,), conv_channels=(8, 8))
    names = biases_before_instance_norm(head)
    assert names == ["conv_layers.0.bias", "conv_layers.3.bias"]
    x = torch.randn(2, 16, 4, 3)
    before = head(x)
    with torch.no_grad():
        for name in names:
            head.get_parameter(name).add_(5.0)
    torch.testing.assert_close(head(x), before, rtol=1e-4, atol=1e-4)
    seq = nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 1, bias=False), InstanceNorm())
    assert biases_before_instance_norm(seq) == []  # a ReLU between, or no bias: nothing inert
