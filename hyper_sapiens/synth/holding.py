"""An adult's two hands holding an infant up under the armpits (posture ``held_upright``, issue 24).

Each hand grips the side of the infant's chest below the armpit: the palm (two flat ellipsoids, heel and front,
so that it bends round the chest) lies on the side, the four fingers (two capsules each) wrap round the chest away
from the adult, the thumb (two capsules) wraps the other way, towards the adult. The forearm leaves the wrist
towards the adult, outwards and downwards; the upper arm rises from the elbow towards the adult's shoulder and on
out of the image, bare or in a sleeve. The adult stands on the far side of the infant from the camera
(:func:`adult_side`), so the arms never come between them.

The hand follows the torso's surface: sections of the torso (chest, abdomen, pelvis and trunk primitives) in planes
through the chest's axis (:func:`torso_sections`) give the curve each finger, the palm and the thumb lie on; every
element is then pushed out along its surface normal until neither it presses into the infant (any primitive, arms
and legs included) nor the infant into it: their sampled surface points keep :data:`CLEARANCE` apart
(:func:`_push_out`, all of a hand's elements at once; between the samples the surfaces touch or press in by a
millimetre or two, soft skin on soft skin). A grip fits
(:attr:`AdultHands.fits`) when the palm stays within :data:`PALM_SLACK` of where it would lie on the torso alone
(an infant's arm hanging down over the chest's side leaves no room for it), fingers and thumb within
:data:`FINGER_SLACK`, and the arms pass clear of the infant and above the ground.

World frame (metres, ground ``z = 0``, ``+z`` up); the hands are returned as primitives for
:class:`hyper_sapiens.synth.scenery.Scenery` (part id 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import CAPSULES, ELLIPSOIDS, PosedBody
from .camera import Camera
from .raytrace import dot3, intersect_capsule, intersect_ellipsoid

TORSO_ELLIPSOIDS = ("chest", "abdomen", "pelvis")
TORSO_CAPSULES = ("trunk",)
CLEARANCE = 0.0005
"""Metres: how far the sampled surface points of an adult element stay outside the infant's primitives, and the
infant's outside the element, when it is placed."""
PALM_SLACK = 0.008
"""Metres: the furthest the palm may be pushed off the torso by the infant's arms for a grip to fit."""
FINGER_SLACK = 0.02
"""Metres: the same for fingers and thumb (a finger may rest on the infant's arm)."""
_ELL = {name: i for i, (name, _, _) in enumerate(ELLIPSOIDS)}
_CAP = {name: i for i, (name, _, _, _) in enumerate(CAPSULES)}
_CHEST_JOINT = 9
_SHOULDERS = {1: 16, -1: 17}  # side (+1 the infant's left, -1 its right) -> shoulder joint
_UPPER_ARMS = {1: "left_upper_arm", -1: "right_upper_arm"}
_THETAS = np.radians(np.arange(-150.0, 150.1, 3.0))  # section angles from the chest's side
_FAR = 0.4  # metres: where section rays start, outside any infant torso
_FINGERS = ((0.026, 0.074, 6.0), (0.009, 0.078, 2.0), (-0.009, 0.072, -2.0), (-0.026, 0.06, -6.0))
"""Index to little finger: offset across the palm from its middle line, length (metres, for ``Grip.scale`` 1) and
fan (degrees added to the hand's tilt)."""


def _fibonacci_sphere(n: int) -> np.ndarray:
    """``(n, 3)`` unit vectors spread evenly over the sphere."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5.0**0.5) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


_SPHERE = _fibonacci_sphere(64)
_SPHERE_SMALL = _fibonacci_sphere(32)


@dataclass(frozen=True)
class Grip:
    """How an adult holds the infant (the random part of :func:`holding_hands`; :func:`sample_grip`).

    Attributes:
        scale: size of the adult's hand and arm (1: palm 10 cm long and 8.5 cm wide, fingers 6-7.8 cm).
        tilt: degrees the hand's long axis rises from the chest's cross-section towards the fingertips.
        shift: metres along the torso's surface the palm's centre sits from the chest's side towards the adult.
        drop: metres the palm sits lower than just below the armpit.
        forearm: weights (towards the adult, outwards, downwards) of the forearm's direction from the wrist.
        upper_arm: weights (towards the adult, outwards, upwards) of the upper arm's direction from the elbow.
        sleeve: metres from the wrist where a sleeve starts; ``None``: a bare arm.
    """

    scale: float = 1.0
    tilt: float = 10.0
    shift: float = 0.045
    drop: float = 0.0
    forearm: tuple[float, float, float] = (0.7, 0.55, 0.35)
    upper_arm: tuple[float, float, float] = (0.8, 0.12, 0.6)
    sleeve: float | None = 0.12


NOMINAL_GRIP = Grip()
"""The grip of a held infant's template pose (the fallback of :func:`hyper_sapiens.synth.sample.pose_held_infant`)
and the last resort of :func:`place_holding_hands`."""


def sample_grip(rng: np.random.Generator) -> Grip:
    """A random :class:`Grip` (draws in a fixed order)."""
    scale = float(rng.uniform(0.9, 1.1))
    tilt = float(rng.uniform(0.0, 25.0))
    shift = float(rng.uniform(0.035, 0.06))
    drop = float(rng.uniform(0.0, 0.015))
    forearm = (float(rng.uniform(0.5, 0.9)), float(rng.uniform(0.35, 0.75)), float(rng.uniform(0.15, 0.6)))
    upper_arm = (float(rng.uniform(0.6, 1.0)), float(rng.uniform(-0.05, 0.25)), float(rng.uniform(0.4, 0.8)))
    sleeve = float(rng.uniform(0.06, 0.2)) if rng.random() < 0.6 else None
    return Grip(scale, tilt, shift, drop, forearm, upper_arm, sleeve)


@dataclass(frozen=True)
class AdultHands:
    """The adult's hands and arms (world frame, metres): ellipsoids (``ell_centre (E, 3)``, ``ell_axes (E, 3, 3)``
    axes as columns, ``ell_radii (E, 3)``, all skin) and capsules (``cap_a``, ``cap_b (C, 3)``, ``cap_radius (C,)``,
    ``cap_sleeve (C,)``: True for sleeve fabric, else skin), the infant's left side's hand first, each hand with
    the same numbers of them; ``palms (2, 3)`` the centres of the two palms' front ellipsoids; ``fits``: every
    element found room (see the module docstring)."""

    ell_centre: np.ndarray
    ell_axes: np.ndarray
    ell_radii: np.ndarray
    cap_a: np.ndarray
    cap_b: np.ndarray
    cap_radius: np.ndarray
    cap_sleeve: np.ndarray
    palms: np.ndarray
    fits: bool


@dataclass(frozen=True)
class _Infant:
    """One frame of the infant's primitives and a cloud of points on their surfaces (world, metres)."""

    ell_centre: np.ndarray  # (E, 3)
    ell_rot: np.ndarray     # (E, 3, 3)
    ell_radii: np.ndarray   # (E, 3)
    cap_a: np.ndarray       # (C, 3)
    cap_b: np.ndarray       # (C, 3)
    cap_radii: np.ndarray   # (C,)
    surface: np.ndarray     # (N, 3)

    @staticmethod
    def of(body: PosedBody, frame: int) -> _Infant:
        ec, er, rad = body.ell_centre[frame], body.ell_rot[frame], body.ell_radii
        a, b, cr = body.cap_a[frame], body.cap_b[frame], body.cap_radii
        pts = [ellipsoid_surface(ec, er, rad).reshape(-1, 3),
               capsule_surface(a, b, cr, np.linspace(0.0, 1.0, 7), _SPHERE_SMALL).reshape(-1, 3)]
        return _Infant(ec, er, rad, a, b, cr, np.concatenate(pts))

    def near(self, centre: np.ndarray, reach: float) -> _Infant:
        """The primitives and surface points that come within ``reach`` metres of ``centre`` (3,)."""
        ell = np.linalg.norm(self.ell_centre - centre, axis=1) < reach + self.ell_radii.max(axis=1)
        ab = self.cap_b - self.cap_a
        s = np.clip(dot3(centre - self.cap_a, ab) / np.maximum(dot3(ab, ab), 1e-18), 0.0, 1.0)
        cap = np.linalg.norm(centre - (self.cap_a + s[:, None] * ab), axis=1) < reach + self.cap_radii
        pts = np.linalg.norm(self.surface - centre, axis=1) < reach
        return _Infant(self.ell_centre[ell], self.ell_rot[ell], self.ell_radii[ell], self.cap_a[cap],
                       self.cap_b[cap], self.cap_radii[cap], self.surface[pts])


def ellipsoid_surface(centre: np.ndarray, axes: np.ndarray, radii: np.ndarray,
                      sphere: np.ndarray = _SPHERE) -> np.ndarray:
    """``(E, S, 3)`` points on ellipsoids ``centre (E, 3)``, ``axes (E, 3, 3)`` (columns), ``radii (E, 3)``: the
    unit vectors ``sphere (S, 3)`` (default 64 spread evenly) stretched onto each."""
    return centre[:, None] + np.einsum("eij,ekj->eki", axes, sphere[None] * radii[:, None])


def capsule_surface(a: np.ndarray, b: np.ndarray, radius: np.ndarray, along: np.ndarray,
                    sphere: np.ndarray = _SPHERE_SMALL) -> np.ndarray:
    """``(C, L * S, 3)`` points on (and just inside) capsules ``a``, ``b (C, 3)``, ``radius (C,)``: spheres of the
    capsule's radius (the unit vectors ``sphere (S, 3)``) round the points at fractions ``along (L,)`` of its
    axis."""
    axis = a[:, None] + along[None, :, None] * (b - a)[:, None]                  # (C, L, 3)
    pts = axis[:, :, None] + radius[:, None, None, None] * sphere[None, None]    # (C, L, S, 3)
    return pts.reshape(a.shape[0], -1, 3)


def _capsule_points(a: np.ndarray, b: np.ndarray, radius: float, dense: bool = True) -> np.ndarray:
    """Surface points of one capsule: spheres of its radius about a radius apart along its axis, of 32 points;
    ``dense`` (for a capsule that touches the infant): at most 1 cm apart, and of 64 points for a capsule thicker
    than 1.2 cm (a forearm), so that the points are at most about 1.3 cm apart."""
    steps = int(np.clip(np.ceil(np.linalg.norm(b - a) / (min(radius, 0.01) if dense else radius)), 2, 60)) + 1
    sphere = _SPHERE if dense and radius > 0.012 else _SPHERE_SMALL
    return capsule_surface(a[None], b[None], np.array([radius]), np.linspace(0.0, 1.0, steps), sphere)[0]


def inside_ellipsoids(points: np.ndarray, centre: np.ndarray, rot: np.ndarray, radii: np.ndarray,
                      margin: float) -> np.ndarray:
    """``(N,)`` which ``points (N, 3)`` lie inside any ellipsoid whose radii grow by ``margin`` metres (shrink when
    negative)."""
    out = np.zeros(points.shape[0], dtype=bool)
    for c, r, rad in zip(centre, rot, radii + margin):
        local = (points - c) @ r / rad
        out |= np.einsum("ni,ni->n", local, local) < 1.0
    return out


def inside_capsules(points: np.ndarray, a: np.ndarray, b: np.ndarray, radius: np.ndarray,
                    margin: float) -> np.ndarray:
    """``(N,)`` which ``points (N, 3)`` lie inside any capsule whose radius grows by ``margin`` metres."""
    out = np.zeros(points.shape[0], dtype=bool)
    for p, q, r in zip(a, b, radius + margin):
        ab = q - p
        rel = points - p
        s = np.clip(rel @ ab / max(float(ab @ ab), 1e-18), 0.0, 1.0)
        d = rel - s[:, None] * ab
        out |= np.einsum("ni,ni->n", d, d) < r * r
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


# --- where lines run inside primitives ------------------------------------------------------------
def ellipsoid_intervals(points: np.ndarray, d: np.ndarray, centre: np.ndarray, rot: np.ndarray,
                        radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the lines ``points (N, 3) + t d`` run inside ellipsoids ``centre (E, 3)``, ``rot (E, 3, 3)`` (axes as
    columns), ``radii (E, 3)``: ``t_in, t_out (N, E)`` (metres for unit ``d``; ``inf, -inf`` where a line misses).
    ``d``: unit directions broadcastable to ``(N, E, 3)``."""
    d = np.broadcast_to(d, (points.shape[0], centre.shape[0], 3))
    local = np.einsum("eji,nej->nei", rot, points[:, None] - centre[None]) / radii[None]
    dl = np.einsum("eji,nej->nei", rot, d) / radii[None]
    a = dot3(dl, dl)
    b = dot3(local, dl)
    disc = b * b - a * (dot3(local, local) - 1.0)
    root = np.sqrt(np.maximum(disc, 0.0))
    hit = disc > 0.0
    return np.where(hit, (-b - root) / a, np.inf), np.where(hit, (-b + root) / a, -np.inf)


def _sphere_intervals(points: np.ndarray, d: np.ndarray, centre: np.ndarray,
                      radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`ellipsoid_intervals` for spheres ``centre (C, 3)``, ``radius (C,)``; ``d (N, C, 3)`` unit."""
    oc = points[:, None] - centre[None]
    b = dot3(oc, d)
    disc = b * b - (dot3(oc, oc) - radius[None] ** 2)
    root = np.sqrt(np.maximum(disc, 0.0))
    hit = disc > 0.0
    return np.where(hit, -b - root, np.inf), np.where(hit, -b + root, -np.inf)


def capsule_intervals(points: np.ndarray, d: np.ndarray, a: np.ndarray, b: np.ndarray,
                      radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`ellipsoid_intervals` for capsules ``a``, ``b (C, 3)``, ``radius (C,)``. A capsule is convex and the
    union of its end spheres and its cylinder between them, so a line runs inside it from the first of their entries
    to the last of their exits."""
    d = np.broadcast_to(d, (points.shape[0], a.shape[0], 3))
    length = np.maximum(np.linalg.norm(b - a, axis=1), 1e-12)
    u = (b - a) / length[:, None]
    oa = points[:, None] - a[None]                       # (N, C, 3)
    s0 = dot3(oa, u[None])                               # the points' coordinates along the axes
    du = dot3(d, u[None])
    w = oa - s0[..., None] * u[None]
    dp = d - du[..., None] * u[None]
    qa = dot3(dp, dp)
    qb = dot3(w, dp)
    qc = dot3(w, w) - radius[None] ** 2
    disc = qb * qb - qa * qc
    root = np.sqrt(np.maximum(disc, 0.0))
    parallel = qa < 1e-12
    within = (s0 >= 0) & (s0 <= length[None])
    with np.errstate(divide="ignore", invalid="ignore"):
        c_in = np.where(parallel, np.where(qc < 0, -np.inf, np.inf), (-qb - root) / qa)
        c_out = np.where(parallel, np.where(qc < 0, np.inf, -np.inf), (-qb + root) / qa)
        along = np.abs(du) > 1e-12
        e0 = np.where(along, -s0 / du, np.where(within, -np.inf, np.inf))
        e1 = np.where(along, (length[None] - s0) / du, np.where(within, np.inf, -np.inf))
    c_in = np.where(disc > 0.0, np.maximum(c_in, np.minimum(e0, e1)), np.inf)
    c_out = np.where(disc > 0.0, np.minimum(c_out, np.maximum(e0, e1)), -np.inf)
    c_in, c_out = np.where(c_in < c_out, c_in, np.inf), np.where(c_in < c_out, c_out, -np.inf)
    a_in, a_out = _sphere_intervals(points, d, a, radius)
    b_in, b_out = _sphere_intervals(points, d, b, radius)
    return np.minimum(np.minimum(c_in, a_in), b_in), np.maximum(np.maximum(c_out, a_out), b_out)


def _least_push(t_in: np.ndarray, t_out: np.ndarray, most: float) -> tuple[float, bool]:
    """The least ``t`` in ``[0, most]`` outside every interval ``(t_in, t_out)`` (flat arrays), and whether there is
    one: 0, or the end of an interval that no other interval covers."""
    keep = (t_out > 0.0) & (t_in < most)
    if not keep.any():
        return 0.0, True
    lo, hi = t_in[keep], t_out[keep]
    candidates = np.unique(np.concatenate([[0.0], hi]))
    candidates = candidates[candidates <= most]
    covered = np.any((lo[None] < candidates[:, None] - 1e-9) & (hi[None] > candidates[:, None] + 1e-9), axis=1)
    free = np.flatnonzero(~covered)
    if free.size == 0:
        return most, False
    return float(candidates[free[0]]) + 1e-6, True


# --- the torso's outline --------------------------------------------------------------------------
def torso_sections(body: PosedBody, frame: int, origins: np.ndarray, u: np.ndarray,
                   vs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The torso's outline in ``P`` planes, plane ``p`` through ``origins[p]`` (a point inside the torso) spanned by
    the unit vectors ``u (3,)`` and ``vs[p] (3,)``, at angles :data:`_THETAS` from ``u`` towards ``vs[p]``.

    Returns for each plane ``points (K, 3)`` on the surface of the torso's primitives (chest, abdomen, pelvis,
    trunk; found by casting rays from outside towards the origin), their outward unit normals in the plane
    ``(K, 3)`` and the arc length ``(K,)`` along the outline (metres, 0 at ``u``'s side, growing towards ``vs[p]``).
    """
    ells = [_ELL[n] for n in TORSO_ELLIPSOIDS]
    caps = [_CAP[n] for n in TORSO_CAPSULES]
    radial = np.cos(_THETAS)[None, :, None] * u + np.sin(_THETAS)[None, :, None] * vs[:, None]   # (P, K, 3)
    start = (origins[:, None] + _FAR * radial).reshape(-1, 3)
    d = -radial.reshape(-1, 1, 3)
    t_e = intersect_ellipsoid(d, body.ell_centre[frame, ells][None] - start[:, None], body.ell_rot[frame, ells],
                              body.ell_radii[ells])
    t_c = intersect_capsule(d, body.cap_a[frame, caps][None] - start[:, None],
                            body.cap_b[frame, caps][None] - start[:, None], body.cap_radii[caps])
    t = np.minimum(t_e.min(axis=1), t_c.min(axis=1))
    t = np.where(np.isfinite(t), t, _FAR)  # (a ray that missed: the origin itself; does not happen inside)
    points = (start + t[:, None] * d[:, 0]).reshape(radial.shape)
    out = []
    zero = int(np.argmin(np.abs(_THETAS)))
    for pts, v in zip(points, vs):
        tangent = np.gradient(pts, axis=0)
        a, b = tangent @ u, tangent @ v
        normal = _unit(b[:, None] * u - a[:, None] * v)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        out.append((pts, normal, arc - arc[zero]))
    return out


def _at(section: tuple[np.ndarray, np.ndarray, np.ndarray], s: float) -> tuple[np.ndarray, np.ndarray]:
    """Point ``(3,)`` and outward normal ``(3,)`` of a torso section at arc length ``s`` (metres)."""
    points, normal, arc = section
    p = np.array([np.interp(s, arc, points[:, k]) for k in range(3)])
    n = np.array([np.interp(s, arc, normal[:, k]) for k in range(3)])
    return p, _unit(n)


# --- a hand's elements ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Part:
    """One element of a hand before it is pushed out: an ellipsoid (``a`` its centre, ``axes``, ``radii``) or a
    capsule (``a``, ``b``, ``radius``), the unit ``normal`` it is pushed along and the furthest push ``slack``."""

    a: np.ndarray
    normal: np.ndarray
    slack: float
    b: np.ndarray | None = None
    radius: float = 0.0
    axes: np.ndarray | None = None
    radii: np.ndarray | None = None

    def surface(self) -> np.ndarray:
        if self.b is None:
            return ellipsoid_surface(self.a[None], self.axes[None], self.radii[None], _SPHERE_SMALL)[0]
        return _capsule_points(self.a, self.b, self.radius)


def _push_out(infant: _Infant, parts: list[_Part]) -> tuple[np.ndarray, np.ndarray]:
    """The least push (metres, at most its ``slack``) of each of ``parts`` along its normal after which neither its
    surface points come within :data:`CLEARANCE` of the infant's primitives nor the infant's surface points within it
    of the part, and
    whether there is one (``(M,)`` each). Exact for the sampled points: the end of the last interval along the
    normal over which a point runs through a primitive (:func:`_least_push`)."""
    surfaces = [p.surface() for p in parts]
    group = np.repeat(np.arange(len(parts)), [len(s) for s in surfaces])
    pts = np.concatenate(surfaces)
    centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    infant = infant.near(centre, float(np.linalg.norm(pts - centre, axis=1).max()) + max(p.slack for p in parts)
                         + 0.005)
    normals = np.array([p.normal for p in parts])
    e_in, e_out = ellipsoid_intervals(pts, normals[group][:, None], infant.ell_centre, infant.ell_rot,
                                      infant.ell_radii + CLEARANCE)
    c_in, c_out = capsule_intervals(pts, normals[group][:, None], infant.cap_a, infant.cap_b,
                                    infant.cap_radii + CLEARANCE)
    ells = [j for j, p in enumerate(parts) if p.b is None]
    caps = [j for j, p in enumerate(parts) if p.b is not None]
    back_in = np.full((infant.surface.shape[0], len(parts)), np.inf)
    back_out = np.full_like(back_in, -np.inf)
    if ells:  # the infant's points against the parts, moving the other way
        back_in[:, ells], back_out[:, ells] = ellipsoid_intervals(
            infant.surface, -normals[ells][None], np.array([parts[j].a for j in ells]),
            np.array([parts[j].axes for j in ells]), np.array([parts[j].radii for j in ells]) + CLEARANCE)
    if caps:
        back_in[:, caps], back_out[:, caps] = capsule_intervals(
            infant.surface, -normals[caps][None], np.array([parts[j].a for j in caps]),
            np.array([parts[j].b for j in caps]), np.array([parts[j].radius for j in caps]) + CLEARANCE)
    push, ok = np.zeros(len(parts)), np.zeros(len(parts), dtype=bool)
    for j, part in enumerate(parts):
        mine = group == j
        t_in = np.concatenate([e_in[mine].ravel(), c_in[mine].ravel(), back_in[:, j]])
        t_out = np.concatenate([e_out[mine].ravel(), c_out[mine].ravel(), back_out[:, j]])
        push[j], ok[j] = _least_push(t_in, t_out, part.slack)
    return push, ok


def _clear(infant: _Infant, a: np.ndarray, b: np.ndarray, radius: float) -> bool:
    """The surface points of the adult capsule ``a``-``b`` and of the infant keep :data:`CLEARANCE` out of the
    other's primitives."""
    pts = _capsule_points(a, b, radius, dense=False)
    if inside_ellipsoids(pts, infant.ell_centre, infant.ell_rot, infant.ell_radii, CLEARANCE).any():
        return False
    if inside_capsules(pts, infant.cap_a, infant.cap_b, infant.cap_radii, CLEARANCE).any():
        return False
    return not inside_capsules(infant.surface, a[None], b[None], np.array([radius]), CLEARANCE).any()


def _chest_frame(body: PosedBody, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The chest joint's position and its X (the infant's left), Y (up the spine), Z (anterior) axes (world)."""
    rot = body.rotations[frame, _CHEST_JOINT]
    return body.joints[frame, _CHEST_JOINT], rot[:, 0], rot[:, 1], rot[:, 2]


def _horizontal(v: np.ndarray) -> np.ndarray:
    h = np.array([v[0], v[1], 0.0])
    n = np.linalg.norm(h)
    return h / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])


def _palm_part(sections, s0: float, s1: float, palm_w: float, palm_t: float) -> _Part:
    """One of the palm's two ellipsoids, on the torso's tangent plane over arc ``s0``-``s1`` of the palm's middle
    section (``sections``: the middle one and two beside it, above and below, for the tangent plane)."""
    centre_sec, up_sec, down_sec = sections
    mid = 0.5 * (s0 + s1)
    p, n_plane = _at(centre_sec, mid)
    chord = _at(centre_sec, s1)[0] - _at(centre_sec, s0)[0]
    normal = _unit(np.cross(chord, _at(up_sec, mid)[0] - _at(down_sec, mid)[0]))
    normal = normal if normal @ n_plane > 0 else -normal
    along = _unit(chord - (chord @ normal) * normal)
    axes = np.stack([along, np.cross(normal, along), normal], axis=1)
    radii = np.array([0.52 * np.linalg.norm(chord), 0.5 * palm_w, 0.5 * palm_t])
    return _Part(p + (0.5 * palm_t + CLEARANCE) * normal, normal, PALM_SLACK, axes=axes, radii=radii)


def _chain_parts(sec, s_start: float, length: float, radius: float) -> list[_Part]:
    """A finger or thumb of two capsules (the first 55 % of ``length``, then the rest) lying on the section ``sec``
    from arc ``s_start`` over ``length`` metres (negative: the other way round the torso)."""
    stops = (s_start, s_start + 0.55 * length, s_start + length)
    parts = []
    for s0, s1 in zip(stops[:-1], stops[1:]):
        p0, n0 = _at(sec, s0)
        p1, n1 = _at(sec, s1)
        parts.append(_Part(p0 + (radius + CLEARANCE) * n0, _unit(n0 + n1), FINGER_SLACK,
                           b=p1 + (radius + CLEARANCE) * n1, radius=radius))
    return parts


@dataclass
class _Hand:
    """One hand and arm, pushed into place: ``ells`` (centre, axes, radii), ``caps`` (a, b, radius, sleeve),
    ``palm`` the front palm ellipsoid's centre, ``fits``."""

    ells: list
    caps: list
    palm: np.ndarray
    fits: bool


def _one_hand(infant: _Infant, body: PosedBody, frame: int, side: int, adult: int, grip: Grip) -> _Hand:
    """The hand and arm on the infant's ``side`` (+1 left, -1 right) of an adult on its ``adult`` side (+1 in front
    of it, -1 behind it)."""
    k = grip.scale
    chest, x_ax, y_ax, z_ax = _chest_frame(body, frame)
    wrap = -adult  # the fingers wrap round the chest away from the adult
    tilt = np.radians(grip.tilt)
    u = side * x_ax

    def plane(fan: float) -> np.ndarray:
        turn = tilt + np.radians(fan)
        return _unit(np.cos(turn) * wrap * z_ax + np.sin(turn) * y_ax)

    width = _unit(np.cross(u, plane(0.0)))
    width = width if width @ y_ax > 0 else -width
    palm_len, palm_w, palm_t = 0.1 * k, 0.085 * k, 0.028 * k
    armpit = (body.joints[frame, _SHOULDERS[side]] - chest) @ y_ax - body.cap_radii[_CAP[_UPPER_ARMS[side]]]
    origin = chest + (armpit - 0.5 * palm_w - 0.006 - grip.drop) * y_ax
    # planes: the palm's middle, 2 cm above and below it, the four fingers, the thumb
    offsets = [0.0, 0.02, -0.02] + [f[0] for f in _FINGERS] + [0.036]
    fans = [0.0, 0.0, 0.0] + [f[2] for f in _FINGERS] + [0.0]
    secs = torso_sections(body, frame, origin + k * np.array(offsets)[:, None] * width, u,
                          np.array([plane(f) for f in fans]))
    s_wrist = -grip.shift - 0.5 * palm_len
    parts = [_palm_part(secs[:3], s0, s1, palm_w, palm_t)
             for s0, s1 in ((s_wrist, s_wrist + 0.6 * palm_len), (s_wrist + 0.4 * palm_len, s_wrist + palm_len))]
    # four fingers side by side from the knuckles round the chest, away from the adult, a little fanned out
    for sec, (offset, length, _) in zip(secs[3:7], _FINGERS):
        radius = 0.0085 * k * (0.9 if abs(offset) > 0.02 else 1.0)
        parts += _chain_parts(sec, s_wrist + palm_len - 0.01 * k, length * k, radius)
    # the thumb from the heel's upper edge round the chest, towards the adult
    parts += _chain_parts(secs[7], s_wrist + 0.35 * palm_len, -0.065 * k, 0.0105 * k)
    # the forearm from the wrist (resting on the torso) towards the adult, outwards and down
    p, n_plane = _at(secs[0], s_wrist)
    arm_radius = 0.03 * k
    back, out, up = adult * _horizontal(z_ax), side * _horizontal(x_ax), np.array([0.0, 0.0, 1.0])
    forearm = _unit(grip.forearm[0] * back + grip.forearm[1] * out - grip.forearm[2] * up)
    wrist = p + (arm_radius + CLEARANCE) * n_plane
    push, ok = _push_out(infant, parts)
    parts.append(_Part(wrist, n_plane, FINGER_SLACK, b=wrist + 0.27 * k * forearm, radius=arm_radius))
    push_arm, ok_arm = _push_out(infant, parts[-1:])  # on its own: it reaches further than the hand
    push, ok = np.concatenate([push, push_arm]), np.concatenate([ok, ok_arm])
    moved = [(p.a + t * p.normal, None if p.b is None else p.b + t * p.normal) for p, t in zip(parts, push)]
    ells = [(a, p.axes, p.radii) for (a, _), p in zip(moved, parts) if p.b is None]
    caps = [(a, b, p.radius, False) for (a, b), p in zip(moved, parts) if p.b is not None]
    fits = bool(ok.all()) and all(min(a[2], b[2]) - r > 0.01 for a, b, r, _ in caps)
    # the upper arm from the elbow up towards the shoulder, on out of the image; a sleeve over it
    wrist, elbow = moved[-1]
    end = elbow + 1.3 * _unit(grip.upper_arm[0] * back + grip.upper_arm[1] * out + grip.upper_arm[2] * up)
    arm = [(elbow, end, 0.042 * k, False)]
    if grip.sleeve is not None:
        arm = [(wrist + grip.sleeve * k * forearm, elbow, 0.045 * k, True), (elbow, end, 0.045 * k, True)]
    for a, b, r, _ in arm:
        fits = fits and _clear(infant, a, b, r) and min(a[2], b[2]) - r > 0.01
    return _Hand(ells, caps + arm, ells[1][0], fits)


def holding_hands(body: PosedBody, adult: int, grip: Grip = NOMINAL_GRIP, frame: int = 0,
                  lazy: bool = False) -> AdultHands:
    """Both hands and arms of an adult on the infant's ``adult`` side (+1 in front of it, -1 behind it) holding
    frame ``frame`` of the world-frame ``body`` with ``grip`` (see the module docstring). ``lazy``: skip the second
    hand when the first does not fit (``fits`` is then right, the geometry that of one hand)."""
    infant = _Infant.of(body, frame)
    hands = []
    for side in (1, -1):
        hands.append(_one_hand(infant, body, frame, side, adult, grip))
        if lazy and not hands[-1].fits:
            break
    ells = [e for h in hands for e in h.ells]
    caps = [c for h in hands for c in h.caps]
    return AdultHands(
        ell_centre=np.array([e[0] for e in ells]), ell_axes=np.array([e[1] for e in ells]),
        ell_radii=np.array([e[2] for e in ells]),
        cap_a=np.array([c[0] for c in caps]), cap_b=np.array([c[1] for c in caps]),
        cap_radius=np.array([c[2] for c in caps]), cap_sleeve=np.array([c[3] for c in caps], dtype=bool),
        palms=np.array([h.palm for h in hands]), fits=len(hands) == 2 and all(h.fits for h in hands))


def holding_fits(body: PosedBody, frame: int = 0) -> bool:
    """Whether :data:`NOMINAL_GRIP` fits frame ``frame`` of ``body`` with the adult behind the infant and in front
    of it (the camera, drawn later, decides which), as it does for a held infant's template pose."""
    return all(holding_hands(body, adult, NOMINAL_GRIP, frame, lazy=True).fits for adult in (-1, 1))


def adult_side(body: PosedBody, camera: Camera, frame: int = 0) -> int:
    """The side of the infant the adult stands on, away from the camera: -1 (behind the infant) when the camera is
    in front of its chest (seen horizontally), else +1."""
    chest, _, _, z_ax = _chest_frame(body, frame)
    eye = -camera.R.T @ camera.t
    return -1 if (eye - chest) @ _horizontal(z_ax) >= 0.0 else 1


def _clear_of_camera(hands: AdultHands, camera: Camera) -> bool:
    """Every arm capsule passes at least 12 cm (plus its radius) from the camera centre."""
    eye = -camera.R.T @ camera.t
    ab = hands.cap_b - hands.cap_a
    s = np.clip(np.sum((eye - hands.cap_a) * ab, axis=1) / np.maximum(np.sum(ab * ab, axis=1), 1e-18), 0.0, 1.0)
    dist = np.linalg.norm(eye - (hands.cap_a + s[:, None] * ab), axis=1)
    return bool(np.all(dist > hands.cap_radius + 0.12))


def place_holding_hands(rng: np.random.Generator, body: PosedBody, camera: Camera, frame: int = 0,
                        tries: int = 6, ready: dict[int, AdultHands] | None = None) -> AdultHands:
    """The adult's hands for an image: the adult on the far side from ``camera`` (:func:`adult_side`). ``ready``
    (hands built with the pose for either side, ``{adult: hands}``) gives them when they fit and keep the arms clear
    of the camera; else the first of ``tries`` random grips (:func:`sample_grip`) that does, else
    :data:`NOMINAL_GRIP` (which fits the poses :func:`hyper_sapiens.synth.sample.pose_held_infant` draws)."""
    adult = adult_side(body, camera, frame)
    if ready is not None and ready[adult].fits and _clear_of_camera(ready[adult], camera):
        return ready[adult]
    for _ in range(tries):
        hands = holding_hands(body, adult, sample_grip(rng), frame, lazy=True)  # lazy: the same when it fits
        if hands.fits and _clear_of_camera(hands, camera):
            return hands
    return holding_hands(body, adult, NOMINAL_GRIP, frame)
