"""A blanket over the legs of a lying infant: a height field draped over the body (issue 24, item 3).

The blanket is a rectangle on the ground, its long side along the infant's legs, from a hem across the belly,
the hips or the thighs to beyond the feet. Its height above the ground is sampled on a grid of
:data:`CELL` metres: the top of the covered body parts seen from above, widened by a cone (the cloth falls from
the legs to the mattress with a slope, as a blanket tents over kicking legs), brought down to the mattress at
its free edges and onto the body at its hem, thickened, blurred, rippled with a few folds, and never lower than
:data:`CLEARANCE` above the body, so no covered part pokes through.
The renderer treats it as a solid: a ray hits the height field from above, or the blanket's side faces
(its hem and edges) when it enters them below the surface. Heights are interpolated bilinearly; normals are the
exact gradient of that interpolant, so they agree with the rendered depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .body import PRIMITIVE_NAMES, PosedBody
from .raytrace import intersect_capsule, intersect_ellipsoid

CELL = 0.008
"""Metres between the height field's grid nodes."""
CLEARANCE = 0.005
"""Metres: the blanket's surface lies at least this far above every covered body part (at the grid nodes)."""
COVERED = ("abdomen", "pelvis", "left_foot", "right_foot", "trunk", "left_thigh", "left_shank", "right_thigh",
           "right_shank")
"""Body primitives the blanket drapes over (arms and hands stay free: they lie on it or poke out of it)."""

_REFINE = 5
_STEP_CELLS = 2.0  # horizontal march step in grid cells (the surface is blurred over 2 cells)


@dataclass(frozen=True)
class Drape:
    """A height field over a rectangle of the ground, in some frame (world or camera), metres.

    Attributes:
        origin: (3,) the corner ``u = v = 0`` on the ground.
        axes: (3, 3) rows: unit vectors ``u`` (along the legs, towards the feet), ``v`` (across), ``z`` (up).
        cell: grid spacing.
        height: (Nu, Nv) height of the surface above the ground at the grid nodes (``u = i * cell``, ``v = j *
            cell``).
    """

    origin: np.ndarray
    axes: np.ndarray
    cell: float
    height: np.ndarray

    @property
    def extent(self) -> tuple[float, float, float]:
        """Size of the bounding box along ``u``, ``v``, ``z`` (metres)."""
        nu, nv = self.height.shape
        return (nu - 1) * self.cell, (nv - 1) * self.cell, float(self.height.max())

    def transformed(self, rot: np.ndarray, trans: np.ndarray) -> Drape:
        """The same blanket after ``x -> rot @ x + trans`` (e.g. world to camera)."""
        return Drape(origin=rot @ self.origin + trans, axes=self.axes @ rot.T, cell=self.cell, height=self.height)

    def corners(self) -> np.ndarray:
        """(8, 3) corners of the bounding box, in this frame."""
        size = np.array(self.extent)
        local = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64) * size
        return self.origin + local @ self.axes

    def local(self, points: np.ndarray) -> np.ndarray:
        """Points ``(..., 3)`` of this frame in the blanket's ``(u, v, z)`` coordinates."""
        return (points - self.origin) @ self.axes.T

    def _coefficients(self) -> np.ndarray:
        """(cells, 4) bilinear coefficients ``c0 + c1 fx + c2 fy + c3 fx fy`` of every grid cell (row-major)."""
        h = self.height
        h00, h10, h01, h11 = h[:-1, :-1], h[1:, :-1], h[:-1, 1:], h[1:, 1:]
        return np.stack([h00, h10 - h00, h01 - h00, h00 - h10 - h01 + h11], axis=-1).reshape(-1, 4)

    def surface(self, u: np.ndarray, v: np.ndarray, coef: np.ndarray | None = None,
                gradient: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Bilinear height and its gradient ``(h, dh/du, dh/dv)`` at ``u``, ``v`` (metres; clamped to the grid);
        ``coef`` is :meth:`_coefficients` (computed when not given)."""
        nu, nv = self.height.shape
        coef = self._coefficients() if coef is None else coef
        x = np.clip(u * (1.0 / self.cell), 0.0, nu - 1.000001)
        y = np.clip(v * (1.0 / self.cell), 0.0, nv - 1.000001)
        i, j = x.astype(np.int64), y.astype(np.int64)  # x, y >= 0: truncation is the floor
        fx, fy = x - i, y - j
        c = coef[i * (nv - 1) + j]
        value = c[..., 0] + c[..., 1] * fx + (c[..., 2] + c[..., 3] * fx) * fy
        if not gradient:
            return value, None, None
        return value, (c[..., 1] + c[..., 3] * fy) / self.cell, (c[..., 2] + c[..., 3] * fx) / self.cell

    def intersect(self, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First hit of rays ``t * d`` from this frame's origin (``d (N, 3)``): ``t (N,)`` (``inf`` on a miss) and
        the unit normal ``(N, 3)`` there, facing the ray (this frame's coordinates).

        Each ray is marched through the blanket's bounding box in steps of at most about two grid cells
        horizontally (rays are grouped by the steps they need: 4, 8, ..., 64), then the crossing is refined by
        bisection and a final linear interpolation."""
        n = rays.shape[0]
        t_hit = np.full(n, np.inf)
        normal = np.zeros((n, 3))
        o = self.local(np.zeros(3))
        d = rays @ self.axes.T
        size = np.array(self.extent)
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (0.0 - o) / d
            t2 = (size - o) / d
        flat = np.abs(d) < 1e-12
        within = (o >= 0) & (o <= size)
        t1 = np.where(flat, np.where(within, -np.inf, np.inf), t1)
        t2 = np.where(flat, np.inf, t2)
        near, far = np.minimum(t1, t2), np.maximum(t1, t2)
        face = np.argmax(near, axis=1)
        t0 = np.maximum(near.max(axis=1), 1e-6)
        cand = np.flatnonzero(far.min(axis=1) > t0)
        if cand.size == 0:
            return t_hit, normal
        coef = self._coefficients()
        a, b, dc = t0[cand], far.min(axis=1)[cand], d[cand]
        need = np.ceil((b - a) * np.hypot(dc[:, 0], dc[:, 1]) / (_STEP_CELLS * self.cell)) + 1
        done = np.zeros(cand.size, dtype=bool)
        for steps in (4, 8, 16, 32, 64):
            group = np.flatnonzero(~done & ((need <= steps) | (steps == 64)))
            done[group] = True
            if group.size == 0:
                continue
            ga, gb, gd = a[group], b[group], dc[group]
            ts = ga[:, None] + (gb - ga)[:, None] * np.linspace(0.0, 1.0, steps + 1)[None, :]
            pu, pv, pz = (o[k] + ts * gd[:, k:k + 1] for k in range(3))
            below = pz < self.surface(pu, pv, coef, gradient=False)[0]
            hit = below.any(axis=1)
            k = np.argmax(below, axis=1)
            side = group[hit & (k == 0)]  # below the surface where the ray enters the box: a side face
            rows = np.flatnonzero(hit & (k > 0))
            top = group[rows]
            if side.size:
                f = face[cand[side]]
                n_side = np.zeros((side.size, 3))
                n_side[np.arange(side.size), f] = -np.sign(dc[side, f])
                t_hit[cand[side]] = a[side]
                normal[cand[side]] = n_side @ self.axes
            if top.size == 0:
                continue
            lo, hi = ts[rows, k[rows] - 1], ts[rows, k[rows]]
            dt = dc[top]
            for _ in range(_REFINE):
                mid = 0.5 * (lo + hi)
                q = o + mid[:, None] * dt
                under = q[:, 2] < self.surface(q[:, 0], q[:, 1], coef, gradient=False)[0]
                hi = np.where(under, mid, hi)
                lo = np.where(under, lo, mid)
            q_lo, q_hi = o + lo[:, None] * dt, o + hi[:, None] * dt
            f_lo = q_lo[:, 2] - self.surface(q_lo[:, 0], q_lo[:, 1], coef, gradient=False)[0]
            f_hi = q_hi[:, 2] - self.surface(q_hi[:, 0], q_hi[:, 1], coef, gradient=False)[0]
            w = np.clip(f_lo / np.maximum(f_lo - f_hi, 1e-15), 0.0, 1.0)
            t = lo + w * (hi - lo)
            q = o + t[:, None] * dt
            _, gu, gv = self.surface(q[:, 0], q[:, 1], coef)
            n_top = np.stack([-gu, -gv, np.ones_like(gu)], axis=1)
            n_top /= np.linalg.norm(n_top, axis=1, keepdims=True)
            t_hit[cand[top]] = t
            normal[cand[top]] = n_top @ self.axes
        return t_hit, normal


def _top_heights(body: PosedBody, nodes: np.ndarray, frame: int = 0) -> np.ndarray:
    """(N,) world height of the highest covered body surface above ground points ``nodes (N, 3)`` (0 where none)."""
    ell = [PRIMITIVE_NAMES.index(n) for n in COVERED if PRIMITIVE_NAMES.index(n) < body.ell_radii.shape[0]]
    ne = body.ell_radii.shape[0]
    cap = [PRIMITIVE_NAMES.index(n) - ne for n in COVERED if PRIMITIVE_NAMES.index(n) >= ne]
    top = float(max(body.ell_centre[frame, :, 2].max() + body.ell_radii.max(),
                    np.max(np.maximum(body.cap_a[frame, :, 2], body.cap_b[frame, :, 2]) + body.cap_radii))) + 0.05
    start = nodes.copy()
    start[:, 2] = top
    down = np.array([0.0, 0.0, -1.0])
    te = intersect_ellipsoid(down, body.ell_centre[frame, ell][None] - start[:, None], body.ell_rot[frame, ell][None],
                             body.ell_radii[ell][None])
    tc = intersect_capsule(down, body.cap_a[frame, cap][None] - start[:, None],
                           body.cap_b[frame, cap][None] - start[:, None], body.cap_radii[cap][None])
    t = np.minimum(te.min(axis=1), tc.min(axis=1))
    return np.where(np.isfinite(t), np.maximum(top - t, 0.0), 0.0)


def _extent_along(body: PosedBody, direction: np.ndarray, frame: int = 0) -> tuple[float, float]:
    """Lowest and highest value of ``x . direction`` over the covered primitives (metres)."""
    ne = body.ell_radii.shape[0]
    lo, hi = np.inf, -np.inf
    for name in COVERED:
        k = PRIMITIVE_NAMES.index(name)
        if k < ne:
            c = body.ell_centre[frame, k] @ direction
            r = float(np.linalg.norm(body.ell_radii[k] * (body.ell_rot[frame, k].T @ direction)))
            lo, hi = min(lo, c - r), max(hi, c + r)
        else:
            ends = np.array([body.cap_a[frame, k - ne], body.cap_b[frame, k - ne]]) @ direction
            r = float(body.cap_radii[k - ne])
            lo, hi = min(lo, ends.min() - r), max(hi, ends.max() + r)
    return float(lo), float(hi)


def _cone_dilate(h: np.ndarray, drop: float) -> np.ndarray:
    """Grey dilation of ``h`` by a cone falling ``drop`` per cell (an octagonal cone, by repeated 3x3 steps)."""
    out = h.copy()
    for _ in range(int(np.ceil(h.max() / drop)) + 1):
        padded = np.pad(out, 1, mode="edge")
        nu, nv = out.shape
        new = out
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if di == 0 and dj == 0:
                    continue
                shifted = padded[1 + di:1 + di + nu, 1 + dj:1 + dj + nv] - drop * np.hypot(di, dj)
                new = np.maximum(new, shifted)
        if np.array_equal(new, out):
            break
        out = new
    return out


def drape_over_legs(body: PosedBody, rng: np.random.Generator, frame: int = 0) -> Drape:
    """A random blanket over the legs of a lying ``body`` (world frame, ground ``z = 0``).

    The hem lies 10 cm above to 6 cm below the hip joints along the body (so the belly, the hips or the thighs
    are the last covered part); the blanket reaches 4-20 cm past the covered parts at the feet and 5-20 cm to
    either side. Cloth: slope 0.45-0.9 (rise over run) from the legs to the mattress, 3-6 mm thick, four folds of
    6-20 cm wavelength, each 1-4 % of its wavelength high; at most 0.8-1.5 times the distance to a free edge above the
    mattress there, and at the hem at most 0.6-1.2 times the distance from it above the body (the cloth lies on
    the body at the hem instead of ending in a wall).
    """
    joints = body.joints[frame]
    up = joints[9] - joints[0]  # pelvis -> upper spine, towards the head
    up[2] = 0.0
    norm = np.linalg.norm(up)
    up = up / norm if norm > 1e-6 else np.array([0.0, 1.0, 0.0])
    e_u = -up
    e_z = np.array([0.0, 0.0, 1.0])
    e_v = np.cross(e_z, e_u)
    hips = 0.5 * (joints[1] + joints[2])
    u_hem = float(hips @ e_u) + float(rng.uniform(-0.10, 0.06))
    u_lo, u_hi = _extent_along(body, e_u, frame)
    v_lo, v_hi = _extent_along(body, e_v, frame)
    u_end = max(u_hi + float(rng.uniform(0.04, 0.2)), u_hem + 0.1)
    v0 = v_lo - float(rng.uniform(0.05, 0.2))
    v1 = v_hi + float(rng.uniform(0.05, 0.2))
    nu = int(np.ceil((u_end - u_hem) / CELL)) + 1
    nv = int(np.ceil((v1 - v0) / CELL)) + 1
    origin = u_hem * e_u + v0 * e_v
    gu, gv = np.meshgrid(np.arange(nu) * CELL, np.arange(nv) * CELL, indexing="ij")
    nodes = origin + gu[..., None] * e_u + gv[..., None] * e_v
    base = _top_heights(body, nodes.reshape(-1, 3), frame).reshape(nu, nv)
    slope = float(rng.uniform(0.45, 0.9))
    tent = _cone_dilate(base, slope * CELL)
    thickness = float(rng.uniform(0.003, 0.006))
    ripple = np.zeros_like(base)
    for _ in range(4):  # folds: each 1-4 % of its wavelength high, so slopes stay gentle (below ~0.25 each)
        ang, wavelength, phase = rng.uniform(0, np.pi), rng.uniform(0.06, 0.2), rng.uniform(0, 2 * np.pi)
        height = wavelength * rng.uniform(0.01, 0.04)
        ripple += height * np.sin((gu * np.cos(ang) + gv * np.sin(ang)) * 2 * np.pi / wavelength + phase)
    body = cv2.dilate(base, np.ones((3, 3), np.uint8))
    floor = np.where(body > 0, body + CLEARANCE, 0.0)
    # the cloth comes down to the mattress at the free edges and onto the body at the hem
    edge = np.minimum(np.minimum(gv, gv[:, -1:] - gv), gu[-1:, :] - gu)
    hem = body + CLEARANCE + thickness + float(rng.uniform(0.6, 1.2)) * gu
    limit = np.minimum(thickness + float(rng.uniform(0.8, 1.5)) * edge, hem)
    shaped = np.maximum(np.minimum(tent + thickness + ripple, limit), floor)
    soft = cv2.GaussianBlur(shaped, (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE)
    height = np.maximum(np.maximum(soft, floor), 0.002)
    return Drape(origin=origin, axes=np.stack([e_u, e_v, e_z]), cell=CELL, height=height)
