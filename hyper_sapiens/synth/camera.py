"""Pinhole cameras: above the mattress, oblique, at eye level and at floor level.

Camera frame (``docs/synth.md`` § Conventions): x right, y down, z forward (away from the camera). Pixel centres at
integer coordinates: pixel ``(row v, column u)`` looks along ``((u - cx) / fx, (v - cy) / fy, 1)``.
World frame: the mattress is the plane ``z = 0`` with ``+z`` up, towards the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import axis_angle_matrices

# MINI-RGBD's published intrinsics at 640x480 (the values hard-coded in public MINI-RGBD loaders,
# e.g. the data set's depth_to_3D.py as quoted in several GitHub projects).
MINIRGBD_INTRINSICS = {
    "fx": 588.67905803875317, "fy": 590.25690113005601,
    "cx": 322.22048191353628, "cy": 237.46785983766890,
    "width": 640, "height": 480,
}


@dataclass(frozen=True)
class Camera:
    """Intrinsics (pixels) and extrinsics: ``x_cam = R @ x_world + t`` (metres)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    R: np.ndarray  # (3, 3) world -> camera
    t: np.ndarray  # (3,)

    def intrinsics(self) -> dict[str, float]:
        return {"fx": float(self.fx), "fy": float(self.fy), "cx": float(self.cx), "cy": float(self.cy)}

    def to_camera(self, x_world: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` to camera coordinates ``(..., 3)``."""
        return np.einsum("ij,...j->...i", self.R, x_world) + self.t

    def project(self, x_cam: np.ndarray) -> np.ndarray:
        """Camera points ``(..., 3)`` to pixels ``(..., 2)`` (x, y)."""
        z = x_cam[..., 2]
        return np.stack([self.fx * x_cam[..., 0] / z + self.cx, self.fy * x_cam[..., 1] / z + self.cy], axis=-1)

    def ray_directions(self) -> np.ndarray:
        """(H, W, 3) unnormalised ray directions with z = 1 (so ``t`` along them is the z-depth)."""
        u = (np.arange(self.width, dtype=np.float64) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float64) - self.cy) / self.fy
        d = np.empty((self.height, self.width, 3))
        d[..., 0] = u[None, :]
        d[..., 1] = v[:, None]
        d[..., 2] = 1.0
        return d

    def in_image(self, uv: np.ndarray) -> np.ndarray:
        """Pixel positions ``(..., 2)`` that fall inside the image ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``."""
        return (uv[..., 0] >= -0.5) & (uv[..., 0] < self.width - 0.5) & (uv[..., 1] >= -0.5) & (
            uv[..., 1] < self.height - 0.5
        )


def look_from_above(target: np.ndarray, distance: float, tilt: float, azimuth: float, roll: float) -> tuple:
    """Rotation and translation of a camera ``distance`` metres from ``target``, looking at it.

    ``tilt`` (radians) is the angle between the viewing direction and straight down, ``azimuth``
    the direction of that tilt, ``roll`` a rotation about the optical axis. With tilt = roll = 0,
    world ``+y`` points to the image top and world ``+x`` to the image right.
    """
    up = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)])
    centre = np.asarray(target, dtype=np.float64) + distance * up
    forward = -up
    ref = np.array([0.0, 1.0, 0.0])  # world direction that should appear at the image top
    down = -(ref - np.dot(ref, forward) * forward)
    down /= np.linalg.norm(down)
    right = np.cross(down, forward)
    rot = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    if roll != 0.0:
        rot = axis_angle_matrices(np.array([0.0, 0.0, 1.0]), np.array(roll)) @ rot
    return rot, -rot @ centre


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation (``x_cam = R @ x_world + t``) of a camera at ``eye`` looking at ``target``.

    World ``+z`` (up) appears towards the image top; ``roll`` (radians) turns the image about the optical axis.
    The viewing direction must not be vertical (use :func:`look_from_above` for cameras straight above).
    """
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    norm = np.linalg.norm(forward)
    if norm < 1e-9:
        raise ValueError("look_at: the camera sits on its target")
    forward /= norm
    down = np.array([0.0, 0.0, -1.0]) + forward[2] * forward
    if np.linalg.norm(down) < 1e-6:
        raise ValueError("look_at: the viewing direction is vertical; use look_from_above")
    down /= np.linalg.norm(down)
    right = np.cross(down, forward)
    rot = np.stack([right, down, forward])
    if roll != 0.0:
        rot = axis_angle_matrices(np.array([0.0, 0.0, 1.0]), np.array(roll)) @ rot
    return rot, -rot @ eye


VIEWS = ("above", "oblique", "eye_level", "floor")
"""How the camera films the infant (:func:`sample_camera`):

* ``above``: looking down, tilt up to ~30 degrees from vertical (the original camera; in-bed data sets);
* ``oblique``: 30-60 degrees from vertical, from any side;
* ``eye_level``: from the side, looking 8-30 degrees down at the infant (an adult kneeling or sitting beside it);
* ``floor``: a camera 5-30 cm above the floor (on the floor, or an adult lying beside the infant).
"""

VIEW_MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "lying": (("above", 0.55), ("oblique", 0.3), ("eye_level", 0.1), ("floor", 0.05)),
    "upright": (("above", 0.1), ("oblique", 0.3), ("eye_level", 0.4), ("floor", 0.2)),
    "held": (("oblique", 0.35), ("eye_level", 0.45), ("floor", 0.2)),
}
"""View shares per kind of posture (:func:`hyper_sapiens.synth.postures.posture_kind`; ``lying``: supine, prone,
side; ``held``: held up by an adult; ``upright``: the rest), see :func:`sample_view`. Held infants get the upright
views but ``above``: a camera straight above would look down the adult's arms, which rise towards it."""


def sample_view(rng: np.random.Generator, kind: str) -> str:
    """A view (:data:`VIEWS`) for a posture of ``kind`` (``lying``, ``upright`` or ``held``) drawn from
    :data:`VIEW_MIX`."""
    try:
        mix = VIEW_MIX[kind]
    except KeyError:
        raise ValueError(f"unknown posture kind {kind!r}; expected one of {sorted(VIEW_MIX)}") from None
    return mix[int(rng.choice(len(mix), p=[p for _, p in mix]))][0]


def _intrinsics(rng: np.random.Generator, width: int, height: int,
                domain: str) -> tuple[float, float, float, float, float]:
    """f, fx, fy, cx, cy (pixels): field of view 45-68 degrees on the shorter side (focal length f), jittered."""
    short = min(width, height)
    fov = np.radians(rng.uniform(45.0, 68.0))
    f = 0.5 * short / np.tan(0.5 * fov)
    fx = f * (1.0 + rng.normal(0.0, 0.004))
    fy = f * (1.0 + rng.normal(0.0, 0.004))
    jitter = 0.02 if domain == "real" else 0.005
    cx = (width - 1) / 2.0 + rng.normal(0.0, jitter * width)
    cy = (height - 1) / 2.0 + rng.normal(0.0, jitter * height)
    return float(f), float(fx), float(fy), float(cx), float(cy)


def sample_camera(rng: np.random.Generator, width: int, height: int, centre: np.ndarray, radius: float,
                  domain: str = "syn", view: str = "above", facing: float | None = None) -> Camera:
    """A random camera for a body of bounding ``radius`` (metres) around ``centre`` (world, metres).

    Field of view 45-68 degrees (horizontal for landscape images); distance so that the body fills 55-95 % of
    the shorter image side (one time in ten 95-120 %, leaving a hand or foot outside the image). ``view`` (one of
    :data:`VIEWS`) sets where the camera stands: ``above`` tilts up to ~30 degrees from vertical with roll
    +-12 degrees (the draws of the original camera, unchanged); the others stand beside the body at a height
    (see :data:`VIEWS`), world up towards the image top, roll +-6 degrees; with ``facing`` (radians about world
    z: where the infant's face points) the camera stands in front of the face four times in five (azimuth
    ``facing + N(0, 45 deg)``), as people film infants, else anywhere around.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown camera view {view!r}; expected one of {VIEWS}")
    short = min(width, height)
    f, fx, fy, cx, cy = _intrinsics(rng, width, height, domain)
    fill = rng.uniform(0.55, 0.95) if rng.random() > 0.1 else rng.uniform(0.95, 1.2)
    distance = radius * f / (fill * 0.5 * short)
    centre = np.asarray(centre, dtype=np.float64)
    if view == "above":
        tilt = min(abs(rng.normal(0.0, np.radians(12.0))), np.radians(30.0))
        azimuth = rng.uniform(0.0, 2 * np.pi)
        roll = rng.normal(0.0, np.radians(6.0))
        slack = max(0.0, 1.0 - fill) * radius * 0.5
        target = centre + np.array([*rng.uniform(-slack, slack, 2), 0.0])
        rot, t = look_from_above(target, distance, tilt, azimuth, roll)
    else:
        azimuth = rng.uniform(0.0, 2 * np.pi)
        if facing is not None and rng.random() < 0.8:
            azimuth = float(facing) + rng.normal(0.0, np.radians(45.0))
        roll = rng.normal(0.0, np.radians(3.0))
        slack = max(0.0, 1.0 - fill) * radius * 0.5
        target = centre + np.array([*rng.uniform(-slack, slack, 2), rng.uniform(-0.3, 0.3) * slack])
        if view == "oblique":
            elevation = np.radians(rng.uniform(30.0, 60.0))  # angle of the view below horizontal
        elif view == "eye_level":
            elevation = np.radians(rng.uniform(8.0, 30.0))
        else:  # floor: the camera 5-30 cm above the floor
            height_above = rng.uniform(0.05, 0.3) - target[2]
            elevation = float(np.arcsin(np.clip(height_above / distance, -0.25, 0.5)))
        back = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
        eye = target + distance * back
        eye[2] = max(eye[2], 0.04)  # never below the floor
        rot, t = look_at(eye, target, roll)
    return Camera(fx=fx, fy=fy, cx=cx, cy=cy, width=int(width), height=int(height), R=rot, t=t)


def scaled_minirgbd_intrinsics(width: int, height: int) -> dict[str, float]:
    """MINI-RGBD's intrinsics scaled to ``width x height`` (pixel centres at integers)."""
    sx = width / MINIRGBD_INTRINSICS["width"]
    sy = height / MINIRGBD_INTRINSICS["height"]
    base = MINIRGBD_INTRINSICS
    if width == base["width"] and height == base["height"]:
        return {k: float(base[k]) for k in ("fx", "fy", "cx", "cy")}
    return {
        "fx": base["fx"] * sx, "fy": base["fy"] * sy,
        "cx": (base["cx"] + 0.5) * sx - 0.5, "cy": (base["cy"] + 0.5) * sy - 0.5,
    }
