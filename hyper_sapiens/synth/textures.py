"""Procedural textures: colours, the :class:`Pattern` of clothes, blankets and floors, and lattice noise.

Every texture is a function of surface coordinates in metres (world or a primitive's own frame), so it stays
fixed on the surface whatever the camera; random choices are the pattern's parameters (drawn from a generator)
and integer hashes of lattice cells (the same on every platform), never per-pixel draws.

Floor kinds (issue 24, item 3): ``planks`` (boards ``period`` wide with staggered end joints, per-board tone,
grain and dark seams), ``tiles`` (square tiles ``period`` wide with grout lines, per-tile tone, speckle) and
``carpet`` (a fine pile of 3 mm tufts and a 6 cm mottle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

FLOOR_KINDS = ("planks", "tiles", "carpet")
"""Pattern kinds for hard and carpeted floors (:func:`sample_floor`)."""

_SYN_SKIN = np.array([[0.96, 0.80, 0.69], [0.92, 0.74, 0.62], [0.86, 0.66, 0.54]])
_SYN_PALETTE = np.array([
    [0.55, 0.75, 0.95], [0.95, 0.65, 0.75], [0.70, 0.90, 0.70], [0.98, 0.92, 0.55], [0.85, 0.85, 0.88],
    [0.75, 0.65, 0.90], [0.98, 0.78, 0.55], [0.98, 0.98, 0.98],
])
_SYN_MATTRESS = np.array([[0.92, 0.92, 0.95], [0.80, 0.88, 0.95], [0.95, 0.90, 0.82], [0.85, 0.92, 0.85]])


def skin_tone_real(rng: np.random.Generator) -> np.ndarray:
    """Skin tones from very light to dark brown (display RGB in [0, 1])."""
    t = rng.random()
    light = np.array([0.98, 0.84, 0.74])
    dark = np.array([0.36, 0.23, 0.16])
    base = light + (dark - light) * t**1.3
    return np.clip(base * rng.normal(1.0, 0.03, 3), 0.0, 1.0)


def random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.2, 0.8),
                   val: tuple[float, float] = (0.35, 0.98)) -> np.ndarray:
    h = rng.uniform(0.0, 360.0)
    s = rng.uniform(*sat)
    v = rng.uniform(*val)
    hsv = np.array([[[h / 2.0, s * 255.0, v * 255.0]]], dtype=np.float32)
    rgb = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return rgb[0, 0].astype(np.float64) / 255.0


@dataclass
class Pattern:
    """A procedural pattern on 2D/3D coordinates (metres): kind, period, direction, two colours."""

    kind: str
    base: np.ndarray
    other: np.ndarray
    period: float = 0.03
    angle: float = 0.0
    duty: float = 0.5
    extra: dict = field(default_factory=dict)

    def colour(self, q: np.ndarray) -> np.ndarray:
        """Albedo ``(N, 3)`` at coordinates ``q (N, 2 or 3)``."""
        n = q.shape[0]
        if self.kind == "plain" or n == 0:
            return np.broadcast_to(self.base, (n, 3)).copy()
        c, s = np.cos(self.angle), np.sin(self.angle)
        u = q[:, 0] * c + q[:, 1] * s
        v = -q[:, 0] * s + q[:, 1] * c
        w = q[:, 2] if q.shape[1] > 2 else np.zeros(n)
        p = self.period
        if self.kind == "stripes":
            m = (np.mod(u / p, 1.0) < self.duty).astype(np.float64)
        elif self.kind == "checks":
            m = (np.mod(np.floor(u / p) + np.floor(v / p) + np.floor(w / p), 2) == 0).astype(np.float64)
        elif self.kind == "plaid":
            a = (np.mod(u / p, 1.0) < self.duty).astype(np.float64)
            b = (np.mod(v / p, 1.0) < self.duty).astype(np.float64)
            thin = (np.mod(u / p + 0.5, 1.0) < 0.08) | (np.mod(v / p + 0.5, 1.0) < 0.08)
            m = 0.5 * (a + b)
            m = np.where(thin, 1.0, m)
        elif self.kind == "dots":
            fu = np.mod(u / p, 1.0) - 0.5
            fv = np.mod(v / p + 0.5 * np.floor(u / p), 1.0) - 0.5
            m = ((fu * fu + fv * fv) < (0.5 * self.duty) ** 2).astype(np.float64)
        elif self.kind == "blobs":
            acc = np.zeros(n)
            for kx, ky, ph in self.extra["waves"]:
                acc += np.sin((u * kx + v * ky) / p + ph)
            m = (acc > self.extra.get("threshold", 0.3)).astype(np.float64)
        elif self.kind == "flowers":
            m = np.zeros(n)
            cells = np.floor(u / p) * 7919 + np.floor(v / p) * 104729
            jitter_u = 0.25 * np.sin(cells * 12.9898)
            jitter_v = 0.25 * np.sin(cells * 78.233)
            fu = np.mod(u / p, 1.0) - 0.5 - jitter_u
            fv = np.mod(v / p, 1.0) - 0.5 - jitter_v
            r = np.sqrt(fu * fu + fv * fv)
            ang = np.arctan2(fv, fu)
            petals = 0.18 + 0.08 * np.cos(5 * ang)
            m = np.where(r < petals, 1.0, 0.0)
            centre = r < 0.06
            out = self.base + (self.other - self.base) * m[:, None]
            out[centre] = self.extra["centre"]
            return out
        elif self.kind in FLOOR_KINDS:
            return _floor_albedo(self, u, v)
        else:
            raise ValueError(f"unknown pattern kind {self.kind!r}")
        return self.base + (self.other - self.base) * m[:, None]


def sample_pattern(rng: np.random.Generator, domain: str, kinds: tuple[str, ...], base: np.ndarray,
                   period: tuple[float, float]) -> Pattern:
    """A random pattern of one of ``kinds`` on colour ``base`` with a period (metres) drawn from ``period``."""
    kind = str(rng.choice(kinds))
    other = random_colour(rng) if domain == "real" else _SYN_PALETTE[rng.integers(len(_SYN_PALETTE))]
    if np.abs(other - base).sum() < 0.25:
        other = np.clip(1.15 - base, 0.0, 1.0)
    extra: dict = {}
    if kind == "blobs":
        extra["waves"] = [(rng.normal(), rng.normal(), rng.uniform(0, 2 * np.pi)) for _ in range(4)]
        extra["threshold"] = rng.uniform(0.0, 1.2)
    if kind == "flowers":
        extra["centre"] = random_colour(rng, val=(0.7, 1.0))
    return Pattern(kind=kind, base=base, other=other, period=float(rng.uniform(*period)),
                   angle=float(rng.uniform(0, np.pi)), duty=float(rng.uniform(0.3, 0.6)), extra=extra)


def _hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Uniform numbers in [0, 1) from integer lattice coordinates ``ix``, ``iy`` (integer arrays of one shape)
    and a seed: 32-bit unsigned integer arithmetic (wrapping), so the same on every platform."""
    h = (np.asarray(ix, dtype=np.int64).astype(np.uint32) * np.uint32(374761393)
         + np.asarray(iy, dtype=np.int64).astype(np.uint32) * np.uint32(668265263)
         + np.uint32((int(seed) * 2246822519) & 0xFFFFFFFF))
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
    h ^= h >> np.uint32(16)
    return h * (1.0 / 4294967296.0)


def value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smooth noise in [0, 1) at lattice coordinates ``x``, ``y`` (one cell = 1 unit), same shape as ``x``."""
    fx, fy = np.floor(x), np.floor(y)
    tx, ty = x - fx, y - fy
    sx, sy = tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty)
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    a, b = _hash(ix, iy, seed), _hash(ix + 1, iy, seed)
    c, d = _hash(ix, iy + 1, seed), _hash(ix + 1, iy + 1, seed)
    return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy


def fbm(x: np.ndarray, y: np.ndarray, seed: int, octaves: int = 3) -> np.ndarray:
    """Fractal value noise in [0, 1): ``octaves`` layers, each twice the frequency and half the weight."""
    acc = np.zeros(np.shape(x))
    weight = norm = 0.0
    for k in range(octaves):
        weight = 0.5**k
        acc += weight * value_noise(x * 2**k, y * 2**k, seed + 17 * k)
        norm += weight
    return acc / norm


def _near_line(x: np.ndarray) -> np.ndarray:
    """Distance of ``x`` to the nearest integer (in the units of ``x``)."""
    return np.abs(np.mod(x + 0.5, 1.0) - 0.5)


def _floor_albedo(p: Pattern, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Albedo ``(N, 3)`` of a floor pattern at rotated coordinates ``u`` (along the boards), ``v`` (metres)."""
    seed = int(p.extra["seed"])
    base, other = p.base, p.other
    if p.kind == "planks":
        width, length = p.period, float(p.extra["length"])
        row = np.floor(v / width)
        shift = _hash(row, np.zeros_like(row), seed) * length
        col = np.floor((u + shift) / length)
        board = _hash(row, col, seed + 1)
        tone = 0.84 + 0.32 * board
        grain = value_noise(u / 0.3 + 40.0 * board, v / 0.004, seed + 2)
        rings = 0.5 + 0.5 * np.sin((v + 0.02 * value_noise(u / 0.15, v / 0.05, seed + 3)) / 0.002 + 20.0 * board)
        mix = np.clip(0.2 * _hash(row, col, seed + 4) + 0.45 * grain + 0.3 * rings**4, 0.0, 1.0)
        out = (base + (other - base) * mix[:, None]) * tone[:, None]
        gap = np.minimum(_near_line(v / width) * width, _near_line((u + shift) / length) * length)
        return out * (1.0 - 0.55 * np.exp(-(gap / 0.0025) ** 2))[:, None]
    if p.kind == "tiles":
        size, grout_w = p.period, float(p.extra["grout_width"])
        tone = 0.92 + 0.12 * _hash(np.floor(u / size), np.floor(v / size), seed)
        speck = value_noise(u / 0.015, v / 0.015, seed + 1)
        out = base * (tone * (0.93 + 0.12 * speck))[:, None]
        d = np.minimum(_near_line(u / size), _near_line(v / size)) * size
        tile = np.clip((d - 0.5 * grout_w) / 0.002 + 0.5, 0.0, 1.0)
        return other + (out - other) * tile[:, None]
    # carpet: 3 mm tufts of slightly different brightness over a 6 cm mottle of the two colours
    tuft = _hash(np.floor(u / 0.003), np.floor(v / 0.003), seed)
    mottle = fbm(u / 0.06, v / 0.06, seed + 1, 2)
    out = base + (other - base) * (0.35 * mottle)[:, None]
    return out * (0.86 + 0.28 * tuft)[:, None]


def sample_floor(rng: np.random.Generator, domain: str) -> Pattern:
    """A floor for the ``floor`` setting: real domain wooden planks (50 %), tiles (20 %) or carpet (30 %) in
    plausible colours; the syn domain a plain light floor. Periods: boards 8-20 cm wide and 0.5-1.6 m long,
    tiles 15-45 cm with 3-8 mm grout."""
    if domain != "real":
        tone = _SYN_MATTRESS[rng.integers(len(_SYN_MATTRESS))] * 0.95
        return Pattern("plain", tone, tone)
    kind = str(rng.choice(FLOOR_KINDS, p=[0.5, 0.2, 0.3]))
    seed = int(rng.integers(1 << 30))
    angle = float(rng.uniform(0.0, np.pi))
    if kind == "planks":
        wood = np.array([0.78, 0.58, 0.38]) * rng.uniform(0.55, 1.15) + rng.normal(0.0, 0.03, 3)
        if rng.random() < 0.2:  # whitewashed or grey boards
            wood = np.full(3, rng.uniform(0.55, 0.85)) + np.array([0.03, 0.02, 0.0])
        wood = np.clip(wood, 0.08, 0.95)
        return Pattern("planks", wood, wood * rng.uniform(0.55, 0.8), period=float(rng.uniform(0.08, 0.2)),
                       angle=angle, extra={"seed": seed, "length": float(rng.uniform(0.5, 1.6))})
    if kind == "tiles":
        base = random_colour(rng, sat=(0.0, 0.25), val=(0.55, 0.95))
        grout = np.clip(base * rng.uniform(0.5, 0.8) if rng.random() < 0.6 else np.full(3, 0.85), 0.0, 1.0)
        return Pattern("tiles", base, grout, period=float(rng.uniform(0.15, 0.45)), angle=angle,
                       extra={"seed": seed, "grout_width": float(rng.uniform(0.003, 0.008))})
    base = random_colour(rng, sat=(0.05, 0.5), val=(0.3, 0.85))
    return Pattern("carpet", base, np.clip(base * rng.uniform(0.7, 1.2, 3), 0.0, 1.0), period=0.06, angle=angle,
                   extra={"seed": seed})
