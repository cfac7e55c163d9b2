"""Scenery around the infant (issue 24, item 3): a bed or a floor, a rug, a sofa, the sides of a cot, a blanket over
the legs, an adult's arm and hand, and the adult's hands that hold up a held infant.

:func:`sample_scenery` draws one scene around a posed body for a camera, in world coordinates (metres, the ground
``z = 0``, ``+z`` up), from its own generator, so the scene never changes the body, camera or appearance draws.
Everything but the rug is geometry: ellipsoids, capsules and boxes (and the blanket's height field,
:mod:`hyper_sapiens.synth.drape`) that the ray caster renders into the depth, normal and part maps with part id 0,
like the floor. Scenery in front of a keypoint therefore makes it ``v = 1`` through the usual visibility rule. The
rug is a region of the ground plane (its albedo only). Geometry does not depend on the appearance domain; the
domains paint it differently (:mod:`hyper_sapiens.synth.scenery_look`).

* **setting**: ``bed`` (a mattress: the ground keeps the blanket patterns) or ``floor`` (planks, tiles or carpet
  in the real domain).
* **rug** (floor): a rectangle or an oval on the ground near the infant, so it lies on it or partly beside it.
* **sofa** (floor, a camera that sees the horizon): seat, back and arms of boxes and capsules behind the infant,
  in front of the wall, which moves back behind it.
* **cot** (bed, a camera at most 62 degrees below horizontal): vertical slats, a top rail and corner posts of a
  cot's side between the camera and the infant, and its far side behind the infant.
* **blanket** (supine or side-lying): a draped blanket over the legs (:func:`drape.drape_over_legs`).
* **hand** (not with a cot): an adult's hand, palm down on the ground or reaching just above it, fingers towards
  the infant but clear of it (a vertical plane separates them), the forearm and a sleeve or the upper arm
  rising out of the image. It is a distractor, not a labelled person.
* **holding** (every held infant, :data:`postures.HELD`, whatever the rates): the two hands and arms of the adult
  who holds it up under the armpits (:mod:`hyper_sapiens.synth.holding`), on the far side of the infant from the
  camera. Part of the posture rather than decoration, so no rate turns it off; a held infant gets no sofa, cot or
  distractor hand (the adult's arms would pass through them), and the wall moves back behind the arms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .body import PosedBody
from .camera import Camera
from .drape import Drape, drape_over_legs
from .holding import AdultHands, place_holding_hands
from .postures import HELD, LYING
from .raytrace import WALL_GAP, backdrop_wall

SETTINGS = ("bed", "floor")
ELEMENTS = ("rug", "sofa", "cot", "blanket", "hand", "holding")
MATERIALS = ("sofa", "cushion", "cot", "cover", "adult_skin", "sleeve")
SOFA, CUSHION, COT, COVER, ADULT_SKIN, SLEEVE = range(len(MATERIALS))
COT_MAX_DOWN = 62.0
"""Degrees: a cot's sides are drawn only for cameras looking at most this far below horizontal."""
HAND_CLEARANCE = (0.02, 0.08)
"""Metres: the gap between the adult's fingertips and the plane that bounds the infant (and its blanket)."""


@dataclass(frozen=True)
class SceneryRates:
    """How often each scenery element appears (probabilities; each conditional on where it can appear).

    Attributes:
        floor_lying, floor_upright: the ``floor`` setting instead of ``bed`` for lying / other postures.
        rug: a rug, given the floor setting.
        sofa: a sofa behind the infant, given the floor setting and a camera that sees the horizon.
        cot: the sides of a cot, given the bed setting and a camera at most :data:`COT_MAX_DOWN` below horizontal
            (never with the rail of ``standing_holding``).
        blanket: a blanket over the legs, given a supine or side-lying infant.
        hand: an adult's arm and hand, given no cot (dropped when none of 6 placements fits, about four times in
            ten with the default cameras).
    A held infant's sofa, cot and hand rates do not apply (it gets none) and its holding hands have no rate.
    """

    floor_lying: float = 0.45
    floor_upright: float = 0.7
    rug: float = 0.5
    sofa: float = 0.6
    cot: float = 0.6
    blanket: float = 0.45
    hand: float = 0.35

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"scenery rate {name} must be in [0, 1], got {value}")


DEFAULT_SCENERY = SceneryRates()
"""The presets' and :func:`render_sample`'s scenery for infants."""
NO_SCENERY = SceneryRates(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
"""No scenery: the bed setting, nothing else (the renders of before item 3, but for the random draws)."""


@dataclass(frozen=True)
class Rug:
    """A rug on the ground (world frame): ``centre`` (2,) x, y and ``half`` (2,) half length and width (metres),
    ``angle`` (radians) of its long side from world x, ``oval`` or rectangular, ``fringe`` length (metres) at the
    short ends of a rectangle."""

    centre: np.ndarray
    half: np.ndarray
    angle: float
    oval: bool
    fringe: float

    def coords(self, xy: np.ndarray) -> np.ndarray:
        """World ground points ``(N, 2)`` in the rug's frame ``(N, 2)``: along its length, across it (metres)."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        d = xy - self.centre
        return np.stack([d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c], axis=1)


def _empty(shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape)


@dataclass(frozen=True)
class Scenery:
    """One scene's scenery in one frame (world or camera), metres.

    Primitives: ellipsoids (``ell_centre (E, 3)``, ``ell_rot (E, 3, 3)`` axes as columns, ``ell_radii (E, 3)``),
    capsules (``cap_a``, ``cap_b (C, 3)``, ``cap_radius (C,)``), boxes (``box_centre (B, 3)``, ``box_rot (B, 3, 3)``
    axes as columns, ``box_half (B, 3)`` half sizes) and the blanket ``drape``; each has a material
    (:data:`MATERIALS`) in ``ell_mat``, ``cap_mat``, ``box_mat`` (the blanket: ``COVER``). Primitive index ``j``
    (:attr:`materials`) counts ellipsoids, then capsules, then boxes, then the blanket. ``rug`` stays in world
    coordinates (it is painted on the ground); ``wall_gap`` is the backdrop wall's distance behind the infant.
    """

    setting: str = "bed"
    elements: tuple[str, ...] = ()
    ell_centre: np.ndarray = field(default_factory=lambda: _empty((0, 3)))
    ell_rot: np.ndarray = field(default_factory=lambda: _empty((0, 3, 3)))
    ell_radii: np.ndarray = field(default_factory=lambda: _empty((0, 3)))
    ell_mat: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cap_a: np.ndarray = field(default_factory=lambda: _empty((0, 3)))
    cap_b: np.ndarray = field(default_factory=lambda: _empty((0, 3)))
    cap_radius: np.ndarray = field(default_factory=lambda: _empty((0,)))
    cap_mat: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    box_centre: np.ndarray = field(default_factory=lambda: _empty((0, 3)))
    box_rot: np.ndarray = field(default_factory=lambda: _empty((0, 3, 3)))
    box_half: np.ndarray = field(default_factory=lambda: _empty((0, 3)))
    box_mat: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    drape: Drape | None = None
    rug: Rug | None = None
    wall_gap: float = WALL_GAP

    @property
    def name(self) -> str:
        """``setting`` and the elements joined by ``+``, e.g. ``floor+rug+sofa`` (the image entries' ``scene``)."""
        return "+".join((self.setting, *self.elements))

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """Numbers of ellipsoids, capsules, boxes and blankets (0 or 1)."""
        return (len(self.ell_mat), len(self.cap_mat), len(self.box_mat), int(self.drape is not None))

    @property
    def materials(self) -> np.ndarray:
        """(P,) material of every primitive, in primitive-index order."""
        cover = [COVER] if self.drape is not None else []
        return np.concatenate([self.ell_mat, self.cap_mat, self.box_mat, np.asarray(cover, np.int64)]).astype(np.int64)

    def transformed(self, rot: np.ndarray, trans: np.ndarray) -> Scenery:
        """The same scenery after ``x -> rot @ x + trans`` (e.g. :meth:`in_camera`); the rug stays in world."""

        def pts(x: np.ndarray) -> np.ndarray:
            return x @ rot.T + trans

        return Scenery(
            setting=self.setting, elements=self.elements,
            ell_centre=pts(self.ell_centre), ell_rot=np.einsum("ij,njk->nik", rot, self.ell_rot),
            ell_radii=self.ell_radii, ell_mat=self.ell_mat,
            cap_a=pts(self.cap_a), cap_b=pts(self.cap_b), cap_radius=self.cap_radius, cap_mat=self.cap_mat,
            box_centre=pts(self.box_centre), box_rot=np.einsum("ij,njk->nik", rot, self.box_rot),
            box_half=self.box_half, box_mat=self.box_mat,
            drape=None if self.drape is None else self.drape.transformed(rot, trans),
            rug=self.rug, wall_gap=self.wall_gap)

    def in_camera(self, camera: Camera) -> Scenery:
        """This (world-frame) scenery in ``camera``'s frame."""
        return self.transformed(camera.R, camera.t)


class _Builder:
    """Collects primitives (world frame) for a :class:`Scenery`."""

    def __init__(self) -> None:
        self.ells: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
        self.caps: list[tuple[np.ndarray, np.ndarray, float, int]] = []
        self.boxes: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []

    def ellipsoid(self, centre, axes, radii, mat: int) -> None:
        self.ells.append((np.asarray(centre, float), np.asarray(axes, float), np.asarray(radii, float), mat))

    def capsule(self, a, b, radius: float, mat: int) -> None:
        self.caps.append((np.asarray(a, float), np.asarray(b, float), float(radius), mat))

    def box(self, centre, axes, half, mat: int) -> None:
        self.boxes.append((np.asarray(centre, float), np.asarray(axes, float), np.asarray(half, float), mat))

    def mark(self) -> tuple[int, int, int]:
        return len(self.ells), len(self.caps), len(self.boxes)

    def build(self, **kwargs) -> Scenery:
        ell = {"ell_centre": np.array([e[0] for e in self.ells]).reshape(-1, 3),
               "ell_rot": np.array([e[1] for e in self.ells]).reshape(-1, 3, 3),
               "ell_radii": np.array([e[2] for e in self.ells]).reshape(-1, 3),
               "ell_mat": np.array([e[3] for e in self.ells], np.int64)}
        cap = {"cap_a": np.array([c[0] for c in self.caps]).reshape(-1, 3),
               "cap_b": np.array([c[1] for c in self.caps]).reshape(-1, 3),
               "cap_radius": np.array([c[2] for c in self.caps], np.float64),
               "cap_mat": np.array([c[3] for c in self.caps], np.int64)}
        box = {"box_centre": np.array([b[0] for b in self.boxes]).reshape(-1, 3),
               "box_rot": np.array([b[1] for b in self.boxes]).reshape(-1, 3, 3),
               "box_half": np.array([b[2] for b in self.boxes]).reshape(-1, 3),
               "box_mat": np.array([b[3] for b in self.boxes], np.int64)}
        return Scenery(**ell, **cap, **box, **kwargs)


def _horizontal(v: np.ndarray) -> np.ndarray:
    h = np.array([v[0], v[1], 0.0])
    n = np.linalg.norm(h)
    return h / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])


def _turn(v: np.ndarray, angle: float) -> np.ndarray:
    """Horizontal vector ``v`` turned by ``angle`` radians about world z."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])


def body_extent(body: PosedBody, direction: np.ndarray, frame: int = 0) -> tuple[float, float]:
    """Lowest and highest value of ``x . direction`` over every primitive of ``body`` (metres)."""
    ext = np.linalg.norm(body.ell_radii * np.einsum("nji,j->ni", body.ell_rot[frame], direction), axis=1)
    c = body.ell_centre[frame] @ direction
    ends = np.stack([body.cap_a[frame] @ direction, body.cap_b[frame] @ direction])
    lo = min(float((c - ext).min()), float((ends.min(axis=0) - body.cap_radii).min()))
    hi = max(float((c + ext).max()), float((ends.max(axis=0) + body.cap_radii).max()))
    return lo, hi


def camera_eye(camera: Camera) -> np.ndarray:
    """(3,) the camera centre in world coordinates."""
    return -camera.R.T @ camera.t


def down_angle(camera: Camera) -> float:
    """Degrees the optical axis points below horizontal."""
    return float(np.degrees(np.arcsin(np.clip(-camera.R[2, 2], -1.0, 1.0))))


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    s = np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + s * ab)))


def _sample_rug(rng: np.random.Generator, body: PosedBody, frame: int) -> Rug:
    """A rug 0.9-2 m long, 0.6-1.4 m wide, centred within a rug's half size of the infant's hips."""
    half = np.array([rng.uniform(0.45, 1.0), 0.0])
    half[1] = min(half[0], rng.uniform(0.3, 0.7))
    hips = body.joints[frame, 0, :2]
    offset = rng.uniform(-0.5, 0.5, 2) * half
    angle = float(rng.uniform(0.0, np.pi))
    c, s = np.cos(angle), np.sin(angle)
    centre = hips + np.array([c * offset[0] - s * offset[1], s * offset[0] + c * offset[1]])
    oval = bool(rng.random() < 0.3)
    fringe = 0.0 if oval or rng.random() < 0.4 else float(rng.uniform(0.03, 0.07))
    return Rug(centre=centre, half=half, angle=angle, oval=oval, fringe=fringe)


def _add_cot(b: _Builder, rng: np.random.Generator, body: PosedBody, camera: Camera, frame: int) -> float | None:
    """The near and far sides of a cot across the camera's view (slats, top rail, corner posts); returns how far
    behind the infant the far side reaches (metres), or None when nothing fits. The near side is left out whole
    when any of its bars would pass within 15 cm of the camera or behind it."""
    eye = camera_eye(camera)
    ahead = _horizontal(camera.R[2])
    across = np.array([-ahead[1], ahead[0], 0.0])
    near, far = body_extent(body, ahead, frame)
    lat_lo, lat_hi = body_extent(body, across, frame)
    radius, spacing = rng.uniform(0.011, 0.017), rng.uniform(0.06, 0.085)
    top, rail = rng.uniform(0.45, 0.7), rng.uniform(0.018, 0.028)
    half_len = max(0.5 * (lat_hi - lat_lo) + rng.uniform(0.15, 0.4), 0.45)
    centre_lat = 0.5 * (lat_lo + lat_hi) + rng.uniform(-0.1, 0.1)
    gaps = (rng.uniform(0.04, 0.15), rng.uniform(0.05, 0.25))
    yaws = rng.normal(0.0, np.radians(10.0), 2)
    behind = None
    up = np.array([0.0, 0.0, 1.0])
    for side, (gap, yaw) in enumerate(zip(gaps, yaws)):
        along = _turn(across, float(yaw))
        offsets = np.arange(-half_len, half_len + 1e-9, spacing)
        level = near - gap if side == 0 else far + gap
        base = level * ahead + centre_lat * across
        slats = base + offsets[:, None] * along
        lat = slats @ across
        inside = (lat > lat_lo - 0.05) & (lat < lat_hi + 0.05)
        depth = slats @ ahead
        if inside.any():  # keep the whole side clear of the infant where it passes in front of (behind) it
            shift = depth[inside].max() - level if side == 0 else depth[inside].min() - level
            if (side == 0 and shift > 0) or (side == 1 and shift < 0):
                base = base - shift * ahead
                slats = slats - shift * ahead
        ends = [base - half_len * along, base + half_len * along]
        segments = [(s + np.array([0.0, 0.0, -0.02]), s + top * up, radius) for s in slats]
        segments.append((ends[0] + top * up, ends[1] + top * up, rail))
        segments += [(e + np.array([0.0, 0.0, -0.02]), e + (top + 0.04) * up, 1.3 * rail) for e in ends]
        clear = [_segment_distance(eye, a, c) > r + 0.15 and (side == 1 or (a - eye) @ ahead > 0.12)
                 for a, c, r in segments]
        if side == 0 and not all(clear):
            continue  # the camera is at or inside the near side: leave it out rather than cut bars or the rail
        for (a, c, r), ok in zip(segments, clear):
            if ok:
                b.capsule(a, c, r, COT)
        if side == 1:
            corners = np.array([e @ ahead for e in ends])
            behind = float(corners.max() + 1.3 * rail - far)
    return behind


def _add_sofa(b: _Builder, rng: np.random.Generator, body: PosedBody, camera: Camera, frame: int) -> float:
    """A sofa behind the infant, facing the camera; returns the wall's new distance behind the infant (metres)."""
    ahead = _horizontal(camera.R[2])
    across = np.array([-ahead[1], ahead[0], 0.0])
    _, far = body_extent(body, ahead, frame)
    lat_lo, lat_hi = body_extent(body, across, frame)
    width, depth = rng.uniform(1.5, 2.2), rng.uniform(0.8, 0.95)
    seat, cushion = rng.uniform(0.38, 0.46), rng.uniform(0.1, 0.15)
    back, arm_w, arm_h = rng.uniform(0.75, 0.92), rng.uniform(0.12, 0.24), rng.uniform(0.55, 0.68)
    back_t, lift, n = rng.uniform(0.14, 0.2), rng.uniform(0.03, 0.1), int(rng.integers(2, 4))
    lean = np.radians(rng.uniform(6.0, 14.0))
    yaw = float(rng.normal(0.0, np.radians(12.0)))
    gap = rng.uniform(0.1, 0.45)
    a_dir, b_dir, z = _turn(across, yaw), _turn(ahead, yaw), np.array([0.0, 0.0, 1.0])
    front = (far + gap) * ahead + (0.5 * (lat_lo + lat_hi) + rng.uniform(-0.4, 0.4)) * across
    edge = front + np.linspace(-0.5 * width, 0.5 * width, 41)[:, None] * a_dir
    lat = edge @ across
    inside = (lat > lat_lo - 0.1) & (lat < lat_hi + 0.1)
    if inside.any():
        front = front + max(0.0, far + 0.08 - float((edge[inside] @ ahead).min())) * ahead
    axes = np.stack([a_dir, b_dir, z], axis=1)  # columns: the sofa's across, depth and up directions

    def at(a: float, d: float, h: float) -> np.ndarray:
        return front + a * a_dir + d * b_dir + h * z

    def block(a0, a1, d0, d1, h0, h1, mat, rot=axes, pivot=None) -> None:
        centre = at(0.5 * (a0 + a1), 0.5 * (d0 + d1), 0.5 * (h0 + h1)) if pivot is None else pivot
        b.box(centre, rot, [0.5 * (a1 - a0), 0.5 * (d1 - d0), 0.5 * (h1 - h0)], mat)

    inner = 0.5 * width - arm_w
    frame_d = 0.14
    for side in (-1.0, 1.0):
        for d in (0.06, depth - 0.06):
            b.capsule(at(side * (0.5 * width - 0.06), d, 0.0), at(side * (0.5 * width - 0.06), d, lift), 0.02, SOFA)
        a0, a1 = sorted((side * inner, side * 0.5 * width))
        block(a0, a1, 0.0, depth, lift, arm_h - 0.5 * arm_w, SOFA)
        mid = side * (0.5 * width - 0.5 * arm_w)
        b.capsule(at(mid, 0.5 * arm_w, arm_h - 0.5 * arm_w), at(mid, depth - 0.5 * arm_w, arm_h - 0.5 * arm_w),
                  0.5 * arm_w, SOFA)
    block(-inner, inner, 0.02, depth - 0.02, lift, seat - cushion, SOFA)
    block(-inner, inner, depth - frame_d, depth, lift, back - 0.07, SOFA)
    b.capsule(at(-inner + 0.07, depth - 0.07, back - 0.07), at(inner - 0.07, depth - 0.07, back - 0.07), 0.07, SOFA)
    each = (2 * inner - (n - 1) * 0.012) / n
    tilted = np.stack([a_dir, np.cos(lean) * b_dir - np.sin(lean) * z, np.cos(lean) * z + np.sin(lean) * b_dir], 1)
    length = back - seat - 0.03
    for k in range(n):
        a0 = -inner + k * (each + 0.012)
        a1 = a0 + each
        block(a0, a1, 0.5 * cushion, depth - frame_d - 0.5 * back_t, seat - cushion, seat, CUSHION)
        b.capsule(at(a0 + 0.5 * cushion, 0.5 * cushion, seat - 0.5 * cushion),
                  at(a1 - 0.5 * cushion, 0.5 * cushion, seat - 0.5 * cushion), 0.5 * cushion, CUSHION)
        pivot = at(0.5 * (a0 + a1), depth - frame_d - back_t, seat)
        centre = pivot + 0.5 * back_t * tilted[:, 1] + 0.5 * length * tilted[:, 2]
        block(a0, a1, 0.0, back_t, 0.0, length, CUSHION, rot=tilted, pivot=centre)
        top = pivot + 0.5 * back_t * tilted[:, 1] + length * tilted[:, 2]
        b.capsule(top + (0.5 * back_t - (a1 - a0) * 0.5) * a_dir, top + ((a1 - a0) * 0.5 - 0.5 * back_t) * a_dir,
                  0.5 * back_t, CUSHION)
    corners = [at(sa * 0.5 * width, depth, h) for sa in (-1, 1) for h in (0.0, back)]
    return float(max(c @ ahead for c in corners) - far + rng.uniform(0.02, 0.25))


def _add_hand(b: _Builder, rng: np.random.Generator, body: PosedBody, camera: Camera, frame: int,
              keep_out: np.ndarray, towards_camera: bool) -> bool:
    """An adult's hand and arm near the infant (see the module docstring); ``keep_out (N, 3)`` are extra points
    (blanket corners, rail ends) the hand stays clear of like the body. Up to 6 placements are tried; returns
    whether one fitted (its palm inside the image at least 0.6 times as deep as the infant's pelvis, the arm leaving
    it, clear of the camera)."""
    eye = camera_eye(camera)
    ahead = _horizontal(camera.R[2])
    scale = rng.uniform(0.9, 1.12)
    sleeve = rng.random() < 0.6
    thumb_side = 1.0 if rng.random() < 0.5 else -1.0
    up = np.array([0.0, 0.0, 1.0])
    for _ in range(6):
        phi = rng.uniform(0.0, 2 * np.pi)
        yaw = rng.uniform(-np.radians(35.0), np.radians(35.0))
        out = np.array([np.cos(phi), np.sin(phi), 0.0])
        resting = rng.random() < 0.6
        lift = 0.0 if resting else rng.uniform(0.05, 0.25)
        elevation = np.radians(rng.uniform(8.0, 30.0) if resting else rng.uniform(15.0, 45.0))
        clearance = rng.uniform(*HAND_CLEARANCE)
        lateral = rng.uniform(-0.12, 0.12)
        if (towards_camera and out @ ahead > 0.0) or out @ ahead > 0.2:
            continue  # an arm reaching in from behind would pass through the sofa or the wall
        side = np.array([-out[1], out[0], 0.0])
        _, reach = body_extent(body, out, frame)
        if keep_out.size:
            reach = max(reach, float((keep_out @ out).max()))
        fingers = -_turn(out, float(yaw))  # where the fingers point: towards the infant
        left = np.cross(up, fingers)
        finger_r = 0.0085 * scale
        margin = clearance + 0.05 * scale * abs(np.sin(yaw)) + finger_r
        centre_lat = float(body.joints[frame, 0] @ side) + lateral
        tip = (reach + margin) * out + centre_lat * side + (finger_r + lift) * up
        palm_len, palm_w, palm_t = 0.1 * scale, 0.085 * scale, 0.028 * scale
        knuckles = tip - 0.075 * scale * fingers + (0.5 * palm_t - finger_r) * up
        palm = knuckles - 0.5 * palm_len * fingers
        wrist = palm - 0.5 * palm_len * fingers
        arm = -fingers * np.cos(elevation) + up * np.sin(elevation)
        elbow = wrist + 0.27 * scale * arm
        end = wrist + 1.6 * arm
        if not _arm_fits(camera, eye, palm, [(wrist, elbow, 0.03 * scale), (elbow, end, 0.045 * scale)],
                         0.6 * float(camera.to_camera(body.joints[frame, 0])[2])):
            continue
        b.ellipsoid(palm, np.stack([fingers, left, up], 1), [0.5 * palm_len, 0.5 * palm_w, 0.5 * palm_t], ADULT_SKIN)
        for off, length, spread in ((-0.03, 0.06, -0.12), (-0.01, 0.074, -0.04), (0.01, 0.078, 0.04),
                                    (0.03, 0.065, 0.12)):
            start = knuckles + off * scale * thumb_side * left
            direction = _turn(fingers, spread * thumb_side) - (0.2 if resting else 0.05) * up
            direction /= np.linalg.norm(direction)
            b.capsule(start, start + length * scale * direction, finger_r * (0.9 if abs(off) > 0.02 else 1.0),
                      ADULT_SKIN)
        base = palm - thumb_side * 0.4 * palm_w * left - 0.2 * palm_len * fingers
        thumb = np.cos(0.7) * fingers - thumb_side * np.sin(0.7) * left
        b.capsule(base, base + 0.06 * scale * thumb, 0.0105 * scale, ADULT_SKIN)
        b.capsule(wrist, elbow, 0.03 * scale, ADULT_SKIN)
        if sleeve:
            b.capsule(wrist + rng.uniform(0.06, 0.2) * arm, end, 0.045 * scale, SLEEVE)
        else:
            b.capsule(elbow, end, 0.042 * scale, ADULT_SKIN)
        return True
    return False


def _add_holding(b: _Builder, hands: AdultHands) -> None:
    """The adult's holding hands (:mod:`holding`) as scenery primitives: skin, and sleeve fabric where they wear
    one."""
    for centre, axes, radii in zip(hands.ell_centre, hands.ell_axes, hands.ell_radii):
        b.ellipsoid(centre, axes, radii, ADULT_SKIN)
    for a, c, radius, sleeve in zip(hands.cap_a, hands.cap_b, hands.cap_radius, hands.cap_sleeve):
        b.capsule(a, c, float(radius), SLEEVE if sleeve else ADULT_SKIN)


def _behind(hands: AdultHands, body: PosedBody, camera: Camera, frame: int) -> float:
    """Metres the adult's arms reach behind the infant's farthest point, seen horizontally from ``camera``."""
    ahead = _horizontal(camera.R[2])
    _, far = body_extent(body, ahead, frame)
    reach = max(float((hands.cap_a @ ahead).max()), float((hands.cap_b @ ahead).max()))
    return reach + float(hands.cap_radius.max()) - far


def _arm_fits(camera: Camera, eye: np.ndarray, palm: np.ndarray, segments: list, min_depth: float) -> bool:
    """The palm is in the image (5 % margin) at least ``min_depth`` metres deep (so it does not loom over the
    infant), the arm's far end outside the image or behind the camera, and every segment at least 12 cm (plus its
    radius) from the camera centre."""
    p = camera.to_camera(palm)
    if p[2] < max(0.1, min_depth):
        return False
    uv = camera.project(p)
    mx, my = 0.05 * camera.width, 0.05 * camera.height
    if not (mx <= uv[0] <= camera.width - mx and my <= uv[1] <= camera.height - my):
        return False
    far = camera.to_camera(segments[-1][1])
    if far[2] > 0.05 and camera.in_image(camera.project(far)):
        return False
    return all(_segment_distance(eye, a, c) > r + 0.12 for a, c, r in segments)


def sample_scenery(rng: np.random.Generator, body: PosedBody, camera: Camera, posture: str,
                   rates: SceneryRates = DEFAULT_SCENERY, props: np.ndarray | None = None,
                   frame: int = 0, holding: dict[int, AdultHands] | None = None) -> Scenery:
    """Random scenery around frame ``frame`` of a posed ``body`` (world frame) seen by ``camera``.

    Args:
        rng: the scene's own generator (draws in a fixed order for a given body and camera).
        body, camera: the infant and the camera of the image.
        posture: its fine posture (:data:`postures.POSTURE_DETAILS`): the blanket is for supine and side-lying
            infants, the floor setting has its own rate for lying and other postures, no cot with a rail; a held
            infant (:data:`postures.HELD`) gets the adult's holding hands and no sofa, cot or other hand.
        rates: how often each element appears (:class:`SceneryRates`).
        props: ``(Q, 2, 3)`` capsule end points of furniture already there (the rail of ``standing_holding``).
        holding: a held infant's hands already built for an adult behind it and in front of it (``{-1: ..., 1:
            ...}``, :func:`sample.pose_held_infant`); without them they are drawn here
            (:func:`holding.place_holding_hands`).
    Returns:
        A world-frame :class:`Scenery`.
    """
    lying = posture in LYING
    held = posture in HELD
    u = rng.random(6)
    setting = "floor" if u[0] < (rates.floor_lying if lying else rates.floor_upright) else "bed"
    builder = _Builder()
    elements: list[str] = []
    wall_gap = WALL_GAP
    sees_horizon = backdrop_wall(body, camera, frame) is not None
    rug = None
    if setting == "floor" and u[1] < rates.rug:
        rug = _sample_rug(rng, body, frame)
        elements.append("rug")
    if setting == "floor" and sees_horizon and not held and u[2] < rates.sofa:
        wall_gap = max(wall_gap, _add_sofa(builder, rng, body, camera, frame))
        elements.append("sofa")
    if (setting == "bed" and props is None and not held and down_angle(camera) <= COT_MAX_DOWN
            and u[3] < rates.cot):
        mark = builder.mark()
        behind = _add_cot(builder, rng, body, camera, frame)
        if builder.mark() != mark:
            elements.append("cot")
            if behind is not None and sees_horizon:
                wall_gap = max(wall_gap, behind + 0.1)
    drape = None
    if posture in ("supine", "side_left", "side_right") and u[4] < rates.blanket:
        drape = drape_over_legs(body, rng, frame)
        box = drape.local(camera_eye(camera))
        if np.all(box >= 0) and np.all(box <= np.array(drape.extent) + 0.02):
            drape = None  # the camera would sit under the blanket
        else:
            elements.append("blanket")
    if "cot" not in elements and not held and u[5] < rates.hand:
        keep = [drape.corners()] if drape is not None else []
        if props is not None:
            keep.append(np.asarray(props, dtype=np.float64).reshape(-1, 3))
        keep_out = np.concatenate(keep) if keep else np.zeros((0, 3))
        if _add_hand(builder, rng, body, camera, frame, keep_out, "sofa" in elements):
            elements.append("hand")
    if held:
        hands = place_holding_hands(rng, body, camera, frame, ready=holding)
        _add_holding(builder, hands)
        elements.append("holding")
        if sees_horizon:
            wall_gap = max(wall_gap, _behind(hands, body, camera, frame) + 0.15)
    return builder.build(setting=setting, elements=tuple(elements), drape=drape, rug=rug, wall_gap=wall_gap)
