"""The method's terms point at the truth: SDS weighting, gating and read-out, depth-normal consistency, bone ratios.

Each test builds its inputs (analytic surfaces, hand-made skeletons and heatmaps, an untrained prior); the measured
figures on rendered data are ``benchmarks/method_probes.py``'s.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pose_helpers import axis_skeleton

from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.losses import (
    bone_ratio_loss,
    crop_padding_mask,
    depth_jumps,
    geo_loss,
    local_soft_argmax,
    reference_log_ratios,
    soft_argmax,
    tilt_direction_loss,
)
from hyper_sapiens.prior import PosePrior, SDSLoss
from hyper_sapiens.prior.sds import remove_similarity

# --- SDS -------------------------------------------------------------------------------------------


def _pose(batch: int = 4, seed: int = 0) -> torch.Tensor:
    """``(B, 17, 2)`` plausible-looking poses in pixels: a fixed skeleton, jittered."""
    base = torch.tensor([
        [0, -30], [-3, -33], [3, -33], [-7, -31], [7, -31], [-14, -20], [14, -20], [-22, -5], [22, -5],
        [-26, 8], [26, 8], [-9, 10], [9, 10], [-11, 30], [11, 30], [-12, 50], [12, 50],
    ], dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    return 100.0 + base + 1.5 * torch.randn(batch, 17, 2, generator=gen)


def test_uncertainty_weighting_moves_unsure_joints_and_leaves_sure_ones():
    torch.manual_seed(0)
    prior = PosePrior()
    kp = _pose()
    conf = torch.rand(4, 17, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.05
    steps = {}
    for kind in ("uniform", "uncertainty", "confidence"):
        sds = SDSLoss(prior, joint_weighting=kind)
        sds(kp, conf, generator=torch.Generator().manual_seed(7))
        steps[kind] = sds.last["step"]
    # same draws: the weighting multiplies each joint's step by 1 - confidence (or by the confidence)
    torch.testing.assert_close(steps["uncertainty"], steps["uniform"] * (1 - conf)[..., None])
    torch.testing.assert_close(steps["confidence"], steps["uniform"] * conf[..., None])
    # a joint the net is sure of (peak 0.95) moves a twentieth of what an unsure one (peak 0.05) moves
    sds = SDSLoss(prior, joint_weighting="uncertainty")
    sure = torch.full((4, 17), 0.95)
    sure[:, 9:] = 0.05
    sds(kp, sure, generator=torch.Generator().manual_seed(7))
    ratio = sds.last["step"].norm(dim=-1) / steps["uniform"].norm(dim=-1).clamp_min(1e-12)
    torch.testing.assert_close(ratio[:, :9], torch.full((4, 9), 0.05), atol=1e-4, rtol=0)
    torch.testing.assert_close(ratio[:, 9:], torch.full((4, 8), 0.95), atol=1e-4, rtol=0)


def test_sds_step_changes_the_shape_only_and_reaches_the_keypoints_unamplified():
    torch.manual_seed(0)
    prior = PosePrior()
    kp = _pose().requires_grad_(True)
    sds = SDSLoss(prior)
    loss = sds(kp, generator=torch.Generator().manual_seed(3))
    (grad,) = torch.autograd.grad(loss, kp)
    delta = sds.last["step"]
    torch.testing.assert_close(grad, delta / 4)                       # d loss / d p = delta / N
    centred = kp.detach() - kp.detach().mean(1, keepdim=True)
    # no net translation, scaling or rotation
    assert float(delta.sum(1).abs().max()) < 1e-4 * float(delta.abs().max()) * 17
    assert float((delta * centred).sum((1, 2)).abs().max()) < 1e-3 * float(delta.norm() * centred.norm())
    perp = torch.stack([-centred[..., 1], centred[..., 0]], -1)
    assert float((delta * perp).sum((1, 2)).abs().max()) < 1e-3 * float(delta.norm() * centred.norm())
    # the torso joints do not carry the others' share (the normaliser is no longer back-propagated)
    g = torch.randn(4, 17, 2, generator=torch.Generator().manual_seed(5))
    g0 = remove_similarity(g, kp.detach(), torch.ones(4, 17))
    torso = list(COCO17.torso)
    others = [j for j in range(17) if j not in torso]
    ratio = g0[:, torso].norm(dim=-1).mean() / g0[:, others].norm(dim=-1).mean()
    assert 0.6 < float(ratio) < 1.4


def test_sds_draws_average_and_the_first_draw_is_the_plain_estimate():
    torch.manual_seed(0)
    prior = PosePrior()
    x = _pose(8)
    one = SDSLoss(prior, draws=1)
    one(x, generator=torch.Generator().manual_seed(5))
    many = SDSLoss(prior, draws=4)
    many(x, generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)
    assert torch.equal(many.last["t"], torch.randint(20, 201, (32,), generator=gen))
    torch.testing.assert_close(many.last["t"][:8], one.last["t"])
    with pytest.raises(ValueError, match="draws"):
        SDSLoss(prior, draws=0)
    with pytest.raises(ValueError, match="joint_weighting"):
        SDSLoss(prior, joint_weighting="sure")


def _objective(tmp_path, **sds):
    from hyper_sapiens.engine.objective import TrainingObjective

    prior_file = PosePrior().save(tmp_path / "prior")
    cfg = {"sds": {"weight": 1.0, "prior": str(prior_file), "domains": ["real"], **sds}}
    return TrainingObjective(cfg, (192, 256), (24, 32), 10, torch.device("cpu"))


def _heatmaps(coords: torch.Tensor, size=(48, 64), sigma: float = 2.0, peak: float = 1.0) -> torch.Tensor:
    w, h = size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    d2 = (xs - coords[..., 0, None, None]) ** 2 + (ys - coords[..., 1, None, None]) ** 2
    return peak * torch.exp(-d2 / (2 * sigma**2))


def test_sds_applies_to_unlabelled_samples_only_by_default(tmp_path):
    batch = {
        "domain": torch.tensor([1, 1, 1, 0]),                  # real, real, real, syn
        "has_keypoints": torch.tensor([True, False, False, False]),
    }
    objective = _objective(tmp_path)
    assert objective.sds_samples(batch).tolist() == [False, True, True, False]
    assert _objective(tmp_path, samples="all").sds_samples(batch).tolist() == [True, True, True, False]
    # through the objective: no SDS gradient reaches the labelled sample's heatmaps
    coords = _pose(4) * torch.tensor([47 / 200, 63 / 200])
    heat = _heatmaps(coords).mul(0.6).requires_grad_(True)
    full = {**batch, "heatmaps": torch.zeros_like(heat), "keypoint_weights": torch.zeros(4, 17)}
    weights = {name: 0.0 for name in objective.weights_at(0)}
    objective.weights_at = lambda step: {**weights, "sds": 1.0}
    loss, terms = objective({"heatmaps": heat}, full, 0)
    (grad,) = torch.autograd.grad(loss, heat)
    assert float(grad[0].abs().sum()) == 0.0 and float(grad[3].abs().sum()) == 0.0
    assert float(grad[1:3].abs().sum()) > 0.0
    # in the pose term's unit: pi / (H W K) times the SDS loss of the read-out coordinates
    c, conf = objective.keypoint_readout(heat.detach())
    torch.manual_seed(0)
    expected = objective.sds(c[1:3], conf[1:3], generator=torch.Generator().manual_seed(0)) * math.pi / (48 * 64 * 17)
    got = objective.sds_loss(c[1:3], conf[1:3], (48, 64), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(got, expected)


def test_local_readout_stays_on_a_weak_off_centre_peak():
    w, h = 48, 64
    peak_at = torch.tensor([[[40.0, 10.0]]])
    gen = torch.Generator().manual_seed(0)
    heat = _heatmaps(peak_at, (w, h), sigma=2.0, peak=0.1) + 0.01 * torch.rand(1, 1, h, w, generator=gen)
    local, conf = local_soft_argmax(heat, radius=3, beta=50.0)
    glob, _ = soft_argmax(heat, beta=50.0)
    assert float((local - peak_at).norm()) < 0.5
    assert float((glob - peak_at).norm()) > 5.0                     # the plain soft-argmax drifts to the centre
    assert float(conf) == pytest.approx(float(heat.max()))
    # a strong peak reads the same both ways; the window clips at the map's edge
    strong = _heatmaps(torch.tensor([[[20.3, 30.6]]]), (w, h), sigma=2.0)
    torch.testing.assert_close(local_soft_argmax(strong)[0], soft_argmax(strong)[0], atol=0.05, rtol=0)
    corner = _heatmaps(torch.tensor([[[0.0, 0.0]]]), (w, h), sigma=2.0)
    assert float(local_soft_argmax(corner)[0].norm()) < 0.3
    assert torch.equal(local_soft_argmax(strong, radius=0)[0], torch.tensor([[[20.0, 31.0]]]))


def test_local_readout_gradient_stays_in_the_window():
    heat = _heatmaps(torch.tensor([[[20.0, 30.0]]]), (48, 64), sigma=2.0).requires_grad_(True)
    coords, _ = local_soft_argmax(heat, radius=2)
    coords.sum().backward()
    touched = heat.grad[0, 0].abs() > 0
    ys, xs = torch.nonzero(touched, as_tuple=True)
    assert int(ys.min()) >= 28 and int(ys.max()) <= 32 and int(xs.min()) >= 18 and int(xs.max()) <= 22


# --- depth-normal consistency ----------------------------------------------------------------------


def _scene(w: int = 24, h: int = 32, f: float = 30.0):
    """A tilted floor 1.6 m away with a ball of radius 0.22 m lying 0.1 m in front of it: depth, exact normals,
    intrinsics and the ball's silhouette -- a self-occlusion edge all around the ball."""
    cx, cy = (w - 1) / 2, (h - 1) / 2
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    ray = np.stack([(u - cx) / f, (v - cy) / f, np.ones_like(u)], -1)
    n_floor = np.array([0.0, -0.35, -1.0])
    n_floor /= np.linalg.norm(n_floor)
    z_floor = 1.6 * n_floor[2] / (ray @ n_floor)                            # the plane n·P = n·(0, 0, 1.6)
    centre = np.array([0.0, 0.0, 1.6 - 0.22 - 0.1])
    radius = 0.22
    b = ray @ centre
    a = (ray * ray).sum(-1)
    disc = b * b - a * (centre @ centre - radius**2)
    hit = disc > 0
    t_ball = np.where(hit, (b - np.sqrt(np.where(hit, disc, 0.0))) / a, np.inf)
    on_ball = hit & (t_ball < z_floor)
    z = np.where(on_ball, t_ball, z_floor)
    points = ray * z[..., None]
    normals = np.where(on_ball[..., None], (points - centre) / radius, np.broadcast_to(n_floor, points.shape))
    depth = torch.tensor(z, dtype=torch.float32).view(1, 1, h, w)
    normal = torch.tensor(normals, dtype=torch.float32).permute(2, 0, 1)[None].contiguous()
    camera = torch.tensor([[f, f, cx, cy]])
    return depth, normal, camera, torch.tensor(on_ball).view(1, 1, h, w)


def test_geometry_truth_scores_near_zero_and_below_the_flat_facing_solution():
    depth, normal, camera, ball = _scene()
    region = torch.ones_like(depth, dtype=torch.bool)
    kw = {"camera": camera, "has_camera": torch.tensor([True]), "input_size": (24, 32)}
    truth = geo_loss(torch.log(depth), normal, region, **kw)
    assert math.degrees(float(truth)) < 1.0
    truth_ball = geo_loss(torch.log(depth), normal, ball, **kw)
    assert math.degrees(float(truth_ball)) < 1.5
    # the flat depth with camera-facing normals is consistent, but the depth target anchors the term
    flat = torch.zeros_like(depth)
    facing = torch.zeros_like(normal)
    facing[:, 2] = -1.0
    anchor = {"depth_target": depth, "depth_target_mask": depth > 0}
    flat_facing = geo_loss(flat, facing, region, **kw, **anchor)
    assert float(flat_facing) > 5 * float(truth) + math.radians(3.0)
    assert float(geo_loss(flat, normal, region, **kw, **anchor)) == pytest.approx(float(truth))
    tilt_truth = geo_loss(depth, normal, region, mode="tilt")
    tilt_facing = geo_loss(flat, facing, region, mode="tilt", **anchor)
    assert math.degrees(float(tilt_truth)) < 1.0 and float(tilt_facing) > math.radians(30)
    # every pair across the silhouette is a jump (left out), few others are (the ball's steep rim)
    jump_u, _ = depth_jumps(torch.log(depth), region)
    edge_u = ball[..., :, 1:] ^ ball[..., :, :-1]
    assert bool(jump_u[edge_u].all()) and float(jump_u[~edge_u].float().mean()) < 0.05


def test_geometry_gradient_does_not_move_true_normals():
    """Normals following the term's gradient against the exact depth (the depth branch fixed) stay at the truth."""
    depth, normal, camera, _ = _scene()
    region = torch.ones_like(depth, dtype=torch.bool)
    kw = {"camera": camera, "has_camera": torch.tensor([True]), "input_size": (24, 32)}
    for mode, d in (("log_depth", torch.log(depth)), ("tilt", depth)):
        n = normal.clone().requires_grad_(True)
        opt = torch.optim.SGD([n], lr=0.5 * region.sum().item())   # per pixel: half a radian per radian of residual
        for _ in range(100):
            opt.zero_grad()
            geo_loss(d, n, region, mode=mode, **kw).backward()
            opt.step()
        moved = torch.nn.functional.cosine_similarity(n.detach(), normal, dim=1).clamp(-1, 1).acos()
        assert math.degrees(float(moved.mean())) < 0.5, mode


def test_tilt_weight_is_detached_no_gradient_shortens_the_tilt():
    depth, normal, _, _ = _scene()
    region = torch.ones_like(depth, dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    wrong = torch.nn.functional.normalize(normal + 0.4 * torch.randn(normal.shape, generator=gen), dim=1)
    n = wrong.clone().requires_grad_(True)
    loss = tilt_direction_loss(depth, n, region)
    (grad,) = torch.autograd.grad(loss, n)
    assert float(loss.detach()) > 0.05
    # descent (-grad) never shortens n_xy: the pixels' weights do not depend on the normals
    radial = (grad[:, :2] * n.detach()[:, :2]).sum(1)
    assert float(radial.max()) <= 1e-6 * float(grad.abs().max())
    assert float(grad[:, 2].abs().max()) == 0.0
    # and a camera-facing normal where the depth tilts is 90° off, not excused
    facing = torch.zeros_like(normal)
    facing[:, 2] = -1.0
    assert float(tilt_direction_loss(depth, facing, region)) > math.radians(60)


def test_crop_padding_mask_marks_the_black_border():
    images = torch.full((1, 3, 64, 48), 90, dtype=torch.uint8)
    images[..., :, :12] = 0                                      # a black border 12 crop pixels wide
    images[0, :, 40, 30] = 0                                     # a lone black pixel is not padding
    pad = crop_padding_mask(images, (12, 16))
    assert pad[0, 0, :, :3].all() and not pad[0, 0, :, 3:].any()


# --- bone ratios -----------------------------------------------------------------------------------


_skeleton = axis_skeleton


_BELOW = {"left_elbow": ("left_wrist",), "right_elbow": ("right_wrist",), "left_knee": ("left_ankle",),
          "right_knee": ("right_ankle",)}


def _foreshorten(k: np.ndarray, joint: str, parent: str, factor: float) -> np.ndarray:
    """The limb parent -> joint seen at an angle: shorter in 2D by ``factor``; the joints below it move along."""
    out = k.copy()
    p, j = COCO17.index(parent), COCO17.index(joint)
    shift = (out[p] + factor * (out[j] - out[p])) - out[j]
    for name in (joint, *_BELOW.get(joint, ())):
        out[COCO17.index(name)] += shift
    return out


def test_bone_term_scores_foreshortened_true_poses_near_zero():
    k = _skeleton()
    rng = np.random.default_rng(0)
    limbs = [("left_wrist", "left_elbow"), ("right_wrist", "right_elbow"), ("left_ankle", "left_knee"),
             ("right_ankle", "right_knee"), ("left_elbow", "left_shoulder"), ("right_knee", "right_hip")]
    population = []
    for _ in range(400):  # true 2-D poses: each limb seen at a random angle (cos of it), plus a little jitter
        pose = k.copy()
        for joint, parent in limbs:
            pose = _foreshorten(pose, joint, parent, float(np.cos(rng.uniform(0, 1.2))))
        population.append(pose + rng.normal(0, 0.03, pose.shape))
    population = np.stack(population)
    ref = torch.tensor(reference_log_ratios(population, np.ones((len(population), 17)), quantile=0.99))
    w = torch.ones(1, 17)
    one_sided = _foreshorten(_foreshorten(k, "left_wrist", "left_elbow", 0.4), "right_ankle", "right_knee", 0.5)
    pose = torch.tensor(one_sided)[None]
    assert bone_ratio_loss(pose, w, ref).item() == 0.0
    # the old symmetry term penalised exactly this pose
    assert bone_ratio_loss(pose, w, ref, symmetry_weight=0.5).item() > 0.01
    scores = bone_ratio_loss(torch.tensor(population[:100]), torch.ones(100, 17), ref)
    assert scores.item() < 1e-4
    stretched = k.copy()
    stretched[COCO17.index("left_wrist")] = (3 + 2 * math.exp(0.6), 0)
    assert bone_ratio_loss(torch.tensor(stretched)[None], w, ref).item() > 1e-3
    with pytest.raises(ValueError, match="quantile"):
        reference_log_ratios(population, np.ones((len(population), 17)), quantile=1.5)
