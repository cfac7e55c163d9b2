"""Depth-normal consistency: normals implied by a depth map against predicted normals.

Conventions (``docs/synth.md`` § Conventions): camera frame x right, y down, z forward; a surface facing the camera
has n = (0, 0, -1). Pixel centres at integer coordinates.

Derivation. A pixel (u, v) with depth z lies at P = z·((u-cx)/fx, (v-cy)/fy, 1). With
ℓ = log z, the tangents' cross product P_v × P_u is proportional to

    n ∝ ( fx·ℓ_u,  fy·ℓ_v,  -1 - (u-cx)·ℓ_u - (v-cy)·ℓ_v )

which faces the camera (n·P < 0) and does not change when the depth is multiplied by any
constant: normals need only log-depth up to an additive constant, plus intrinsics.

Without intrinsics, ``(n_x, n_y)`` is parallel to ``+∇z`` (square pixels) for any depth
``a·z + b`` with ``a > 0`` and for any monotone increasing function of z (log-depth too):
the *tilt direction* form compares only that direction, free of scale, shift and focal length.

What the comparison must not do (``benchmarks/method_probes.py`` measures each on rendered crops at the demo's
24×32 depth maps, where an infant's limb is two pixels wide): score the true depth with the true normals far from 0
(normals of central differences against the rendered normals: 12.6° on average on the body), pull true normals
towards the depth's blurred ones (6.1° of drift), or reward flattening (a flat depth with camera-facing normals
scored 0). So:

- **Pairs, not stencils** (log-depth form). Along each pair of neighbouring pixels ``(i, i+1)`` the log-depth step
  ``Δℓ`` is compared with the step the normals at both ends imply, as tilt angles: ``atan(f·Δℓ)`` against the mean
  of ``θ = atan2(n_x, -n·r)`` at the two pixels (``f·ℓ_u = n_x / (-n·r)``, ``r`` the pixel's ray): the trapezoid
  rule over one pixel instead of a two-pixel central difference against one point.
- **What the depth resolves.** The trapezoid rule errs by about ``ℓ⁽³⁾ / 12`` per pair; the third difference of the
  (detached) depth estimates it, and a pair counts only beyond ``slack · |Δ³ℓ|`` (as an angle; ``slack = 1``,
  twelve times the estimate, which is a coarse one: chosen so that true normals following the term's gradient
  against the exact depth stay within about 1.4° on the demo's crops).
  Curved limbs at this resolution leave a wide margin, flat parts a narrow one.
- **Discontinuities** (self-occlusion edges): a pair whose depth step exceeds ``edge_ratio`` times the smaller of its
  neighbours' steps plus ``edge_floor`` times the sample's median step is a jump, not a slope (:func:`depth_jumps`).
- **Padding**: :func:`crop_padding_mask` marks the black border a crop gets outside its image; the objective removes
  it from the region (real crops have no body mask: their region is the whole crop).
- **The tilt form** weighs pixels by ``max(|n_xy|, min_tilt)`` *detached* (a weight the loss could lower flattened
  the normals), counts a camera-facing normal where the depth tilts as 90° off, and compares the direction's angle
  beyond its uncertainty ``atan(slack · |Δ³d| / |∇d|)``; jumps and pixels where the depth barely tilts are left out.
- **Anchored by the depth supervision**: where a sample has a depth target (rendered), :func:`geo_loss` takes the
  depth branch from the target, so a flat depth with camera-facing normals -- consistent, and 0 for any consistency
  measure -- scores far above the truth there; elsewhere the predicted depth, detached by default, so the term moves
  the normals towards the depth and never the depth towards flatness.

The training objective's ``geo`` term is :func:`geo_loss` over the pixels of :func:`geo_region_mask`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data.loader import camera_to_map
from .masking import masked_mean


def _central_differences(x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Central differences of ``(B, 1, H, W)`` maps and where all five taps are valid.

    Returns ``(d/du, d/dv, ok)`` with the same shape; border pixels are never ``ok``.
    """
    xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
    vp = F.pad(valid.to(x.dtype), (1, 1, 1, 1), mode="constant", value=0.0)
    du = 0.5 * (xp[..., 1:-1, 2:] - xp[..., 1:-1, :-2])
    dv = 0.5 * (xp[..., 2:, 1:-1] - xp[..., :-2, 1:-1])
    ok = (vp[..., 1:-1, 2:] * vp[..., 1:-1, :-2] * vp[..., 2:, 1:-1] * vp[..., :-2, 1:-1]) > 0
    return du, dv, ok & valid.to(torch.bool)


def normals_from_log_depth(
    log_depth: torch.Tensor, camera: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit normals implied by a log-depth map and pinhole intrinsics.

    Args:
        log_depth: ``(B, 1, H, W)`` natural log of depth (+ any per-sample constant).
        camera: ``(B, 4)`` ``(fx, fy, cx, cy)`` in pixels *of this map*.
        valid: ``(B, 1, H, W)`` bool, pixels with a usable depth.

    Returns:
        ``(normals (B, 3, H, W), ok (B, 1, H, W))``; ``ok`` marks pixels whose four neighbours
        are valid too. Normals elsewhere are still finite but meaningless.
    """
    if log_depth.ndim != 4 or log_depth.shape[1] != 1 or camera.shape != (log_depth.shape[0], 4):
        raise ValueError(
            f"normals_from_log_depth: log_depth {tuple(log_depth.shape)} must be (B, 1, H, W) and camera "
            f"{tuple(camera.shape)} (B, 4)"
        )
    b, _, h, w = log_depth.shape
    du, dv, ok = _central_differences(log_depth, valid)
    cam = camera.to(log_depth.dtype)[:, :, None, None]
    fx, fy, cx, cy = cam[:, 0:1], cam[:, 1:2], cam[:, 2:3], cam[:, 3:4]
    u = torch.arange(w, device=log_depth.device, dtype=log_depth.dtype).view(1, 1, 1, w)
    v = torch.arange(h, device=log_depth.device, dtype=log_depth.dtype).view(1, 1, h, 1)
    n = torch.cat([fx * du, fy * dv, -1.0 - (u - cx) * du - (v - cy) * dv], dim=1)
    return F.normalize(n, dim=1, eps=1e-8), ok


def normals_from_depth(
    depth: torch.Tensor, camera: torch.Tensor, valid: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit normals of a metric (or up-to-scale) depth map in metres; ``depth <= 0`` is invalid."""
    ok = depth > 0 if valid is None else valid.to(torch.bool) & (depth > 0)
    return normals_from_log_depth(torch.log(depth.clamp_min(1e-6)), camera, ok)


def _pair_steps(x: torch.Tensor, axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps ``x[i+1] - x[i]`` along ``axis`` (3: columns, 2: rows) and their third differences
    ``x[i+2] - 3x[i+1] + 3x[i] - x[i-1]`` (map borders replicated); both one shorter along ``axis``."""
    step = x.diff(dim=axis)
    pad = (1, 1, 0, 0) if axis == 3 else (0, 0, 1, 1)
    xp = F.pad(x, pad, mode="replicate")
    n = xp.shape[axis]
    taps = [xp.narrow(axis, k, n - 3) for k in range(4)]
    return step, taps[3] - 3 * taps[2] + 3 * taps[1] - taps[0]


def _pair_mask(mask: torch.Tensor, axis: int) -> torch.Tensor:
    """Pairs ``(i, i+1)`` along ``axis`` whose two pixels are both in ``mask``."""
    n = mask.shape[axis]
    return mask.narrow(axis, 0, n - 1) & mask.narrow(axis, 1, n - 1)


def depth_jumps(
    depth: torch.Tensor, mask: torch.Tensor, edge_ratio: float = 2.0, edge_floor: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of neighbouring pixels that straddle a depth discontinuity (a self-occlusion edge).

    A pair's step ``|Δd|`` is a jump when it exceeds ``edge_ratio`` times the smaller of its two neighbouring steps
    on the same line, plus ``edge_floor`` times the sample's median step over ``mask``'s pairs: a slope continues
    on at least one side, a jump does not. Free of scale and shift (any depth increasing with distance).

    Args:
        depth: ``(B, 1, H, W)`` (log-)depth.
        mask: ``(B, 1, H, W)`` bool, the pixels that count.

    Returns:
        ``(jump_u (B, 1, H, W-1), jump_v (B, 1, H-1, W))`` bool, for the pairs ``(u, u+1)`` and ``(v, v+1)``.
    """
    mask = mask.to(torch.bool)
    du, dv = depth.diff(dim=3).abs(), depth.diff(dim=2).abs()
    mu, mv = _pair_mask(mask, 3), _pair_mask(mask, 2)
    nan = torch.tensor(float("nan"), dtype=depth.dtype, device=depth.device)
    both = torch.cat([torch.where(mu, du, nan).flatten(1), torch.where(mv, dv, nan).flatten(1)], 1)
    median = both.nanmedian(dim=1).values.nan_to_num(0.0).reshape(-1, 1, 1, 1)
    out = []
    for step, axis in ((du, 3), (dv, 2)):
        pad = (1, 1, 0, 0) if axis == 3 else (0, 0, 1, 1)
        padded = F.pad(step, pad, value=float("inf"))
        n = padded.shape[axis]
        neighbour = torch.minimum(padded.narrow(axis, 0, n - 2), padded.narrow(axis, 2, n - 2))
        neighbour = torch.where(torch.isinf(neighbour), step, neighbour)   # a line of two pixels: no neighbour
        out.append(step > edge_ratio * neighbour + edge_floor * median)
    return out[0], out[1]


def _pixels_off_jumps(jump_u: torch.Tensor, jump_v: torch.Tensor) -> torch.Tensor:
    """Pixels none of whose (up to four) pairs is a jump."""
    free_u = ~F.pad(jump_u, (1, 1, 0, 0), value=False)
    free_v = ~F.pad(jump_v, (0, 0, 1, 1), value=False)
    return free_u[..., :, 1:] & free_u[..., :, :-1] & free_v[..., 1:, :] & free_v[..., :-1, :]


def tilt_direction_loss(
    depth: torch.Tensor,
    normals: torch.Tensor,
    mask: torch.Tensor,
    min_gradient: float = 0.25,
    slack: float = 1.0,
    edge_ratio: float = 2.0,
    edge_floor: float = 1.0,
    min_tilt: float = 0.01,
) -> torch.Tensor:
    """Scale-, shift- and focal-free consistency: direction of ``(n_x, n_y)`` vs ``∇depth``.

    ``Σ w · relu(angle(n_xy, ∇d) - atan(slack · |Δ³d| / |∇d|)) / Σ w`` over the masked pixels whose four neighbours
    are masked, none of whose pairs is a depth jump (:func:`depth_jumps`) and whose depth gradient is at least
    ``min_gradient`` times the sample's median ``|∇d|`` there (the depth says the surface tilts; where it does not,
    the direction means nothing). ``∇d`` are central differences; ``Δ³d``, the largest third difference of the
    pixel's pairs, makes the direction's uncertainty. ``w = max(|n_xy|, min_tilt)``, *detached*: a tilted normal's
    direction is surer; the gradient turns ``n_xy`` (at most one radian per radian) and never shortens it (a
    differentiable weight made shortening the tilt lower the loss). A normal with ``|n_xy| < min_tilt`` has no
    direction: it counts 90° (with weight ``min_tilt``, no gradient), so normals facing the camera where the depth
    tilts are no way out.

    Args:
        depth: ``(B, 1, H, W)`` any depth that increases with distance (depth, relative depth,
            log-depth).
        normals: ``(B, 3, H, W)`` normals at the same resolution.
        mask: ``(B, 1, H, W)`` bool.
        min_gradient: pixels whose ``|∇d|`` is below this share of the sample's median are left out.
        slack: how much of the third difference the comparison forgives (0: nothing).
        edge_ratio, edge_floor: :func:`depth_jumps`.
        min_tilt: the ``|n_xy|`` below which a normal has no tilt direction (and the floor of the weights).

    Returns:
        Scalar, the mean angle in radians; 0 when no pixel counts.
    """
    mask = mask.to(torch.bool)
    fixed = depth.detach()
    du, dv, ok = _central_differences(depth, mask)
    ok = (ok & _pixels_off_jumps(*depth_jumps(fixed, mask, edge_ratio, edge_floor)))[:, 0]
    t3u = F.pad(_pair_steps(fixed, 3)[1].abs(), (1, 1, 0, 0))
    t3v = F.pad(_pair_steps(fixed, 2)[1].abs(), (0, 0, 1, 1))
    third = torch.maximum(
        torch.maximum(t3u[..., :, 1:], t3u[..., :, :-1]), torch.maximum(t3v[..., 1:, :], t3v[..., :-1, :])
    )[:, 0]
    grad = torch.cat([du, dv], dim=1)
    grad_norm = grad.norm(dim=1).detach()
    nan = torch.tensor(float("nan"), dtype=depth.dtype, device=depth.device)
    median = torch.where(ok, grad_norm, nan).flatten(1).nanmedian(dim=1).values.nan_to_num(0.0)[:, None, None]
    tilt = normals[:, :2]
    tilt_norm = tilt.norm(dim=1).detach()
    has_tilt = tilt_norm >= min_tilt
    unit = tilt / tilt_norm.clamp_min(min_tilt)[:, None]
    direction = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cross = unit[:, 0] * direction[:, 1] - unit[:, 1] * direction[:, 0]
    angle = torch.atan2(torch.sqrt(cross.square() + 1e-12), (unit * direction).sum(1))
    # a normal (nearly) facing the camera has no tilt direction: 90° from the depth's, a constant
    angle = torch.where(has_tilt, angle, torch.full_like(angle, math.pi / 2))
    margin = torch.atan(slack * third / grad_norm.clamp_min(1e-12))
    use = ok & (grad_norm >= min_gradient * median) & (grad_norm > 1e-12)
    weight = tilt_norm.clamp_min(min_tilt) * use.to(depth.dtype)
    return masked_mean(F.relu(angle - margin), weight)


def log_depth_pair_residuals(
    log_depth: torch.Tensor,
    normals: torch.Tensor,
    camera: torch.Tensor,
    mask: torch.Tensor,
    slack: float = 1.0,
    edge_ratio: float = 2.0,
    edge_floor: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair residuals of the log-depth form (module docstring) and which pairs count.

    For the pairs ``(u, u+1)`` (likewise ``(v, v+1)`` with ``f_y``, ``n_y``): ``relu(|atan(f_x Δℓ) - (θ(u) +
    θ(u+1)) / 2| - slack · f_x |Δ³ℓ| / (1 + (f_x Δℓ)²))`` with ``θ = atan2(n_x, -n·r)`` and the ray
    ``r = ((u - c_x) / f_x, (v - c_y) / f_y, 1)``; for a normal of the surface ``θ = atan(f_x ℓ_u)``.

    Args:
        log_depth: ``(B, 1, H, W)`` natural log of depth (+ any per-sample constant).
        normals: ``(B, 3, H, W)`` unit normals at the same resolution.
        camera: ``(B, 4)`` ``(fx, fy, cx, cy)`` in pixels of this map.
        mask: ``(B, 1, H, W)`` bool, the pixels that count (a pair needs both of its pixels).
        slack: how much of the third difference the comparison forgives (0: nothing).
        edge_ratio, edge_floor: :func:`depth_jumps`.

    Returns:
        ``(residuals, counted)``, both ``(B, H·(W-1) + (H-1)·W)``: the u-pairs' then the v-pairs' residuals in
        radians, and whether each pair counts.
    """
    if log_depth.ndim != 4 or log_depth.shape[1] != 1 or camera.shape != (log_depth.shape[0], 4):
        raise ValueError(
            f"log_depth_pair_residuals: log_depth {tuple(log_depth.shape)} must be (B, 1, H, W) and camera "
            f"{tuple(camera.shape)} (B, 4)"
        )
    _, _, h, w = log_depth.shape
    mask = mask.to(torch.bool)
    cam = camera.to(log_depth.dtype)[:, :, None, None]
    fx, fy, cx, cy = cam[:, 0:1], cam[:, 1:2], cam[:, 2:3], cam[:, 3:4]
    u = torch.arange(w, device=log_depth.device, dtype=log_depth.dtype).view(1, 1, 1, w)
    v = torch.arange(h, device=log_depth.device, dtype=log_depth.dtype).view(1, 1, h, 1)
    facing = -(normals[:, 0:1] * (u - cx) / fx + normals[:, 1:2] * (v - cy) / fy + normals[:, 2:3])
    fixed = log_depth.detach()
    jumps = depth_jumps(fixed, mask, edge_ratio, edge_floor)
    residuals, counted = [], []
    for axis, comp, f, jump in ((3, 0, fx, jumps[0]), (2, 1, fy, jumps[1])):
        theta = torch.atan2(normals[:, comp:comp + 1], facing)
        n = theta.shape[axis]
        mean_theta = 0.5 * (theta.narrow(axis, 0, n - 1) + theta.narrow(axis, 1, n - 1))
        step = log_depth.diff(dim=axis)
        third = _pair_steps(fixed, axis)[1]
        margin = slack * f * third.abs() / (1.0 + (f * step.detach()).square())
        residuals.append(F.relu((torch.atan(f * step) - mean_theta).abs() - margin).flatten(1))
        counted.append((_pair_mask(mask, axis) & ~jump).flatten(1))
    return torch.cat(residuals, 1), torch.cat(counted, 1)


def crop_padding_mask(images: torch.Tensor, map_size: tuple[int, int], min_share: float = 0.5) -> torch.Tensor:
    """Pixels of a ``map_size = (W, H)`` map at least ``min_share`` of whose crop pixels are pure black.

    A top-down crop that reaches past its image gets a black (0, 0, 0) border (``cv2.warpAffine`` with
    ``borderValue=0``); nothing about depth or normals can be read there.

    Args:
        images: ``(B, 3, h, w)`` the crops as uint8 (before normalisation).
        map_size: ``(W, H)`` of the map.
        min_share: share of black crop pixels from which a map pixel counts as padding.

    Returns:
        ``(B, 1, H, W)`` bool.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"crop_padding_mask: images must be (B, 3, h, w), got {tuple(images.shape)}")
    black = (images == 0).all(dim=1, keepdim=True).float()
    w, h = map_size
    return F.interpolate(black, size=(h, w), mode="area") >= min_share


def geo_consistency_loss(
    pred_depth: torch.Tensor,
    pred_normal: torch.Tensor,
    mask: torch.Tensor,
    camera: torch.Tensor | None = None,
    mode: str = "log_depth",
    detach: str | None = "depth",
    slack: float = 1.0,
) -> torch.Tensor:
    """Depth-normal consistency between the depth and normal heads' predictions.

    Args:
        pred_depth: ``(B, 1, H, W)`` depth head output: log-depth up to a constant for
            ``mode="log_depth"``; anything increasing with distance for ``mode="tilt"``.
        pred_normal: ``(B, 3, h, w)`` normal head output; resampled bilinearly to ``(H, W)``
            and normalised when its size differs.
        mask: ``(B, 1, H, W)`` bool, pixels where the loss applies (e.g. body pixels).
        camera: ``(B, 4)`` intrinsics of the depth map's pixels; required for ``log_depth``.
        mode: ``"log_depth"`` — mean tilt-angle residual over the pairs of neighbouring pixels
            (:func:`log_depth_pair_residuals`); ``"tilt"`` — :func:`tilt_direction_loss`.
        detach: ``"depth"``, ``"normal"`` or ``None``: the branch that receives no gradient.
        slack: the forgiven share of the depth's third difference (module docstring).

    Returns:
        Scalar in radians; 0 when the mask is empty.
    """
    if detach not in ("depth", "normal", None):
        raise ValueError(f"geo_consistency_loss: detach must be 'depth', 'normal' or None, got {detach!r}")
    if pred_normal.shape[-2:] != pred_depth.shape[-2:]:
        pred_normal = F.interpolate(pred_normal, size=pred_depth.shape[-2:], mode="bilinear", align_corners=False)
    pred_normal = F.normalize(pred_normal, dim=1, eps=1e-6)
    depth = pred_depth.detach() if detach == "depth" else pred_depth
    normal = pred_normal.detach() if detach == "normal" else pred_normal
    if mode == "log_depth":
        if camera is None:
            raise ValueError("geo_consistency_loss: mode 'log_depth' needs the camera intrinsics; use mode 'tilt'")
        residuals, counted = log_depth_pair_residuals(depth, normal, camera, mask, slack=slack)
        return masked_mean(residuals, counted)
    if mode == "tilt":
        return tilt_direction_loss(depth, normal, mask, slack=slack)
    raise ValueError(f"geo_consistency_loss: unknown mode {mode!r}; use 'log_depth' or 'tilt'")


def geo_region_mask(
    samples: torch.Tensor,
    like: torch.Tensor,
    body_mask: torch.Tensor | None = None,
    has_body_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pixels the depth-normal consistency applies to: the body where a sample's body mask is known, the
    whole map where it is not (or when no body mask is given), nothing on samples left out.

    Args:
        samples: ``(B,)`` bool, the samples the term applies to.
        like: ``(B, 1, H, W)`` a map of the output size (the depth prediction).
        body_mask: ``(B, 1, H, W)`` bool, body pixels at that size; None: the whole map.
        has_body_mask: ``(B,)`` bool, whether ``body_mask`` is known for the sample (required with it).

    Returns:
        ``(B, 1, H, W)`` bool.
    """
    region = torch.ones_like(like, dtype=torch.bool)
    if body_mask is not None:
        if has_body_mask is None:
            raise ValueError("geo_region_mask: body_mask needs has_body_mask (which samples have one)")
        region = torch.where(has_body_mask.bool()[:, None, None, None], body_mask.bool(), region)
    return region & samples[:, None, None, None]


def geo_loss(
    pred_depth: torch.Tensor,
    pred_normal: torch.Tensor,
    region: torch.Tensor,
    mode: str = "log_depth",
    detach: str | None = "depth",
    camera: torch.Tensor | None = None,
    has_camera: torch.Tensor | None = None,
    input_size: tuple[int, int] | None = None,
    depth_target: torch.Tensor | None = None,
    depth_target_mask: torch.Tensor | None = None,
    slack: float = 1.0,
) -> torch.Tensor:
    """Depth-normal consistency of a batch whose samples may or may not come with intrinsics.

    ``mode="tilt"``: :func:`geo_consistency_loss` in its scale-free tilt form on every pixel of ``region``.
    ``mode="log_depth"``: samples with a camera use the log-depth form (their intrinsics carried from crop
    to depth-map pixels, UDP scale), the others fall back to the tilt form; the two means are combined
    weighted by their region's pixel counts, ``(L_cam · n_cam + L_tilt · n_tilt) / (n_cam + n_tilt)``.

    With ``depth_target``, a sample with any valid target pixel takes its depth branch from the target (metres;
    its log for the log-depth form), on the target's valid pixels only: the depth supervision anchors the term.

    Args:
        pred_depth: ``(B, 1, H, W)`` depth head output (log-depth up to a constant for ``log_depth``).
        pred_normal: ``(B, 3, h, w)`` normal head output (resampled to ``(H, W)`` when it differs).
        region: ``(B, 1, H, W)`` bool, pixels the loss applies to (:func:`geo_region_mask`).
        mode: ``"log_depth"`` or ``"tilt"``.
        detach: the branch without gradient, ``"depth"``, ``"normal"`` or None.
        camera: ``(B, 4)`` ``(fx, fy, cx, cy)`` in crop (model input) pixels; required for ``log_depth``.
        has_camera: ``(B,)`` bool, which samples have intrinsics; required for ``log_depth``.
        input_size: crop size ``(w, h)`` in pixels; required for ``log_depth``.
        depth_target: ``(B, 1, H, W)`` rendered depth in metres (0 where there is none), or None.
        depth_target_mask: ``(B, 1, H, W)`` bool, the target's valid pixels (required with it).
        slack: the forgiven share of the depth's third difference (module docstring).

    Returns:
        Scalar in radians (a mean tilt-angle residual); 0 when the region is empty.
    """
    if depth_target is not None:
        if depth_target_mask is None:
            raise ValueError("geo_loss: depth_target needs depth_target_mask (its valid pixels)")
        target_ok = depth_target_mask.bool()
        anchored = target_ok.flatten(1).any(1)[:, None, None, None]
        target = depth_target.float().clamp_min(1e-6)
        target = torch.log(target) if mode == "log_depth" else target
        target = torch.where(target_ok, target, torch.zeros_like(target))
        pred_depth = torch.where(anchored, target, pred_depth)
        region = region & (target_ok | ~anchored)
    if mode == "tilt":
        return geo_consistency_loss(pred_depth, pred_normal, region, mode="tilt", detach=detach, slack=slack)
    if mode != "log_depth":
        raise ValueError(f"geo_loss: unknown mode {mode!r}; use 'log_depth' or 'tilt'")
    if camera is None or has_camera is None or input_size is None:
        raise ValueError("geo_loss: mode 'log_depth' needs camera, has_camera and input_size")
    has_cam = has_camera.bool()
    map_size = (pred_depth.shape[-1], pred_depth.shape[-2])
    camera = camera_to_map(camera.float(), input_size, map_size)
    camera = torch.where(has_cam[:, None], camera, torch.ones_like(camera))
    with_cam = region & has_cam[:, None, None, None]
    without = region & ~has_cam[:, None, None, None]
    n_with, n_without = with_cam.sum(), without.sum()
    loss_cam = geo_consistency_loss(
        pred_depth, pred_normal, with_cam, camera=camera, mode="log_depth", detach=detach, slack=slack
    )
    if not bool(n_without > 0):
        return loss_cam
    loss_tilt = geo_consistency_loss(pred_depth, pred_normal, without, mode="tilt", detach=detach, slack=slack)
    total = (n_with + n_without).clamp_min(1).float()
    return (loss_cam * n_with + loss_tilt * n_without) / total
