"""Render one synthetic infant image in memory, with exact labels.

:func:`render_sample` is the low-level API the data set writer uses; tests and benchmarks can
call it directly::

    from hyper_sapiens.synth import render_sample
    s = render_sample(0, domain="real", image_size=(256, 256))
    s["image"]            # (H, W, 3) uint8 BGR (for "real": exactly what the saved JPEG decodes to)
    s["depth"]            # (H, W) float32 z-depth in metres (mattress included), 0 = invalid
    s["normal"]           # (H, W, 3) float32 unit normals, camera frame (x right, y down, z forward)
    s["parts"]            # (H, W) uint8 part ids (0 = background, see PART_NAMES)
    s["keypoints_coco"]   # (17, 3) float32 x, y (pixels), v (0 outside, 1 occluded, 2 visible)
    s["keypoints_25"]     # (25, 3) the same for the MINI-RGBD joints
    s["joints3d_coco"]    # (17, 3) float32 camera-frame metres; s["joints3d_25"] (25, 3)
    s["bbox_xywh"]        # tight box of the infant's silhouette [x, y, w, h] (pixels, pycocotools convention;
                          # scenery in front of the infant does not shrink it)
    s["camera"]           # {"fx", "fy", "cx", "cy"} pixels

Keypoints keep their true projected coordinates in memory even when ``v == 0``; the COCO files
write ``0, 0, 0`` for those, as COCO does.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .appearance import Look, sample_look, shade
from .body import (
    NUM_DOFS,
    OWN_PARTS_COCO,
    OWN_PARTS_SMIL,
    SURFACE_COCO,
    SURFACE_SMIL,
    SURFACE_TOL,
    InfantShape,
    PosedBody,
    keypoint_depth_bounds,
    sample_shape,
)
from .camera import VIEWS, Camera, sample_camera, sample_view
from .holding import NOMINAL_GRIP, AdultHands, holding_hands, sample_grip
from .motion import pose_body, sample_pose, sample_posture, template_angles
from .postures import (
    CONTACT_TOL,
    HELD,
    LYING,
    RAIL_RADIUS,
    SPECS,
    balance_margin,
    check_posture,
    holding_rail,
    posture_kind,
    sample_hold,
    support_gaps,
    syrip_posture,
)
from .raytrace import cast_rays, render_geometry, scene_in_camera
from .scenery import DEFAULT_SCENERY, Scenery, SceneryRates, sample_scenery
from .scenery_look import sample_scene_look

SeedLike = int | np.random.Generator | np.random.SeedSequence


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A numpy Generator from an int, a SeedSequence or a Generator (returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.Generator(np.random.PCG64(seed))


def sample_heading(rng: np.random.Generator) -> float:
    """Infant heading (radians): mostly head towards the image top, sometimes any direction."""
    if rng.random() < 0.7:
        return float(rng.normal(0.0, np.radians(25.0)))
    return float(rng.uniform(-np.pi, np.pi))


def face_direction(body: PosedBody, frame: int = 0) -> float | None:
    """Azimuth (radians about world z) the face points to: the head's anterior axis projected on the ground;
    None when it points (nearly) straight up or down, as for a supine or flat prone infant."""
    z_axis = body.rotations[frame, 15, :, 2]
    if np.hypot(z_axis[0], z_axis[1]) < 0.35:
        return None
    return float(np.arctan2(z_axis[1], z_axis[0]))


def body_bounds(body: PosedBody, frames: slice | None = None) -> tuple[np.ndarray, float]:
    """Centre (3,) and radius (metres) of a sphere around every primitive of ``body`` (all frames)."""
    sl = frames if frames is not None else slice(None)
    ell_c = body.ell_centre[sl].reshape(-1, 3)
    ell_r = np.broadcast_to(body.ell_radii.max(axis=1), body.ell_centre[sl].shape[:2]).reshape(-1)
    cap_p = np.concatenate([body.cap_a[sl], body.cap_b[sl]], axis=1).reshape(-1, 3)
    cap_r = np.broadcast_to(np.concatenate([body.cap_radii, body.cap_radii]),
                            (body.cap_a[sl].shape[0], 2 * body.cap_radii.shape[0])).reshape(-1)
    pts = np.concatenate([ell_c, cap_p])
    rad = np.concatenate([ell_r, cap_r])
    lo = (pts - rad[:, None]).min(axis=0)
    hi = (pts + rad[:, None]).max(axis=0)
    centre = 0.5 * (lo + hi)
    radius = float(np.max(np.linalg.norm(pts - centre, axis=1) + rad))
    return centre, radius


def visibility_from_buffers(uv: np.ndarray, z: np.ndarray, depth: np.ndarray, parts: np.ndarray,
                            camera: Camera, own: np.ndarray, bounds: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """COCO visibility (K,) of keypoints at pixels ``uv (K, 2)`` with camera depth ``z (K,)`` (metres).

    0: outside the image (or behind the camera). 2: the rendered surface at the keypoint's pixel
    (rounded to the nearest pixel centre) belongs to one of the keypoint's own parts, lies at most
    ``bounds`` metres in front of it, and -- for surface points such as eyes -- at most
    ``SURFACE_TOL`` behind it. 1: otherwise (occluded).
    """
    inside = camera.in_image(uv) & (z > 0)
    iu = np.clip(np.floor(uv[:, 0] + 0.5), 0, camera.width - 1).astype(np.int64)
    iv = np.clip(np.floor(uv[:, 1] + 0.5), 0, camera.height - 1).astype(np.int64)
    zs = depth[iv, iu]
    ps = parts[iv, iu].astype(np.int64)
    return _visibility_rule(inside, z, zs, ps, own, bounds, surface)


def _visibility_rule(inside, z, zs, ps, own, bounds, surface) -> np.ndarray:
    k = np.arange(own.shape[0])
    k = np.broadcast_to(k, ps.shape)
    ok = own[k, ps] & (zs > 0) & (zs >= z - bounds) & np.where(surface, zs <= z + SURFACE_TOL, True)
    return np.where(inside, np.where(ok, 2, 1), 0).astype(np.int64)


def sequence_keypoints(body: PosedBody, camera: Camera, shape: InfantShape) -> dict[str, np.ndarray]:
    """Project a world-space body sequence and ray-cast each keypoint for its visibility.

    Returns ``coco_uv (T, 17, 2)``, ``coco_vis (T, 17)``, ``coco_3d (T, 17, 3)``, ``smil_uv (T, 25, 2)``,
    ``smil_vis (T, 25)``, ``smil_3d (T, 25, 3)`` (3D in camera coordinates, metres). The visibility
    rule is the one of :func:`visibility_from_buffers`, applied to the ray through the keypoint.
    """
    t = body.num_frames
    out: dict[str, np.ndarray] = {}
    r = camera.R
    ell_c = camera.to_camera(body.ell_centre)
    ell_r = np.einsum("ij,tnjk->tnik", r, body.ell_rot)
    cap_a = camera.to_camera(body.cap_a)
    cap_b = camera.to_camera(body.cap_b)
    normal = r @ np.array([0.0, 0.0, 1.0])
    offset = float(normal @ camera.t)
    for name, pts, own, surface in (("coco", body.coco17(), OWN_PARTS_COCO, SURFACE_COCO),
                                    ("smil", body.joints, OWN_PARTS_SMIL, SURFACE_SMIL)):
        p = camera.to_camera(pts)
        uv = camera.project(p)
        rays = p / p[..., 2:3]
        zs, ps = cast_rays(rays, ell_c[:, None], ell_r[:, None], body.ell_radii, cap_a[:, None], cap_b[:, None],
                           body.cap_radii, normal, np.full(rays.shape[:-1], offset))
        zs = np.where(np.isfinite(zs), zs, 0.0)
        bounds = keypoint_depth_bounds(shape, own, surface)
        vis = _visibility_rule(camera.in_image(uv) & (p[..., 2] > 0), p[..., 2], zs, ps, own, bounds, surface)
        out[f"{name}_uv"], out[f"{name}_vis"], out[f"{name}_3d"] = uv, vis, p
        assert vis.shape == (t, pts.shape[1])
    return out


def silhouette_box(parts: np.ndarray) -> tuple[list[float], int]:
    """Tight box ``[x, y, w, h]`` of the non-zero pixels (pycocotools ``toBbox`` convention) and their count."""
    ys, xs = np.nonzero(parts)
    if xs.size == 0:
        return [0.0, 0.0, 0.0, 0.0], 0
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)], int(xs.size)


def encode_image(image: np.ndarray, jpeg_quality: int | None) -> tuple[bytes, str]:
    """PNG (lossless) when ``jpeg_quality`` is None, else JPEG at that quality; returns (bytes, extension)."""
    if jpeg_quality is None:
        ok, buf = cv2.imencode(".png", image)
        ext = ".png"
    else:
        ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)])
        ext = ".jpg"
    if not ok:
        raise RuntimeError(f"cv2 could not encode an image of shape {image.shape} as {ext}")
    return buf.tobytes(), ext


def render_body(body: PosedBody, shape: InfantShape, camera: Camera, look: Look, rng: np.random.Generator,
                frame: int = 0, props: np.ndarray | None = None, scenery: Scenery | None = None) -> dict[str, Any]:
    """Render frame ``frame`` of a posed world-space body through ``camera`` with appearance ``look``; ``props``
    ``(Q, 2, 3)`` are world end points of furniture capsules of radius :data:`postures.RAIL_RADIUS` and
    ``scenery`` a world-frame :class:`scenery.Scenery` (both part id 0: they hide keypoints like the background
    does; ``look.scene`` paints the scenery)."""
    scene = scene_in_camera(body, camera, frame, props, RAIL_RADIUS, scenery)
    buffers = render_geometry(scene, camera)
    bgr, quality = shade(buffers, scene, camera, look, rng)
    encoded, ext = encode_image(bgr, quality)
    if quality is not None:  # return exactly what the saved JPEG decodes to
        bgr = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
    result: dict[str, Any] = {
        "image": bgr,
        "depth": buffers.depth.astype(np.float32),
        "normal": buffers.normal.astype(np.float32),
        "parts": buffers.parts,
        "camera": camera.intrinsics(),
        "encoded": encoded,
        "ext": ext,
    }
    for key, pts, own, surface in (("coco", body.coco17()[frame], OWN_PARTS_COCO, SURFACE_COCO),
                                   ("25", body.joints[frame], OWN_PARTS_SMIL, SURFACE_SMIL)):
        p = camera.to_camera(pts)
        uv = camera.project(p)
        vis = visibility_from_buffers(uv, p[:, 2], buffers.depth, buffers.parts, camera, own,
                                      keypoint_depth_bounds(shape, own, surface), surface)
        kp = np.concatenate([uv, vis[:, None]], axis=1).astype(np.float32)
        result[f"keypoints_{key}"] = kp
        result[f"joints3d_{key}"] = p.astype(np.float32)
    # the box and area of the infant's own silhouette: scenery in front of it hides keypoints (v = 1) but does not
    # shrink the box (a blanket over the legs keeps the ankles inside it)
    body = buffers.parts if buffers.silhouette is None else buffers.silhouette
    result["bbox_xywh"], result["area"] = silhouette_box(body)
    return result


def pose_infant(rng: np.random.Generator, shape: InfantShape, posture: str, heading: float,
                angles: np.ndarray | None = None, population: str = "infant",
                tries: int = 12) -> tuple[PosedBody, np.ndarray]:
    """A random static pose of ``posture`` placed in the world: ``(body (1 frame), angles (NUM_DOFS,))``.

    Lying postures: one draw, as before. The others (:data:`postures.SPECS`) draw up to ``tries`` poses and keep
    the first whose support groups all touch the ground (:func:`postures.support_gaps` at most
    :data:`postures.CONTACT_TOL`) and, for free sitting and standing, whose centre of mass lies above the base of
    support (:func:`postures.balance_margin` >= 0), else the posture's template pose (which does both). Held
    postures (:data:`postures.HELD`): :func:`pose_held_infant`. Given ``angles`` are used as they are.
    """
    check_posture(posture)
    if posture in HELD:
        body, a, _ = pose_held_infant(rng, shape, posture, heading, angles, tries)
        return body, a
    fixed = angles is not None
    for attempt in range(1 if (fixed or posture not in SPECS) else tries + 1):
        last = attempt == tries and posture in SPECS and not fixed
        a = np.asarray(angles if fixed else (template_angles(posture) if last else
                                             sample_pose(rng, posture, population)), dtype=np.float64)
        if a.shape != (NUM_DOFS,):
            raise ValueError(f"angles must have shape ({NUM_DOFS},), got {a.shape}")
        jitter = rng.normal(0.0, np.radians(4.0), 3)
        body = pose_body(shape, a[None], posture, heading, jitter)
        if posture not in SPECS or fixed or last:
            break
        if support_gaps(body, posture).max() <= CONTACT_TOL and (
                not SPECS[posture].balance or balance_margin(body, posture) >= 0.0):
            break
    return body, a


def pose_held_infant(rng: np.random.Generator, shape: InfantShape, posture: str, heading: float,
                     angles: np.ndarray | None = None,
                     tries: int = 12) -> tuple[PosedBody, np.ndarray, dict[int, AdultHands]]:
    """A random static pose of a held posture (:data:`postures.HELD`) with the adult's hands round it:
    ``(body (1 frame), angles (NUM_DOFS,), hands)``, ``hands[adult]`` the hands of an adult behind the infant
    (``adult = -1``) and in front of it (``+1``), :func:`holding.holding_hands` (the camera, drawn later, decides
    which the image shows: :func:`holding.place_holding_hands`).

    Each of up to ``tries`` draws takes a pose, how it is held (:func:`postures.sample_hold`: height and lean) and a
    grip (:func:`holding.sample_grip`) and is kept when the hands fit from both sides; else the template pose with
    :data:`holding.NOMINAL_GRIP` (which fits). Given ``angles`` are used as they are, with the nominal grip (their
    hands may not fit).
    """
    fixed = angles is not None
    for attempt in range(1 if fixed else tries + 1):
        sure = fixed or attempt == tries  # no more draws: take it as it comes
        a = np.asarray(angles if fixed else (template_angles(posture) if sure else sample_pose(rng, posture)),
                       dtype=np.float64)
        if a.shape != (NUM_DOFS,):
            raise ValueError(f"angles must have shape ({NUM_DOFS},), got {a.shape}")
        jitter = rng.normal(0.0, np.radians(4.0), 3)
        hold = sample_hold(rng)
        grip = NOMINAL_GRIP if sure else sample_grip(rng)
        body = pose_body(shape, a[None], posture, heading, jitter, hold=hold)
        hands: dict[int, AdultHands] = {}
        for adult in (-1, 1):
            hands[adult] = holding_hands(body, adult, grip, lazy=not sure)  # lazy: complete when it fits
            if not hands[adult].fits and not sure:
                break
        if sure or (len(hands) == 2 and all(h.fits for h in hands.values())):
            break
    return body, a, hands


def render_sample(seed_or_rng: SeedLike, domain: str = "syn", image_size: tuple[int, int] = (256, 256), *,
                  shape: InfantShape | None = None, skin_tone: np.ndarray | None = None,
                  posture: str | None = None, angles: np.ndarray | None = None, heading: float | None = None,
                  camera: Camera | None = None, population: str = "infant", view: str | None = None,
                  scenery: SceneryRates | None = None) -> dict[str, Any]:
    """Render one random infant image with exact labels (see the module docstring for the keys).

    Args:
        seed_or_rng: int seed, ``SeedSequence`` or ``Generator``; fixes everything not given.
        domain: "syn" (clean) or "real" (real-looking appearance); geometry is the same.
        image_size: (width, height) in pixels.
        shape, skin_tone: the subject (default: a random one).
        posture: a fine posture name (:data:`hyper_sapiens.synth.postures.POSTURE_DETAILS`: "supine", "prone",
            "side_left", "side_right", "prone_forearms", "crawling", "sitting_tripod", "standing_free", ...);
            default: random among the lying ones, mostly supine (the presets pass their own mix).
        angles: (NUM_DOFS,) joint angles in radians (default: a random pose; for the non-lying postures one whose
            support points touch the ground).
        heading: radians about world z; 0 puts the head towards the image top (default: random).
        camera: a fixed :class:`Camera` (default: random, seen from ``view``).
        population: "infant" (default) or "adult": body proportions, pose distribution and clothing
            (ignored for what ``shape`` and ``angles`` already fix). Adults lie (supine, prone, side) only.
        view: one of :data:`hyper_sapiens.synth.camera.VIEWS` for the random camera (default: "above" for the
            lying postures, as before; drawn from ``VIEW_MIX["held"]`` for held infants and ``VIEW_MIX["upright"]``
            for the others).
        scenery: how often each scenery element appears around an infant (:class:`scenery.SceneryRates`; default
            :data:`scenery.DEFAULT_SCENERY`; :data:`scenery.NO_SCENERY` for none). The scene has its own random
            stream, so the rates change nothing else in the image. Adults get no scenery (and no extra draws).
    Also returns ``posture`` (SyRIP's name: Supine, Prone, Sitting, Standing), ``posture_detail`` (the fine
    name), ``view``, ``domain``, ``area`` (silhouette pixels), ``encoded``/``ext`` (the PNG or JPEG bytes the
    data set writer saves) and ``scene`` (the setting and scenery elements, e.g. ``"floor+rug+sofa"``; ``None``
    for adults).
    """
    rng = as_generator(seed_or_rng)
    width, height = int(image_size[0]), int(image_size[1])
    holding = None
    if view is not None and view not in VIEWS:
        raise ValueError(f"unknown camera view {view!r}; expected one of {VIEWS}")
    shape = shape if shape is not None else sample_shape(rng, population)
    posture = check_posture(posture) if posture is not None else sample_posture(rng, population)
    if posture not in LYING and shape.population != "infant":
        raise ValueError(f"posture {posture!r} is for infants; adults have {LYING}")
    if posture in LYING:  # the original draws, in the original order
        angles = np.asarray(angles if angles is not None else sample_pose(rng, posture, population),
                            dtype=np.float64)
        if angles.shape != (NUM_DOFS,):
            raise ValueError(f"angles must have shape ({NUM_DOFS},), got {angles.shape}")
        heading = heading if heading is not None else sample_heading(rng)
        jitter = rng.normal(0.0, np.radians(4.0), 3)
        body = pose_body(shape, angles[None], posture, heading, jitter)
    else:
        heading = heading if heading is not None else float(rng.uniform(-np.pi, np.pi))
        if posture in HELD:
            body, angles, holding = pose_held_infant(rng, shape, posture, heading, angles)
        else:
            body, angles = pose_infant(rng, shape, posture, heading, angles, population)
    if camera is None:
        view = view if view is not None else ("above" if posture in LYING else sample_view(rng, posture_kind(posture)))
        centre, radius = body_bounds(body)
        camera = sample_camera(rng, width, height, centre, radius, domain, view,
                               None if posture in LYING else face_direction(body))
    props = holding_rail(body) if posture == "standing_holding" else None
    scene = None
    if shape.population == "infant":  # the scene's own stream: one draw here, one for its look below
        scene_rng = np.random.Generator(np.random.PCG64(int(rng.integers(1 << 62))))
        scene = sample_scenery(scene_rng, body, camera, posture, DEFAULT_SCENERY if scenery is None else scenery,
                               props, holding=holding)
    look = sample_look(rng, domain, skin_tone, population=shape.population)
    if scene is not None:
        look.scene = sample_scene_look(np.random.Generator(np.random.PCG64(int(rng.integers(1 << 62)))), domain)
    result = render_body(body, shape, camera, look, rng, props=props, scenery=scene)
    result.update(domain=domain, posture=syrip_posture(posture), posture_detail=posture, view=view,
                  heading=float(heading), population=shape.population, scene=None if scene is None else scene.name)
    return result
