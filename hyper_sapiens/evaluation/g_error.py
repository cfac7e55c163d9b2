"""G-Error: how much each bone's (torso-normalised) length varies across frames — lower is more consistent.

For frames ``t`` of one group (a video sequence, or the whole set), with torso size
``T_t = (|l_shoulder - l_hip| + |r_shoulder - r_hip|) / 2`` (:func:`hyper_sapiens.keypoints.torso_length`)
and bone lengths ``L_{b,t}``:

    ℓ_{b,t} = L_{b,t} / T_t
    G_b     = Var_t(ℓ_{b,t}) / mean_t(ℓ_{b,t})²          (population variance: the squared coefficient of variation)
    G       = mean over bones with ≥ 2 valid frames of G_b

and with groups, the mean of the groups' G. A frame counts for a bone when both its joints and all four
torso joints are visible and the torso size is > 0. The measure is scale free (a skeleton of constant
proportions scores 0 at any zoom) and is 0 for a rigid skeleton.

``G`` is a mean of squared deviations, so one wild prediction (a bone ten torso sizes long) can make it
several times larger on its own. Beside it, the *median* form replaces the mean and the standard deviation of
each bone by the median and the scaled median absolute deviation (MAD):

    G̃_b = (1.4826 · median_t |ℓ_{b,t} - median_t ℓ_{b,t}| / median_t ℓ_{b,t})²
    G̃   = mean over bones with ≥ 2 valid frames of G̃_b            (``g_error_median``)

1.4826 makes the scaled MAD equal the standard deviation for normally distributed lengths, so ``G̃ ≈ G`` when
no prediction is wild; a few wild frames move each bone's median and MAD by a few ranks only (the median
breaks down at half the frames, the mean at one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..keypoints import COCO17_LIMB_NAMES, COCO17_LIMBS, torso_length


def bone_lengths(
    keypoints: np.ndarray, visible: np.ndarray, bones: Sequence[tuple[int, int]] = COCO17_LIMBS
) -> np.ndarray:
    """``(N, B)`` bone lengths (same unit as the keypoints), NaN where an end point is not visible."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = np.asarray(visible)
    if keypoints.ndim != 3 or visible.shape != keypoints.shape[:2]:
        raise ValueError(
            f"bone_lengths: keypoints {keypoints.shape} must be (N, K, D) and visible {visible.shape} (N, K)"
        )
    idx = np.asarray(bones)
    lengths = np.linalg.norm(keypoints[:, idx[:, 0]] - keypoints[:, idx[:, 1]], axis=-1)
    ok = (visible[:, idx[:, 0]] > 0) & (visible[:, idx[:, 1]] > 0)
    return np.where(ok, lengths, np.nan)


#: The MAD of a normal distribution times this is its standard deviation (1 / Φ⁻¹(3/4)).
MAD_TO_STD = 1.4826


def _bone_dispersion(v: np.ndarray, robust: bool) -> float:
    """Squared coefficient of variation of one bone's normalised lengths ``v`` (finite, ``(T,)``): ``Var / mean²``,
    or with ``robust`` ``(1.4826 · MAD / median)²``; NaN with fewer than 2 frames or a centre ≤ 0."""
    if v.size < 2:
        return float("nan")
    if robust:
        centre = float(np.median(v))
        spread = MAD_TO_STD * float(np.median(np.abs(v - centre)))
        return (spread / centre) ** 2 if centre > 0 else float("nan")
    mean = float(v.mean())
    return float(v.var()) / mean**2 if mean > 0 else float("nan")


def _group_error(norm_lengths: np.ndarray, robust: bool = False) -> tuple[float, np.ndarray]:
    """``(G of the group, per-bone G_b (B,))`` of normalised lengths ``(T, B)`` (NaN where not valid)."""
    per_bone = np.full(norm_lengths.shape[1], np.nan)
    for b in range(norm_lengths.shape[1]):
        v = norm_lengths[:, b]
        per_bone[b] = _bone_dispersion(v[np.isfinite(v)], robust)
    valid = per_bone[np.isfinite(per_bone)]
    return (float(valid.mean()) if valid.size else float("nan")), per_bone


def g_error(
    keypoints: np.ndarray,
    visible: np.ndarray | None = None,
    groups: Sequence[Any] | None = None,
    limbs: Sequence[tuple[int, int]] = COCO17_LIMBS,
    limb_names: Sequence[str] = COCO17_LIMB_NAMES,
) -> dict[str, Any]:
    """G-Error of COCO17 skeletons ``(N, K, 2|3)`` (see the module docstring for the formula).

    Returns ``{"g_error": float, "g_error_median": float, "per_bone": {name: float}, "per_group": {group: float},
    "per_group_median": {group: float}, "num_frames": int}`` (``*_median``: the median/MAD form of the module
    docstring); ``g_error`` is NaN when no bone has two valid frames in any group.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = np.ones(keypoints.shape[:2]) if visible is None else np.asarray(visible)
    lengths = bone_lengths(keypoints, visible, limbs)
    torso, ok = torso_length(keypoints, visible)
    norm = np.where(ok[:, None], lengths / np.where(ok, torso, 1.0)[:, None], np.nan)
    labels = np.zeros(len(keypoints), dtype=object) if groups is None else np.asarray(list(groups), dtype=object)
    if labels.shape != (len(keypoints),):
        raise ValueError(f"g_error: groups must have one entry per frame ({len(keypoints)}), got {labels.shape}")
    per_group: dict[str, float] = {}
    per_group_median: dict[str, float] = {}
    bones = []
    for g in dict.fromkeys(labels.tolist()):
        err, per_bone = _group_error(norm[labels == g])
        per_group[str(g)] = err
        per_group_median[str(g)] = _group_error(norm[labels == g], robust=True)[0]
        bones.append(per_bone)
    finite = [v for v in per_group.values() if np.isfinite(v)]
    finite_median = [v for v in per_group_median.values() if np.isfinite(v)]
    stacked = np.vstack(bones)
    counts = np.isfinite(stacked).sum(axis=0)
    sums = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=0)
    bone_mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return {
        "g_error": float(np.mean(finite)) if finite else float("nan"),
        "g_error_median": float(np.mean(finite_median)) if finite_median else float("nan"),
        "per_bone": {name: float(v) for name, v in zip(limb_names, bone_mean, strict=True)},
        "per_group": per_group if groups is not None else {},
        "per_group_median": per_group_median if groups is not None else {},
        "num_frames": int(len(keypoints)),
    }
