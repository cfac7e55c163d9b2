"""Scale-invariant bone-ratio (and optional left/right symmetry) losses on (soft-argmax) keypoints.

Each limb's length is measured relative to the torso (mean of the two shoulder-hip
distances), in log space: ``r_b = log l_b - log l_torso``. An infant seen from above lies
with the trunk roughly parallel to the image plane, so the torso is the least foreshortened
reference in 2D. The loss compares ``r_b`` with reference ratios measured the same way on the
skeleton data that trains the prior. Because limbs pointing toward the camera look shorter in
2D, ``one_sided=True`` penalises only limbs that look *longer* than the reference allows; with the
reference at an upper quantile of the skeletons' 2-D ratios (``reference_log_ratios(quantile=0.99)``) a
true pose scores about 0 and a stretched limb does not.

Foreshortening also makes true 2-D poses asymmetric: a forearm pointing at the camera is shorter than
its mirror (the median ``|log l_L - log l_R|`` of true poses of the demo data is 0.05-0.26 per limb pair,
``benchmarks/method_probes.py``), so the symmetry term penalises the truth. It is off by default
(``symmetry_weight=0``); the one-sided ratio term already bounds each side from above.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..keypoints import COCO17, COCO17_LIMBS, COCO17_SYMMETRIC_LIMBS
from .masking import masked_mean

_EPS = 1e-6


def _torso_pairs(torso: Sequence[int]) -> tuple[tuple[int, int], tuple[int, int]]:
    sl, sr, hl, hr = torso
    return (sl, hl), (sr, hr)


def limb_log_ratios(
    keypoints: torch.Tensor,
    weights: torch.Tensor,
    limbs: Sequence[tuple[int, int]] = COCO17_LIMBS,
    torso: Sequence[int] = COCO17.torso,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log limb lengths relative to the torso length.

    Args:
        keypoints: ``(B, K, 2|3)`` coordinates (pixels or any unit).
        weights: ``(B, K)`` per-joint confidence/visibility in ``[0, 1]``.

    Returns:
        ``(log_ratios (B, L), limb_weights (B, L))`` where a limb's weight is the product of its
        two joints' weights and of the torso joints' weights (0 where anything is missing).
    """
    if keypoints.ndim != 3 or weights.shape != keypoints.shape[:2]:
        raise ValueError(
            f"limb_log_ratios: keypoints {tuple(keypoints.shape)} must be (B, K, D) and weights "
            f"{tuple(weights.shape)} (B, K)"
        )
    idx = torch.as_tensor(limbs, device=keypoints.device)
    lengths = (keypoints[:, idx[:, 0]] - keypoints[:, idx[:, 1]]).norm(dim=-1)
    (a0, a1), (b0, b1) = _torso_pairs(torso)
    torso_len = 0.5 * (
        (keypoints[:, a0] - keypoints[:, a1]).norm(dim=-1) + (keypoints[:, b0] - keypoints[:, b1]).norm(dim=-1)
    )
    torso_w = weights[:, list(torso)].prod(dim=1)
    log_ratio = torch.log(lengths + _EPS) - torch.log(torso_len + _EPS)[:, None]
    limb_w = weights[:, idx[:, 0]] * weights[:, idx[:, 1]] * torso_w[:, None]
    return log_ratio, limb_w


def reference_log_ratios(
    keypoints: np.ndarray,
    visible: np.ndarray,
    limbs: Sequence[tuple[int, int]] = COCO17_LIMBS,
    torso: Sequence[int] = COCO17.torso,
    quantile: float = 0.5,
) -> np.ndarray:
    """Reference ``r_b`` per limb: a quantile (default the median) over all poses where the limb and torso are
    visible.

    Args:
        keypoints: ``(N, K, 2|3)`` skeleton data (e.g. the prior's training frames).
        visible: ``(N, K)`` visibility; ``> 0`` counts as present.
        quantile: in [0, 1]; an upper quantile (0.99) makes the one-sided ratio term a bound that true
            2-D poses, foreshortened ones included, stay below.

    Returns:
        ``(L,)`` float32; raises if a limb is never observed.
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"reference_log_ratios: quantile must be in [0, 1], got {quantile}")
    ratios, w = limb_log_ratios(
        torch.as_tensor(np.asarray(keypoints, dtype=np.float64)),
        torch.as_tensor((np.asarray(visible) > 0).astype(np.float64)),
        limbs,
        torso,
    )
    ratios, w = ratios.numpy(), w.numpy()
    out = np.empty(len(limbs), dtype=np.float32)
    for b in range(len(limbs)):
        seen = ratios[w[:, b] > 0, b]
        if seen.size == 0:
            raise ValueError(f"reference_log_ratios: limb {limbs[b]} is never visible with the torso")
        out[b] = np.quantile(seen, quantile)
    return out


def bone_ratio_loss(
    keypoints: torch.Tensor,
    weights: torch.Tensor,
    reference: torch.Tensor,
    limbs: Sequence[tuple[int, int]] = COCO17_LIMBS,
    symmetric_pairs: Sequence[tuple[int, int]] = COCO17_SYMMETRIC_LIMBS,
    torso: Sequence[int] = COCO17.torso,
    one_sided: bool = True,
    tolerance: float = 0.1,
    symmetry_weight: float = 0.0,
    huber_delta: float = 0.2,
) -> torch.Tensor:
    """Bone-ratio loss, plus left/right symmetry when ``symmetry_weight > 0``; both scale invariant.

    ``ratio term``: Huber(``r_b - ref_b``) over weighted limbs; with ``one_sided`` only the excess
    ``relu(r_b - ref_b - log(1 + tolerance))`` counts. ``symmetry term``: Huber(``log l_L - log l_R``)
    over weighted mirror pairs (off by default: true 2-D poses are asymmetric, module docstring).
    Returns 0 when no limb is weighted.

    Args:
        keypoints: ``(B, K, 2)`` predicted coordinates (any pixel unit: the loss is scale free).
        weights: ``(B, K)`` per-joint weights in ``[0, 1]`` (confidence × visibility × sample mask).
        reference: ``(L,)`` reference log ratios (``reference_log_ratios``).
    """
    log_ratio, limb_w = limb_log_ratios(keypoints, weights, limbs, torso)
    reference = reference.to(log_ratio)
    if reference.shape != (len(limbs),):
        raise ValueError(f"bone_ratio_loss: reference {tuple(reference.shape)} must be ({len(limbs)},)")
    dev = log_ratio - reference
    if one_sided:
        dev = F.relu(dev - float(np.log1p(tolerance)))
    ratio_term = masked_mean(F.huber_loss(dev, torch.zeros_like(dev), reduction="none", delta=huber_delta), limb_w)
    if not symmetric_pairs or symmetry_weight == 0:
        return ratio_term
    left = torch.as_tensor([p[0] for p in symmetric_pairs], device=keypoints.device)
    right = torch.as_tensor([p[1] for p in symmetric_pairs], device=keypoints.device)
    asym = log_ratio[:, left] - log_ratio[:, right]
    sym_w = limb_w[:, left] * limb_w[:, right]
    sym_term = masked_mean(F.huber_loss(asym, torch.zeros_like(asym), reduction="none", delta=huber_delta), sym_w)
    return ratio_term + symmetry_weight * sym_term
