"""What the scenery looks like (:mod:`hyper_sapiens.synth.scenery`), per appearance domain.

* ``real``: floors of wooden planks, tiles or carpet (:func:`textures.sample_floor`); rugs with a patterned field,
  a border, an inner line, a pile and sometimes a fringe; upholstered sofas with a fabric mottle; white, wooden or
  painted cots; patterned blankets; an adult's skin tone drawn independently of the infant's; sleeves.
* ``syn``: plain versions: the ground keeps the clean mattress colours in either setting, a plain pastel rug, plain
  sofa and sleeves, white cots, a plain or striped blanket, the clean skin tones.

Colours are display RGB in [0, 1]; coordinates are world metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scenery import ADULT_SKIN, COT, COVER, CUSHION, SLEEVE, SOFA, Rug
from .textures import (
    _SYN_PALETTE,
    _SYN_SKIN,
    Pattern,
    _hash,
    _near_line,
    random_colour,
    sample_floor,
    sample_pattern,
    skin_tone_real,
    value_noise,
)


@dataclass
class SceneLook:
    """Materials of the scenery for one image (every field is drawn whether or not the scene uses it)."""

    domain: str
    floor: Pattern
    rug: Pattern
    rug_border: np.ndarray
    rug_fringe: np.ndarray
    rug_border_width: float
    sofa: np.ndarray
    cushion: np.ndarray
    cot: np.ndarray
    cot_wood: bool
    cover: Pattern
    adult_skin: np.ndarray
    sleeve: Pattern
    seed: int


def sample_scene_look(rng: np.random.Generator, domain: str) -> SceneLook:
    """Random scenery materials for ``domain`` ("syn" or "real"); always the same number of draws per domain."""
    real = domain == "real"
    floor = sample_floor(rng, domain)
    seed = int(rng.integers(1 << 30))
    if real:
        rug = sample_pattern(rng, domain, ("plaid", "checks", "stripes", "dots", "blobs", "flowers", "plain"),
                             random_colour(rng, sat=(0.15, 0.7), val=(0.3, 0.9)), (0.05, 0.2))
        border, fringe = random_colour(rng, val=(0.2, 0.8)), np.clip(rng.uniform(0.8, 0.95) + rng.normal(0, 0.02, 3),
                                                                     0.0, 1.0)
        border_w = float(rng.uniform(0.04, 0.12))
        sofa = random_colour(rng, sat=(0.05, 0.5), val=(0.25, 0.85))
        cushion = np.clip(sofa * rng.uniform(0.88, 1.12), 0.0, 1.0)
        kind = rng.random()
        cot_wood = bool(0.45 <= kind < 0.85)
        cot = (np.array([0.92, 0.92, 0.9]) if kind < 0.45 else
               np.clip(np.array([0.75, 0.55, 0.34]) * rng.uniform(0.7, 1.2), 0.0, 1.0) if cot_wood else
               random_colour(rng, sat=(0.1, 0.4), val=(0.6, 0.95)))
        cover = sample_pattern(rng, domain, ("plaid", "checks", "dots", "stripes", "blobs", "flowers", "plain"),
                               random_colour(rng, val=(0.4, 1.0)), (0.03, 0.12))
        skin = skin_tone_real(rng)
        sleeve = sample_pattern(rng, domain, ("plain", "plain", "stripes", "checks"), random_colour(rng),
                                (0.01, 0.03))
    else:
        pastel = _SYN_PALETTE[rng.integers(len(_SYN_PALETTE), size=4)]
        rug = Pattern("plain", pastel[0], pastel[0])
        border = fringe = pastel[0]
        border_w = 0.0
        sofa = cushion = pastel[1]
        cot, cot_wood = np.array([0.95, 0.95, 0.94]), False
        cover = sample_pattern(rng, domain, ("plain", "plain", "stripes"), pastel[2], (0.05, 0.12))
        skin = _SYN_SKIN[rng.integers(len(_SYN_SKIN))]
        sleeve = Pattern("plain", pastel[3], pastel[3])
    return SceneLook(domain=domain, floor=floor, rug=rug, rug_border=border, rug_fringe=fringe,
                     rug_border_width=border_w, sofa=sofa, cushion=cushion, cot=cot, cot_wood=cot_wood, cover=cover,
                     adult_skin=np.asarray(skin, dtype=np.float64), sleeve=sleeve, seed=seed)


def rug_albedo(look: SceneLook, rug: Rug, xy: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """Albedo ``(N, 3)`` of ground points ``xy (N, 2)`` (world metres) with a rug on a ground of albedo ``ground
    (N, 3)``: the rug's field, border and inner line, a pile of 4 mm tufts and, at a rectangle's short ends, a
    fringe of 8 mm strands (real domain; syn: a plain region)."""
    ab = rug.coords(xy)
    a, b = np.abs(ab[:, 0]), np.abs(ab[:, 1])
    length, width = rug.half
    if rug.oval:
        r = np.sqrt((a / length) ** 2 + (b / width) ** 2)
        inside = r <= 1.0
        edge = (1.0 - r) * min(length, width)
    else:
        inside = (a <= length) & (b <= width)
        edge = np.minimum(length - a, width - b)
    out = ground.copy()
    if look.domain != "real":
        out[inside] = look.rug.base
        return out
    col = look.rug.colour(ab)
    border = (edge < look.rug_border_width) | ((edge > look.rug_border_width + 0.012)
                                               & (edge < look.rug_border_width + 0.02))
    col[border] = look.rug_border
    pile = 0.88 + 0.24 * _hash(np.floor(ab[:, 0] / 0.004), np.floor(ab[:, 1] / 0.004), look.seed)
    col *= pile[:, None]
    out[inside] = col[inside]
    if rug.fringe > 0:
        strands = (~inside & (a > length) & (a <= length + rug.fringe) & (b <= width)
                   & (_near_line(ab[:, 1] / 0.008) < 0.3))
        out[strands] = look.rug_fringe * (0.9 + 0.1 * pile[strands][:, None])
    return out


def scenery_albedo(look: SceneLook, material: np.ndarray, world: np.ndarray) -> np.ndarray:
    """Albedo ``(N, 3)`` of scenery points of ``material (N,)`` (:data:`scenery.MATERIALS`) at ``world (N, 3)``."""
    out = np.zeros((material.shape[0], 3))
    real = look.domain == "real"
    x, y, z = world[:, 0], world[:, 1], world[:, 2]
    for mat in np.unique(material):
        sel = material == mat
        if mat in (SOFA, CUSHION):
            colour = look.sofa if mat == SOFA else look.cushion
            out[sel] = colour
            if real:  # a soft mottle of the fabric, on every face
                n = (value_noise(x[sel] / 0.04, y[sel] / 0.04, look.seed)
                     + value_noise(y[sel] / 0.04 + 5.3, z[sel] / 0.04, look.seed + 1)
                     + value_noise(z[sel] / 0.04 + 2.1, x[sel] / 0.04, look.seed + 2)) / 3.0
                out[sel] *= (0.9 + 0.2 * n)[:, None]
        elif mat == COT:
            out[sel] = look.cot
            if real and look.cot_wood:  # grain along the (vertical) slats
                out[sel] *= (0.88 + 0.24 * value_noise((x[sel] + y[sel]) / 0.004, z[sel] / 0.15, look.seed))[:, None]
        elif mat == COVER:
            out[sel] = look.cover.colour(world[sel][:, :2])
        elif mat == ADULT_SKIN:
            out[sel] = look.adult_skin
        elif mat == SLEEVE:
            out[sel] = look.sleeve.colour(world[sel])
    return out
