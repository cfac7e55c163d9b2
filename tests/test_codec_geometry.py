"""UDP geometry and heatmap codec against mmpose 1.3.2 semantics (mmpose/codecs/udp_heatmap.py and its tests)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyper_sapiens.data.codecs import UDPHeatmap
from hyper_sapiens.data.transforms import (
    bbox_xywh2xyxy,
    bbox_xyxy2cs,
    crop_to_image,
    fix_aspect_ratio,
    flip_keypoints_horizontal,
    get_udp_warp_matrix,
    heatmap_to_image,
    invert_affine,
    warp_image,
    warp_keypoints,
)
from hyper_sapiens.keypoints import COCO17


def test_bbox_to_centre_scale_and_aspect_fix():
    box = bbox_xywh2xyxy(np.array([280.79, 44.73, 218.7, 346.68]))
    c, s = bbox_xyxy2cs(box, padding=1.25)
    np.testing.assert_allclose(c, [390.14, 218.07], atol=1e-4)
    np.testing.assert_allclose(s, [273.375, 433.35], atol=1e-3)
    np.testing.assert_allclose(fix_aspect_ratio(s, 0.75), [325.0125, 433.35], atol=1e-3)
    np.testing.assert_allclose(fix_aspect_ratio(np.array([400.0, 100.0]), 0.75), [400.0, 533.3333], atol=1e-3)


def test_udp_warp_matrix_formula_and_centre():
    c, s = np.array([100.0, 80.0]), np.array([60.0, 80.0])
    m = get_udp_warp_matrix(c, s, 0.0, (192, 256))
    np.testing.assert_allclose(warp_keypoints(c[None], m)[0], [95.5, 127.5], atol=1e-4)  # ((w-1)/2, (h-1)/2)
    sx = 191 / 60
    np.testing.assert_allclose(m[0], [sx, 0, sx * (-100 + 30)], rtol=1e-6)
    # mmpose's UDP rotation sign: M[0,1] = -sin(theta) * sx for rot=+30
    m30 = get_udp_warp_matrix(c, s, 30.0, (192, 256))
    assert m30[0, 1] == pytest.approx(-np.sin(np.deg2rad(30)) * sx, rel=1e-6)
    np.testing.assert_allclose(warp_keypoints(c[None], m30)[0], [95.5, 127.5], atol=1e-3)


def test_warp_then_inverse_and_back_projection_round_trip():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 300, (17, 2))
    c, s = np.array([150.0, 140.0]), np.array([210.0, 280.0])
    for rot in (0.0, 33.0, -70.0):
        m = get_udp_warp_matrix(c, s, rot, (192, 256))
        back = warp_keypoints(warp_keypoints(pts, m), invert_affine(m))
        np.testing.assert_allclose(back, pts, atol=1e-3)
    # rotation 0: UDP decode scaling (w/(W-1)) + mmpose back-projection is the exact inverse of the warp
    m = get_udp_warp_matrix(c, s, 0.0, (192, 256))
    hm = warp_keypoints(pts, m) * np.array([47 / 191, 63 / 255])
    np.testing.assert_allclose(heatmap_to_image(hm, c, s, (48, 64)), pts, atol=1e-3)
    decoded_in = hm / np.array([47, 63]) * np.array([192, 256])
    np.testing.assert_allclose(crop_to_image(decoded_in, c, s, (192, 256)), pts, atol=1e-3)


def test_warp_image_handles_many_channels():
    img = np.random.default_rng(0).uniform(0, 1, (40, 30, 6)).astype(np.float32)
    m = get_udp_warp_matrix(np.array([14.5, 19.5]), np.array([29.0, 39.0]), 0.0, (30, 40))  # identity
    out = warp_image(img, m, (30, 40))
    assert out.shape == (40, 30, 6)
    np.testing.assert_allclose(out, img, atol=1e-4)


def test_flip_twice_is_identity_and_swaps_sides():
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 99, (2, 17, 2))
    vis = rng.integers(0, 2, (2, 17)).astype(float)
    f, fv = flip_keypoints_horizontal(kp, vis, 100, COCO17.flip_indices)
    np.testing.assert_allclose(f[:, 1, 0], 99 - kp[:, 2, 0])  # left eye <- mirrored right eye
    ff, ffv = flip_keypoints_horizontal(f, fv, 100, COCO17.flip_indices)
    np.testing.assert_allclose(ff, kp)
    np.testing.assert_array_equal(ffv, vis)


def test_geometry_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"expected shape \(\.\.\., 4\)"):
        bbox_xyxy2cs(np.zeros(3))
    with pytest.raises(ValueError, match="matrix must be"):
        warp_keypoints(np.zeros((17, 2)), np.zeros((3, 3)))


# ------------------------------------------------------------------------------------------ codec
CODEC = UDPHeatmap(input_size=(192, 256), heatmap_size=(48, 64), sigma=2.0)


def test_encode_shapes_and_peak():
    kp = np.array([[95.5, 127.5]] * 17)
    hm, w = CODEC.encode(kp, np.ones(17))
    assert hm.shape == (17, 64, 48) and hm.dtype == np.float32 and w.shape == (17,)
    # 95.5 * 47/191 = 23.5: the peak sits between pixels 23 and 24 (x), 127.5 * 63/255 = 31.5 (y)
    assert hm[0, 31:33, 23:25].min() == pytest.approx(np.exp(-0.25 / 4), rel=1e-5)


def test_encode_visibility_and_outside_rules():
    kp = np.array([[50.0, 50.0], [60.0, 60.0], [-100.0, 50.0], [191.0, 255.0]] + [[10.0, 10.0]] * 13)
    vis = np.array([1.0, 0.4, 1.0, 1.0] + [0.0] * 13)
    hm, w = CODEC.encode(kp, vis)
    assert w[0] == 1 and hm[0].max() > 0.9
    assert w[1] == pytest.approx(0.4) and hm[1].max() == 0  # visibility < 0.5: no Gaussian, weight kept
    assert w[2] == 0 and hm[2].max() == 0  # window fully outside
    assert w[3] == 1 and hm[3, 63, 47] == pytest.approx(1.0)  # corner keypoint


def test_decode_published_values():
    kp = np.array([[95.3, 120.7], [0.0, 0.0]] + [[50.0, 50.0]] * 15)
    hm, _ = CODEC.encode(kp, np.ones(17))
    out, scores = CODEC.decode(hm)
    # mmpose: a clean target decodes to k * w/(w-1) (95.3 -> 95.799); a corner keypoint to (-2.04, -2.03)
    np.testing.assert_allclose(out[0], kp[0] * np.array([192 / 191, 256 / 255]), atol=1e-3)
    np.testing.assert_allclose(out[1], [-2.04, -2.03], atol=0.01)
    assert scores.shape == (17,)


def test_round_trip_subpixel_within_1e3_px():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0.15, 0.85, (64, 17, 2)) * np.array([192, 256])
    hm, _ = CODEC.batch_encode(kp, np.ones((64, 17)))
    out, _ = CODEC.batch_decode(hm)
    np.testing.assert_allclose(out, kp * np.array([192 / 191, 256 / 255]), atol=1e-3)


def test_empty_channel_decodes_to_a_finite_point_with_score_zero():
    hm = np.zeros((17, 64, 48), np.float32)
    out, scores = CODEC.decode(hm)
    assert np.all(np.isfinite(out)) and np.all(scores == 0)
    np.testing.assert_allclose(out[0], [-192 / 47, -256 / 63], atol=1e-4)


def test_torch_decode_matches_numpy_and_keeps_device_and_type():
    rng = np.random.default_rng(3)
    kp = rng.uniform(10, 180, (4, 17, 2))
    hm, _ = CODEC.batch_encode(kp, np.ones((4, 17)))
    hm = hm + rng.normal(0, 0.01, hm.shape).astype(np.float32)
    a, sa = CODEC.batch_decode(hm)
    b, sb = CODEC.batch_decode(torch.from_numpy(hm))
    assert isinstance(b, torch.Tensor) and b.dtype == torch.float32
    np.testing.assert_allclose(b.numpy(), a, atol=1e-4)
    np.testing.assert_allclose(sb.numpy(), sa, atol=1e-6)
    c, _ = CODEC.batch_decode(torch.from_numpy(hm).to(torch.bfloat16))  # bf16 heads under autocast
    assert c.dtype == torch.float32 and torch.all(torch.isfinite(c))
    np.testing.assert_allclose(c.numpy(), a, atol=0.1)


def test_codec_shape_errors():
    with pytest.raises(ValueError, match=r"keypoints must be \(K, 2\)"):
        CODEC.encode(np.zeros((17, 3)), np.ones(17))
    with pytest.raises(ValueError, match=r"visible must be \(1, 17\)"):
        CODEC.encode(np.zeros((17, 2)), np.ones(16))
    with pytest.raises(ValueError, match=r"heatmaps must be \(B, K, H, W\)"):
        CODEC.batch_decode(np.zeros((17, 64, 48)))


def _mmpose_udp_gaussian(kp: np.ndarray, vis: np.ndarray, heatmap_size, input_size, sigma: float):
    """The per-keypoint loop of mmpose 1.3.2's UDP gaussian encoding (mmpose/codecs/utils/gaussian_heatmap.py)."""
    W, H = heatmap_size
    sf = ((np.array(input_size) - 1) / (np.array(heatmap_size) - 1)).astype(np.float32)
    k = kp.astype(np.float32) / sf
    hm = np.zeros((len(k), H, W), np.float32)
    wts = vis.astype(np.float32).copy()
    r = sigma * 3
    size = 2 * r + 1
    g = np.arange(0, size, dtype=np.float32)
    x0 = y0 = size // 2
    for j in range(len(k)):
        if vis[j] < 0.5:
            continue
        mu = (k[j] + 0.5).astype(np.int64)
        left, top = (mu - r).astype(np.int64)
        right, bottom = (mu + r + 1).astype(np.int64)
        if left >= W or top >= H or right < 0 or bottom < 0:
            wts[j] = 0
            continue
        cx, cy = x0 + (k[j, 0] - mu[0]), y0 + (k[j, 1] - mu[1])
        gauss = np.exp(-((g[None, :] - cx) ** 2 + (g[:, None] - cy) ** 2) / (2 * sigma**2))
        ys, ye = max(0, top), min(H, bottom)
        xs, xe = max(0, left), min(W, right)
        hm[j, ys:ye, xs:xe] = np.maximum(hm[j, ys:ye, xs:xe], gauss[ys - top : ye - top, xs - left : xe - left])
    return hm, wts


@pytest.mark.parametrize("sigma", [2.0, 3.0, 2.5])
@pytest.mark.parametrize(("heatmap_size", "input_size"), [((48, 64), (192, 256)), ((192, 256), (768, 1024))])
def test_batch_encode_equals_mmpose_loop_on_whole_heatmaps(sigma, heatmap_size, input_size):
    rng = np.random.default_rng(int(sigma * 10) + heatmap_size[0])
    codec = UDPHeatmap(input_size=input_size, heatmap_size=heatmap_size, sigma=sigma)
    # inside, on the borders, just outside (partly drawn) and far outside; visibilities 0, 0.4, 0.5, 1, 2
    kp = rng.uniform(-0.15, 1.15, (6, 17, 2)) * np.array(input_size)
    kp[0, :4] = [[0, 0], [input_size[0] - 1, input_size[1] - 1], [-1e4, 10], [10, 1e4]]
    vis = rng.choice([0.0, 0.4, 0.5, 1.0, 2.0], (6, 17))
    heatmaps, weights = codec.batch_encode(kp, vis)
    for i in range(len(kp)):
        ref_hm, ref_w = _mmpose_udp_gaussian(kp[i], vis[i], heatmap_size, input_size, sigma)
        np.testing.assert_allclose(heatmaps[i], ref_hm, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(weights[i], ref_w)


def _mmpose_dark_udp_decode(hm: np.ndarray, input_size) -> np.ndarray:
    """mmpose 1.3.2's UDPHeatmap.decode with refine_keypoints_dark_udp, written out per channel
    (codecs/utils/post_processing.py);
    channels with max <= 0 (NaN in mmpose) are not compared."""
    import cv2

    k, h, w = hm.shape
    flat = hm.reshape(k, -1)
    idx = flat.argmax(1)
    xy = np.stack([idx % w, idx // w], 1).astype(np.float64)
    logs = []
    for j in range(k):
        m = hm[j].max()
        padded = np.pad(hm[j], 5)
        blurred = cv2.GaussianBlur(padded, (11, 11), 0)[5:-5, 5:-5]
        blurred = blurred * (m / blurred.max())
        logs.append(np.pad(np.log(np.clip(blurred, 1e-3, 50.0)), 1, mode="edge"))
    out = np.zeros((k, 2))
    for j in range(k):
        x, y = int(xy[j, 0]) + 1, int(xy[j, 1]) + 1
        p = logs[j]
        dx = 0.5 * (p[y, x + 1] - p[y, x - 1])
        dy = 0.5 * (p[y + 1, x] - p[y - 1, x])
        dxx = p[y, x + 1] - 2 * p[y, x] + p[y, x - 1]
        dyy = p[y + 1, x] - 2 * p[y, x] + p[y - 1, x]
        dxy = 0.5 * (
            p[y + 1, x + 1] - p[y, x + 1] - p[y + 1, x] + 2 * p[y, x] - p[y, x - 1] - p[y - 1, x] + p[y - 1, x - 1]
        )
        hess = np.array([[dxx, dxy], [dxy, dyy]]) + np.finfo(np.float32).eps * np.eye(2)
        out[j] = xy[j] - np.linalg.inv(hess) @ np.array([dx, dy])
    return out / np.array([w - 1, h - 1]) * np.array(input_size)


@pytest.mark.parametrize(("heatmap_size", "input_size"), [((48, 64), (192, 256)), ((192, 256), (768, 1024))])
def test_decode_equals_mmpose_dark_udp_on_clean_noisy_flat_and_huge_maps(heatmap_size, input_size):
    rng = np.random.default_rng(heatmap_size[0])
    codec = UDPHeatmap(input_size=input_size, heatmap_size=heatmap_size)
    kp = rng.uniform(0, 1, (4, 17, 2)) * np.array(input_size)
    kp[0, :3] = [[0, 0], [input_size[0] - 1, 5], [3, input_size[1] - 1]]  # corners and borders
    hm, _ = codec.batch_encode(kp)
    hm[1] += rng.normal(0, 0.05, hm[1].shape).astype(np.float32)  # noisy, partly negative
    hm[2] *= 1e-3  # faint peaks: mmpose's 1e-3 clamp bites, the exact path runs
    hm[3] *= 80.0  # maxima above the upper clamp of 50
    got, scores = codec.batch_decode(hm)
    for i in range(len(hm)):
        ref = _mmpose_dark_udp_decode(hm[i], input_size)
        np.testing.assert_allclose(got[i], ref, atol=1e-3, rtol=0, err_msg=f"map set {i}")
        np.testing.assert_allclose(scores[i], hm[i].reshape(17, -1).max(1), rtol=1e-6)
    # maps of pure noise have near-singular Hessians (the step amplifies float rounding); they stay finite
    noise = rng.uniform(-1e-3, 2e-3, (2, 17, heatmap_size[1], heatmap_size[0])).astype(np.float32)
    assert np.isfinite(codec.batch_decode(noise)[0]).all()
