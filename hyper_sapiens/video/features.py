"""Movement features of one cleaned keypoint track: speeds, accelerations, range of motion, symmetry, activity.

Input: ``keypoints (T, K, 2)`` in image pixels (``NaN`` = missing) at ``fps`` frames per second, ``K`` joints
in COCO17 order. Every derivative uses only frames where the joints involved are present:

* speed ``v_t = |p_{t+1} - p_t| · fps`` (px/s, ``T - 1`` values per joint);
* acceleration ``a_t = |p_{t+1} - 2 p_t + p_{t-1}| · fps²`` (px/s², ``T - 2`` values per joint);
* torso length: the median over frames of :func:`~hyper_sapiens.keypoints.torso.torso_length` (px);
* G-Error (:func:`hyper_sapiens.evaluation.g_error.g_error`): per bone, the squared coefficient of variation over
  the clip of the bone's length divided by the frame's torso length, averaged over the bones (0 = constant
  proportions); a frame counts for a bone when both its joints and the four torso joints are present.

Units are stated in the returned dict (``units``) and in docs/video.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..keypoints import COCO17
from ..keypoints.torso import torso_length

__all__ = ["DEFAULT_MOVING_THRESHOLD", "SYMMETRY_PAIRS", "movement_features", "speeds", "accelerations"]

#: A joint moves when its speed exceeds this many torso lengths per second.
DEFAULT_MOVING_THRESHOLD = 0.5

#: Left-right pairs compared for symmetry.
SYMMETRY_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("wrists", "left_wrist", "right_wrist"),
    ("ankles", "left_ankle", "right_ankle"),
)

UNITS = {
    "speed": "px/s",
    "acceleration": "px/s^2",
    "range_px": "px",
    "range_torso": "torso lengths",
    "torso_length_px": "px",
    "moving_threshold": "torso lengths/s",
    "share_moving": "fraction of frame pairs (0-1)",
    "speed_correlation": "Pearson r (-1..1)",
    "mean_speed_ratio": "left / right (1 = equal)",
    "share_implausible": "fraction of scored frames (0-1)",
    "g_error": "dimensionless (squared coefficient of variation; 0 = constant bone proportions)",
    "g_error_per_bone": "dimensionless (as g_error, per bone)",
    "fps": "frames/s",
    "duration_s": "s",
}


def speeds(keypoints: np.ndarray, fps: float) -> np.ndarray:
    """``(T - 1, K)`` frame-to-frame speeds in px/s (``NaN`` where either frame lacks the joint)."""
    kp = np.asarray(keypoints, np.float64)
    return np.linalg.norm(np.diff(kp, axis=0), axis=-1) * fps


def accelerations(keypoints: np.ndarray, fps: float) -> np.ndarray:
    """``(T - 2, K)`` magnitudes of the second difference in px/s² (``NaN`` where a frame lacks the joint)."""
    kp = np.asarray(keypoints, np.float64)
    return np.linalg.norm(np.diff(kp, n=2, axis=0), axis=-1) * fps * fps


def _stats(values: np.ndarray) -> dict[str, float | int | None]:
    """mean, median, p95 and count of the finite values (``None`` when there are none)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {"mean": None, "median": None, "p95": None, "n": 0}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "p95": float(np.percentile(v, 95)),
            "n": int(v.size)}


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return None
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def movement_features(
    keypoints: np.ndarray,
    fps: float,
    moving_threshold: float = DEFAULT_MOVING_THRESHOLD,
    implausible: np.ndarray | None = None,
) -> dict[str, Any]:
    """The clip's features (module docstring for the definitions; docs/video.md lists every key).

    Args:
        keypoints: ``(T, 17, 2)`` cleaned COCO17 keypoints in pixels, ``NaN`` = missing.
        fps: frames per second.
        moving_threshold: a joint moves when its speed is above this many torso lengths per second.
        implausible: ``(T,)`` bool per frame flagged by the prior, or ``None`` without a prior; frames with a
            ``NaN`` score are not counted (pass a float array with ``NaN`` for those).
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (COCO17.num_keypoints, 2):
        raise ValueError(f"keypoints must be (T, {COCO17.num_keypoints}, 2), got {kp.shape}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    t = kp.shape[0]
    v = speeds(kp, fps)
    a = accelerations(kp, fps)
    present = np.isfinite(kp).all(-1)
    torso, ok = torso_length(np.nan_to_num(kp), present.astype(np.float32))
    torso_px = float(np.median(torso[ok])) if ok.any() else None
    threshold_px = moving_threshold * torso_px if torso_px else None

    joints: dict[str, Any] = {}
    for k, name in enumerate(COCO17.names):
        pts = kp[present[:, k], k]
        if len(pts):
            extent = pts.max(0) - pts.min(0)
            rng = float(np.hypot(*extent))
            range_xy = [float(extent[0]), float(extent[1])]
        else:
            rng, range_xy = None, [None, None]
        finite_v = v[np.isfinite(v[:, k]), k]
        joints[name] = {
            "speed": _stats(v[:, k]),
            "acceleration": _stats(a[:, k]),
            "range_px": rng,
            "range_xy_px": range_xy,
            "range_torso": rng / torso_px if rng is not None and torso_px else None,
            "share_moving": float((finite_v > threshold_px).mean()) if threshold_px and finite_v.size else None,
            "present": float(present[:, k].mean()),
        }

    symmetry: dict[str, Any] = {}
    for pair, left, right in SYMMETRY_PAIRS:
        vl, vr = v[:, COCO17.names.index(left)], v[:, COCO17.names.index(right)]
        ml, mr = joints[left]["speed"]["mean"], joints[right]["speed"]["mean"]
        symmetry[pair] = {
            "speed_correlation": _correlation(vl, vr),
            "mean_speed_ratio": ml / mr if ml is not None and mr else None,
        }

    limbs = [COCO17.names.index(n) for _, left, right in SYMMETRY_PAIRS for n in (left, right)]
    limb_v = v[:, limbs]
    any_known = np.isfinite(limb_v).any(1)
    if threshold_px and any_known.any():
        share_any = float((np.nan_to_num(limb_v[any_known], nan=0.0) > threshold_px).any(1).mean())
    else:
        share_any = None

    share_implausible = None
    if implausible is not None:
        flags = np.asarray(implausible, np.float64)
        scored = np.isfinite(flags)
        share_implausible = float(flags[scored].mean()) if scored.any() else None

    from ..evaluation.g_error import g_error  # here: importing the evaluation package loads torch

    bones = g_error(np.nan_to_num(kp), present.astype(np.float64))
    g_total = bones["g_error"] if np.isfinite(bones["g_error"]) else None
    g_per_bone = {name: (v if np.isfinite(v) else None) for name, v in bones["per_bone"].items()}

    return {
        "units": UNITS,
        "definitions": {
            "speed": "|p(t+1) - p(t)| * fps over frame pairs where the joint is present",
            "acceleration": "|p(t+1) - 2 p(t) + p(t-1)| * fps^2 over frame triples where the joint is present",
            "range_px": "diagonal of the box spanned by the joint's positions over the clip",
            "range_torso": "range_px / torso_length_px",
            "torso_length_px": "median over frames of the mean shoulder-hip distance (both sides visible)",
            "share_moving": "share of frame pairs whose speed exceeds moving_threshold torso lengths/s",
            "limbs_share_moving": "share of frame pairs in which any wrist or ankle is moving",
            "speed_correlation": "Pearson correlation of the left and right joints' speeds over common frame pairs",
            "mean_speed_ratio": "mean speed of the left joint / mean speed of the right joint",
            "share_implausible": "share of prior-scored frames whose plausibility score is above the threshold",
            "g_error": "mean over bones (COCO17 limbs) with >= 2 usable frames of Var_t(l_t) / mean_t(l_t)^2, "
                       "l_t = bone length / torso length in frame t; a frame counts for a bone when both its "
                       "joints and the four torso joints are present",
            "g_error_per_bone": "Var_t(l_t) / mean_t(l_t)^2 of each bone (null with fewer than 2 usable frames)",
        },
        "frames": t,
        "fps": float(fps),
        "duration_s": t / float(fps),
        "torso_length_px": torso_px,
        "moving_threshold": moving_threshold,
        "joints": joints,
        "symmetry": symmetry,
        "limbs_share_moving": share_any,
        "share_implausible": share_implausible,
        "g_error": g_total,
        "g_error_per_bone": g_per_bone,
    }
