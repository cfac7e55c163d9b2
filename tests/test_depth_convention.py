"""What the depth head's output means (``model.depth_output``) and how the depth and geometry terms follow it,
on rendered depth and normals in both conventions: log-depth (ours) and per-image min-max normalised
relative depth (the released Sapiens depth heads)."""

from __future__ import annotations

import math

import pytest
import torch

from hyper_sapiens.engine.objective import TrainingObjective, resolve_depth_output
from hyper_sapiens.losses import geo_consistency_loss
from hyper_sapiens.synth import render_sample


def _rendered(seed: int = 1):
    s = render_sample(seed, domain="syn", image_size=(160, 160))
    depth = torch.as_tensor(s["depth"])[None, None].double()
    normals = torch.as_tensor(s["normal"]).permute(2, 0, 1)[None].double()
    body = torch.as_tensor(s["parts"] > 0)[None, None]
    cam = s["camera"]
    camera = torch.tensor([[cam["fx"], cam["fy"], cam["cx"], cam["cy"]]], dtype=torch.float64)
    return depth, normals, body, camera


def _relative(depth: torch.Tensor, body: torch.Tensor) -> torch.Tensor:
    """Sapiens' depth target: foreground depth min-max normalised to [0, 1] per image."""
    fg = depth[body]
    return torch.where(body, (depth - fg.min()) / (fg.max() - fg.min()), torch.zeros_like(depth))


def test_each_convention_agrees_with_the_rendered_normals_only_under_its_own_reading():
    depth, normals, body, camera = _rendered()
    log_depth = torch.log(depth)
    relative = _relative(depth, body)
    as_log = geo_consistency_loss(log_depth, normals, body, camera, mode="log_depth", detach=None)
    as_tilt = geo_consistency_loss(relative, normals, body, mode="tilt", detach=None)
    # the bug this guards against: relative depth read as log-depth implies nearly fronto-parallel normals
    misread = geo_consistency_loss(relative, normals, body, camera, mode="log_depth", detach=None)
    # measured 0.009 degrees and 0.0005 since the term forgives what the depth cannot resolve (issue 26;
    # 2.4 degrees and 0.017 before); the misreading still costs 10.5 degrees, over a thousand times the truth
    assert as_log.item() < math.radians(1), math.degrees(as_log.item())
    assert as_tilt.item() < 0.005, as_tilt.item()
    assert misread.item() > 100 * as_log.item() and misread.item() > math.radians(5), math.degrees(misread.item())
    # the formulas behind it: the normal from log-depth is (fx*l_u, fy*l_v, -1 - ...): for a [0, 1] map the
    # gradient is that of depth / (max - min) rather than depth / z, about z / (max - min) times too small here
    fg = depth[body]
    assert (fg.mean() / (fg.max() - fg.min())).item() > 2


def test_depth_output_defaults_follow_the_weights(tmp_path):
    assert resolve_depth_output({}, {}) == "log_depth"
    assert resolve_depth_output({}, {"depth": "sapiens_0.3b_render_people_epoch_100.pth"}) == "relative"
    assert resolve_depth_output({"depth_output": "log_depth"}, {"depth": "x.pth"}) == "log_depth"
    with pytest.raises(ValueError, match="depth_output"):
        resolve_depth_output({"depth_output": "metres"}, {})


def _objective(depth_output: str, **loss):
    cfg = {"pose": {"weight": 1.0}, "depth": {"weight": 1.0, **loss.get("depth", {})},
           "geo": {"weight": 1.0, **loss.get("geo", {})}}
    return TrainingObjective(cfg, (64, 64), (16, 16), 10, torch.device("cpu"), depth_output=depth_output)


def test_objective_picks_consistent_terms_and_refuses_contradictions():
    log = _objective("log_depth")
    assert (log.depth_kind, log.geo_mode) == ("silog", "log_depth")
    rel = _objective("relative")
    assert (rel.depth_kind, rel.geo_mode) == ("ssi", "tilt")
    assert _objective("relative", depth={"kind": "ssi"}).depth_kind == "ssi"
    with pytest.raises(ValueError, match="kind=silog reads the depth output as log-depth"):
        _objective("relative", depth={"kind": "silog"})
    with pytest.raises(ValueError, match="mode=log_depth reads the depth output as log-depth"):
        _objective("relative", geo={"mode": "log_depth"})
    with pytest.raises(ValueError, match=r"loss.geo.mode: must be one of \['auto', 'log_depth', 'tilt'\]"):
        _objective("log_depth", geo={"mode": "normals"})


def test_geometry_term_of_the_objective_on_rendered_relative_depth_is_the_tilt_form():
    depth, normals, body, camera = _rendered(2)
    relative = _relative(depth, body).float()
    batch = {"domain": torch.zeros(1, dtype=torch.long), "has_body_mask": torch.ones(1, dtype=torch.bool),
             "body_mask": body, "has_camera": torch.ones(1, dtype=torch.bool), "camera": camera.float()}
    rel = _objective("relative")
    got = rel._geo(relative, normals.float(), batch)
    want = geo_consistency_loss(relative, normals.float(), body, mode="tilt")
    assert torch.allclose(got, want)
