"""Infant postures beyond lying: their joint-angle templates, SyRIP names and resting on the ground.

Every posture has a fine name (:data:`POSTURE_DETAILS`, written as ``posture_detail``) and one of SyRIP's four
names (:data:`SYRIP_POSTURES`, written as ``posture``, spelt as SyRIP's annotation files spell it):

===================  ==========  ===============================================================
detail               SyRIP       what the infant does
===================  ==========  ===============================================================
supine               Supine      on the back (hips and knees flexed, arms out), as before
side_left/right      Supine      lying on a side (our choice: lying, not belly-down)
prone                Prone       flat on the belly, head turned, as before
prone_forearms       Prone       on the belly, chest lifted on the forearms, head up
prone_hands          Prone       on the belly, chest pushed up on straight arms, head up
crawling             Prone       on hands and knees (four-point kneeling; as the Alberta Infant
                                 Motor Scale counts it, with the prone items)
sitting_free         Sitting     sitting without support, hands free
sitting_tripod       Sitting     leaning forward on both hands in front (tripod sitting)
sitting_supported    Sitting     propped on straight arms, hands on the floor beside the hips
standing_free        Standing    standing alone, wide base, arms in high or middle guard
standing_holding     Standing    standing, both hands forward at chest height on a rail (a
                                 horizontal bar on two posts, :func:`holding_rail`, drawn)
held_upright         Standing    held up in the air by an adult's hands under the armpits
                                 (:mod:`holding`, drawn), body near vertical, legs hanging
                                 extended or a little bent, feet 3-35 cm above the ground, arms
                                 free. SyRIP has no "held" name; choosing among its four, an
                                 annotator sees an upright body with hip above knee above ankle
                                 below the trunk, a standing skeleton (not the folded hips of
                                 Sitting, not a body lying): Standing (our choice)
===================  ==========  ===============================================================

The lying postures (supine, prone, side) keep the original model (:mod:`motion`: roll about the long axis,
resting the head and torso on the mattress). The others are placed by :func:`rest_on_ground`: the posed body
is tilted so that its support points (the lowest points of groups of body parts, :attr:`PostureSpec.supports`)
lie in a horizontal plane, then lowered until its lowest point sinks :data:`SINK` into the ground. A static pose
is accepted (:func:`support_gaps`) when every support group is within :data:`CONTACT_TOL` of the ground;
:func:`hyper_sapiens.synth.sample.render_sample` draws again otherwise. A held posture (:data:`HELD`) has no
support groups and no balance: :func:`hold_in_air` turns the chest upright (with a small lean), keeps the chest
joint in place in every frame (the adult's grip) and lifts the body until its lowest point is :attr:`Hold.lift`
above the ground; its pose is accepted when the adult's hands fit round the chest from either side
(:func:`hyper_sapiens.synth.sample.pose_held_infant`).

Angles are degrees, lengths metres; DOF names are those of :mod:`body` without the right side's ``r`` (the
right side mirrors the left).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import CAPSULES, ELLIPSOIDS, PRIMITIVE_NAMES, PosedBody, axis_angle_matrices

SYRIP_POSTURES = ("Supine", "Prone", "Sitting", "Standing")
"""SyRIP's posture names, spelt as its annotation files' image field ``posture`` spells them."""

LYING = ("supine", "prone", "side_left", "side_right")
"""The lying postures of the original model (placed by :func:`motion.place_on_mattress`)."""

SINK = 0.004
"""Metres: how deep the lowest body point of a non-lying posture sinks into the (soft) ground."""
CONTACT_TOL = 0.015
"""Metres: a support group touches the ground when its lowest point is at most this far above it."""


@dataclass(frozen=True)
class PostureSpec:
    """One non-lying posture.

    Attributes:
        name: the fine name (``posture_detail``).
        syrip: SyRIP's name (``posture``).
        pitch: degrees the body's long axis (towards the head) is raised from horizontal before levelling.
        face_down: the anterior (belly) faces the ground before the pitch.
        supports: groups of primitive names; each group's lowest point rests on the ground.
        angles: ``{dof: (typical degrees, latent spread)}``, both sides unless the name starts with ``r``.
        kick, wave: gains of the legs' kicking and the arms' waving in clips (1 = as when lying).
        drift: scale of the slow random drift of every joint in clips and of static poses' spread (1 = as lying).
        flat_feet: the feet stand flat: placement also tilts the body until the feet's long axes are horizontal
            (the ankle angles then set how far the body leans).
        balance: a static pose must keep its centre of mass above its base of support
            (:func:`balance_margin` >= 0); for postures without other support (free sitting and standing).
        held: held up in the air by an adult (no support groups; placed by :func:`hold_in_air`).
    """

    name: str
    syrip: str
    pitch: float
    face_down: bool
    supports: tuple[tuple[str, ...], ...]
    angles: dict[str, tuple[float, float]]
    kick: float = 0.0
    wave: float = 0.0
    drift: float = 0.6
    flat_feet: bool = False
    balance: bool = False
    held: bool = False


_LEFT_LEG = ("left_thigh", "left_shank", "left_foot")
_RIGHT_LEG = ("right_thigh", "right_shank", "right_foot")
_LEFT_HAND = ("left_forearm", "left_hand")
_RIGHT_HAND = ("right_forearm", "right_hand")
_SEAT = ("pelvis", "abdomen", "trunk")

# Joint-angle templates (degrees, latent spread). Shoulder: the arm's direction is
# cos(fwd) * (cos(elev) * lateral + sin(elev) * headward) + sin(fwd) * anterior.
SPECS: dict[str, PostureSpec] = {s.name: s for s in (
    PostureSpec(
        "prone_forearms", "Prone", pitch=20.0, face_down=True,
        supports=(_SEAT, _LEFT_LEG, _RIGHT_LEG, _LEFT_HAND, _RIGHT_HAND),
        angles={"spine_flex": (-1, 0.5), "spine1_flex": (-6, 0.5), "spine2_flex": (-6, 0.5),
                "neck_flex": (-16, 0.6), "head_flex": (-12, 0.6), "neck_twist": (0, 0.7),
                "hip_flex": (8, 0.5), "hip_abd": (22, 0.6), "hip_twist": (15, 0.6), "knee_flex": (25, 0.9),
                "ankle_flex": (25, 0.6),
                "shoulder_elev": (25, 0.4), "shoulder_fwd": (71, 0.4), "shoulder_twist": (-80, 0.3),
                "elbow_flex": (95, 0.4), "wrist_flex": (5, 0.6)},
        kick=0.5, wave=0.0, drift=0.5),
    PostureSpec(
        "prone_hands", "Prone", pitch=35.0, face_down=True,
        supports=(_SEAT, _LEFT_LEG, _RIGHT_LEG, _LEFT_HAND, _RIGHT_HAND),
        angles={"spine_flex": (-10, 0.4), "spine1_flex": (-7, 0.4), "spine2_flex": (-7, 0.4),
                "neck_flex": (-18, 0.6), "head_flex": (-14, 0.6), "neck_twist": (0, 0.7),
                "hip_flex": (-12, 0.4), "hip_abd": (20, 0.6), "hip_twist": (15, 0.6), "knee_flex": (15, 0.8),
                "ankle_flex": (25, 0.6),
                "shoulder_elev": (-19, 0.4), "shoulder_fwd": (77, 0.4), "shoulder_twist": (-70, 0.4),
                "elbow_flex": (3, 0.5), "wrist_flex": (-45, 0.4)},
        kick=0.4, wave=0.0, drift=0.5),
    PostureSpec(
        "crawling", "Prone", pitch=5.0, face_down=True,
        supports=(("left_shank",), ("right_shank",), _LEFT_HAND, _RIGHT_HAND),
        angles={"spine_flex": (-4, 0.5), "spine1_flex": (-2, 0.5), "spine2_flex": (-2, 0.5),
                "neck_flex": (-18, 0.6), "head_flex": (-15, 0.6), "neck_twist": (0, 0.6),
                "hip_flex": (85, 0.4), "hip_abd": (12, 0.5), "hip_twist": (0, 0.5), "knee_flex": (118, 0.4),
                "ankle_flex": (35, 0.5),
                "shoulder_elev": (7, 0.4), "shoulder_fwd": (96, 0.5), "shoulder_twist": (-70, 0.4),
                "elbow_flex": (12, 0.5), "wrist_flex": (-45, 0.4)},
        kick=0.0, wave=0.0, drift=0.45),
    PostureSpec(
        "sitting_free", "Sitting", pitch=90.0, face_down=False,
        supports=(_SEAT, _LEFT_LEG, _RIGHT_LEG),
        angles={"spine_flex": (9, 0.4), "spine1_flex": (4, 0.4), "spine2_flex": (3, 0.4),
                "neck_flex": (5, 0.7), "head_flex": (0, 0.7),
                "hip_flex": (88, 0.5), "hip_abd": (35, 0.6), "hip_twist": (25, 0.6), "knee_flex": (45, 0.9),
                "ankle_flex": (10, 0.6),
                "shoulder_elev": (-45, 0.8), "shoulder_fwd": (45, 0.8), "shoulder_twist": (-30, 0.7),
                "elbow_flex": (70, 0.8)},
        kick=0.3, wave=0.9, drift=0.6, balance=True),
    PostureSpec(
        "sitting_tripod", "Sitting", pitch=90.0, face_down=False,
        supports=(_SEAT, _LEFT_LEG, _RIGHT_LEG, _LEFT_HAND, _RIGHT_HAND),
        angles={"spine_flex": (18, 0.4), "spine1_flex": (10, 0.4), "spine2_flex": (10, 0.4),
                "neck_flex": (-18, 0.6), "head_flex": (-15, 0.6),
                "hip_flex": (113, 0.4), "hip_abd": (57, 0.5), "hip_twist": (25, 0.6), "knee_flex": (10, 0.6),
                "ankle_flex": (10, 0.6),
                "shoulder_elev": (-76, 0.4), "shoulder_fwd": (64, 0.4), "shoulder_twist": (-40, 0.5),
                "elbow_flex": (10, 0.5), "wrist_flex": (-40, 0.5)},
        kick=0.2, wave=0.0, drift=0.45),
    PostureSpec(
        "sitting_supported", "Sitting", pitch=90.0, face_down=False,
        supports=(_SEAT, _LEFT_LEG, _RIGHT_LEG, _LEFT_HAND, _RIGHT_HAND),
        angles={"spine_flex": (0, 0.4), "spine1_flex": (0, 0.4), "spine2_flex": (2, 0.4),
                "neck_flex": (8, 0.7), "head_flex": (5, 0.7),
                "hip_flex": (75, 0.4), "hip_abd": (30, 0.6), "hip_twist": (20, 0.6), "knee_flex": (35, 0.9),
                "ankle_flex": (10, 0.6),
                "shoulder_elev": (-80, 0.3), "shoulder_fwd": (-18, 0.4), "shoulder_twist": (-20, 0.5),
                "elbow_flex": (3, 0.4), "wrist_flex": (-40, 0.5)},
        kick=0.4, wave=0.0, drift=0.45),
    PostureSpec(
        "standing_free", "Standing", pitch=90.0, face_down=False,
        supports=(("left_foot",), ("right_foot",)),
        angles={"spine_flex": (-3, 0.5), "spine1_flex": (-2, 0.5), "spine2_flex": (0, 0.5),
                "neck_flex": (0, 0.7), "head_flex": (0, 0.7),
                "hip_flex": (10, 0.3), "hip_abd": (14, 0.5), "hip_twist": (15, 0.5), "knee_flex": (10, 0.3),
                "ankle_flex": (-6, 0.15), "ankle_inv": (0, 0.4),
                "shoulder_elev": (25, 0.9), "shoulder_fwd": (25, 0.7), "shoulder_twist": (-40, 0.7),
                "elbow_flex": (75, 0.8)},
        kick=0.0, wave=0.8, drift=0.5, flat_feet=True, balance=True),
    PostureSpec(
        "standing_holding", "Standing", pitch=90.0, face_down=False,
        supports=(("left_foot",), ("right_foot",)),
        angles={"spine_flex": (2, 0.5), "spine1_flex": (1, 0.5), "spine2_flex": (0, 0.5),
                "neck_flex": (0, 0.7), "head_flex": (0, 0.7),
                "hip_flex": (14, 0.3), "hip_abd": (12, 0.5), "hip_twist": (10, 0.5), "knee_flex": (12, 0.3),
                "ankle_flex": (-3, 0.15), "ankle_inv": (0, 0.4),
                "shoulder_elev": (5, 0.5), "shoulder_fwd": (75, 0.5), "shoulder_twist": (-60, 0.5),
                "elbow_flex": (35, 0.6), "wrist_flex": (20, 0.6)},
        kick=0.0, wave=0.2, drift=0.5, flat_feet=True),
    PostureSpec(
        "held_upright", "Standing", pitch=90.0, face_down=False, supports=(),
        angles={"spine_flex": (0, 0.5), "spine1_flex": (0, 0.5), "spine2_flex": (0, 0.5),
                "neck_flex": (0, 0.7), "head_flex": (0, 0.7),
                "hip_flex": (12, 0.6), "hip_abd": (10, 0.5), "hip_twist": (10, 0.5), "knee_flex": (15, 0.7),
                "ankle_flex": (18, 0.6), "ankle_inv": (0, 0.5),
                "shoulder_elev": (25, 1.0), "shoulder_fwd": (30, 0.8), "shoulder_twist": (-30, 0.7),
                "elbow_flex": (55, 0.9), "wrist_flex": (10, 0.6)},
        kick=0.35, wave=0.8, drift=0.5, held=True),
)}

HELD: tuple[str, ...] = tuple(name for name, spec in SPECS.items() if spec.held)
"""The postures held up by an adult (no support groups, placed by :func:`hold_in_air`)."""
GROUNDED: tuple[str, ...] = tuple(name for name, spec in SPECS.items() if not spec.held)
"""The non-lying postures that rest on the ground (placed by :func:`rest_on_ground`)."""

POSTURE_DETAILS: tuple[str, ...] = LYING + tuple(SPECS)
"""Every fine posture name ``render_sample(posture=...)`` and the presets' mixes accept."""

_LYING_SYRIP = {"supine": "Supine", "side_left": "Supine", "side_right": "Supine", "prone": "Prone"}


def syrip_posture(detail: str) -> str:
    """SyRIP's name (:data:`SYRIP_POSTURES`) of fine posture ``detail``; raises ValueError for an unknown one."""
    if detail in _LYING_SYRIP:
        return _LYING_SYRIP[detail]
    check_posture(detail)
    return SPECS[detail].syrip


def posture_kind(detail: str) -> str:
    """The kind of posture ``detail`` for the camera views (:data:`hyper_sapiens.synth.camera.VIEW_MIX`):
    ``lying`` (supine, prone, side), ``held`` (:data:`HELD`) or ``upright`` (every other)."""
    check_posture(detail)
    return "lying" if detail in LYING else "held" if detail in HELD else "upright"


def check_posture(detail: str) -> str:
    """``detail`` if it is a known fine posture name, else a ValueError listing them."""
    if detail not in POSTURE_DETAILS:
        raise ValueError(f"unknown posture {detail!r}; known: {', '.join(POSTURE_DETAILS)}")
    return detail


def check_mix(mix: dict[str, float] | tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    """A posture mix as ``((detail, probability), ...)`` summing to 1; ValueError for unknown names or bad shares."""
    items = tuple(dict(mix).items())
    if not items:
        raise ValueError("a posture mix needs at least one posture")
    for name, p in items:
        check_posture(name)
        if not (float(p) >= 0.0):
            raise ValueError(f"posture mix share of {name!r} must be >= 0, got {p}")
    total = sum(float(p) for _, p in items)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"posture mix shares must sum to 1, got {total:.6f}")
    return items


def sample_from_mix(rng: np.random.Generator, mix: tuple[tuple[str, float], ...]) -> str:
    """One fine posture name drawn from ``mix`` (``((detail, probability), ...)``)."""
    names = [n for n, _ in mix]
    probs = np.asarray([p for _, p in mix], dtype=np.float64)
    return names[int(rng.choice(len(names), p=probs / probs.sum()))]


# --- resting on the ground ---------------------------------------------------------------------------
_ELL_INDEX = {name: i for i, (name, _, _) in enumerate(ELLIPSOIDS)}
_CAP_INDEX = {name: i for i, (name, _, _, _) in enumerate(CAPSULES)}


def primitive_lowest_points(body: PosedBody, names: tuple[str, ...]) -> np.ndarray:
    """``(T, len(names), 3)`` world point of each named primitive with the lowest z (metres).

    Ellipsoid: ``c - M e_z / sqrt(M_zz)`` with ``M = R diag(r^2) R^T``; capsule: its lower end point minus
    the radius along ``z``.
    """
    out = np.empty((body.num_frames, len(names), 3))
    for k, name in enumerate(names):
        if name in _ELL_INDEX:
            i = _ELL_INDEX[name]
            rot, rad = body.ell_rot[:, i], body.ell_radii[i]
            m_col = np.einsum("tij,j,tj->ti", rot, rad * rad, rot[:, 2, :])  # M e_z, (T, 3)
            out[:, k] = body.ell_centre[:, i] - m_col / np.sqrt(np.maximum(m_col[:, 2:3], 1e-18))
        elif name in _CAP_INDEX:
            i = _CAP_INDEX[name]
            a, b = body.cap_a[:, i], body.cap_b[:, i]
            low = np.where((a[:, 2] <= b[:, 2])[:, None], a, b).copy()
            low[:, 2] -= body.cap_radii[i]
            out[:, k] = low
        else:
            raise ValueError(f"unknown primitive {name!r}; known: {PRIMITIVE_NAMES}")
    return out


def support_points(body: PosedBody, supports: tuple[tuple[str, ...], ...]) -> np.ndarray:
    """``(T, G, 3)``: the lowest point of each support group (the lowest of its primitives' lowest points)."""
    out = np.empty((body.num_frames, len(supports), 3))
    for g, names in enumerate(supports):
        pts = primitive_lowest_points(body, names)
        k = np.argmin(pts[..., 2], axis=1)
        out[:, g] = pts[np.arange(body.num_frames), k]
    return out


def _plane_up(points: np.ndarray) -> np.ndarray:
    """``(T, 3)`` unit upward normal of the plane best fitting ``points (T, G, 3)``.

    Three or more points: least squares (smallest singular vector). Two points (or collinear ones): the
    direction closest to world up that is perpendicular to the line through them.
    """
    up = np.array([0.0, 0.0, 1.0])
    centred = points - points.mean(axis=1, keepdims=True)
    t = points.shape[0]
    if points.shape[1] >= 3:
        _, s, vt = np.linalg.svd(centred)
        n = vt[:, -1]
        degenerate = s[:, 1] < 1e-3 * np.maximum(s[:, 0], 1e-12)
    else:
        n = np.tile(up, (t, 1))
        degenerate = np.ones(t, dtype=bool)
    if degenerate.any():
        d = centred[:, -1] - centred[:, 0]
        d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
        line = up - (d @ up)[:, None] * d
        line /= np.maximum(np.linalg.norm(line, axis=1, keepdims=True), 1e-12)
        n = np.where(degenerate[:, None], line, n)
    return n * np.where(n[:, 2:3] < 0, -1.0, 1.0)


def _rotation_onto(v: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` the smallest rotations taking unit vectors ``v (T, 3)`` onto unit vectors ``target`` (``(3,)``
    for every frame, or ``(T, 3)``)."""
    axis = np.cross(v, target)
    s = np.linalg.norm(axis, axis=1)
    angle = np.arctan2(s, np.sum(v * target, axis=-1))
    axis = np.where(s[:, None] > 1e-12, axis / np.maximum(s, 1e-12)[:, None], np.array([1.0, 0.0, 0.0]))
    return axis_angle_matrices(axis, angle)


def level_supports(body: PosedBody, supports: tuple[tuple[str, ...], ...], iterations: int = 4) -> PosedBody:
    """Tilt ``body`` (per frame, about its support points' centroid) until its support points lie level."""
    for _ in range(iterations):
        pts = support_points(body, supports)
        rot = _rotation_onto(_plane_up(pts), np.array([0.0, 0.0, 1.0]))
        centre = pts.mean(axis=1)
        body = body.transformed(rot, centre - np.einsum("tij,tj->ti", rot, centre))
    return body


def lowest_z(body: PosedBody) -> np.ndarray:
    """``(T,)`` the lowest world z of any primitive (ellipsoids and capsules), metres."""
    return body.limb_lowest_point()


def flatten_feet(body: PosedBody) -> PosedBody:
    """Tilt ``body`` (per frame, about the feet's mean centre) so that the mean long axis of its two feet (toes
    forward) is horizontal: a rotation about the horizontal axis across that direction."""
    feet = [_ELL_INDEX["left_foot"], _ELL_INDEX["right_foot"]]
    axis = body.ell_rot[:, feet][..., 2].mean(axis=1)  # (T, 3) the feet's long axes, towards the toes
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    flat = axis * np.array([1.0, 1.0, 0.0])
    flat /= np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    rot = _rotation_onto(axis, flat)
    centre = body.ell_centre[:, feet].mean(axis=1)
    return body.transformed(rot, centre - np.einsum("tij,tj->ti", rot, centre))


def rest_on_ground(body: PosedBody, supports: tuple[tuple[str, ...], ...], sink: float = SINK,
                   flat_feet: bool = False) -> PosedBody:
    """Level ``body``'s support points (:func:`level_supports`; with ``flat_feet`` alternately with
    :func:`flatten_feet`, three rounds), then lower it until its lowest point is at ``z = -sink``."""
    if flat_feet:
        for _ in range(3):
            body = flatten_feet(level_supports(body, supports, iterations=2))
    else:
        body = level_supports(body, supports)
    trans = np.zeros((body.num_frames, 3))
    trans[:, 2] = -sink - lowest_z(body)
    return body.transformed(np.eye(3), trans)


def support_gaps(body: PosedBody, detail: str, sink: float = SINK) -> np.ndarray:
    """``(T, G)`` metres each support group of posture ``detail`` floats above the ground's surface.

    The ground's surface is ``z = -sink`` (where the lowest point rests); 0 means touching.
    """
    spec = SPECS[check_posture(detail)] if detail in SPECS else None
    if spec is None:
        raise ValueError(f"posture {detail!r} is a lying posture without support groups")
    if spec.held:
        raise ValueError(f"posture {detail!r} is held up by an adult, without support groups")
    return support_points(body, spec.supports)[..., 2] + sink


def posture_rotation(detail: str, heading: float, jitter: np.ndarray | None = None) -> np.ndarray:
    """Body -> world rotation of a non-lying posture before levelling: face down or up, the long axis raised
    ``pitch`` degrees, small ``jitter`` rotations (radians about world x, y, z), then ``heading`` about z."""
    spec = SPECS[detail]
    r = np.eye(3)
    if spec.face_down:
        r = axis_angle_matrices(np.array([0.0, 1.0, 0.0]), np.array(np.pi)) @ r
    r = axis_angle_matrices(np.array([1.0, 0.0, 0.0]), np.array(np.radians(spec.pitch))) @ r
    if jitter is not None:
        for axis, ang in zip(np.eye(3), jitter, strict=True):
            r = axis_angle_matrices(axis, np.array(ang)) @ r
    return axis_angle_matrices(np.array([0.0, 0.0, 1.0]), np.array(heading)) @ r


# --- held up by an adult -----------------------------------------------------------------------------
HELD_LIFT = (0.03, 0.35)
"""Metres: the range of :attr:`Hold.lift` of a static held pose (:func:`sample_hold`)."""


@dataclass(frozen=True)
class Hold:
    """How an adult holds an infant up (:func:`hold_in_air`).

    Attributes:
        lift: metres between the ground and the body's lowest point (the lowest over all frames of a clip).
        lean_forward: degrees the chest leans forward (the head towards the anterior; negative: back).
        lean_side: degrees the chest leans sideways (the head towards the infant's left; negative: right).
    """

    lift: float = 0.15
    lean_forward: float = 0.0
    lean_side: float = 0.0


def sample_hold(rng: np.random.Generator) -> Hold:
    """A random :class:`Hold`: lift uniform in :data:`HELD_LIFT`, leans N(0, 8 degrees) forward and N(0, 5
    degrees) sideways, cut at 2 standard deviations."""
    lift = float(rng.uniform(*HELD_LIFT))
    forward, side = np.clip(rng.normal(0.0, 1.0, 2), -2.0, 2.0) * np.array([8.0, 5.0])
    return Hold(lift=lift, lean_forward=float(forward), lean_side=float(side))


def hold_in_air(body: PosedBody, rotation: np.ndarray, hold: Hold) -> PosedBody:
    """Place a body-frame ``body`` (``T`` frames, from forward kinematics) held up by an adult.

    Every frame is turned about its chest joint (joint 9) until the chest's long axis is the body frame's ``+Y``
    (upright), leant by ``hold.lean_forward`` (about the body's X) and ``hold.lean_side`` (about its Z) degrees,
    turned into the world by ``rotation`` (``(3, 3)``, :func:`posture_rotation`: it takes ``+Y`` up) with the chest
    joint at the same point of every frame (the adult's grip; x = y = 0), then lifted so that the body's lowest
    point over all frames is ``hold.lift`` metres above the ground.
    """
    chest = body.joints[:, 9]
    upright = _rotation_onto(body.rotations[:, 9, :, 1], np.array([0.0, 1.0, 0.0]))
    lean = (axis_angle_matrices(np.array([1.0, 0.0, 0.0]), np.array(np.radians(hold.lean_forward)))
            @ axis_angle_matrices(np.array([0.0, 0.0, 1.0]), np.array(-np.radians(hold.lean_side))))
    rot = np.einsum("ij,jk,tkl->til", np.asarray(rotation, dtype=np.float64), lean, upright)
    placed = body.transformed(rot, -np.einsum("tij,tj->ti", rot, chest))
    trans = np.zeros((body.num_frames, 3))
    trans[:, 2] = hold.lift - float(lowest_z(placed).min())
    return placed.transformed(np.eye(3), trans)


RAIL_RADIUS = 0.016
"""Metres: radius of the bars of the support rail of ``standing_holding``."""
RAIL_HALF_LENGTH = 0.32
"""Metres: half the length of the rail's horizontal bar."""


def holding_rail(body: PosedBody, frame: int = 0) -> np.ndarray:
    """The support a ``standing_holding`` infant holds: ``(3, 2, 3)`` capsule end points (world, metres), each
    with :data:`RAIL_RADIUS`: a horizontal bar through the hands' mean centre, across the infant (along the
    horizontal part of its chest's left-right axis), :data:`RAIL_HALF_LENGTH` to each side, and two vertical posts
    from its ends down to the ground (like a cot side or a baby gate)."""
    hands = [_ELL_INDEX["left_hand"], _ELL_INDEX["right_hand"]]
    centre = body.ell_centre[frame, hands].mean(axis=0)
    across = body.rotations[frame, 9, :, 0].copy()  # the chest's X axis (the infant's left)
    across[2] = 0.0
    norm = np.linalg.norm(across)
    across = across / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])
    a, b = centre - RAIL_HALF_LENGTH * across, centre + RAIL_HALF_LENGTH * across
    ground = np.array([1.0, 1.0, 0.0])
    return np.stack([np.stack([a, b]), np.stack([a, a * ground]), np.stack([b, b * ground])])


def centre_of_mass(body: PosedBody) -> np.ndarray:
    """``(T, 3)`` the body's centre of mass (metres, world), every primitive weighted by its volume (uniform
    density; overlaps counted twice)."""
    v_ell = 4.0 / 3.0 * np.pi * np.prod(body.ell_radii, axis=1)
    length = np.linalg.norm(body.cap_b - body.cap_a, axis=-1)  # (T, C)
    r = body.cap_radii
    v_cap = np.pi * r**2 * length + 4.0 / 3.0 * np.pi * r**3
    weighted = (np.einsum("e,tej->tj", v_ell, body.ell_centre)
                + np.einsum("tc,tcj->tj", v_cap, 0.5 * (body.cap_a + body.cap_b)))
    return weighted / (v_ell.sum() + v_cap.sum(axis=1))[:, None]


def _hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull ``(H, 2)`` of 2-D ``points (N, 2)`` (Andrew's monotone chain)."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return np.asarray(pts)

    def half(seq):
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(reversed(pts))
    return np.asarray(lower[:-1] + upper[:-1])


def _inside_distance(point: np.ndarray, hull: np.ndarray) -> float:
    """Signed distance (metres) of 2-D ``point`` inside the convex polygon ``hull`` (negative outside)."""
    if len(hull) < 3:
        return -np.inf
    edges = np.roll(hull, -1, axis=0) - hull
    normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1) / np.linalg.norm(edges, axis=1, keepdims=True)
    return float(np.min(np.sum((point - hull) * normals, axis=1)))


def _footprint(body: PosedBody, name: str, frame: int) -> np.ndarray:
    """``(8, 2)`` points around where ellipsoid ``name`` meets the ground: its lowest point plus/minus 0.8 of its
    two most horizontal axes (as a rectangle of 4 corners and 4 edge midpoints), in world x, y."""
    i = _ELL_INDEX[name]
    rot, rad = body.ell_rot[frame, i], body.ell_radii[i]
    low = primitive_lowest_points(body, (name,))[frame, 0, :2]
    axes = rot * rad  # columns: the semi-axes
    flat = np.argsort(np.abs(axes[2]))[:2]
    u, v = 0.8 * axes[:2, flat[0]], 0.8 * axes[:2, flat[1]]
    return np.stack([low + a * u + b * v for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0),
                                                       (0, 1), (0, -1))])


def balance_margin(body: PosedBody, detail: str, frame: int = 0) -> float:
    """How far (metres) the centre of mass lies inside the base of support, seen from above (negative: outside,
    the infant would topple). Base of support: the convex hull of the footprints of the feet (standing) or of the
    pelvis and feet, plus the lowest points of the support groups (sitting)."""
    spec = SPECS[check_posture(detail)]
    pts = [support_points(body, spec.supports)[frame, :, :2]]
    names = ("left_foot", "right_foot") if spec.syrip == "Standing" else ("pelvis", "left_foot", "right_foot")
    pts += [_footprint(body, n, frame) for n in names
            if primitive_lowest_points(body, (n,))[frame, 0, 2] <= -SINK + CONTACT_TOL]
    return _inside_distance(centre_of_mass(body)[frame, :2], _hull(np.concatenate(pts)))
