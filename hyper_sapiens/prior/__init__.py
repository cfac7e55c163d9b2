"""Diffusion pose prior: normalisation, noise schedule, MLP denoiser, training, sampling, scoring and SDS.

See ``docs/prior.md``.
"""

from __future__ import annotations

from ..losses.integral import soft_argmax  # re-exported: the read-out SDS is applied through
from .denoiser import DenoiserConfig, PoseDenoiser
from .model import PosePrior
from .normalize import NormalizedPose, NormalizerConfig, PoseNormalizer
from .sample import sample_ddim, sample_ddpm
from .schedule import NoiseSchedule
from .score import plausibility_score, score_keypoints
from .sds import SDSLoss
from .train import train_prior

__all__ = [
    "DenoiserConfig", "NoiseSchedule", "NormalizedPose", "NormalizerConfig", "PoseDenoiser", "PoseNormalizer",
    "PosePrior", "SDSLoss", "plausibility_score", "sample_ddim", "sample_ddpm", "score_keypoints", "soft_argmax",
    "train_prior",
]
