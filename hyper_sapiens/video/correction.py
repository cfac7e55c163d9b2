"""Correction of prior-flagged frames: a few plain SDS gradient steps toward plausible poses.

Each flagged frame's cleaned pose ``p`` (image pixels) is normalised once by the prior's own normaliser,
``x = R (p - c) / s`` (:class:`~hyper_sapiens.prior.normalize.PoseNormalizer`: pelvis ``c``, torso size ``s``,
spine rotation ``R``; missing joints hidden via the mask), then moved by ``steps`` plain gradient steps of the
SDS loss (:class:`~hyper_sapiens.prior.SDSLoss`, weighting ``"x0"``)::

    x <- x - lr * g,    g = clip(x - x0_hat(x_t, t))      t ~ U{20..200}, x_t = a_t x + s_t eps

where ``x0_hat`` is the prior's one-step denoised pose: with the ``"x0"`` weighting the SDS gradient (times the
number of poses, which the loss divides by) is exactly ``x - x0_hat``, in normalised units (torso sizes), so
``lr`` is the fraction of the way to the denoised pose taken per step (Poole et al. 2022, DreamFusion, §3; the
same steps as :func:`hyper_sapiens.prior.quality.sds_pull`, but in the fixed normalised frame). The result is
mapped back with the *same* ``c, s, R`` (:meth:`PosePrior.denormalize`), so the skeleton keeps its place, size
and orientation in the image; joints that were missing stay missing (they are hidden from the prior and get no
gradient), and frames not flagged are returned unchanged, bit for bit. The noise and steps come from a seeded
``torch.Generator``: the same input gives the same output.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

__all__ = ["DEFAULT_CORRECT_LR", "DEFAULT_T_RANGE", "correct_frames", "correction_summary"]

#: Fraction of the step to the prior's denoised pose taken per SDS step (docs/video.md: how it was chosen).
DEFAULT_CORRECT_LR = 0.1

#: DDPM steps the SDS noise level is drawn from (the low band :class:`~hyper_sapiens.prior.SDSLoss` defaults to).
DEFAULT_T_RANGE = (20, 200)


def correct_frames(
    prior: str | os.PathLike | torch.nn.Module,
    keypoints: np.ndarray,
    flags: np.ndarray,
    steps: int,
    lr: float = DEFAULT_CORRECT_LR,
    device: torch.device | str = "cpu",
    seed: int = 0,
    t_range: tuple[int, int] = DEFAULT_T_RANGE,
) -> np.ndarray:
    """The track with its flagged frames moved by ``steps`` SDS steps toward the prior (module docstring).

    Args:
        prior: a :class:`~hyper_sapiens.prior.PosePrior` or the path of a saved one (single-pose prior,
            ``window == 1``, 2-D, the layout of ``keypoints``).
        keypoints: ``(T, K, 2)`` cleaned keypoints in image pixels, ``NaN`` = missing.
        flags: ``(T,)`` 1.0 where the frame is flagged; 0 or ``NaN`` (unscored) frames are left alone.
        steps: gradient steps (0 returns a copy of ``keypoints``).
        lr: step size, the fraction of ``x - x0_hat`` (normalised units, torso sizes) removed per step; > 0.
        device: where the prior runs.
        seed: seed of the generator drawing the SDS steps ``t`` and noise.
        t_range: ``(t_min, t_max)`` DDPM steps the noise level is drawn from.

    Returns:
        ``(T, K, 2)`` float64 pixels: the corrected track, equal to ``keypoints`` on unflagged frames and ``NaN``
        wherever ``keypoints`` is ``NaN``. A flagged frame whose normalisation is impossible (no torso) is unchanged.
    """
    from ..prior import PosePrior, SDSLoss

    if steps < 0:
        raise ValueError(f"correction steps must be >= 0, got {steps}")
    if not lr > 0:
        raise ValueError(f"correction step size must be > 0, got {lr}")
    kp = np.asarray(keypoints, np.float64)
    out = kp.copy()
    fl = np.asarray(flags, np.float64)
    if fl.shape != kp.shape[:1]:
        raise ValueError(f"flags {fl.shape} must have one value per frame ({kp.shape[0]})")
    idx = np.flatnonzero(fl == 1.0)
    if steps == 0 or idx.size == 0:
        return out
    device = torch.device(device)
    if not isinstance(prior, PosePrior):
        prior = PosePrior.load(prior, device=device)
    if prior.normalizer.config.window != 1:
        raise ValueError("correction needs a single-pose prior (window 1), this one scores windows of "
                         f"{prior.normalizer.config.window} frames")
    sel = kp[idx]
    present = np.isfinite(sel).all(-1)                                              # (N, K)
    pts = torch.as_tensor(np.nan_to_num(sel), dtype=torch.float32, device=device)
    with torch.no_grad():
        norm = prior.normalize(pts, torch.as_tensor(present, device=device))       # x (N, K, 2), mask (N, K)
    sds = SDSLoss(prior, t_range=t_range, weighting="x0")
    gen = torch.Generator().manual_seed(int(seed))
    x = norm.x.detach().clone().requires_grad_(True)
    usable = int((norm.mask.sum(1) > 0).sum())
    for _ in range(steps):
        loss = sds(x, norm.mask, normalized=True, generator=gen)
        (grad,) = torch.autograd.grad(loss, x)   # = g / usable (SDSLoss averages over usable poses)
        with torch.no_grad():
            x -= lr * usable * grad
    with torch.no_grad():
        moved = prior.denormalize(x.detach(), norm).double().cpu().numpy()
    keep = present & norm.mask.bool().cpu().numpy()                                 # joints the prior saw
    corrected = np.where(keep[..., None], moved, sel)
    out[idx] = corrected
    return out


def correction_summary(
    cleaned: np.ndarray,
    corrected: np.ndarray,
    flags: np.ndarray,
    scores_before: np.ndarray,
    scores_after: np.ndarray,
    threshold: float | None,
    steps: int,
    lr: float,
) -> dict[str, Any]:
    """What the correction did, for ``features.json`` (``clip.correction``).

    Args:
        cleaned, corrected: ``(T, K, 2)`` pixels before and after :func:`correct_frames`.
        flags: ``(T,)`` 1.0 on the flagged (corrected) frames.
        scores_before, scores_after: ``(T,)`` prior scores of the cleaned and the corrected track (only the
            flagged frames are read; lower = more plausible).
        threshold: the flagging threshold (``None``: ``still_flagged_after`` is ``None``).

    Returns:
        ``steps``, ``lr``, ``frames_corrected`` (flagged frames), ``joints_corrected`` (present joints of those
        frames), ``mean_shift_px`` (mean Euclidean displacement of those joints, image pixels), ``max_shift_px``,
        ``score_before`` / ``score_after`` (mean prior score of the corrected frames), ``still_flagged_after``
        (corrected frames still scoring above ``threshold``); ``None`` where there is nothing to average.
    """
    flagged = np.asarray(flags, np.float64) == 1.0
    before = np.asarray(scores_before, np.float64)[flagged]
    after = np.asarray(scores_after, np.float64)[flagged]
    shift = np.linalg.norm(np.asarray(corrected, np.float64)[flagged] - np.asarray(cleaned, np.float64)[flagged],
                           axis=-1)
    shift = shift[np.isfinite(shift)]

    def mean(v: np.ndarray) -> float | None:
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else None

    still = None
    if threshold is not None:
        still = int((np.isfinite(after) & (after > threshold)).sum())
    return {
        "steps": int(steps),
        "lr": float(lr),
        "frames_corrected": int(flagged.sum()),
        "joints_corrected": int(shift.size),
        "mean_shift_px": mean(shift),
        "max_shift_px": float(shift.max()) if shift.size else None,
        "score_before": mean(before),
        "score_after": mean(after),
        "still_flagged_after": still,
    }
