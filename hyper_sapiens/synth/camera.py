"""Pinhole cameras above the mattress.

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


def sample_camera(rng: np.random.Generator, width: int, height: int, centre: np.ndarray, radius: float,
                  domain: str = "syn") -> Camera:
    """A random camera roughly above a body of bounding ``radius`` (metres) around ``centre``.

    Field of view 45-68 degrees (horizontal for landscape images), tilt up to ~30 degrees from
    vertical, roll +-12 degrees, distance so that the body fills 55-95 % of the shorter image
    side (sometimes more, leaving limbs outside the image).
    """
    short = min(width, height)
    fov = np.radians(rng.uniform(45.0, 68.0))
    f = 0.5 * short / np.tan(0.5 * fov)
    fx = f * (1.0 + rng.normal(0.0, 0.004))
    fy = f * (1.0 + rng.normal(0.0, 0.004))
    jitter = 0.02 if domain == "real" else 0.005
    cx = (width - 1) / 2.0 + rng.normal(0.0, jitter * width)
    cy = (height - 1) / 2.0 + rng.normal(0.0, jitter * height)
    fill = rng.uniform(0.55, 0.95) if rng.random() > 0.1 else rng.uniform(0.95, 1.2)
    distance = radius * f / (fill * 0.5 * short)
    tilt = min(abs(rng.normal(0.0, np.radians(12.0))), np.radians(30.0))
    azimuth = rng.uniform(0.0, 2 * np.pi)
    roll = rng.normal(0.0, np.radians(6.0))
    slack = max(0.0, 1.0 - fill) * radius * 0.5
    target = np.asarray(centre, dtype=np.float64) + np.array([*rng.uniform(-slack, slack, 2), 0.0])
    rot, t = look_from_above(target, distance, tilt, azimuth, roll)
    return Camera(fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy), width=int(width), height=int(height),
                  R=rot, t=t)


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
