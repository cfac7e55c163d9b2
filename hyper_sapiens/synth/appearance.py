"""Appearance: materials, procedural textures, Lambertian lighting and the two domains.

* ``syn``: clean renders -- flat or simply striped clothing, a plain or two-tone mattress, a few
  light skin tones, soft frontal light, no noise; saved as PNG.
* ``real``: a deliberately different look -- patterned blankets (plaid, checks, dots, stripes,
  organic blobs, flowers) with folds, skin tones from light to dark, patterned clothing, an
  oblique coloured light with cast shadows, uneven illumination (gradient, vignetting), white
  balance and gamma shifts, blur, sensor noise and JPEG compression.

Geometry is identical in both domains; only what this module does differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .body import PART_ID, PRIMITIVE_NAMES
from .camera import Camera
from .raytrace import SCENERY, GeometryBuffers, SceneGeometry
from .scenery import ADULT_SKIN, COT, COVER, CUSHION, SLEEVE, SOFA
from .scenery_look import SceneLook, rug_albedo, scenery_albedo
from .textures import _SYN_MATTRESS, _SYN_PALETTE, _SYN_SKIN, Pattern
from .textures import random_colour as _random_colour
from .textures import sample_pattern as _sample_pattern
from .textures import skin_tone_real as _skin_real

DOMAINS = ("syn", "real")

# materials (per-pixel ids before shading)
(M_BLANKET, M_SKIN, M_TOP, M_BOTTOM, M_SOCKS, M_HAIR, M_EYE, M_LIPS, M_DIAPER, M_SCLERA, M_BLANKET2, M_WALL,
 M_PROP, M_FLOOR, M_SCENERY) = range(15)

@dataclass
class Look:
    """Everything the shader needs for one image."""

    domain: str
    skin: np.ndarray
    hair: np.ndarray | None
    hairline: float
    eyes_open: bool
    outfit: str
    top: Pattern
    bottom: Pattern
    socks: np.ndarray | None
    blanket: Pattern
    blanket2: Pattern | None
    blanket_split: tuple[float, float, float]
    light_world: np.ndarray  # unit direction towards the light, world frame
    light_colour: np.ndarray
    ambient: float
    shadow_strength: float
    folds: list
    gain: dict
    post: dict
    scene: SceneLook | None = None  # the scenery's materials (:func:`scenery_look.sample_scene_look`)


OUTFITS = ("sleepsuit", "bodysuit", "two_piece", "diaper")


# Outfit probabilities (OUTFITS order); adults wear pyjamas, a T-shirt and shorts or long clothes, never a diaper.
_OUTFIT_PROBS = {"infant": (0.35, 0.25, 0.25, 0.15), "adult": (0.3, 0.3, 0.4, 0.0)}
# Textures are in metres: an adult's clothes and bed linen have patterns about twice an infant's period.
_PATTERN_SIZE = {"infant": 1.0, "adult": 2.0}


def sample_look(rng: np.random.Generator, domain: str, skin_tone: np.ndarray | None = None,
                population: str = "infant") -> Look:
    """Random materials, light and post-processing for ``domain`` ("syn" or "real") and ``population``."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    if population not in _OUTFIT_PROBS:
        raise ValueError(f"unknown population {population!r}; expected one of {sorted(_OUTFIT_PROBS)}")
    size = _PATTERN_SIZE[population]
    real = domain == "real"
    skin = skin_tone if skin_tone is not None else (
        _skin_real(rng) if real else _SYN_SKIN[rng.integers(len(_SYN_SKIN))])
    hair = None
    if rng.random() < 0.6:
        hair = np.array([0.12, 0.08, 0.05]) * rng.uniform(0.6, 2.5) if real else np.array([0.35, 0.25, 0.18])
        hair = np.clip(hair, 0.0, 0.8)
    outfit = str(rng.choice(OUTFITS, p=_OUTFIT_PROBS[population]))
    if real:
        cloth_kinds = ("plain", "stripes", "dots", "checks", "flowers", "blobs")
        top_base, bottom_base = _random_colour(rng), _random_colour(rng)
        cloth_period = (0.012 * size, 0.04 * size)
        top = _sample_pattern(rng, domain, cloth_kinds, top_base, cloth_period)
        bottom = _sample_pattern(rng, domain, cloth_kinds, bottom_base, cloth_period) if rng.random() < 0.6 else top
        blanket_kinds = ("plaid", "checks", "dots", "stripes", "blobs", "flowers")
        blanket = _sample_pattern(rng, domain, blanket_kinds, _random_colour(rng, val=(0.4, 1.0)),
                                  (0.03 * size, 0.15 * size))
        blanket2 = None
        if rng.random() < 0.45:
            blanket2 = _sample_pattern(rng, domain, blanket_kinds + ("plain",), _random_colour(rng),
                                       (0.03 * size, 0.12 * size))
        tilt = np.radians(rng.uniform(10.0, 55.0))
        temp = rng.uniform(-1.0, 1.0)
        light_colour = np.array([1.0 + 0.08 * temp, 1.0, 1.0 - 0.15 * temp])
        ambient = float(rng.uniform(0.2, 0.45))
        shadow = float(rng.uniform(0.35, 0.7))
        folds = [(rng.normal(), rng.normal(), rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.07)) for _ in range(5)]
        gain = {"grad": float(rng.uniform(0.0, 0.45)), "grad_angle": float(rng.uniform(0, 2 * np.pi)),
                "vignette": float(rng.uniform(0.0, 0.5)), "exposure": float(rng.uniform(0.8, 1.2))}
        post = {"blur": float(rng.uniform(0.0, 1.3)), "noise": float(rng.uniform(1.5, 7.0)),
                "wb": rng.normal(1.0, 0.06, 3), "gamma": float(rng.uniform(0.85, 1.2)),
                "jpeg": int(rng.integers(40, 93))}
    else:
        top_base = _SYN_PALETTE[rng.integers(len(_SYN_PALETTE))]
        bottom_base = _SYN_PALETTE[rng.integers(len(_SYN_PALETTE))]
        top = _sample_pattern(rng, domain, ("plain", "plain", "stripes"), top_base, (0.02 * size, 0.035 * size))
        bottom = Pattern("plain", bottom_base, bottom_base) if rng.random() < 0.5 else top
        mattress = _SYN_MATTRESS[rng.integers(len(_SYN_MATTRESS))]
        blanket = _sample_pattern(rng, domain, ("plain", "plain", "stripes"), mattress, (0.08 * size, 0.15 * size))
        blanket2 = None
        tilt = np.radians(rng.uniform(0.0, 25.0))
        light_colour = np.ones(3)
        ambient = float(rng.uniform(0.35, 0.5))
        shadow = 0.0
        folds = []
        gain = {"grad": 0.0, "grad_angle": 0.0, "vignette": 0.0, "exposure": 1.0}
        post = {"blur": 0.0, "noise": 0.0, "wb": np.ones(3), "gamma": 1.0, "jpeg": None}
    az = rng.uniform(0, 2 * np.pi)
    light = np.array([np.sin(tilt) * np.cos(az), np.sin(tilt) * np.sin(az), np.cos(tilt)])
    socks = None
    if outfit in ("two_piece", "sleepsuit") and rng.random() < 0.5:
        socks = _random_colour(rng) if real else _SYN_PALETTE[rng.integers(len(_SYN_PALETTE))]
    split = (float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(-0.3, 0.3)), 0.0)
    return Look(
        domain=domain, skin=np.asarray(skin, dtype=np.float64), hair=hair, hairline=float(rng.uniform(0.15, 0.5)),
        eyes_open=bool(rng.random() < 0.6), outfit=outfit, top=top, bottom=bottom, socks=socks,
        blanket=blanket, blanket2=blanket2, blanket_split=split, light_world=light, light_colour=light_colour,
        ambient=ambient, shadow_strength=shadow, folds=folds, gain=gain, post=post,
    )


def _part_materials(outfit: str, socks: bool) -> np.ndarray:
    """(P,) material of every part for an outfit (head details are painted separately)."""
    mat = np.full(len(PART_ID), M_SKIN)
    mat[PART_ID["background"]] = M_BLANKET
    top = ["torso"]
    bottom = ["pelvis"]
    if outfit == "sleepsuit":
        top += ["left_upper_arm", "right_upper_arm", "left_forearm", "right_forearm"]
        bottom += ["left_thigh", "right_thigh", "left_shank", "right_shank", "left_foot", "right_foot"]
    elif outfit == "bodysuit":
        top += ["left_upper_arm", "right_upper_arm"]
    elif outfit == "two_piece":
        top += ["left_upper_arm", "right_upper_arm", "left_forearm", "right_forearm"]
        bottom += ["left_thigh", "right_thigh", "left_shank", "right_shank"]
    elif outfit == "diaper":
        top = []
    for p in top:
        mat[PART_ID[p]] = M_TOP
    for p in bottom:
        mat[PART_ID[p]] = M_BOTTOM if outfit != "diaper" else M_DIAPER
    if outfit == "sleepsuit":
        mat[PART_ID["pelvis"]] = M_TOP
        for p in ("left_thigh", "right_thigh", "left_shank", "right_shank", "left_foot", "right_foot"):
            mat[PART_ID[p]] = M_TOP
    if socks:
        mat[PART_ID["left_foot"]] = M_SOCKS
        mat[PART_ID["right_foot"]] = M_SOCKS
    return mat


_HEAD = PRIMITIVE_NAMES.index("head")
_EYE_DIRS = np.array([[0.36, 0.1, 0.93], [-0.36, 0.1, 0.93]])
_EYE_DIRS /= np.linalg.norm(_EYE_DIRS, axis=1, keepdims=True)
_MOUTH_DIR = np.array([0.0, -0.5, 0.86]) / np.linalg.norm([0.0, -0.5, 0.86])


def _head_materials(w: np.ndarray, look: Look) -> np.ndarray:
    """Material ids for head pixels from unit-sphere head coordinates ``w (N, 3)``."""
    mat = np.full(w.shape[0], M_SKIN)
    if look.hair is not None:
        hair = (w[:, 1] > look.hairline + 0.45 * np.clip(w[:, 2], 0.0, None)) | (w[:, 2] < -0.55)
        mat[hair] = M_HAIR
    for e in _EYE_DIRS:
        cos = w @ e
        lateral = np.abs(w[:, 0] - e[0])
        vertical = np.abs(w[:, 1] - e[1])
        if look.eyes_open:
            mat[(cos > np.cos(0.16)) & (vertical < 0.07)] = M_SCLERA
            mat[cos > np.cos(0.075)] = M_EYE
        else:
            mat[(lateral < 0.12) & (np.abs(w[:, 1] - e[1] + 3.0 * (w[:, 0] - e[0]) ** 2) < 0.018) & (cos > 0.9)] = M_EYE
    du = np.abs(w[:, 0])
    dv = w[:, 1] - _MOUTH_DIR[1]
    mouth = (w[:, 2] > 0.6) & ((du / 0.16) ** 2 + (dv / 0.055) ** 2 < 1.0)
    mat[mouth] = M_LIPS
    return mat


def _albedo(buffers: GeometryBuffers, scene: SceneGeometry, look: Look) -> np.ndarray:
    h, w = buffers.depth.shape
    part_mat = _part_materials(look.outfit, look.socks is not None)
    mat = part_mat[buffers.parts]
    mat[buffers.primitive == -2] = -1
    head_px = buffers.primitive == _HEAD
    if head_px.any():
        wdir = buffers.local[head_px] / scene.ell_radii[_HEAD]
        mat[head_px] = _head_materials(wdir, look)
    on_plane = buffers.primitive == -1
    if look.blanket2 is not None:
        ang, off, _ = look.blanket_split
        q = buffers.local[on_plane]
        other = (q[:, 0] * np.cos(ang) + q[:, 1] * np.sin(ang)) > off
        sub = mat[on_plane]
        sub[other] = M_BLANKET2
        mat[on_plane] = sub
    on_wall = buffers.primitive == -3
    mat[on_wall] = M_WALL
    on_prop = buffers.primitive == -4
    mat[on_prop] = M_PROP
    sc = scene.scenery
    if _hard_floor(scene, look):
        mat[on_plane] = M_FLOOR
    on_scenery = buffers.primitive == SCENERY
    mat[on_scenery] = M_SCENERY
    alb = np.zeros((h, w, 3))
    q = buffers.local
    if sc is not None and look.scene is not None:
        if _hard_floor(scene, look) and on_plane.any():
            alb[on_plane] = look.scene.floor.colour(q[on_plane][:, :2])
        if on_scenery.any():
            alb[on_scenery] = scenery_albedo(look.scene, sc.materials[buffers.scenery[on_scenery]], q[on_scenery])
    if on_wall.any():
        # world coordinates on the wall: horizontal distance along it (from x and y) and the height z
        qw = q[on_wall]
        alb[on_wall] = wall_pattern(look).colour(np.stack([qw[:, 0] + qw[:, 1], qw[:, 2]], axis=1))
    if on_prop.any():
        alb[on_prop] = prop_colour(look)
    alb[mat == M_SKIN] = look.skin
    if look.hair is not None:
        alb[mat == M_HAIR] = look.hair
    alb[mat == M_EYE] = np.array([0.08, 0.06, 0.05])
    alb[mat == M_SCLERA] = np.array([0.92, 0.92, 0.9])
    alb[mat == M_LIPS] = np.clip(look.skin * np.array([0.85, 0.55, 0.55]), 0.0, 1.0)
    alb[mat == M_DIAPER] = np.array([0.96, 0.96, 0.97])
    if look.socks is not None:
        alb[mat == M_SOCKS] = look.socks
    for m, pattern in ((M_TOP, look.top), (M_BOTTOM, look.bottom), (M_BLANKET, look.blanket),
                       (M_BLANKET2, look.blanket2)):
        sel = mat == m
        if pattern is not None and sel.any():
            coords = q[sel][:, :2] if m in (M_BLANKET, M_BLANKET2) else q[sel]
            alb[sel] = pattern.colour(coords)
    if sc is not None and sc.rug is not None and look.scene is not None and on_plane.any():
        alb[on_plane] = rug_albedo(look.scene, sc.rug, q[on_plane][:, :2], alb[on_plane])
    return alb


def _hard_floor(scene: SceneGeometry, look: Look) -> bool:
    """The ground is a floor (planks, tiles, carpet) rather than bedding: the floor setting in the real domain."""
    return (scene.scenery is not None and scene.scenery.setting == "floor" and look.scene is not None
            and look.domain == "real")


_CASTERS = (COT, COVER, ADULT_SKIN, SLEEVE)  # scenery that casts a shadow on the ground like the body
_CONTACT = (SOFA, CUSHION, COVER, ADULT_SKIN, SLEEVE)  # scenery that darkens the ground it stands on


def _scenery_mask(buffers: GeometryBuffers, scene: SceneGeometry, materials: tuple[int, ...]) -> np.ndarray:
    """(H, W) pixels of the body and of the scenery of ``materials``."""
    mask = buffers.primitive >= 0
    if scene.scenery is not None and buffers.scenery is not None:
        on = buffers.primitive == SCENERY
        mask = mask.copy()
        mask[on] = np.isin(scene.scenery.materials[buffers.scenery[on]], materials)
    return mask


def prop_colour(look: Look) -> np.ndarray:
    """RGB albedo of furniture props (the rail of ``standing_holding``), derived from ``look`` without random
    draws: white paint when the hairline parameter is below 0.3, else a light or mid wood tone."""
    if look.hairline < 0.3:
        return np.array([0.9, 0.9, 0.88])
    return np.array([0.72, 0.52, 0.32]) * (0.75 + 0.5 * (look.hairline - 0.3) / 0.2)


def wall_pattern(look: Look) -> Pattern:
    """The backdrop wall's paint or wallpaper, derived from ``look`` without random draws (so adding the wall
    changed no other draw): a light tint of the blanket's second colour, plain or, when the hairline parameter
    is above 0.35, vertical wallpaper stripes of 6-18 cm."""
    base = np.clip(0.62 + 0.35 * look.blanket.other, 0.0, 1.0)
    if look.hairline <= 0.35:
        return Pattern("plain", base, base)
    other = np.clip(base * 0.85 + 0.1 * look.top.base, 0.0, 1.0)
    return Pattern("stripes", base, other, period=0.06 + 0.12 * (look.hairline - 0.35) / 0.15, angle=0.0,
                   duty=0.5)


def _fold_shading(q: np.ndarray, folds: list) -> np.ndarray:
    """Soft blanket folds: a multiplicative shading field (N,) from world x, y."""
    acc = np.zeros(q.shape[0])
    for kx, ky, ph, per in folds:
        acc += np.sin((q[:, 0] * kx + q[:, 1] * ky) / per + ph)
    return 1.0 + 0.05 * acc / max(len(folds), 1) ** 0.5


def _cast_shadow(buffers: GeometryBuffers, scene: SceneGeometry, camera: Camera, light_cam: np.ndarray) -> np.ndarray:
    """(H, W) soft shadow of the body (and of cot sides, a blanket over it, an adult's hand) on the mattress by
    splatting their points along the light."""
    h, w = buffers.depth.shape
    body = _scenery_mask(buffers, scene, _CASTERS)
    shadow = np.zeros((h, w), dtype=np.float32)
    if not body.any():
        return shadow
    n = scene.plane_normal
    p = buffers.points[body]
    height = p @ n - scene.plane_offset
    nl = float(light_cam @ n)
    if nl <= 0.05:
        return shadow
    s = p - (height / nl)[:, None] * light_cam[None, :]
    ok = s[:, 2] > 1e-3
    uv = camera.project(s[ok])
    iu = np.floor(uv[:, 0] + 0.5).astype(np.int64)
    iv = np.floor(uv[:, 1] + 0.5).astype(np.int64)
    inside = (iu >= 0) & (iu < w) & (iv >= 0) & (iv < h)
    shadow[iv[inside], iu[inside]] = 1.0
    k = max(3, int(round(min(h, w) * 0.012)) | 1)
    shadow = cv2.morphologyEx(shadow, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    sigma = max(1.0, min(h, w) * 0.012)
    return cv2.GaussianBlur(shadow, (0, 0), sigma)


def _contact_occlusion(buffers: GeometryBuffers, scene: SceneGeometry) -> np.ndarray:
    """(H, W) ambient occlusion of the mattress near the body, a sofa, a blanket or a hand (blurred silhouette)."""
    body = _scenery_mask(buffers, scene, _CONTACT).astype(np.float32)
    h, w = body.shape
    return cv2.GaussianBlur(body, (0, 0), max(1.0, 0.02 * min(h, w)))


def shade(buffers: GeometryBuffers, scene: SceneGeometry, camera: Camera, look: Look,
          rng: np.random.Generator) -> tuple[np.ndarray, int | None]:
    """RGB rendering of ``buffers`` with ``look``: returns (BGR uint8 image (H, W, 3), JPEG quality or None).

    Lambertian: ``albedo * light_colour * (ambient + (1 - ambient) * max(0, n . l) * (1 - shadow))``
    times an illumination gain field, then the domain's camera effects.
    """
    h, w = buffers.depth.shape
    alb = _albedo(buffers, scene, look)
    light_cam = camera.R @ look.light_world
    # normals face the camera; the light direction points from the surface towards the light
    ndl = np.clip(buffers.normal @ light_cam, 0.0, None)
    on_plane = buffers.primitive == -1
    direct = ndl
    if look.shadow_strength > 0:
        sh = _cast_shadow(buffers, scene, camera, light_cam)
        occ = _contact_occlusion(buffers, scene)
        att = 1.0 - look.shadow_strength * np.clip(sh, 0.0, 1.0)
        direct = np.where(on_plane, direct * att, direct)
        amb = np.where(on_plane, look.ambient * (1.0 - 0.35 * occ), look.ambient)
    else:
        amb = np.full((h, w), look.ambient)
    light = amb + (1.0 - look.ambient) * direct
    if look.folds and not _hard_floor(scene, look):
        fold = np.ones((h, w))
        fold[on_plane] = _fold_shading(buffers.local[on_plane], look.folds)
        light = light * fold
    img = alb * light[..., None] * look.light_colour
    if look.domain == "real":
        img = _gain_field(img, look.gain)
    img = np.clip(img, 0.0, 1.0)
    return _camera_effects(img, look, rng)


def _gain_field(img: np.ndarray, gain: dict) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    xn = (x - (w - 1) / 2) / max(w, h) * 2
    yn = (y - (h - 1) / 2) / max(w, h) * 2
    a = gain["grad_angle"]
    g = 1.0 + gain["grad"] * 0.5 * (xn * np.cos(a) + yn * np.sin(a))
    g *= 1.0 - gain["vignette"] * 0.5 * (xn**2 + yn**2)
    return img * (g * gain["exposure"])[..., None]


def _camera_effects(img: np.ndarray, look: Look, rng: np.random.Generator) -> tuple[np.ndarray, int | None]:
    """Domain camera pipeline on an RGB float image in [0, 1] -> (BGR uint8, JPEG quality or None)."""
    post = look.post
    if look.domain == "real":
        img = np.clip(img * post["wb"], 0.0, 1.0) ** post["gamma"]
        if post["blur"] > 0.05:
            sigma = post["blur"] * img.shape[0] / 256.0
            img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(sigma, 0.1)).astype(np.float64)
        noise = rng.normal(0.0, post["noise"] / 255.0, img.shape)
        noise += rng.normal(0.0, post["noise"] / 255.0 * 0.6, img.shape[:2])[..., None]
        img = img + noise
    out = np.clip(np.floor(img * 255.0 + 0.5), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[..., ::-1]), post["jpeg"]
