"""Infant body model: a kinematic tree with infant proportions, built from simple primitives.

Frames and units
----------------
* Body frame (rest pose): ``X`` = the infant's own left, ``Y`` = towards the head, ``Z`` = anterior
  (out of the belly). It is right-handed (``X = Y x Z``). Metres.
* The tree is SMIL's 24 kinematic joints in MINI-RGBD file order (see
  :data:`hyper_sapiens.keypoints.MINIRGBD25`) plus the nose vertex on the head (joint 24).
  Rest pose: legs straight down (``-Y``), arms straight out to the sides (T-pose), feet pointing
  anterior.
* Each joint has up to three rotational degrees of freedom (DOFs), each an axis in the parent's
  frame with angle limits typical of an infant lying down. Right-side DOFs mirror the left ones
  (axis ``(ax, ay, az) -> (ax, -ay, -az)``), so a posed body and its mirror image have the same
  angle distribution.

Body parts are ellipsoids (head, torso, pelvis, hands, feet, nose, ears) and capsules (neck and
limbs); part ids are in :data:`PART_NAMES` (0 is the background).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..keypoints import COCO17, MINIRGBD25

NUM_JOINTS = 24  # SMIL kinematic joints; index 24 (nose vertex) is a surface point on the head.
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# Rest-pose offsets from the parent joint for a reference infant (~0.64 m long, ~4 months),
# body frame, metres. Left-side joints only; right-side ones are mirrored in x.
_REST_OFFSETS: dict[int, tuple[float, float, float]] = {
    0: (0.0, 0.0, 0.0),
    1: (0.045, -0.035, 0.0),      # left hip
    3: (0.0, 0.045, -0.005),      # spine
    4: (0.0, -0.115, 0.0),        # left knee (thigh 11.5 cm)
    6: (0.0, 0.05, 0.0),          # spine1
    7: (0.0, -0.105, 0.0),        # left ankle (shank 10.5 cm)
    9: (0.0, 0.045, 0.0),         # spine2
    10: (0.0, -0.018, 0.05),      # left toes
    12: (0.0, 0.06, -0.005),      # neck
    13: (0.025, 0.04, 0.0),       # left collar
    15: (0.0, 0.035, 0.01),       # head (base of the skull)
    16: (0.045, 0.008, 0.0),      # left shoulder joint
    18: (0.085, 0.0, 0.0),        # left elbow (upper arm 8.5 cm)
    20: (0.075, 0.0, 0.0),        # left wrist (forearm 7.5 cm)
    22: (0.045, 0.0, 0.0),        # left fingers
}
_MIRROR: dict[int, int] = {2: 1, 5: 4, 8: 7, 11: 10, 14: 13, 17: 16, 19: 18, 21: 20, 23: 22}
LEFT_JOINTS = (1, 4, 7, 10, 13, 16, 18, 20, 22)

# Which bone-length factor scales each joint's offset (per-subject proportions).
_SEGMENT_OF_JOINT: dict[int, str] = {
    1: "pelvis", 2: "pelvis", 3: "spine", 6: "spine", 9: "spine", 12: "neck", 15: "neck",
    4: "thigh", 5: "thigh", 7: "shank", 8: "shank", 10: "foot", 11: "foot",
    13: "shoulders", 14: "shoulders", 16: "shoulders", 17: "shoulders",
    18: "upper_arm", 19: "upper_arm", 20: "forearm", 21: "forearm", 22: "hand", 23: "hand",
}
SEGMENTS = ("pelvis", "spine", "neck", "thigh", "shank", "foot", "shoulders", "upper_arm", "forearm", "hand")


@dataclass(frozen=True)
class Dof:
    """One rotational degree of freedom: ``axis`` in the parent frame, limits and typical angle (degrees).

    ``spread`` is the standard deviation of the angle's latent (logit) variable; the angle is
    ``lo + (hi - lo) * sigmoid(latent)``, so it always stays within the limits.
    """

    joint: int
    name: str
    axis: tuple[float, float, float]
    lo: float
    hi: float
    typical: float
    spread: float


def _left_dofs() -> list[Dof]:
    d = Dof
    return [
        # spine chain: flexion (+X brings the chest anterior), lateral bend (Z), twist (Y)
        d(3, "spine_flex", (1, 0, 0), -12, 18, 2, 0.7), d(3, "spine_bend", (0, 0, 1), -10, 10, 0, 0.7),
        d(3, "spine_twist", (0, 1, 0), -10, 10, 0, 0.7),
        d(6, "spine1_flex", (1, 0, 0), -8, 12, 1, 0.7), d(6, "spine1_bend", (0, 0, 1), -8, 8, 0, 0.7),
        d(6, "spine1_twist", (0, 1, 0), -8, 8, 0, 0.7),
        d(9, "spine2_flex", (1, 0, 0), -8, 12, 1, 0.7), d(9, "spine2_bend", (0, 0, 1), -8, 8, 0, 0.7),
        d(9, "spine2_twist", (0, 1, 0), -8, 8, 0, 0.7),
        d(12, "neck_flex", (1, 0, 0), -20, 25, 0, 0.8), d(12, "neck_bend", (0, 0, 1), -15, 15, 0, 0.8),
        d(12, "neck_twist", (0, 1, 0), -40, 40, 0, 0.9),
        d(15, "head_flex", (1, 0, 0), -20, 20, 0, 0.8), d(15, "head_bend", (0, 0, 1), -15, 15, 0, 0.8),
        d(15, "head_twist", (0, 1, 0), -45, 45, 0, 0.9),
        # left leg. Hip: flexion about -X (thigh towards anterior), abduction about +Z (outwards),
        # twist about the thigh axis.
        d(1, "hip_flex", (-1, 0, 0), -15, 115, 45, 1.1), d(1, "hip_abd", (0, 0, 1), -10, 65, 25, 0.9),
        d(1, "hip_twist", (0, 1, 0), -40, 50, 10, 0.8),
        d(4, "knee_flex", (1, 0, 0), 0, 145, 65, 1.0),
        d(7, "ankle_flex", (1, 0, 0), -30, 40, 5, 0.8), d(7, "ankle_inv", (0, 0, 1), -20, 20, 0, 0.7),
        d(10, "toes_flex", (1, 0, 0), -10, 30, 5, 0.6),
        # left arm. Collar: small; shoulder: elevation about +Z (towards the head), forward about
        # -Y (towards anterior), twist about the arm axis; elbow flexion about -Y.
        d(13, "collar_elev", (0, 0, 1), -10, 15, 2, 0.6), d(13, "collar_fwd", (0, -1, 0), -10, 15, 2, 0.6),
        d(16, "shoulder_elev", (0, 0, 1), -80, 85, -5, 1.0), d(16, "shoulder_fwd", (0, -1, 0), -20, 100, 20, 1.0),
        d(16, "shoulder_twist", (1, 0, 0), -90, 60, -20, 0.9),
        d(18, "elbow_flex", (0, -1, 0), 0, 145, 70, 1.0),
        d(20, "wrist_flex", (0, -1, 0), -50, 60, 10, 0.8), d(20, "wrist_dev", (0, 0, 1), -20, 30, 0, 0.7),
        d(22, "fingers_flex", (0, -1, 0), 0, 70, 25, 0.8),
    ]


def _mirror_axis(axis: tuple[float, float, float]) -> tuple[float, float, float]:
    return (axis[0], -axis[1], -axis[2])


def _build_dofs() -> tuple[Dof, ...]:
    dofs: list[Dof] = []
    for dof in _left_dofs():
        dofs.append(dof)
        if dof.joint in LEFT_JOINTS:
            right = dof.joint + 1
            dofs.append(Dof(right, "r" + dof.name, _mirror_axis(dof.axis), dof.lo, dof.hi, dof.typical, dof.spread))
    # Order DOFs by joint so that forward kinematics can walk them joint by joint.
    return tuple(sorted(dofs, key=lambda d: d.joint))


DOFS: tuple[Dof, ...] = _build_dofs()
NUM_DOFS = len(DOFS)
DOF_INDEX: dict[str, int] = {d.name: i for i, d in enumerate(DOFS)}
DOF_LO = np.radians([d.lo for d in DOFS])
DOF_HI = np.radians([d.hi for d in DOFS])
_DOF_AXES = np.asarray([d.axis for d in DOFS], dtype=np.float64)
_DOF_AXES /= np.linalg.norm(_DOF_AXES, axis=1, keepdims=True)
_DOFS_OF_JOINT: list[list[int]] = [[i for i, d in enumerate(DOFS) if d.joint == j] for j in range(NUM_JOINTS)]
MIRROR_DOF = np.asarray(
    [DOF_INDEX[("r" + d.name) if d.joint in LEFT_JOINTS else d.name[1:] if d.joint in _MIRROR else d.name]
     for d in DOFS],
    dtype=np.int64,
)
"""``MIRROR_DOF[i]`` is the DOF on the other side of the body (itself for spine/neck/head)."""
MIRROR_SIGN = np.asarray(
    [-1.0 if (d.joint not in LEFT_JOINTS and d.joint not in _MIRROR and d.axis[0] == 0) else 1.0 for d in DOFS]
)
"""Mirroring negates the lateral bend and twist of the spine, neck and head (limits symmetric about 0)."""


def mirror_angles(angles: np.ndarray) -> np.ndarray:
    """DOF angles ``(..., NUM_DOFS)`` of the mirror-image pose (left and right swapped, x -> -x)."""
    return np.asarray(angles)[..., MIRROR_DOF] * MIRROR_SIGN

# --- body parts ------------------------------------------------------------------------------
PART_NAMES: tuple[str, ...] = (
    "background", "head", "neck", "torso", "pelvis",
    "left_upper_arm", "left_forearm", "left_hand", "right_upper_arm", "right_forearm", "right_hand",
    "left_thigh", "left_shank", "left_foot", "right_thigh", "right_shank", "right_foot",
)
PART_ID: dict[str, int] = {n: i for i, n in enumerate(PART_NAMES)}


def _part_flip() -> np.ndarray:
    flip = np.arange(len(PART_NAMES))
    for i, name in enumerate(PART_NAMES):
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(a):
                flip[i] = PART_ID[b + name[len(a):]]
    return flip


PART_FLIP: np.ndarray = _part_flip()
"""``PART_FLIP[p]`` is the part id of ``p``'s mirror image (left <-> right)."""

# Primitive table: (name, kind, part, joint whose frame it follows)
ELLIPSOIDS: tuple[tuple[str, str, int], ...] = (
    ("head", "head", 15), ("chest", "torso", 9), ("abdomen", "torso", 6), ("pelvis", "pelvis", 0),
    ("left_hand", "left_hand", 20), ("right_hand", "right_hand", 21),
    ("left_foot", "left_foot", 7), ("right_foot", "right_foot", 8),
    ("nose", "head", 15), ("left_ear", "head", 15), ("right_ear", "head", 15),
)
CAPSULES: tuple[tuple[str, str, int, int], ...] = (
    # (name, part, from joint, to joint); the frame follows the first joint
    ("neck", "neck", 12, 15),
    ("trunk", "torso", 0, 9),  # fills the waists between the chest, abdomen and pelvis ellipsoids
    ("left_upper_arm", "left_upper_arm", 16, 18), ("left_forearm", "left_forearm", 18, 20),
    ("right_upper_arm", "right_upper_arm", 17, 19), ("right_forearm", "right_forearm", 19, 21),
    ("left_thigh", "left_thigh", 1, 4), ("left_shank", "left_shank", 4, 7),
    ("right_thigh", "right_thigh", 2, 5), ("right_shank", "right_shank", 5, 8),
)
ELLIPSOID_PART = np.asarray([PART_ID[p] for _, p, _ in ELLIPSOIDS], dtype=np.int64)
CAPSULE_PART = np.asarray([PART_ID[p] for _, p, _, _ in CAPSULES], dtype=np.int64)
PRIMITIVE_PART = np.concatenate([ELLIPSOID_PART, CAPSULE_PART])
PRIMITIVE_NAMES: tuple[str, ...] = tuple(e[0] for e in ELLIPSOIDS) + tuple(c[0] for c in CAPSULES)
NUM_PRIMITIVES = len(PRIMITIVE_NAMES)
SUPPORT_PRIMITIVES = np.asarray([PRIMITIVE_NAMES.index(n) for n in ("head", "chest", "abdomen", "pelvis")])

# Face points as directions from the head ellipsoid's centre, head frame (unit-sphere metric).
_FACE_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "nose": (0.0, -0.2, 1.0),
    "left_eye": (0.36, 0.1, 0.93), "right_eye": (-0.36, 0.1, 0.93),
    "left_ear": (1.0, 0.0, -0.08), "right_ear": (-1.0, 0.0, -0.08),
    "mouth": (0.0, -0.5, 0.86),
}


@dataclass(frozen=True)
class InfantShape:
    """Per-subject body shape: joint offsets and primitive sizes (metres, rest pose, body frame).

    The name is historical: adults (:func:`sample_shape` with ``population="adult"``) use the same class.
    """

    offsets: np.ndarray          # (24, 3) offset of each joint from its parent
    head_centre: np.ndarray      # (3,) head ellipsoid centre in the head joint's frame
    head_radii: np.ndarray       # (3,)
    ellipsoid_radii: np.ndarray  # (E, 3) radii of every ellipsoid (head included)
    ellipsoid_centres: np.ndarray  # (E, 3) centres in the frame of the joint they follow
    capsule_radii: np.ndarray    # (C,)
    scale: float                 # overall size factor (1 = reference infant, about 2.6 for an adult)
    population: str = "infant"   # "infant" or "adult"

    @property
    def length(self) -> float:
        """Crown-heel length of the rest pose in metres (approximate)."""
        j = rest_joints(self)
        top = j[15, 1] + self.head_centre[1] + self.head_radii[1]
        return float(top - (j[7, 1] - 0.02 * self.scale))


@dataclass(frozen=True)
class Proportions:
    """How a population's bodies differ from the reference infant (multipliers, before the overall scale).

    ``segments`` scales bone lengths per segment (see :data:`SEGMENTS`), ``head`` the head's size,
    ``torso`` the chest/abdomen/pelvis ellipsoids' radii (x = width, y = along the spine, z = depth),
    ``limb_radius`` the capsules' radii per capsule name prefix, ``hands`` and ``feet`` their ellipsoids.
    """

    scale_range: tuple[float, float]
    segments: dict[str, float]
    head: float = 1.0
    torso: tuple[float, float, float] = (1.0, 1.0, 1.0)
    limb_radius: dict[str, float] = field(default_factory=dict)
    hands: tuple[float, float, float] = (1.0, 1.0, 1.0)
    feet: tuple[float, float, float] = (1.0, 1.0, 1.0)
    segment_spread: float = 0.06
    chub_spread: float = 0.09


POPULATIONS: dict[str, Proportions] = {
    # the reference: a ~0.64 m infant of about 4 months, 0.52-0.73 m in all
    "infant": Proportions(scale_range=(0.82, 1.14), segments={s: 1.0 for s in SEGMENTS}),
    # adults 1.5-1.85 m: a head of about 1/7.5 of the body (an infant's is about 1/4), legs and arms 1.3-1.55
    # times longer relative to the trunk, a narrower pelvis and shorter neck relative to the body, and
    # thinner limbs for their length (anthropometric ratios as in Drillis & Contini's segment tables)
    "adult": Proportions(
        scale_range=(2.35, 2.85),
        segments={"pelvis": 0.8, "spine": 1.05, "neck": 0.7, "thigh": 1.45, "shank": 1.55, "foot": 1.05,
                  "shoulders": 1.05, "upper_arm": 1.35, "forearm": 1.35, "hand": 0.8},
        head=0.52,
        torso=(0.85, 0.9, 0.72),
        limb_radius={"neck": 0.8, "trunk": 0.8, "left_upper_arm": 0.72, "right_upper_arm": 0.72,
                     "left_forearm": 0.68, "right_forearm": 0.68, "left_thigh": 0.88, "right_thigh": 0.88,
                     "left_shank": 0.78, "right_shank": 0.78},
        hands=(0.8, 0.8, 0.8),
        feet=(0.95, 0.95, 1.25),
        segment_spread=0.04,
        chub_spread=0.12,
    ),
}


def sample_shape(rng: np.random.Generator, population: str = "infant") -> InfantShape:
    """Draw a subject: overall size, bone-length factors, limb radii (chubbiness), head size.

    ``population`` is a key of :data:`POPULATIONS` ("infant" or "adult"). For infants the draws are the
    same as before adults existed, so infant data sets stay byte-identical.
    """
    try:
        prop = POPULATIONS[population]
    except KeyError:
        raise ValueError(f"unknown population {population!r}; known: {sorted(POPULATIONS)}") from None
    scale = float(rng.uniform(*prop.scale_range))
    spread = prop.segment_spread
    seg = {s: prop.segments[s] * float(np.clip(rng.normal(1.0, spread), 1 - 2.5 * spread, 1 + 2.5 * spread))
           for s in SEGMENTS}
    offsets = np.zeros((NUM_JOINTS, 3))
    for j, off in _REST_OFFSETS.items():
        offsets[j] = off
    for r, l in _MIRROR.items():
        offsets[r] = offsets[l] * (-1.0, 1.0, 1.0)
    for j in range(1, NUM_JOINTS):
        offsets[j] *= seg[_SEGMENT_OF_JOINT[j]]
    # small left/right asymmetry, as in real bodies
    offsets[list(_MIRROR)] *= 1.0 + rng.normal(0.0, 0.01, size=(len(_MIRROR), 1))
    offsets *= scale
    chub = float(np.clip(rng.normal(1.0, prop.chub_spread), 0.8, 1.25))
    width = float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15))
    head = float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)) * scale * prop.head
    head_radii = np.array([0.062, 0.078, 0.068]) * head
    head_centre = np.array([0.0, 0.062, 0.012]) * head
    s = scale
    torso = np.asarray(prop.torso)
    hands, feet = np.asarray(prop.hands), np.asarray(prop.feet)
    radii = {
        "head": head_radii,
        "chest": np.array([0.076 * width, 0.085, 0.058]) * torso * s * chub ** 0.5,
        "abdomen": np.array([0.073 * width, 0.08, 0.062]) * torso * s * chub ** 0.6,
        "pelvis": np.array([0.071 * width, 0.065, 0.055]) * torso * s * chub ** 0.5,
        "left_hand": np.array([0.03, 0.021, 0.012]) * hands * s,
        "right_hand": np.array([0.03, 0.021, 0.012]) * hands * s,
        "left_foot": np.array([0.021, 0.016, 0.038]) * feet * s,
        "right_foot": np.array([0.021, 0.016, 0.038]) * feet * s,
        "nose": np.array([0.009, 0.008, 0.009]) * head,
        "left_ear": np.array([0.007, 0.018, 0.012]) * head,
        "right_ear": np.array([0.007, 0.018, 0.012]) * head,
    }
    centres = {
        "head": head_centre,
        "chest": np.array([0.0, 0.02, 0.0]) * s,
        "abdomen": np.array([0.0, -0.01, 0.006]) * s,
        "pelvis": np.array([0.0, -0.01, 0.0]) * s,
        "left_hand": np.array([0.026, 0.0, 0.0]) * hands * s,
        "right_hand": np.array([-0.026, 0.0, 0.0]) * hands * s,
        "left_foot": np.array([0.0, -0.012, 0.022]) * feet * s,
        "right_foot": np.array([0.0, -0.012, 0.022]) * feet * s,
    }
    # nose and ears: small ellipsoids half sunk into the head surface
    for name, depth_in in (("nose", 0.5), ("left_ear", 0.3), ("right_ear", 0.3)):
        along = radii[name][2 if name == "nose" else 0]
        direction = _FACE_DIRECTIONS[name]
        centres[name] = _head_surface_point(head_centre, head_radii, direction) - depth_in * along * _unit(direction)
    cap = {
        "neck": 0.03, "trunk": 0.05 / chub**0.5,
        "left_upper_arm": 0.024, "left_forearm": 0.021, "right_upper_arm": 0.024, "right_forearm": 0.021,
        "left_thigh": 0.032, "left_shank": 0.025, "right_thigh": 0.032, "right_shank": 0.025,
    }
    cap = {k: v * prop.limb_radius.get(k, 1.0) for k, v in cap.items()}
    return InfantShape(
        offsets=offsets,
        head_centre=head_centre,
        head_radii=head_radii,
        ellipsoid_radii=np.stack([radii[n] for n, _, _ in ELLIPSOIDS]),
        ellipsoid_centres=np.stack([centres[n] for n, _, _ in ELLIPSOIDS]),
        capsule_radii=np.asarray([cap[n] for n, _, _, _ in CAPSULES]) * s * chub,
        scale=scale,
        population=population,
    )


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _head_surface_point(centre: np.ndarray, radii: np.ndarray, direction) -> np.ndarray:
    """Point of the head ellipsoid in ``direction`` from its centre (head joint frame)."""
    w = _unit(direction)
    return centre + w / np.linalg.norm(w / radii)


def face_points_local(shape: InfantShape) -> dict[str, np.ndarray]:
    """Nose tip, eyes, ears and mouth centre in the head joint's frame (metres)."""
    pts = {k: _head_surface_point(shape.head_centre, shape.head_radii, v) for k, v in _FACE_DIRECTIONS.items()}
    nose_i = PRIMITIVE_NAMES.index("nose")
    pts["nose"] = shape.ellipsoid_centres[nose_i] + shape.ellipsoid_radii[nose_i][2] * _unit(_FACE_DIRECTIONS["nose"])
    for side in ("left_ear", "right_ear"):
        i = PRIMITIVE_NAMES.index(side)
        pts[side] = shape.ellipsoid_centres[i] + 0.5 * shape.ellipsoid_radii[i][0] * _unit(_FACE_DIRECTIONS[side])
    return pts


def rest_joints(shape: InfantShape) -> np.ndarray:
    """(24, 3) rest-pose joint positions in the body frame."""
    j = np.zeros((NUM_JOINTS, 3))
    for k in range(1, NUM_JOINTS):
        j[k] = j[PARENTS[k]] + shape.offsets[k]
    return j


def axis_angle_matrices(axes: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rodrigues: rotation matrices ``(..., 3, 3)`` for unit ``axes (..., 3)`` and ``angles (...)`` (radians)."""
    axes = np.asarray(axes, dtype=np.float64)
    angles = np.asarray(angles, dtype=np.float64)
    x, y, z = np.broadcast_arrays(axes[..., 0], axes[..., 1], axes[..., 2])
    c, s = np.cos(angles), np.sin(angles)
    c, s, x, y, z = np.broadcast_arrays(c, s, x, y, z)
    C = 1.0 - c
    return np.stack(
        [
            np.stack([c + x * x * C, x * y * C - z * s, x * z * C + y * s], -1),
            np.stack([y * x * C + z * s, c + y * y * C, y * z * C - x * s], -1),
            np.stack([z * x * C - y * s, z * y * C + x * s, c + z * z * C], -1),
        ],
        -2,
    )


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched 3x3 @ 3x3 (or 3x3 @ 3-vector with b[..., None]) written elementwise for determinism."""
    return np.einsum("...ij,...jk->...ik", a, b)


def _apply(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", r, v)


@dataclass(frozen=True)
class PosedBody:
    """A body in world coordinates for ``T`` frames (metres).

    Attributes:
        joints: (T, 25, 3) MINI-RGBD joints (24 SMIL joints + nose tip).
        rotations: (T, 24, 3, 3) global joint frames (columns: the joint's X, Y, Z axes).
        face: (T, 5, 3) nose, left eye, right eye, left ear, right ear (COCO order).
        mouth: (T, 3) centre of the mouth (appearance only).
        ell_centre: (T, E, 3), ell_rot: (T, E, 3, 3), ell_radii: (E, 3) ellipsoids.
        cap_a, cap_b: (T, C, 3) capsule end points; cap_rot: (T, C, 3, 3) frames; cap_radii: (C,).
    """

    joints: np.ndarray
    rotations: np.ndarray
    face: np.ndarray
    mouth: np.ndarray
    ell_centre: np.ndarray
    ell_rot: np.ndarray
    ell_radii: np.ndarray
    cap_a: np.ndarray
    cap_b: np.ndarray
    cap_rot: np.ndarray
    cap_radii: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def transformed(self, rot: np.ndarray, trans: np.ndarray) -> PosedBody:
        """Apply ``x -> rot @ x + trans`` (rot (3, 3) or (T, 3, 3), trans (3,) or (T, 3)) to everything."""
        rot = np.asarray(rot, dtype=np.float64)
        trans = np.asarray(trans, dtype=np.float64)
        if rot.ndim == 2:
            rot = np.broadcast_to(rot, (self.num_frames, 3, 3))
        if trans.ndim == 1:
            trans = np.broadcast_to(trans, (self.num_frames, 3))
        r1, t1 = rot[:, None], trans[:, None]

        def pts(x: np.ndarray) -> np.ndarray:
            return _apply(r1, x) + t1

        def frames(x: np.ndarray) -> np.ndarray:
            return _matmul(r1, x)

        return PosedBody(
            joints=pts(self.joints), rotations=frames(self.rotations), face=pts(self.face),
            mouth=_apply(rot, self.mouth) + trans,
            ell_centre=pts(self.ell_centre), ell_rot=frames(self.ell_rot), ell_radii=self.ell_radii,
            cap_a=pts(self.cap_a), cap_b=pts(self.cap_b), cap_rot=frames(self.cap_rot), cap_radii=self.cap_radii,
        )

    def coco17(self) -> np.ndarray:
        """(T, 17, 3) COCO17 keypoints: face points from the head, body joints from SMIL joints."""
        out = np.zeros((self.num_frames, 17, 3))
        out[:, 0:5] = self.face
        for name, src in _COCO_FROM_SMIL.items():
            out[:, COCO17.index(name)] = self.joints[:, src]
        return out

    def lowest_point(self, prims: np.ndarray | None = None) -> np.ndarray:
        """(T,) lowest world z of the ellipsoids in ``prims`` (indices into the primitive table)."""
        ell = np.arange(len(ELLIPSOIDS)) if prims is None else prims
        ext = np.sqrt(np.sum((self.ell_rot[:, ell, 2, :] * self.ell_radii[ell]) ** 2, axis=-1))
        return np.min(self.ell_centre[:, ell, 2] - ext, axis=1)

    def limb_lowest_point(self) -> np.ndarray:
        """(T,) lowest world z of every primitive (ellipsoids and capsules)."""
        ell = self.lowest_point()
        cap = np.min(np.minimum(self.cap_a[..., 2], self.cap_b[..., 2]) - self.cap_radii, axis=1)
        return np.minimum(ell, cap)


# COCO17 body joints from SMIL joints (the same table as hyper_sapiens/keypoints/converter.py).
_COCO_FROM_SMIL: dict[str, int] = {
    name: MINIRGBD25.index(src)
    for name, src in {
        "left_shoulder": "leftUpperArm", "right_shoulder": "rightUpperArm",
        "left_elbow": "leftForeArm", "right_elbow": "rightForeArm",
        "left_wrist": "leftHand", "right_wrist": "rightHand",
        "left_hip": "leftThigh", "right_hip": "rightThigh",
        "left_knee": "leftCalf", "right_knee": "rightCalf",
        "left_ankle": "leftFoot", "right_ankle": "rightFoot",
    }.items()
}


def local_rotations(angles: np.ndarray) -> np.ndarray:
    """(T, 24, 3, 3) joint rotations relative to the parent from DOF angles ``(T, NUM_DOFS)`` (radians)."""
    angles = np.asarray(angles, dtype=np.float64)
    t = angles.shape[0]
    per_dof = axis_angle_matrices(_DOF_AXES[None], angles)  # (T, D, 3, 3)
    rots = np.broadcast_to(np.eye(3), (t, NUM_JOINTS, 3, 3)).copy()
    for j in range(NUM_JOINTS):
        for i in _DOFS_OF_JOINT[j]:
            rots[:, j] = _matmul(rots[:, j], per_dof[:, i])
    return rots


def forward_kinematics(shape: InfantShape, angles: np.ndarray) -> PosedBody:
    """Pose ``shape`` with DOF ``angles (T, NUM_DOFS)`` (radians); body frame, pelvis at the origin."""
    angles = np.atleast_2d(angles)
    t = angles.shape[0]
    local = local_rotations(angles)
    glob = np.zeros((t, NUM_JOINTS, 3, 3))
    pos = np.zeros((t, NUM_JOINTS + 1, 3))
    glob[:, 0] = local[:, 0]
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        pos[:, j] = pos[:, p] + _apply(glob[:, p], shape.offsets[j])
        glob[:, j] = _matmul(glob[:, p], local[:, j])
    head_r, head_p = glob[:, 15], pos[:, 15]
    face_local = face_points_local(shape)
    face = np.stack(
        [head_p + _apply(head_r, face_local[k]) for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")],
        axis=1,
    )
    pos[:, 24] = face[:, 0]
    mouth = head_p + _apply(head_r, face_local["mouth"])
    ell_joint = [j for _, _, j in ELLIPSOIDS]
    ell_rot = glob[:, ell_joint]
    ell_centre = pos[:, ell_joint] + _apply(ell_rot, shape.ellipsoid_centres[None])
    cap_from = [a for _, _, a, _ in CAPSULES]
    cap_to = [b for _, _, _, b in CAPSULES]
    return PosedBody(
        joints=pos, rotations=glob, face=face, mouth=mouth,
        ell_centre=ell_centre, ell_rot=ell_rot, ell_radii=shape.ellipsoid_radii,
        cap_a=pos[:, cap_from], cap_b=pos[:, cap_to], cap_rot=glob[:, cap_from], cap_radii=shape.capsule_radii,
    )


# --- keypoint ownership (which parts a keypoint may be seen on) --------------------------------
def _own_parts_coco() -> list[tuple[int, ...]]:
    p = PART_ID
    table = {
        "nose": ("head",), "left_eye": ("head",), "right_eye": ("head",), "left_ear": ("head",), "right_ear": ("head",),
        "left_shoulder": ("torso", "left_upper_arm"), "right_shoulder": ("torso", "right_upper_arm"),
        "left_elbow": ("left_upper_arm", "left_forearm"), "right_elbow": ("right_upper_arm", "right_forearm"),
        "left_wrist": ("left_forearm", "left_hand"), "right_wrist": ("right_forearm", "right_hand"),
        "left_hip": ("pelvis", "left_thigh"), "right_hip": ("pelvis", "right_thigh"),
        "left_knee": ("left_thigh", "left_shank"), "right_knee": ("right_thigh", "right_shank"),
        "left_ankle": ("left_shank", "left_foot"), "right_ankle": ("right_shank", "right_foot"),
    }
    return [tuple(p[n] for n in table[k]) for k in COCO17.names]


def _own_parts_smil() -> list[tuple[int, ...]]:
    p = PART_ID
    table = {
        "global": ("pelvis", "torso"), "spine": ("torso", "pelvis"), "spine1": ("torso",), "spine2": ("torso",),
        "neck": ("neck", "torso", "head"), "head": ("head", "neck"), "noseVertex": ("head",),
    }
    for side in ("left", "right"):
        s = side + "_"
        table.update({
            f"{side}Thigh": ("pelvis", s + "thigh"), f"{side}Calf": (s + "thigh", s + "shank"),
            f"{side}Foot": (s + "shank", s + "foot"), f"{side}Toes": (s + "foot",),
            f"{side}Shoulder": ("torso", "neck"), f"{side}UpperArm": ("torso", s + "upper_arm"),
            f"{side}ForeArm": (s + "upper_arm", s + "forearm"), f"{side}Hand": (s + "forearm", s + "hand"),
            f"{side}Fingers": (s + "hand",),
        })
    return [tuple(p[n] for n in table[k]) for k in MINIRGBD25.names]


def _own_mask(rows: list[tuple[int, ...]]) -> np.ndarray:
    m = np.zeros((len(rows), len(PART_NAMES)), dtype=bool)
    for k, parts in enumerate(rows):
        m[k, list(parts)] = True
    return m


OWN_PARTS_COCO = _own_mask(_own_parts_coco())
"""(17, P) bool: ``OWN_PARTS_COCO[k, p]`` if COCO keypoint ``k`` may be seen on part ``p``."""
OWN_PARTS_SMIL = _own_mask(_own_parts_smil())
"""(25, P) bool: the same for the 25 MINI-RGBD joints."""
# Surface keypoints (face points) must be within SURFACE_TOL of the visible surface; interior
# joints may lie up to their own part's thickness behind it.
SURFACE_COCO = np.zeros(17, dtype=bool)
SURFACE_COCO[:5] = True
SURFACE_SMIL = np.zeros(25, dtype=bool)
SURFACE_SMIL[24] = True


def _part_half_thickness(shape: InfantShape) -> np.ndarray:
    """(P,) largest radius of each part's primitives (metres); 0 for the background."""
    out = np.zeros(len(PART_NAMES))
    for i, part in enumerate(ELLIPSOID_PART):
        out[part] = max(out[part], float(np.max(shape.ellipsoid_radii[i])))
    for i, part in enumerate(CAPSULE_PART):
        out[part] = max(out[part], float(shape.capsule_radii[i]))
    return out


def keypoint_depth_bounds(shape: InfantShape, own: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """(K,) how far (metres) the visible surface may lie in front of a keypoint that is still visible.

    Interior joints are seen through their own part, so the bound is that part's thickness plus
    1 cm; surface points (face) allow :data:`SURFACE_TOL`.
    """
    thick = _part_half_thickness(shape)
    bound = np.max(np.where(own, thick[None, :], 0.0), axis=1) + 0.01
    return np.where(surface, SURFACE_TOL, bound)


SURFACE_TOL = 0.015
"""Metres: a surface keypoint is visible when the rendered surface is within this distance of it."""
