"""Loss terms: hand-computed values, empty masks, invariances."""

import math

import numpy as np
import pytest
import torch
from pose_helpers import axis_skeleton

from hyper_sapiens.keypoints import COCO17, COCO17_LIMBS
from hyper_sapiens.losses import (
    angle_between,
    bone_ratio_loss,
    geo_consistency_loss,
    geo_loss,
    geo_region_mask,
    integral_coord_loss,
    keypoint_mse_loss,
    limb_log_ratios,
    masked_mean,
    normal_angular_loss,
    normal_cosine_loss,
    normals_from_depth,
    reference_log_ratios,
    silog_loss,
    ssi_loss,
    tilt_direction_loss,
)

# --- masked reductions -------------------------------------------------------------------


def test_masked_mean_empty_is_zero_with_zero_grad():
    x = torch.randn(3, 4, requires_grad=True)
    out = masked_mean(x, torch.zeros(3, 4, dtype=torch.bool))
    out.backward()
    assert out.item() == 0.0 and torch.all(x.grad == 0)
    assert masked_mean(torch.tensor([1.0, 2.0, 6.0]), torch.tensor([True, False, True])).item() == 3.5


# --- pose ----------------------------------------------------------------------------------


def test_keypoint_mse_hand_values():
    pred = torch.zeros(2, 2, 2, 2)
    target = torch.ones(2, 2, 2, 2)
    w = torch.tensor([[1.0, 0.0], [0.5, 1.0]])
    # sum of weighted squared errors = 4 * (1 + 0 + 0.5 + 1) = 10 over B*K*H*W = 16 entries
    assert keypoint_mse_loss(pred, target, w).item() == pytest.approx(10 / 16)
    # only sample 0: 4 * 1 over 1*2*2*2 = 8 entries
    assert keypoint_mse_loss(pred, target, w, torch.tensor([True, False])).item() == pytest.approx(0.5)
    assert keypoint_mse_loss(target, target, w).item() == 0.0


def test_keypoint_mse_empty_sample_mask_is_zero_not_nan():
    pred = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = keypoint_mse_loss(pred, torch.zeros_like(pred), None, torch.tensor([False, False]))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(pred.grad).all() and torch.all(pred.grad == 0)


def test_keypoint_mse_skip_empty_channel_and_shape_errors():
    pred = torch.ones(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 1.0
    # channel 1 has an empty target: skipped; channel 0 contributes 3 ones out of 8 entries
    assert keypoint_mse_loss(pred, target, skip_empty_channel=True).item() == pytest.approx(3 / 8)
    with pytest.raises(ValueError, match=r"\(B, K, H, W\)"):
        keypoint_mse_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))


# --- depth ---------------------------------------------------------------------------------


def test_silog_hand_values():
    target = torch.tensor([1.0, math.e]).view(1, 1, 1, 2)
    mask = torch.ones_like(target, dtype=torch.bool)
    # d = pred - log(target) = [0, 1]: mean(d^2) = 0.5, mean(d) = 0.5
    pred = torch.tensor([0.0, 2.0]).view(1, 1, 1, 2)
    expected = math.sqrt(0.5 - 0.85 * 0.25 + 1e-6)
    assert silog_loss(pred, target, mask).item() == pytest.approx(expected, rel=1e-5)
    # a constant offset of the log (global scale of the depth) is free with variance_focus=1
    shifted = torch.log(target) + 0.7
    assert silog_loss(shifted, target, mask, variance_focus=1.0).item() == pytest.approx(1e-3, abs=1e-6)


def test_silog_ignores_invalid_and_empty():
    target = torch.tensor([0.0, 2.0]).view(1, 1, 1, 2)
    pred = torch.tensor([5.0, math.log(2.0)]).view(1, 1, 1, 2)
    assert silog_loss(pred, target, torch.ones_like(target, dtype=torch.bool), variance_focus=1.0).item() < 2e-3
    p = torch.randn(2, 1, 3, 3, requires_grad=True)
    loss = silog_loss(p, torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(p.grad == 0)


def test_ssi_hand_values_and_invariance():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 1, 4)
    mask = torch.ones_like(target, dtype=torch.bool)
    assert ssi_loss(3.0 * target + 5.0, target, mask).item() == pytest.approx(0.0, abs=1e-6)
    # torch's median of an even count is the lower middle value: target -> [-1, 0, 1, 2] / 1,
    # pred [1, 2, 3, 5] -> [-1, 0, 1, 3] / 1.25; mean |diff| = (0.2 + 0 + 0.2 + 0.4) / 4
    pred = torch.tensor([1.0, 2.0, 3.0, 5.0]).view(1, 1, 1, 4)
    assert ssi_loss(pred, target, mask).item() == pytest.approx(0.2, abs=1e-6)
    assert ssi_loss(-target, target, mask).item() > 1.0  # inverted depth is wrong
    empty = ssi_loss(pred, target, torch.zeros_like(mask))
    assert empty.item() == 0.0


# --- normals --------------------------------------------------------------------------------


def _field(v):
    return torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1)


def test_normal_losses_hand_values():
    mask = torch.ones(1, 1, 1, 1, dtype=torch.bool)
    x, y = _field([1.0, 0.0, 0.0]), _field([0.0, 1.0, 0.0])
    assert normal_angular_loss(x, y, mask).item() == pytest.approx(math.pi / 2, abs=1e-6)
    assert normal_angular_loss(-x, x, mask).item() == pytest.approx(math.pi, abs=1e-5)
    assert normal_cosine_loss(x, y, mask).item() == pytest.approx(1.0)
    assert normal_cosine_loss(2 * x, x, mask).item() == pytest.approx(0.0, abs=1e-7)


def test_angular_gradient_is_finite_near_identical_and_opposite():
    t = _field([0.0, 0.0, -1.0])
    for start in ([1e-7, 0.0, -1.0], [0.0, 0.0, -1.0], [1e-7, 0.0, 1.0]):
        p = _field(start).requires_grad_(True)
        normal_angular_loss(p, t, torch.ones(1, 1, 1, 1, dtype=torch.bool)).backward()
        assert torch.isfinite(p.grad).all()
    assert angle_between(torch.tensor([[1.0, 0, 0]]), torch.tensor([[1.0, 0, 0]])).item() < 1e-5


# --- depth-normal geometry ------------------------------------------------------------------


def _plane(normal, distance, h=24, w=32, f=40.0):
    """Depth of the plane {P : n·P = -distance} seen by a pinhole camera; n faces the camera."""
    n = np.asarray(normal, dtype=np.float64)
    n /= np.linalg.norm(n)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    ray = np.stack([(u - cx) / f, (v - cy) / f, np.ones_like(u, dtype=np.float64)], -1)
    z = -distance / (ray @ n)
    depth = torch.tensor(z, dtype=torch.float32).view(1, 1, h, w)
    normals = torch.tensor(np.broadcast_to(n, (h, w, 3)).copy(), dtype=torch.float32).permute(2, 0, 1)[None]
    camera = torch.tensor([[f, f, cx, cy]])
    return depth, normals, camera


def test_normals_from_depth_recover_a_tilted_plane_and_are_scale_invariant():
    depth, normals, camera = _plane([0.3, -0.2, -1.0], 1.5)
    est, ok = normals_from_depth(depth, camera)
    angle = angle_between(est, normals)[ok[:, 0]]
    assert ok.sum() == (24 - 2) * (32 - 2)
    assert torch.rad2deg(angle).max() < 0.5
    est7, _ = normals_from_depth(depth * 7.0, camera)
    assert torch.allclose(est7, est, atol=1e-5)
    # fronto-parallel plane faces the camera: n = (0, 0, -1)
    flat, _ = normals_from_depth(torch.full((1, 1, 5, 5), 2.0), camera)
    assert torch.allclose(flat[0, :, 2, 2], torch.tensor([0.0, 0.0, -1.0]))


def test_geo_consistency_small_on_truth_large_on_shuffled_normals():
    depth, normals, camera = _plane([0.4, 0.3, -1.0], 1.0)
    mask = torch.ones_like(depth, dtype=torch.bool)
    good = geo_consistency_loss(torch.log(depth), normals, mask, camera, mode="log_depth")
    bad = geo_consistency_loss(torch.log(depth), normals[:, [1, 2, 0]], mask, camera, mode="log_depth")
    assert good.item() < math.radians(0.5) and bad.item() > math.radians(30)
    tilt_good = geo_consistency_loss(depth, normals, mask, mode="tilt")
    flipped = normals * torch.tensor([-1.0, -1.0, 1.0]).view(1, 3, 1, 1)
    tilt_bad = geo_consistency_loss(depth, flipped, mask, mode="tilt")
    assert tilt_good.item() < 1e-3 and tilt_bad.item() > 1.9
    # tilt is invariant to scale and shift of the depth, and to log
    assert geo_consistency_loss(3 * depth + 2, normals, mask, mode="tilt").item() < 1e-3
    assert tilt_direction_loss(torch.log(depth), normals, mask).item() < 1e-3


def test_geo_consistency_detach_and_resampling_and_empty():
    depth, normals, camera = _plane([0.4, 0.3, -1.0], 1.0)
    log_depth = torch.log(depth).requires_grad_(True)
    pred_n = (normals + 0.1).requires_grad_(True)
    mask = torch.ones_like(depth, dtype=torch.bool)
    geo_consistency_loss(log_depth, pred_n, mask, camera, detach="depth").backward()
    assert log_depth.grad is None and pred_n.grad.abs().sum() > 0
    log_depth.grad = pred_n.grad = None
    geo_consistency_loss(log_depth, pred_n, mask, camera, detach="normal").backward()
    assert pred_n.grad is None and log_depth.grad.abs().sum() > 0
    # normals at half resolution are resampled to the depth's size
    half = torch.nn.functional.interpolate(normals, scale_factor=0.5, mode="bilinear")
    assert geo_consistency_loss(torch.log(depth), half, mask, camera).item() < math.radians(2)
    empty = geo_consistency_loss(torch.log(depth), normals, torch.zeros_like(mask), camera)
    assert empty.item() == 0.0
    with pytest.raises(ValueError, match="needs the camera"):
        geo_consistency_loss(torch.log(depth), normals, mask, None)


def test_geo_region_mask_body_where_known_whole_map_elsewhere_nothing_off_the_samples():
    like = torch.zeros(3, 1, 2, 2)
    body = torch.tensor([[1, 0], [0, 0]], dtype=torch.bool).view(1, 1, 2, 2).repeat(3, 1, 1, 1)
    region = geo_region_mask(torch.tensor([True, True, False]), like, body, torch.tensor([True, False, True]))
    assert region[0].sum() == 1 and region[1].all() and not region[2].any()
    assert geo_region_mask(torch.tensor([True, False, True]), like)[[0, 2]].all()
    with pytest.raises(ValueError, match="has_body_mask"):
        geo_region_mask(torch.tensor([True, True, True]), like, body)


def test_geo_loss_uses_intrinsics_where_known_and_the_tilt_form_elsewhere_weighted_by_pixels():
    depth, normals, camera = _plane([0.4, 0.3, -1.0], 1.0)
    log_depth = torch.log(depth).repeat(2, 1, 1, 1)
    pred_n = normals.repeat(2, 1, 1, 1) + torch.tensor([0.2, -0.1, 0.0]).view(1, 3, 1, 1)
    region = torch.ones_like(log_depth, dtype=torch.bool)
    region[1, :, 12:] = False  # the second sample counts half its pixels
    cameras = camera.repeat(2, 1)
    size = (log_depth.shape[-1], log_depth.shape[-2])  # crop = map: the intrinsics carry over unchanged
    both = geo_loss(log_depth, pred_n, region, camera=cameras, has_camera=torch.tensor([True, True]), input_size=size)
    assert torch.allclose(both, geo_consistency_loss(log_depth, pred_n, region, cameras, mode="log_depth"))
    tilt = geo_loss(log_depth, pred_n, region, mode="tilt")
    assert torch.allclose(tilt, geo_consistency_loss(log_depth, pred_n, region, mode="tilt"))
    mixed = geo_loss(log_depth, pred_n, region, camera=cameras, has_camera=torch.tensor([True, False]), input_size=size)
    with_cam, without = region.clone(), region.clone()
    with_cam[1], without[0] = False, False
    expected = (
        geo_consistency_loss(log_depth, pred_n, with_cam, cameras, mode="log_depth") * with_cam.sum()
        + geo_consistency_loss(log_depth, pred_n, without, mode="tilt") * without.sum()
    ) / region.sum()
    assert torch.allclose(mixed, expected) and not torch.allclose(mixed, both)
    with pytest.raises(ValueError, match="needs camera"):
        geo_loss(log_depth, pred_n, region)


# --- integral regression ------------------------------------------------------------------------


def test_integral_coord_loss_in_heatmap_widths_on_the_chosen_samples():
    w_in, h_in, W, H = 192, 256, 48, 64
    heatmaps = torch.zeros(2, 2, H, W)
    peaks = torch.tensor([[[10, 20], [30, 40]], [[5, 6], [7, 8]]])  # (B, K, 2) heatmap pixels (x, y)
    for b in range(2):
        for k in range(2):
            heatmaps[b, k, peaks[b, k, 1], peaks[b, k, 0]] = 1.0
    to_crop = torch.tensor([(w_in - 1) / (W - 1), (h_in - 1) / (H - 1)])
    labels = peaks.float() * to_crop
    weights = torch.ones(2, 2)
    labelled = torch.tensor([True, True])
    exact = integral_coord_loss(heatmaps, labels, weights, labelled, (w_in, h_in), beta=1000.0)
    assert exact.item() < 1e-4
    shifted = labels.clone()
    shifted[0, 0, 0] += to_crop[0]  # one heatmap pixel to the right on one of four keypoints
    loss = integral_coord_loss(heatmaps, shifted, weights, labelled, (w_in, h_in), beta=1000.0)
    assert loss.item() == pytest.approx(1 / W / 4, rel=1e-4)
    only_second = integral_coord_loss(heatmaps, shifted, weights, torch.tensor([False, True]), (w_in, h_in), 1000.0)
    assert only_second.item() < 1e-4
    assert integral_coord_loss(heatmaps, shifted, weights, torch.tensor([False, False]), (w_in, h_in)).item() == 0.0


# --- bones ------------------------------------------------------------------------------------


_skeleton = axis_skeleton


def test_limb_log_ratios_hand_values():
    k = torch.tensor(_skeleton())[None]
    ratios, w = limb_log_ratios(k, torch.ones(1, 17))
    # upper arm 2 / torso 4, shank 3 / torso 4, shoulders 2 / 4
    assert ratios[0, COCO17_LIMBS.index((5, 7))].item() == pytest.approx(math.log(0.5))
    assert ratios[0, COCO17_LIMBS.index((13, 15))].item() == pytest.approx(math.log(0.75), abs=1e-6)
    assert ratios[0, COCO17_LIMBS.index((5, 6))].item() == pytest.approx(math.log(0.5))
    assert torch.all(w == 1)


def test_bone_ratio_loss_zero_at_reference_and_invariant_to_similarity():
    k = _skeleton()
    ref = torch.tensor(reference_log_ratios(k[None], np.ones((1, 17))))
    w = torch.ones(1, 17)
    moved = torch.tensor(k * 3.7 + np.array([10.0, -4.0]))[None]
    assert bone_ratio_loss(moved, w, ref).item() == pytest.approx(0.0, abs=1e-9)
    assert bone_ratio_loss(torch.zeros(1, 17, 2), torch.zeros(1, 17), ref).item() == 0.0


def test_bone_ratio_loss_stretched_forearm_hand_value():
    k = _skeleton()
    ref = torch.tensor(reference_log_ratios(k[None], np.ones((1, 17))))
    stretched = k.copy()
    s = math.exp(0.5)  # left forearm 2 -> 2e^0.5: its log ratio rises by 0.5
    stretched[COCO17.index("left_wrist")] = (3 + 2 * s, 0)
    t = torch.tensor(stretched)[None]
    w = torch.ones(1, 17)
    excess = 0.5 - math.log(1.1)
    ratio_term = 0.2 * (excess - 0.1) / len(COCO17_LIMBS)  # Huber(δ=0.2) in its linear part, one of 12 limbs
    sym_term = 0.2 * (0.5 - 0.1) / 5  # forearm pair differs by 0.5 in log, one of 5 pairs
    assert bone_ratio_loss(t, w, ref).item() == pytest.approx(ratio_term, rel=1e-5)   # symmetry off by default
    assert bone_ratio_loss(t, w, ref, symmetry_weight=0.5).item() == pytest.approx(ratio_term + 0.5 * sym_term,
                                                                                  rel=1e-5)
    shrunk = k.copy()
    shrunk[COCO17.index("left_wrist")] = (3 + 2 / s, 0)
    sh = torch.tensor(shrunk)[None]
    # a shorter limb can be foreshortening: one-sided ratio term ignores it, symmetry does not
    assert bone_ratio_loss(sh, w, ref, symmetry_weight=0.0).item() == 0.0
    assert bone_ratio_loss(sh, w, ref, symmetry_weight=0.0, one_sided=False).item() > 0.0
