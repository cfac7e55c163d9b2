"""Score distillation (SDS) loss of the frozen pose prior.

For a (normalised) pose ``x``, a step ``t`` from a low band and fresh noise ``eps``::

    x_t  = a_t x + s_t eps                        (q_sample, no gradient)
    g    = clip(w(t) (eps_hat(x_t, t) - eps))      (no gradient through the prior)
    loss = 0.5 * sum_joints ||x - sg(x - c g)||^2 / N       (c: joint weight, N: samples with a usable joint)

so ``d loss / d x = c g / N``: the DreamFusion gradient in the stop-gradient ("target") form of threestudio.
The value of the loss is ``0.5 Σ c² g²`` -- a gradient magnitude, not an objective to monitor
(Poole et al. 2022, DreamFusion, §3); the prior's plausibility score is (``score.py``).

Weightings ``w(t)`` (``a_t = sqrt(abar_t)``, ``s_t = sqrt(1 - abar_t)``):

* ``"x0"`` (default): ``s_t / a_t``, which makes ``g = x - x0_hat`` exactly -- the step to the prior's one-step
  denoised pose, in normalised units (torso sizes), so ``grad_clip`` is a distance;
* ``"sds"``: ``1 - abar_t`` (DreamFusion / threestudio);
* ``"uniform"``: 1;
* ``"dpposer"``: ``1 / a_t``, DPoser-v2's ``0.5 sqrt(1 + SNR²) ||x0 - sg(x0_hat)||²`` written on ε.

Keypoints in image (or heatmap) pixels are normalised by the prior's own normaliser, from the keypoints
themselves, with gradients flowing through the pelvis, the size and the alignment: the prior cannot lower
the loss by moving, shrinking or rotating the skeleton. Joints with confidence ``<= min_confidence`` are
hidden from the prior (mask channel 0) and get no loss; the others are weighted by their confidence clamped
to [0, 1] (detached: the loss cannot lower a joint's confidence to escape it).
"""

from __future__ import annotations

import torch
from torch import nn

from .model import PosePrior

__all__ = ["WEIGHTINGS", "SDSLoss"]

WEIGHTINGS = ("x0", "sds", "uniform", "dpposer")


class SDSLoss(nn.Module):
    """SDS loss of a frozen :class:`PosePrior`; gradients reach only the input keypoints.

    Args:
        prior: the prior (frozen here: eval mode, ``requires_grad=False``).
        t_range: ``(t_min, t_max)`` DDPM steps (inclusive) to draw ``t`` from, uniformly; low noise, e.g.
            ``(20, 200)`` of 1000 (DPoser/ZeDO use sub-VP t ~ 0.01-0.12).
        weighting: one of :data:`WEIGHTINGS`.
        grad_clip: clamp each element of ``g`` to ``[-grad_clip, grad_clip]`` (``None``: no clamp).
        min_confidence: joints at or below this confidence are hidden and carry no loss.
        confidence_weighted: weight each joint's gradient by its confidence (clamped to [0, 1]).
    """

    def __init__(
        self,
        prior: PosePrior,
        t_range: tuple[int, int] = (20, 200),
        weighting: str = "x0",
        grad_clip: float | None = 1.0,
        min_confidence: float = 0.0,
        confidence_weighted: bool = True,
    ) -> None:
        super().__init__()
        self.prior = prior.freeze()
        t_min, t_max = (int(v) for v in t_range)
        if not 0 <= t_min <= t_max < prior.num_steps:
            raise ValueError(f"SDSLoss: t_range must satisfy 0 <= t_min <= t_max < {prior.num_steps}, got {t_range}")
        weighting = "dpposer" if weighting == "dposer" else weighting
        if weighting not in WEIGHTINGS:
            raise ValueError(f"SDSLoss: unknown weighting {weighting!r}; known: {list(WEIGHTINGS)}")
        self.t_range = (t_min, t_max)
        self.weighting = weighting
        self.grad_clip = grad_clip
        self.min_confidence = float(min_confidence)
        self.confidence_weighted = bool(confidence_weighted)
        self.last: dict[str, torch.Tensor] = {}

    def train(self, mode: bool = True) -> SDSLoss:
        super().train(mode)
        self.prior.eval()   # the prior stays frozen (no dropout) whatever the trainer does
        return self

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        """``w(t)`` for integer steps ``t (B,)``."""
        sched = self.prior.schedule
        a, s = sched.signal_scale(t), sched.noise_scale(t)
        if self.weighting == "x0":
            return s / a
        if self.weighting == "sds":
            return s * s
        if self.weighting == "dpposer":
            return 1.0 / a
        return torch.ones_like(a)

    def forward(
        self,
        keypoints: torch.Tensor,
        confidence: torch.Tensor | None = None,
        *,
        normalized: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """SDS loss (a scalar; exactly 0, graph-connected, when no joint is usable).

        Args:
            keypoints: ``(B, K, 2|3)`` keypoints in any pixel unit (image, crop or heatmap pixels; the
                normaliser removes translation, scale and, if the prior aligns, rotation), or already
                normalised poses when ``normalized=True``. ``(B, F, K, D)`` for windowed priors.
            confidence: ``(B, [F,] K)`` confidence or visibility (> ``min_confidence`` = usable); ``None`` = all.
            normalized: ``keypoints`` are normalised poses (no re-normalisation).
            generator: source of ``t`` and ``eps`` (CPU generator), else the global RNG.
        """
        shape = self.prior.pose_shape
        if keypoints.ndim != len(shape) + 1 or tuple(keypoints.shape[1:]) != shape:
            raise ValueError(f"SDSLoss: keypoints must be (B, {', '.join(map(str, shape))}), "
                             f"got {tuple(keypoints.shape)}")
        b = keypoints.shape[0]
        zero = keypoints.float().sum() * 0.0
        if b == 0:
            return zero
        if confidence is None:
            conf = torch.ones(keypoints.shape[:-1], device=keypoints.device)
        else:
            if tuple(confidence.shape) != tuple(keypoints.shape[:-1]):
                raise ValueError(f"SDSLoss: confidence {tuple(confidence.shape)} must be {tuple(keypoints.shape[:-1])}")
            conf = confidence.detach().float().nan_to_num(0.0)
        usable = conf > self.min_confidence
        if normalized:
            x = keypoints.float()
            mask = usable.float()
        else:
            norm = self.prior.normalize(keypoints.float(), usable)
            x, mask = norm.x, norm.mask
        weights = mask * (conf.clamp(0.0, 1.0) if self.confidence_weighted else 1.0)
        sample_ok = weights.reshape(b, -1).sum(1) > 0
        count = int(sample_ok.sum())
        if count == 0:
            return zero
        device = x.device
        t_min, t_max = self.t_range
        t = torch.randint(t_min, t_max + 1, (b,), generator=generator).to(device)
        eps = torch.randn(x.shape, generator=generator).to(device)
        with torch.no_grad():
            x_t = self.prior.schedule.q_sample(x.detach(), t, eps)
            eps_hat = self.prior.predict_eps(x_t, t, mask)
            w = self.weight(t).reshape((b,) + (1,) * (x.ndim - 1))
            grad = torch.nan_to_num(w * (eps_hat - eps), nan=0.0, posinf=0.0, neginf=0.0)
            if self.grad_clip is not None:
                grad = grad.clamp(-self.grad_clip, self.grad_clip)
            grad = grad * weights[..., None]
        target = (x - grad).detach()
        loss = 0.5 * (x - target).square().sum() / count
        self.last = {"t": t, "grad_norm": grad.reshape(b, -1).norm(dim=1).detach(), "samples": torch.tensor(count)}
        return loss
