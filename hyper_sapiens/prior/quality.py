"""Validation of a trained prior: corrupted poses, plausibility AUC, sample statistics, the SDS pull.

Used by ``tests/test_prior.py`` and ``benchmarks/prior_quality.py``. COCO17 only (limbs from
``hyper_sapiens.keypoints.COCO17_LIMBS``). Amounts are relative to each pose's torso size (the RMS distance
of its four torso joints from their centroid, :func:`hyper_sapiens.keypoints.torso_radius`: the size the prior's
normaliser divides by, before its ``scale_factor``), so they mean the same in pixels and in metres.

Corruptions (``corrupt(kind, ...)``), each applied to every pose of a batch:

* ``noise``: Gaussian noise of ``sigma`` torso sizes on every joint;
* ``swap_lr``: one limb (elbow + wrist, or knee + ankle) swapped with its left/right counterpart;
* ``swap_arm_leg``: on one side, the elbow and wrist exchanged with the knee and ankle;
* ``stretch``: one limb segment (upper arm, forearm, thigh, shank) lengthened 1.7-2.2 times, the joints below
  it moving with it. (Shortening is not a corruption in 2D: a limb pointing at the camera looks short.)
"""

from __future__ import annotations

import numpy as np
import torch

from ..keypoints import COCO17_LIMBS, COCO17_SYMMETRIC_LIMBS, torso_radius
from .model import PosePrior
from .score import plausibility_score
from .sds import SDSLoss

__all__ = [
    "CORRUPTIONS",
    "auc",
    "corrupt",
    "limb_ratios",
    "sample_statistics",
    "sds_pull",
    "symmetry",
]

CORRUPTIONS = ("noise", "swap_lr", "swap_arm_leg", "stretch")

_ARMS = ((7, 9), (8, 10))      # (elbow, wrist) left, right
_LEGS = ((13, 15), (14, 16))   # (knee, ankle) left, right
# (parent, child, joints moved with the child)
_SEGMENTS = ((5, 7, (7, 9)), (7, 9, (9,)), (6, 8, (8, 10)), (8, 10, (10,)),
             (11, 13, (13, 15)), (13, 15, (15,)), (12, 14, (14, 16)), (14, 16, (16,)))


def corrupt(kind: str, keypoints: np.ndarray, rng: np.random.Generator, sigma: float = 0.3) -> np.ndarray:
    """A corrupted copy of COCO17 poses ``(N, 17, D)`` (see the module docstring)."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; known: {list(CORRUPTIONS)}")
    out = np.array(keypoints, dtype=np.float64, copy=True)
    n = out.shape[0]
    size = torso_radius(out)[:, None, None]
    if kind == "noise":
        return (out + rng.normal(0.0, sigma, out.shape) * size).astype(np.float32)
    for i in range(n):
        if kind == "swap_lr":
            left, right = (_ARMS if rng.random() < 0.5 else _LEGS)
            out[i, list(left) + list(right)] = out[i, list(right) + list(left)]
        elif kind == "swap_arm_leg":
            arm, leg = _ARMS[int(rng.integers(2))], _LEGS[int(rng.integers(2))]
            out[i, list(arm) + list(leg)] = out[i, list(leg) + list(arm)]
        else:
            parent, child, moved = _SEGMENTS[int(rng.integers(len(_SEGMENTS)))]
            factor = rng.uniform(1.7, 2.2)
            shift = (out[i, child] - out[i, parent]) * (factor - 1.0)
            out[i, list(moved)] += shift
    return out.astype(np.float32)


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a random ``positive`` score > a random ``negative`` one), ties counted half (Mann-Whitney U / n1 n2).

    With positives = scores of corrupted poses and negatives = scores of real ones, 1.0 means the prior
    ranks every corrupted pose as less plausible than every real one; 0.5 is chance. NaNs are ignored.
    """
    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if not len(pos) or not len(neg):
        return float("nan")
    values = np.concatenate([pos, neg])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_vals = values[order]
    # average ranks over ties
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def limb_ratios(keypoints: np.ndarray) -> np.ndarray:
    """``(N, 12)`` lengths of ``COCO17_LIMBS`` divided by each pose's torso size (scale-free)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    lengths = np.stack([np.linalg.norm(kp[:, a] - kp[:, b], axis=-1) for a, b in COCO17_LIMBS], 1)
    return lengths / np.maximum(torso_radius(kp), 1e-12)[:, None]


def symmetry(keypoints: np.ndarray) -> np.ndarray:
    """``(N,)`` mean over the mirror limb pairs of ``|log(l_left / l_right)|`` (0 = perfectly symmetric)."""
    ratios = limb_ratios(keypoints)
    pairs = np.asarray(COCO17_SYMMETRIC_LIMBS)
    left, right = np.maximum(ratios[:, pairs[:, 0]], 1e-9), np.maximum(ratios[:, pairs[:, 1]], 1e-9)
    return np.abs(np.log(left / right)).mean(1)


def sample_statistics(samples: np.ndarray, data: np.ndarray) -> dict[str, float]:
    """Compare poses drawn from the prior with training poses (both ``(N, 17, D)``, any units).

    Returns the mean over limbs of ``|mean ratio(samples) - mean ratio(data)| / mean ratio(data)``
    (``limb_ratio_rel_error``, and its maximum over limbs), the mean L/R asymmetry of both, and the mean
    over limbs of the ratio spread (std) of both.
    """
    rs, rd = limb_ratios(samples), limb_ratios(data)
    rel = np.abs(rs.mean(0) - rd.mean(0)) / rd.mean(0)
    return {
        "limb_ratio_rel_error": float(rel.mean()),
        "limb_ratio_rel_error_max": float(rel.max()),
        "asymmetry_samples": float(symmetry(samples).mean()),
        "asymmetry_data": float(symmetry(data).mean()),
        "ratio_std_samples": float(rs.std(0).mean()),
        "ratio_std_data": float(rd.std(0).mean()),
    }


def sds_pull(
    prior: PosePrior,
    clean: np.ndarray,
    corrupted: np.ndarray,
    steps: int = 40,
    lr: float = 0.2,
    seed: int = 0,
    **sds_kwargs,
) -> dict[str, float]:
    """Follow the SDS gradient from corrupted poses and measure the distance to their clean versions.

    Both pose sets are first normalised (the prior's normaliser), then ``steps`` plain gradient steps
    ``x <- x - lr * N * dL/dx`` on the full SDS path (re-normalising inside the loss) move the corrupted
    poses. The distance is the mean per-joint Euclidean distance after normalising both poses again, in
    normalised units. Returns ``dist_before``, ``dist_after`` and ``ratio = after / before`` (< 1: pulled
    towards the data), plus the plausibility scores before and after.
    """
    sds = SDSLoss(prior, **sds_kwargs)
    gen = torch.Generator().manual_seed(seed)
    clean_n = prior.normalize(torch.as_tensor(clean, dtype=torch.float32)).x
    x = prior.normalize(torch.as_tensor(corrupted, dtype=torch.float32)).x.clone().requires_grad_(True)
    n = x.shape[0]

    def dist(a: torch.Tensor) -> float:
        with torch.no_grad():
            an = prior.normalize(a).x
            return float((an - clean_n).norm(dim=-1).mean())

    before = dist(x.detach())
    score_before = plausibility_score(prior, prior.normalize(x.detach()).x)
    for _ in range(steps):
        loss = sds(x, generator=gen)
        (grad,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            x -= lr * n * grad
    after = dist(x.detach())
    score_after = plausibility_score(prior, prior.normalize(x.detach()).x)
    return {"dist_before": before, "dist_after": after, "ratio": after / max(before, 1e-12),
            "score_before": float(score_before.nanmean()), "score_after": float(score_after.nanmean())}
