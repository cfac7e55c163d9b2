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

The training objective's ``geo`` term is :func:`geo_loss` over the pixels of :func:`geo_region_mask`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.loader import camera_to_map
from .masking import masked_mean
from .normal import angle_between


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


def tilt_direction_loss(
    depth: torch.Tensor, normals: torch.Tensor, mask: torch.Tensor, min_tilt: float = 0.05
) -> torch.Tensor:
    """Scale-, shift- and focal-free consistency: direction of ``(n_x, n_y)`` vs ``∇depth``.

    ``mean(w·(1 - cos(n_xy, ∇d)))`` where ``w = |n_xy|`` (fronto-parallel pixels carry no tilt
    direction and weigh nothing), over masked pixels whose depth gradient and tilt are not
    negligible.

    Args:
        depth: ``(B, 1, H, W)`` any depth that increases with distance (depth, relative depth,
            log-depth).
        normals: ``(B, 3, H, W)`` normals at the same resolution.
        mask: ``(B, 1, H, W)`` bool.
    """
    du, dv, ok = _central_differences(depth, mask)
    grad = torch.cat([du, dv], dim=1)
    tilt = normals[:, :2]
    tilt_norm = tilt.norm(dim=1)
    grad_norm = grad.norm(dim=1)
    cos = (tilt * grad).sum(1) / (tilt_norm * grad_norm).clamp_min(1e-8)
    weight = tilt_norm * (ok[:, 0] & (tilt_norm > min_tilt) & (grad_norm > 1e-6)).to(depth.dtype)
    return masked_mean(1.0 - cos, weight)


def geo_consistency_loss(
    pred_depth: torch.Tensor,
    pred_normal: torch.Tensor,
    mask: torch.Tensor,
    camera: torch.Tensor | None = None,
    mode: str = "log_depth",
    detach: str | None = "depth",
) -> torch.Tensor:
    """Depth-normal consistency between the depth and normal heads' predictions.

    Args:
        pred_depth: ``(B, 1, H, W)`` depth head output: log-depth up to a constant for
            ``mode="log_depth"``; anything increasing with distance for ``mode="tilt"``.
        pred_normal: ``(B, 3, h, w)`` normal head output; resampled bilinearly to ``(H, W)``
            and normalised when its size differs.
        mask: ``(B, 1, H, W)`` bool, pixels where the loss applies (e.g. body pixels).
        camera: ``(B, 4)`` intrinsics of the depth map's pixels; required for ``log_depth``.
        mode: ``"log_depth"`` — mean angle between the predicted normals and the normals of the
            predicted log-depth; ``"tilt"`` — ``tilt_direction_loss``.
        detach: ``"depth"``, ``"normal"`` or ``None``: the branch that receives no gradient.

    Returns:
        Scalar; 0 when the mask is empty.
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
        from_depth, ok = normals_from_log_depth(depth, camera, mask)
        return masked_mean(angle_between(from_depth, normal, dim=1), ok[:, 0])
    if mode == "tilt":
        return tilt_direction_loss(depth, normal, mask)
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
) -> torch.Tensor:
    """Depth-normal consistency of a batch whose samples may or may not come with intrinsics.

    ``mode="tilt"``: :func:`geo_consistency_loss` in its scale-free tilt form on every pixel of ``region``.
    ``mode="log_depth"``: samples with a camera use the log-depth form (their intrinsics carried from crop
    to depth-map pixels, UDP scale), the others fall back to the tilt form; the two means are combined
    weighted by their pixel counts, ``(L_cam · n_cam + L_tilt · n_tilt) / (n_cam + n_tilt)``.

    Args:
        pred_depth: ``(B, 1, H, W)`` depth head output (log-depth up to a constant for ``log_depth``).
        pred_normal: ``(B, 3, h, w)`` normal head output (resampled to ``(H, W)`` when it differs).
        region: ``(B, 1, H, W)`` bool, pixels the loss applies to (:func:`geo_region_mask`).
        mode: ``"log_depth"`` or ``"tilt"``.
        detach: the branch without gradient, ``"depth"``, ``"normal"`` or None.
        camera: ``(B, 4)`` ``(fx, fy, cx, cy)`` in crop (model input) pixels; required for ``log_depth``.
        has_camera: ``(B,)`` bool, which samples have intrinsics; required for ``log_depth``.
        input_size: crop size ``(w, h)`` in pixels; required for ``log_depth``.

    Returns:
        Scalar (mean angle in radians for the log-depth form, mean ``|n_xy|``-weighted ``1 - cos`` for the
        tilt form); 0 when the region is empty.
    """
    if mode == "tilt":
        return geo_consistency_loss(pred_depth, pred_normal, region, mode="tilt", detach=detach)
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
    loss_cam = geo_consistency_loss(pred_depth, pred_normal, with_cam, camera=camera, mode="log_depth", detach=detach)
    if not bool(n_without > 0):
        return loss_cam
    loss_tilt = geo_consistency_loss(pred_depth, pred_normal, without, mode="tilt", detach=detach)
    total = (n_with + n_without).clamp_min(1).float()
    return (loss_cam * n_with + loss_tilt * n_without) / total
