"""Random infant poses and smooth motion sequences in joint-angle space.

Every DOF angle is ``lo + (hi - lo) * sigmoid(z)``: the latent ``z`` is free, the angle always
stays within the joint's limits (a smooth clip). A static pose draws ``z ~ N(mu, sigma)``; a
motion sequence makes ``z(t)`` a smooth random process with the same marginal distribution:
low-pass filtered Gaussian noise (slow drifts: head turning, posture) plus bursts of rhythmic
movement -- kicking (hip, knee and ankle flexion in phase, legs alternating or together) and arm
waving (shoulder and elbow) -- whose amplitude itself waxes and wanes.

Postures: the lying ones (supine, prone, side-lying) are placed on the mattress plane (world ``z = 0``, up
``+z``) with the torso and head resting on it; the others (prone on forearms or hands, crawling, sitting,
standing: :mod:`postures`) draw their latents from their own templates and rest their support points on the
ground (:func:`postures.rest_on_ground`); held ones (:data:`postures.HELD`) hang in the air from the chest
(:func:`postures.hold_in_air`). Clips (:func:`sample_motion` with many frames) work for every infant posture; in the
non-lying ones the supporting limbs neither kick nor wave and the body is levelled frame by frame; a held infant
drifts and waves like a standing one and kicks gently, its chest upright and in place in every frame.
Adults have the lying postures only.
"""

from __future__ import annotations

import numpy as np

from .body import (
    DOF_HI,
    DOF_INDEX,
    DOF_LO,
    DOFS,
    NUM_DOFS,
    SUPPORT_PRIMITIVES,
    InfantShape,
    PosedBody,
    axis_angle_matrices,
    forward_kinematics,
)
from .postures import LYING, SINK, SPECS, Hold, check_posture, hold_in_air, posture_rotation, rest_on_ground

POSTURES = ("supine", "prone", "side_left", "side_right")  # the lying ones; all: postures.POSTURE_DETAILS
POSTURE_PROBS = (0.76, 0.12, 0.06, 0.06)
ADULT_POSTURE_PROBS = (0.45, 0.19, 0.18, 0.18)
"""Adults on a bed or the floor, as in in-bed pose data sets (SLP): more prone and side-lying than infants."""
# Roll of the body about its long axis, degrees: 0 = lying on the back (anterior up).
_POSTURE_ROLL = {"supine": 0.0, "prone": 180.0, "side_left": -90.0, "side_right": 90.0}


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _latent_stats(posture: str, population: str = "infant") -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of every DOF's latent variable for ``posture`` and ``population``."""
    typical = np.asarray([d.typical for d in DOFS], dtype=np.float64)
    spread = np.asarray([d.spread for d in DOFS], dtype=np.float64)
    check_posture(posture)
    if posture in SPECS and population != "infant":
        raise ValueError(f"posture {posture!r} is for infants; population {population!r} has {LYING}")
    if posture in SPECS:
        _template_pose(SPECS[posture], typical, spread)
    elif population == "adult":
        _adult_pose(posture, typical, spread)
    elif population != "infant":
        raise ValueError(f"unknown population {population!r}; expected 'infant' or 'adult'")
    elif posture.startswith("side"):
        # on a side (issue 24; before, the supine pose pushed the lower arm and leg up to 10 cm into the
        # mattress): curled a little, both arms in front of the chest, the legs together
        for name, (value, sd) in _INFANT_SIDE.items():
            for key in (name, "r" + name) if "r" + name in DOF_INDEX else (name,):
                typical[DOF_INDEX[key]] = value
                spread[DOF_INDEX[key]] = sd
    elif posture == "prone":
        # lying on the belly: legs mostly extended or frog-like, arms up beside the head,
        # elbows bent with the forearms on the mattress, head turned to a side
        for side in ("", "r"):
            typical[DOF_INDEX[side + "hip_flex"]] = 5
            typical[DOF_INDEX[side + "hip_abd"]] = 30
            typical[DOF_INDEX[side + "knee_flex"]] = 45
            typical[DOF_INDEX[side + "shoulder_elev"]] = 40
            typical[DOF_INDEX[side + "shoulder_fwd"]] = -5
            typical[DOF_INDEX[side + "shoulder_twist"]] = -60
            typical[DOF_INDEX[side + "elbow_flex"]] = 90
            spread[DOF_INDEX[side + "hip_flex"]] = 0.6
            spread[DOF_INDEX[side + "shoulder_fwd"]] = 0.6
        typical[DOF_INDEX["neck_flex"]] = -10
    lo = np.asarray([d.lo for d in DOFS], dtype=np.float64)
    hi = np.asarray([d.hi for d in DOFS], dtype=np.float64)
    frac = np.clip((typical - lo) / (hi - lo), 0.02, 0.98)
    return _logit(frac), spread


# Adult lying poses (degrees, DOF names without the right side's "r" prefix): (typical, spread) per posture.
# Infants lie with hips and knees flexed (about 45 and 65 degrees) and the arms out; adults lie stretched out
# on the back or belly with the arms along the body or above the head, and curl up when lying on a side.
_ADULT_POSES: dict[str, dict[str, tuple[float, float]]] = {
    "supine": {"hip_flex": (8, 0.8), "hip_abd": (10, 0.8), "hip_twist": (15, 0.8), "knee_flex": (10, 1.0),
               "ankle_flex": (-15, 0.8), "shoulder_elev": (-55, 1.3), "shoulder_fwd": (5, 0.9),
               "shoulder_twist": (-10, 0.9), "elbow_flex": (20, 1.1)},
    "prone": {"hip_flex": (-3, 0.6), "hip_abd": (12, 0.8), "knee_flex": (10, 1.0), "ankle_flex": (-25, 0.6),
              "shoulder_elev": (-20, 1.6), "shoulder_fwd": (-5, 0.6), "shoulder_twist": (-40, 1.0),
              "elbow_flex": (45, 1.3), "neck_flex": (-10, 0.8)},
    # side-lying, often curled (hips and knees flexed, arms in front of the chest)
    "side": {"hip_flex": (55, 1.2), "hip_abd": (5, 0.7), "knee_flex": (60, 1.2), "shoulder_elev": (-25, 1.2),
             "shoulder_fwd": (55, 1.0), "elbow_flex": (70, 1.1), "spine_flex": (6, 0.9), "spine1_flex": (4, 0.9),
             "neck_flex": (10, 0.8)},
}


_INFANT_SIDE: dict[str, tuple[float, float]] = {
    "hip_flex": (50, 0.9), "hip_abd": (2, 0.5), "knee_flex": (60, 1.0), "shoulder_elev": (-15, 0.6),
    "shoulder_fwd": (88, 0.5), "shoulder_twist": (-30, 0.8), "elbow_flex": (70, 1.0), "spine_flex": (4, 0.7),
    "neck_flex": (5, 0.7),
}
"""An infant lying on a side (degrees, latent spread): hips and knees flexed, arms in front of the chest."""


def _template_pose(spec, typical: np.ndarray, spread: np.ndarray) -> None:
    """Write a non-lying posture's template (degrees, latent spread) into ``typical``/``spread`` in place;
    DOFs the template leaves out keep their default typical angle and ``spec.drift`` times their spread."""
    spread *= spec.drift
    for name, (value, sd) in spec.angles.items():
        if name not in DOF_INDEX:
            raise ValueError(f"posture {spec.name!r}: unknown DOF {name!r}")
        for key in (name, "r" + name) if "r" + name in DOF_INDEX else (name,):
            typical[DOF_INDEX[key]] = value
            spread[DOF_INDEX[key]] = sd


def template_angles(posture: str) -> np.ndarray:
    """The template (mean) pose of an infant ``posture``: DOF angles ``(NUM_DOFS,)`` in radians."""
    mu, _ = _latent_stats(posture, "infant")
    return latent_to_angles(mu)


def _adult_pose(posture: str, typical: np.ndarray, spread: np.ndarray) -> None:
    table = _ADULT_POSES["side" if posture.startswith("side") else posture]
    for name, (value, sd) in table.items():
        for side in ("", "r"):
            key = side + name
            if key in DOF_INDEX:
                typical[DOF_INDEX[key]] = value
                spread[DOF_INDEX[key]] = sd


def latent_to_angles(z: np.ndarray) -> np.ndarray:
    """DOF angles (radians) from latents ``z (..., NUM_DOFS)``; always within the limits."""
    return DOF_LO + (DOF_HI - DOF_LO) * _sigmoid(z)


def sample_pose(rng: np.random.Generator, posture: str = "supine", population: str = "infant") -> np.ndarray:
    """One random pose: DOF angles ``(NUM_DOFS,)`` in radians, within the joint limits."""
    return sample_motion(rng, 1, posture=posture, population=population)[0]


def _smooth_noise(rng: np.random.Generator, t: int, n: int, sigma_frames: np.ndarray) -> np.ndarray:
    """(t, n) Gaussian noise low-pass filtered along time with per-column Gaussian kernels.

    Each column has unit marginal variance whatever its kernel width, so a one-frame draw is a
    standard normal sample.
    """
    out = np.empty((t, n))
    for i in range(n):
        s = max(float(sigma_frames[i]), 0.5)
        half = int(np.ceil(3 * s))
        k = np.exp(-0.5 * (np.arange(-half, half + 1) / s) ** 2)
        k /= np.sqrt(np.sum(k * k))
        white = rng.standard_normal(t + 2 * half)
        out[:, i] = np.convolve(white, k, mode="valid")
    return out


# DOFs that join in kicking and waving, with their gain (in latent units) for each side.
_KICK = {"hip_flex": 1.0, "knee_flex": 1.0, "ankle_flex": 0.5, "hip_abd": 0.3}
_WAVE = {"shoulder_elev": 0.8, "shoulder_fwd": 0.8, "elbow_flex": 1.0, "wrist_flex": 0.5}


def sample_motion(rng: np.random.Generator, num_frames: int, fps: float = 30.0, posture: str = "supine",
                  population: str = "infant") -> np.ndarray:
    """A smooth motion: DOF angles ``(num_frames, NUM_DOFS)`` in radians, within the joint limits.

    The latent of every DOF is ``mu + sigma * (a * drift + b * rhythm)`` with ``a^2 + b^2 / 2 ~ 1``:
    ``drift`` is filtered noise (Gaussian kernels of 0.3-1.7 s), ``rhythm`` a kicking (0.5-1.6 Hz)
    or arm-waving (0.4-1.2 Hz) oscillation modulated by a slowly varying envelope.
    """
    t = int(num_frames)
    mu, sigma = _latent_stats(posture, population)
    # time constants: proximal/trunk joints drift slowly, distal joints faster
    tau_s = np.where(np.isin([d.joint for d in DOFS], (3, 6, 9, 12, 15)), 1.2, 0.5)
    tau_s = tau_s * rng.uniform(0.6, 1.4, size=NUM_DOFS)
    drift = _smooth_noise(rng, t, NUM_DOFS, tau_s * fps)
    rhythm = np.zeros((t, NUM_DOFS))
    activity = float(rng.uniform(0.3, 1.0))  # some infants move a lot, some little
    for group, sides_together_p in ((_KICK, 0.3), (_WAVE, 0.4)):
        freq = rng.uniform(0.5, 1.6) if group is _KICK else rng.uniform(0.4, 1.2)
        phase0 = rng.uniform(0, 2 * np.pi)
        together = rng.random() < sides_together_p
        env = _sigmoid(2.5 * _smooth_noise(rng, t, 2, np.full(2, 1.0 * fps)) + rng.normal(0.0, 1.0, 2))
        # slowly wandering frequency: integrate a smooth perturbation of the phase velocity
        dphase = 2 * np.pi * freq * (1.0 + 0.15 * _smooth_noise(rng, t, 1, np.array([1.5 * fps]))[:, 0]) / fps
        phase = phase0 + np.cumsum(dphase)
        for s, side in enumerate(("", "r")):
            side_phase = phase + (0.0 if together else np.pi) * s
            for name, gain in group.items():
                i = DOF_INDEX[side + name]
                rhythm[:, i] = np.sqrt(2.0) * gain * env[:, s] * np.sin(side_phase + 0.3 * gain)
    rhythm *= activity
    if posture in SPECS:  # supporting limbs neither kick nor wave
        spec = SPECS[posture]
        for group, gain in ((_KICK, spec.kick), (_WAVE, spec.wave)):
            for name in group:
                rhythm[:, [DOF_INDEX[name], DOF_INDEX["r" + name]]] *= gain
    b = np.sqrt(np.clip(np.mean(rhythm**2, axis=0), 0.0, 1.0))  # rms of the rhythmic part per DOF
    a = np.sqrt(np.clip(1.0 - b**2, 0.25, 1.0))
    z = mu + sigma * (a * drift + rhythm)
    return latent_to_angles(z)


def sample_posture(rng: np.random.Generator, population: str = "infant") -> str:
    """A random posture: mostly supine for infants, more often prone or on a side for adults."""
    probs = ADULT_POSTURE_PROBS if population == "adult" else POSTURE_PROBS
    return str(POSTURES[int(rng.choice(len(POSTURES), p=probs))])


def root_rotation(posture: str, heading: float, jitter: np.ndarray | None = None) -> np.ndarray:
    """Body -> world rotation: roll about the body's long axis for the posture, then the heading.

    Heading 0 puts the head towards world ``+y``; a supine body then has its left along ``+x``.
    ``jitter`` (3,) adds small rotations (radians) about world x, y, z.
    """
    roll = np.radians(_POSTURE_ROLL[posture])
    r = axis_angle_matrices(np.array([0.0, 1.0, 0.0]), np.array(roll))
    if jitter is not None:
        for axis, ang in zip(np.eye(3), jitter):
            r = axis_angle_matrices(axis, np.array(ang)) @ r
    return axis_angle_matrices(np.array([0.0, 0.0, 1.0]), np.array(heading)) @ r


def place_on_mattress(body: PosedBody, rotation: np.ndarray, sink: float = 0.004,
                      allowance: float = 0.015, max_lift: float = 0.06) -> PosedBody:
    """Rotate the body-frame ``body`` into the world and rest it on the mattress (z = 0).

    The lowest point of the head and torso sinks ``sink`` metres into the (soft) mattress. A limb
    that would go deeper than ``allowance`` lifts the whole body by the excess (at most
    ``max_lift``), so nothing sinks far into the mattress.
    """
    world = body.transformed(rotation, np.zeros(3))
    support = world.lowest_point(SUPPORT_PRIMITIVES)
    lift = -support - sink
    lowest = world.limb_lowest_point() + lift
    lift = lift + np.clip(-allowance - lowest, 0.0, max_lift)
    trans = np.zeros((body.num_frames, 3))
    trans[:, 2] = lift
    return world.transformed(np.eye(3), trans)


def pose_body(shape: InfantShape, angles: np.ndarray, posture: str, heading: float,
              jitter: np.ndarray | None = None, offset_xy: np.ndarray | None = None,
              hold: Hold | None = None) -> PosedBody:
    """Forward kinematics, posture/heading rotation and mattress placement in one call.

    Args:
        angles: (T, NUM_DOFS) radians.
        heading: radians about world z (0: head towards +y).
        jitter: (3,) small root rotations (radians), see :func:`root_rotation`.
        offset_xy: (T, 2) or (2,) horizontal translation of the root (metres).
        hold: how a held posture (:data:`postures.HELD`) is held up (default :class:`postures.Hold`: 15 cm above
            the ground, no lean beyond ``jitter``); ignored for the others.
    """
    check_posture(posture)
    body = forward_kinematics(shape, angles)
    if posture in SPECS:
        if shape.population != "infant":
            raise ValueError(f"posture {posture!r} is for infants; adults have {LYING}")
        rotation = posture_rotation(posture, heading, jitter)
        if SPECS[posture].held:
            placed = hold_in_air(body, rotation, hold if hold is not None else Hold())
        else:
            placed = rest_on_ground(body.transformed(rotation, np.zeros(3)),
                                    SPECS[posture].supports, sink=SINK, flat_feet=SPECS[posture].flat_feet)
        if offset_xy is not None:
            off = np.zeros((placed.num_frames, 3))
            off[:, :2] = offset_xy
            placed = placed.transformed(np.eye(3), off)
        return placed
    # contact tolerances are for an infant's size; an adult's scale with the body
    size = shape.scale if shape.population != "infant" else 1.0
    placed = place_on_mattress(body, root_rotation(posture, heading, jitter), sink=0.004 * size,
                               allowance=0.015 * size, max_lift=0.06 * size)
    if offset_xy is not None:
        off = np.zeros((placed.num_frames, 3))
        off[:, :2] = offset_xy
        placed = placed.transformed(np.eye(3), off)
    return placed
