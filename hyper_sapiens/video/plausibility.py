"""Per-frame plausibility of a cleaned track under the diffusion pose prior (lower = more plausible)."""

from __future__ import annotations

import os

import numpy as np
import torch

__all__ = ["flag_implausible", "frame_plausibility", "run_prior"]


def run_prior(checkpoint: str | os.PathLike) -> str | None:
    """The prior of the run a checkpoint belongs to: ``eval.prior``, else ``loss.sds.prior``, of the
    ``config.yaml`` that ``train`` writes beside its checkpoints, when that file names one that exists (as
    written, or relative to the run folder); ``None`` otherwise."""
    from pathlib import Path

    import yaml

    run_dir = Path(checkpoint).parent
    config = run_dir / "config.yaml"
    if not config.is_file():
        return None
    try:
        cfg = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return None
    for name in (_lookup(cfg, "eval", "prior"), _lookup(cfg, "loss", "sds", "prior")):
        if not isinstance(name, str) or not name:
            continue
        for candidate in (Path(name), run_dir / name):
            if candidate.exists():
                return str(candidate)
    return None


def _lookup(cfg: object, *keys: str) -> object:
    """``cfg[k1][k2]...`` of nested mappings, ``None`` where a level is missing or not a mapping."""
    for key in keys:
        cfg = cfg.get(key) if isinstance(cfg, dict) else None
    return cfg


def frame_plausibility(
    prior_path: str | os.PathLike | torch.nn.Module, keypoints: np.ndarray, device: torch.device
) -> np.ndarray:
    """``(T,)`` prior scores (:func:`hyper_sapiens.prior.score_keypoints`) of ``keypoints (T, K, 2)`` pixels.

    ``prior_path`` is a saved prior or a loaded :class:`~hyper_sapiens.prior.PosePrior`. Missing joints (``NaN``)
    are hidden from the prior; a frame whose normalisation is impossible (no torso) scores ``NaN``. Each frame's
    score depends only on that frame (the noise draws are fixed), so scoring a subset gives the same values."""
    from ..prior import PosePrior, score_keypoints

    prior = prior_path if isinstance(prior_path, PosePrior) else PosePrior.load(prior_path, device=device)
    kp = np.asarray(keypoints, np.float32)
    present = np.isfinite(kp).all(-1)
    x = torch.as_tensor(np.nan_to_num(kp), device=device)
    scores = score_keypoints(prior, x, torch.as_tensor(present, dtype=torch.float32, device=device))
    return scores.detach().cpu().numpy().astype(np.float64)


def flag_implausible(scores: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, float | None]:
    """Frames whose score is above ``threshold`` (default: 3 × the clip's median score).

    Returns ``(flags (T,) float: 1.0 flagged, 0.0 not, NaN unscored, threshold used)``."""
    s = np.asarray(scores, np.float64)
    finite = np.isfinite(s)
    if threshold is None:
        threshold = 3.0 * float(np.median(s[finite])) if finite.any() else None
    flags = np.full(s.shape, np.nan)
    if threshold is not None:
        flags[finite] = (s[finite] > threshold).astype(np.float64)
    return flags, threshold
