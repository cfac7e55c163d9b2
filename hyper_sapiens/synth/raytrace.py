"""Analytic ray casting of ellipsoids, capsules, boxes, the mattress plane and a backdrop wall, vectorised in numpy.

All rays start at the camera centre (the origin of the camera frame). Directions need not be
unit length: with ``d_z = 1`` the returned ray parameter ``t`` is the z-depth in metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .body import NUM_PRIMITIVES, PRIMITIVE_PART, PosedBody
from .camera import Camera

if TYPE_CHECKING:
    from .scenery import Scenery

_EPS = 1e-9


def dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products over the last axis (length 3), broadcast: the same sums, in the same order, as
    ``np.sum(a * b, axis=-1)``, several times faster."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _rt_apply(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``rot^T @ v`` for ``rot (..., 3, 3)`` and ``v (..., 3)``."""
    return np.einsum("...ji,...j->...i", rot, v)


def intersect_ellipsoid(d: np.ndarray, centre: np.ndarray, rot: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """First positive ``t`` where rays ``t * d`` hit the ellipsoid; ``inf`` where they miss.

    Args (broadcastable): d (..., 3); centre (..., 3); rot (..., 3, 3) with the ellipsoid's axes
    as columns; radii (..., 3). Returns (...).
    """
    o = _rt_apply(rot, -centre) / radii
    dl = _rt_apply(rot, d) / radii
    a = dot3(dl, dl)
    b = dot3(o, dl)
    c = dot3(o, o) - 1.0
    disc = b * b - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(disc)) / a
    return np.where((disc >= 0) & (t > _EPS) & (c > 0), t, np.inf)


def ellipsoid_normal(p: np.ndarray, centre: np.ndarray, rot: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Outward unit normals ``(..., 3)`` at surface points ``p (..., 3)`` of an ellipsoid."""
    local = _rt_apply(rot, p - centre) / (radii * radii)
    n = np.einsum("...ij,...j->...i", rot, local)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def intersect_capsule(d: np.ndarray, a: np.ndarray, b: np.ndarray, radius: np.ndarray | float) -> np.ndarray:
    """First positive ``t`` where rays ``t * d`` hit the capsule (segment ``a``-``b``, ``radius``).

    The ray enters the infinite cylinder around the segment; if it enters beside the segment it
    hit the side, otherwise it can only hit the sphere cap at the end it entered by.
    Args (broadcastable): d (..., 3), a (..., 3), b (..., 3), radius (...). Returns (...).
    """
    norm = np.sqrt(dot3(d, d))
    u = d / norm[..., None]
    radius = np.asarray(radius, dtype=np.float64)
    ba = b - a
    oa = -a
    baba = dot3(ba, ba)
    bard = dot3(ba, u)
    baoa = dot3(ba, oa)
    rdoa = dot3(u, oa)
    oaoa = dot3(oa, oa)
    qa = baba - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - radius * radius * baba
    h = qb * qb - qa * qc
    parallel = qa < 1e-12 * baba
    with np.errstate(invalid="ignore", divide="ignore"):
        t_side = (-qb - np.sqrt(h)) / qa
        y = baoa + t_side * bard
    y = np.where(parallel, np.where(bard > 0, -1.0, baba + 1.0), y)
    side = (h >= 0) & ~parallel & (y > 0) & (y < baba)
    oc = np.where((y <= 0)[..., None], oa, -b)
    cb = dot3(u, oc)
    cc = dot3(oc, oc) - radius * radius
    hc = cb * cb - cc
    with np.errstate(invalid="ignore"):
        t_cap = -cb - np.sqrt(hc)
    t = np.where(side, t_side, np.where((h >= 0) & (hc >= 0), t_cap, np.inf))
    t = np.where(t > _EPS, t, np.inf)
    return t / norm


def capsule_normal(p: np.ndarray, a: np.ndarray, b: np.ndarray, radius: np.ndarray | float) -> np.ndarray:
    """Outward unit normals at surface points ``p (..., 3)`` of a capsule."""
    ba = b - a
    s = np.clip(dot3(p - a, ba) / dot3(ba, ba), 0.0, 1.0)
    n = p - (a + s[..., None] * ba)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def _closest_on_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Points ``(N, 3)`` of segment ``a``-``b`` nearest to ``p (N, 3)``."""
    ba = b - a
    s = np.clip(dot3(p - a, ba) / dot3(ba, ba), 0.0, 1.0)
    return a + s[..., None] * ba


def intersect_box(d: np.ndarray, centre: np.ndarray, rot: np.ndarray, half: np.ndarray) -> np.ndarray:
    """First positive ``t`` where rays ``t * d`` enter the box (``centre (3,)``, axes as the columns of ``rot (3,
    3)``, half sizes ``half (3,)``); ``inf`` where they miss or start inside. ``d (..., 3)``; returns (...)."""
    o = rot.T @ -centre
    dl = d @ rot
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - o) / dl
        t2 = (half - o) / dl
    parallel = np.abs(dl) < 1e-12
    outside = np.abs(o) > half
    t1 = np.where(parallel, np.where(outside, np.inf, -np.inf), t1)
    t2 = np.where(parallel, np.inf, t2)  # a parallel ray outside a slab gets near = far = inf: a miss
    near = np.minimum(t1, t2).max(axis=-1)
    far = np.maximum(t1, t2).min(axis=-1)
    return np.where((far >= near) & (near > _EPS), near, np.inf)


def box_normal(p: np.ndarray, centre: np.ndarray, rot: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Outward unit normals ``(N, 3)`` at surface points ``p (N, 3)`` of a box (the face nearest each point)."""
    q = (p - centre) @ rot / half
    axis = np.argmax(np.abs(q), axis=-1)
    n_local = np.zeros_like(q)
    n_local[np.arange(q.shape[0]), axis] = np.sign(q[np.arange(q.shape[0]), axis])
    return n_local @ rot.T


def intersect_plane(d: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """``t`` where rays ``t * d`` meet the plane ``normal . x = offset``; ``inf`` if never (t <= 0)."""
    den = dot3(d, normal)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = offset / den
    return np.where((np.abs(den) > 1e-12) & (t > _EPS), t, np.inf)


@dataclass(frozen=True)
class SceneGeometry:
    """One frame's primitives and mattress plane in camera coordinates (metres)."""

    ell_centre: np.ndarray  # (E, 3)
    ell_rot: np.ndarray     # (E, 3, 3)
    ell_radii: np.ndarray   # (E, 3)
    cap_a: np.ndarray       # (C, 3)
    cap_b: np.ndarray       # (C, 3)
    cap_rot: np.ndarray     # (C, 3, 3)
    cap_radii: np.ndarray   # (C,)
    plane_normal: np.ndarray  # (3,) mattress normal (world up) in camera coordinates
    plane_offset: float       # plane: plane_normal . x = plane_offset
    wall_normal: np.ndarray | None = None  # (3,) backdrop wall's normal (towards the camera), camera frame
    wall_offset: float = 0.0               # wall: wall_normal . x = wall_offset
    prop_ends: np.ndarray | None = None    # (Q, 2, 3) end points of prop capsules (furniture), camera frame
    prop_radius: float = 0.0               # their radius (metres)
    scenery: Scenery | None = None         # scenery primitives (camera frame), part id 0; the rug stays in world

    @property
    def num_ellipsoids(self) -> int:
        return int(self.ell_centre.shape[0])


WALL_GAP = 0.4
"""Metres between the body's farthest point (seen from the camera, horizontally) and the backdrop wall."""


def backdrop_wall(body: PosedBody, camera: Camera, frame: int = 0,
                  gap: float = WALL_GAP) -> tuple[np.ndarray, float] | None:
    """The vertical wall behind the body for a camera that sees the horizon, else None.

    A camera sees the horizon when a ray through an image corner points upwards or nearly horizontally (world
    ``z`` of its unit direction above -0.05). The wall faces the camera's horizontal viewing direction ``h`` and
    stands ``gap`` metres (default :data:`WALL_GAP`; more behind a sofa) behind the body's farthest primitive
    along ``h``. Returns the plane in world
    coordinates: (unit normal ``(3,)`` pointing towards the camera, offset) with ``normal . x = offset``.
    Deterministic in the geometry (both appearance domains see the same wall).
    """
    w, h = camera.width, camera.height
    corners = np.array([[(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, 1.0]
                        for u in (-0.5, w - 0.5) for v in (-0.5, h - 0.5)])
    world_dirs = corners @ camera.R  # rows: R^T d
    world_dirs /= np.linalg.norm(world_dirs, axis=1, keepdims=True)
    if world_dirs[:, 2].max() < -0.05:
        return None
    forward = camera.R[2]
    horiz = np.array([forward[0], forward[1], 0.0])
    if np.linalg.norm(horiz) < 1e-6:
        return None
    horiz /= np.linalg.norm(horiz)
    far = max(float(np.max(body.ell_centre[frame] @ horiz + body.ell_radii.max(axis=1))),
              float(np.max(np.maximum(body.cap_a[frame] @ horiz, body.cap_b[frame] @ horiz) + body.cap_radii)))
    return -horiz, -(far + gap)


def scene_in_camera(body: PosedBody, camera: Camera, frame: int = 0, props: np.ndarray | None = None,
                    prop_radius: float = 0.0, scenery: Scenery | None = None) -> SceneGeometry:
    """Frame ``frame`` of a world-space ``body``, the mattress ``z = 0``, for cameras that see the horizon the
    backdrop wall (:func:`backdrop_wall`, ``scenery.wall_gap`` behind the body), ``props`` ``(Q, 2, 3)`` (world end
    points of capsules of ``prop_radius`` metres, e.g. :func:`postures.holding_rail`) and the world-frame
    ``scenery`` (:mod:`hyper_sapiens.synth.scenery`), in camera coordinates."""
    r, t = camera.R, camera.t
    normal = r @ np.array([0.0, 0.0, 1.0])
    wall = backdrop_wall(body, camera, frame, WALL_GAP if scenery is None else scenery.wall_gap)
    wall_n, wall_off = (None, 0.0) if wall is None else (r @ wall[0], float(wall[1] + (r @ wall[0]) @ t))
    return SceneGeometry(
        ell_centre=camera.to_camera(body.ell_centre[frame]),
        ell_rot=np.einsum("ij,njk->nik", r, body.ell_rot[frame]),
        ell_radii=body.ell_radii,
        cap_a=camera.to_camera(body.cap_a[frame]),
        cap_b=camera.to_camera(body.cap_b[frame]),
        cap_rot=np.einsum("ij,njk->nik", r, body.cap_rot[frame]),
        cap_radii=body.cap_radii,
        plane_normal=normal,
        plane_offset=float(normal @ t),
        wall_normal=wall_n,
        wall_offset=wall_off,
        prop_ends=None if props is None else camera.to_camera(np.asarray(props, dtype=np.float64)),
        prop_radius=float(prop_radius),
        scenery=None if scenery is None else scenery.in_camera(camera),
    )


def _primitive_boxes(scene: SceneGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned boxes ``(N, 3)`` min/max of every primitive, camera coordinates."""
    ext = np.sqrt(np.sum((scene.ell_rot * scene.ell_radii[:, None, :]) ** 2, axis=-1))
    emin, emax = scene.ell_centre - ext, scene.ell_centre + ext
    r = scene.cap_radii[:, None]
    cmin = np.minimum(scene.cap_a, scene.cap_b) - r
    cmax = np.maximum(scene.cap_a, scene.cap_b) + r
    return np.concatenate([emin, cmin]), np.concatenate([emax, cmax])


def _pixel_window(lo: np.ndarray, hi: np.ndarray, camera: Camera) -> tuple[int, int, int, int] | None:
    """Pixel window (u0, u1, v0, v1), end-exclusive, covering the projection of a 3D box."""
    if lo[2] <= 1e-4:
        return 0, camera.width, 0, camera.height
    corners = np.stack(np.meshgrid([lo[0], hi[0]], [lo[1], hi[1]], [lo[2], hi[2]], indexing="ij"), -1).reshape(-1, 3)
    uv = camera.project(corners)
    u0 = max(int(np.floor(uv[:, 0].min())) - 1, 0)
    u1 = min(int(np.ceil(uv[:, 0].max())) + 2, camera.width)
    v0 = max(int(np.floor(uv[:, 1].min())) - 1, 0)
    v1 = min(int(np.ceil(uv[:, 1].max())) + 2, camera.height)
    if u0 >= u1 or v0 >= v1:
        return None
    return u0, u1, v0, v1


@dataclass(frozen=True)
class GeometryBuffers:
    """Per-pixel render of the geometry.

    Attributes:
        depth: (H, W) float64 z-depth in metres; 0 where a ray hits nothing.
        normal: (H, W, 3) float64 unit normals facing the camera (camera frame); 0 where invalid.
        primitive: (H, W) int: primitive index, -1 for the mattress, -2 for nothing, -3 for the backdrop wall,
            -4 for a prop, -5 for scenery (all part id 0, like the background).
        parts: (H, W) uint8 part ids (0 = background / mattress).
        points: (H, W, 3) float64 camera-frame hit points.
        local: (H, W, 3) float64 hit points in the hit primitive's own frame (ellipsoids: relative
            to the centre; capsules: relative to the first end point; mattress, wall, props and scenery: world
            coordinates).
        rays: (H, W, 3) float64 ray directions (z = 1).
        scenery: (H, W) int index of the scenery primitive hit (:attr:`Scenery.materials` order), -1 elsewhere;
            None without scenery.
        silhouette: (H, W) bool: the body's pixels with the scenery taken away (what is hidden behind scenery
            counts); None without scenery (then it is ``primitive >= 0``).
    """

    depth: np.ndarray
    normal: np.ndarray
    primitive: np.ndarray
    parts: np.ndarray
    points: np.ndarray
    local: np.ndarray
    rays: np.ndarray
    scenery: np.ndarray | None = None
    silhouette: np.ndarray | None = None


SCENERY = -5
"""``GeometryBuffers.primitive`` of scenery pixels."""


def _scenery_bounds(sc: Scenery) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned boxes ``(P, 3)`` min/max of every scenery primitive (current frame)."""
    e_ext = np.sqrt(np.sum((sc.ell_rot * sc.ell_radii[:, None, :]) ** 2, axis=-1))
    r = sc.cap_radius[:, None]
    b_ext = np.sum(np.abs(sc.box_rot) * sc.box_half[:, None, :], axis=-1)
    lo = [sc.ell_centre - e_ext, np.minimum(sc.cap_a, sc.cap_b) - r, sc.box_centre - b_ext]
    hi = [sc.ell_centre + e_ext, np.maximum(sc.cap_a, sc.cap_b) + r, sc.box_centre + b_ext]
    if sc.drape is not None:
        corners = sc.drape.corners()
        lo.append(corners.min(axis=0, keepdims=True))
        hi.append(corners.max(axis=0, keepdims=True))
    return np.concatenate(lo), np.concatenate(hi)


def _scenery_hits(sc: Scenery, j: int, d: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``t`` of rays ``d (h, w, 3)`` against scenery primitive ``j``; for the blanket also its normals."""
    ne, nc, nb, _ = sc.counts
    if j < ne:
        return intersect_ellipsoid(d, sc.ell_centre[j], sc.ell_rot[j], sc.ell_radii[j]), None
    if j < ne + nc:
        c = j - ne
        return intersect_capsule(d, sc.cap_a[c], sc.cap_b[c], sc.cap_radius[c]), None
    if j < ne + nc + nb:
        k = j - ne - nc
        return intersect_box(d, sc.box_centre[k], sc.box_rot[k], sc.box_half[k]), None
    t, n = sc.drape.intersect(d.reshape(-1, 3))
    return t.reshape(d.shape[:-1]), n.reshape(d.shape)


def _scenery_normals(sc: Scenery, j: int, p: np.ndarray) -> np.ndarray:
    """Outward normals at points ``p (N, 3)`` of scenery primitive ``j`` (not the blanket)."""
    ne, nc, _, _ = sc.counts
    if j < ne:
        return ellipsoid_normal(p, sc.ell_centre[j], sc.ell_rot[j], sc.ell_radii[j])
    if j < ne + nc:
        return capsule_normal(p, sc.cap_a[j - ne], sc.cap_b[j - ne], sc.cap_radius[j - ne])
    k = j - ne - nc
    return box_normal(p, sc.box_centre[k], sc.box_rot[k], sc.box_half[k])


def _hits_in_windows(index: np.ndarray, windows: list[tuple[int, int, int, int] | None]):
    """For each primitive ``k`` with a screen window, yield ``(k, (u0, u1, v0, v1), sel)``: ``sel`` the pixels of
    that window whose ``index (H, W)`` is ``k``; primitives without a window or without a hit pixel are skipped."""
    for k, win in enumerate(windows):
        if win is None:
            continue
        u0, u1, v0, v1 = win
        sel = index[v0:v1, u0:u1] == k
        if sel.any():
            yield k, win, sel


def render_geometry(scene: SceneGeometry, camera: Camera) -> GeometryBuffers:
    """Z-buffer render of the mattress, the wall (if any) and every primitive (each only inside its screen window)."""
    rays = camera.ray_directions()
    h, w = camera.height, camera.width
    zbuf = intersect_plane(rays, scene.plane_normal, scene.plane_offset)
    prim = np.where(np.isfinite(zbuf), -1, -2).astype(np.int64)
    if scene.wall_normal is not None:
        t_wall = intersect_plane(rays, scene.wall_normal, scene.wall_offset)
        nearer = t_wall < zbuf
        zbuf = np.where(nearer, t_wall, zbuf)
        prim[nearer] = -3
    if scene.prop_ends is not None:
        for a, b in scene.prop_ends:
            t_prop = intersect_capsule(rays, a, b, scene.prop_radius)
            nearer = t_prop < zbuf
            zbuf = np.where(nearer, t_prop, zbuf)
            prim[nearer] = -4
    lo, hi = _primitive_boxes(scene)
    ne = scene.num_ellipsoids
    windows: list[tuple[int, int, int, int] | None] = []
    for k in range(NUM_PRIMITIVES):
        win = _pixel_window(lo[k], hi[k], camera)
        windows.append(win)
        if win is None:
            continue
        u0, u1, v0, v1 = win
        d = rays[v0:v1, u0:u1]
        if k < ne:
            t = intersect_ellipsoid(d, scene.ell_centre[k], scene.ell_rot[k], scene.ell_radii[k])
        else:
            c = k - ne
            t = intersect_capsule(d, scene.cap_a[c], scene.cap_b[c], scene.cap_radii[c])
        zb = zbuf[v0:v1, u0:u1]
        closer = t < zb
        zb[closer] = t[closer]
        prim[v0:v1, u0:u1][closer] = k
    sc = scene.scenery
    scen_idx = None
    scen_windows: list[tuple[int, int, int, int] | None] = []
    drape_normal = None
    silhouette = None
    if sc is not None:
        silhouette = prim >= 0
        scen_idx = np.full((h, w), -1, dtype=np.int64)
        s_lo, s_hi = _scenery_bounds(sc)
        for j in range(s_lo.shape[0]):
            win = _pixel_window(s_lo[j], s_hi[j], camera)
            scen_windows.append(win)
            if win is None:
                continue
            u0, u1, v0, v1 = win
            t, n = _scenery_hits(sc, j, rays[v0:v1, u0:u1])
            zb = zbuf[v0:v1, u0:u1]
            closer = t < zb
            zb[closer] = t[closer]
            prim[v0:v1, u0:u1][closer] = SCENERY
            scen_idx[v0:v1, u0:u1][closer] = j
            if n is not None:
                drape_normal = (win, n)
    valid = np.isfinite(zbuf)
    depth = np.where(valid, zbuf, 0.0)
    points = rays * depth[..., None]
    normal = np.zeros((h, w, 3))
    local = np.zeros((h, w, 3))
    # the side of the ground the camera is on (it is above it: plane_offset = -(camera height) < 0), not the sign of
    # the normal's z, which flipped the floor of cameras looking upwards
    plane_n = scene.plane_normal if scene.plane_offset < 0 else -scene.plane_normal
    on_plane = prim == -1
    normal[on_plane] = plane_n
    local[on_plane] = _rt_apply(camera.R, points[on_plane] - camera.t)
    if scene.prop_ends is not None:
        on_prop = prim == -4
        p = points[on_prop]
        dist = np.stack([np.linalg.norm(p - _closest_on_segment(p, a, b), axis=-1) for a, b in scene.prop_ends])
        k = np.argmin(dist, axis=0)  # which prop each pixel hit: the one whose axis is nearest
        a, b = scene.prop_ends[k, 0], scene.prop_ends[k, 1]
        normal[on_prop] = capsule_normal(p, a, b, scene.prop_radius)
        local[on_prop] = _rt_apply(camera.R, p - camera.t)
    if scene.wall_normal is not None:
        on_wall = prim == -3
        normal[on_wall] = scene.wall_normal if scene.wall_normal[2] < 0 else -scene.wall_normal
        local[on_wall] = _rt_apply(camera.R, points[on_wall] - camera.t)
    for k, (u0, u1, v0, v1), sel in _hits_in_windows(prim, windows):
        p = points[v0:v1, u0:u1][sel]
        if k < ne:
            n = ellipsoid_normal(p, scene.ell_centre[k], scene.ell_rot[k], scene.ell_radii[k])
            q = _rt_apply(scene.ell_rot[k], p - scene.ell_centre[k])
        else:
            c = k - ne
            n = capsule_normal(p, scene.cap_a[c], scene.cap_b[c], scene.cap_radii[c])
            q = _rt_apply(scene.cap_rot[c], p - scene.cap_a[c])
        normal[v0:v1, u0:u1][sel] = n
        local[v0:v1, u0:u1][sel] = q
    if sc is not None:
        on_scenery = prim == SCENERY
        local[on_scenery] = _rt_apply(camera.R, points[on_scenery] - camera.t)
        for j, (u0, u1, v0, v1), sel in _hits_in_windows(scen_idx, scen_windows):
            if drape_normal is not None and j == len(scen_windows) - 1:
                n = drape_normal[1][sel]
            else:
                n = _scenery_normals(sc, j, points[v0:v1, u0:u1][sel])
            normal[v0:v1, u0:u1][sel] = n
    parts = np.where(prim >= 0, PRIMITIVE_PART[np.clip(prim, 0, None)], 0).astype(np.uint8)
    return GeometryBuffers(depth=depth, normal=normal, primitive=prim, parts=parts, points=points, local=local,
                           rays=rays, scenery=scen_idx, silhouette=silhouette)


def cast_rays(rays: np.ndarray, ell_centre: np.ndarray, ell_rot: np.ndarray, ell_radii: np.ndarray,
              cap_a: np.ndarray, cap_b: np.ndarray, cap_radii: np.ndarray,
              plane_normal: np.ndarray, plane_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of a batch of rays against per-ray primitive sets (no image, any batch shape).

    Args:
        rays: (..., 3) directions with z = 1 (so the result is a z-depth).
        ell_centre (..., E, 3), ell_rot (..., E, 3, 3), ell_radii (E, 3): ellipsoids per ray batch.
        cap_a, cap_b (..., C, 3), cap_radii (C,): capsules.
        plane_normal (..., 3), plane_offset (...): the mattress.
    Returns:
        depth (...) of the nearest hit (inf if none) and its part id (...) (0 = mattress / nothing).
    """
    d = rays[..., None, :]
    te = intersect_ellipsoid(d, ell_centre, ell_rot, ell_radii)
    tc = intersect_capsule(d, cap_a, cap_b, cap_radii)
    tp = intersect_plane(rays, plane_normal, plane_offset)
    t_all = np.concatenate([te, tc], axis=-1)
    k = np.argmin(t_all, axis=-1)
    t_best = np.take_along_axis(t_all, k[..., None], axis=-1)[..., 0]
    part = np.where(t_best < tp, PRIMITIVE_PART[k], 0)
    return np.minimum(t_best, tp), part
