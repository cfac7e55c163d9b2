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


def _group_error(norm_lengths: np.ndarray) -> tuple[float, np.ndarray]:
    per_bone = np.full(norm_lengths.shape[1], np.nan)
    for b in range(norm_lengths.shape[1]):
        v = norm_lengths[:, b]
        v = v[np.isfinite(v)]
        if v.size >= 2 and v.mean() > 0:
            per_bone[b] = v.var() / v.mean() ** 2
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

    Returns ``{"g_error": float, "per_bone": {name: float}, "per_group": {group: float}, "num_frames": int}``;
    ``g_error`` is NaN when no bone has two valid frames in any group.
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
    bones = []
    for g in dict.fromkeys(labels.tolist()):
        err, per_bone = _group_error(norm[labels == g])
        per_group[str(g)] = err
        bones.append(per_bone)
    finite = [v for v in per_group.values() if np.isfinite(v)]
    stacked = np.vstack(bones)
    counts = np.isfinite(stacked).sum(axis=0)
    sums = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=0)
    bone_mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return {
        "g_error": float(np.mean(finite)) if finite else float("nan"),
        "per_bone": {name: float(v) for name, v in zip(limb_names, bone_mean, strict=True)},
        "per_group": per_group if groups is not None else {},
        "num_frames": int(len(keypoints)),
    }
