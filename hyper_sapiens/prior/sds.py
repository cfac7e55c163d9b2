"""Score distillation (SDS) loss of the frozen pose prior.

For keypoints ``p`` (pixels), their normalised pose ``x = R (p - c) / s`` (the prior's normaliser; pelvis ``c``,
size ``s``, spine rotation ``R``), a step ``t`` from a low band and fresh noise ``eps``::

    x_t   = a_t x + s_t eps                          (q_sample, no gradient)
    g     = mean over `draws` of clip(w(t) (eps_hat(x_t, t) - eps))   (no gradient through the prior)
    g'    = g minus its best-fitting similarity motion (translation, scale, in-plane rotation)
    delta = s R^T (u ⊙ g')                           (u: joint weights; delta in the keypoints' unit)
    loss  = 0.5 Σ_joints ||p - sg(p - delta)||² / N   (N: samples with a usable joint)

so ``d loss / d p = delta / N``: the DreamFusion gradient in the stop-gradient ("target") form of threestudio,
carried from the prior's frame to the keypoints' pixels. The value of the loss is ``0.5 Σ delta²`` -- a gradient
magnitude, not an objective to monitor (Poole et al. 2022, DreamFusion, §3); the prior's plausibility score is
(``score.py``).

The frame ``c, s, R`` is held fixed (computed without gradient) and the similarity part of ``g`` is removed
uniformly over the usable joints, so the step changes the pose's shape only: it cannot move, resize or rotate the
skeleton, and it reaches every joint through its own ``g'`` alone. (Back-propagating through the normaliser
instead removes the same motions by pushing the hips and shoulders, whose gradient then carries every other
joint's: 3.3 times the others' step on the demo data, ``benchmarks/method_probes.py``.)

Weightings ``w(t)`` (``a_t = sqrt(abar_t)``, ``s_t = sqrt(1 - abar_t)``):

* ``"x0"``: ``s_t / a_t``, which makes ``g = x - x0_hat`` exactly -- the step to the prior's one-step denoised
  pose, in normalised units, so ``grad_clip`` is a distance;
* ``"sds"``: ``1 - abar_t`` (DreamFusion / threestudio), ``s_t a_t`` times the ``x0`` weighting;
* ``"uniform"``: 1;
* ``"dpposer"``: ``1 / a_t``, DPoser-v2's ``0.5 sqrt(1 + SNR²) ||x0 - sg(x0_hat)||²`` written on ε.

Joint weights ``u`` (``joint_weighting``; joints with confidence ``<= min_confidence`` are hidden from the prior,
mask channel 0, and get none): ``"uncertainty"``, ``1 - confidence`` clamped to [0, 1] -- the prior moves the joints
the pose network is unsure of and leaves the ones it is sure of (they condition the prior as anchors);
``"confidence"``, the confidence clamped to [0, 1] (the opposite: pushes hardest where the net is surest);
``"uniform"``, 1 (``confidence`` then acts as a mask). Confidences are detached.

With ``normalized=True`` the keypoints already are normalised poses in a frame the caller fixed (video correction):
``delta = u ⊙ g`` in normalised units, without the similarity projection.
"""

from __future__ import annotations

import torch
from torch import nn

from .model import PosePrior

__all__ = ["JOINT_WEIGHTINGS", "WEIGHTINGS", "SDSLoss", "remove_similarity"]

WEIGHTINGS = ("x0", "sds", "uniform", "dpposer")
JOINT_WEIGHTINGS = ("uncertainty", "confidence", "uniform")


def remove_similarity(g: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """``g`` minus its least-squares fit by a similarity motion of the points ``x``, per sample.

    The motions: translation, uniform scaling about the masked centroid and rotation about the camera axis
    (the ``(x, y)`` plane; 3-D points keep z). The fit weighs every masked point equally, so the removed part
    is spread evenly over them; the result is 0 on unmasked points.

    Args:
        g: ``(B, ..., D)`` vectors at the points (``D`` = 2 or 3).
        x: ``(B, ..., D)`` the points.
        mask: ``(B, ...)`` 0/1 (or weights) of the points that count.
        ridge: Tikhonov term for samples with too few points to fix every motion.

    Returns:
        ``(B, ..., D)``, orthogonal (over the masked points) to every similarity motion of ``x``.
    """
    b, d = g.shape[0], g.shape[-1]
    if d not in (2, 3):
        raise ValueError(f"remove_similarity: points must be 2-D or 3-D, got D={d}")
    gf, xf = g.reshape(b, -1, d), x.reshape(b, -1, d)
    m = mask.reshape(b, -1, 1).to(g.dtype)
    centre = (xf * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1e-12)
    r = (xf - centre) * m
    zeros = torch.zeros_like(r[..., 0])
    basis = [torch.zeros_like(r) for _ in range(d)]
    for i in range(d):
        basis[i][..., i] = 1.0
    basis = [e * m for e in basis]
    basis.append(r)                                                            # scale
    rot = torch.stack([-r[..., 1], r[..., 0]] + ([zeros] if d == 3 else []), -1)
    basis.append(rot)                                                          # rotation about the camera axis
    a = torch.stack([e.reshape(b, -1) for e in basis], -1)                     # (B, P·D, M)
    gram = a.transpose(1, 2) @ a
    eye = torch.eye(gram.shape[-1], dtype=g.dtype, device=g.device)
    scale = gram.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-12)[:, None, None]
    coef = torch.linalg.solve(gram + ridge * scale * eye, a.transpose(1, 2) @ (gf * m).reshape(b, -1, 1))
    fitted = (a @ coef).reshape(gf.shape)
    return ((gf - fitted) * m).reshape(g.shape)


class SDSLoss(nn.Module):
    """SDS loss of a frozen :class:`PosePrior`; gradients reach only the input keypoints.

    Args:
        prior: the prior (frozen here: eval mode, ``requires_grad=False``).
        t_range: ``(t_min, t_max)`` DDPM steps (inclusive) to draw ``t`` from, uniformly.
        weighting: one of :data:`WEIGHTINGS`.
        grad_clip: clamp each element of ``g`` to ``[-grad_clip, grad_clip]`` before averaging the draws
            (``None``: no clamp).
        min_confidence: joints at or below this confidence are hidden from the prior and carry no loss.
        joint_weighting: one of :data:`JOINT_WEIGHTINGS` (module docstring); ``uniform`` by default, the
            training objective passes ``loss.sds.joint_weighting``.
        draws: noise draws ``(t, eps)`` averaged per pose (1: the plain one-sample estimate).
    """

    def __init__(
        self,
        prior: PosePrior,
        t_range: tuple[int, int] = (20, 200),
        weighting: str = "x0",
        grad_clip: float | None = 1.0,
        min_confidence: float = 0.0,
        joint_weighting: str = "uniform",
        draws: int = 1,
    ) -> None:
        super().__init__()
        self.prior = prior.freeze()
        t_min, t_max = (int(v) for v in t_range)
        if not 0 <= t_min <= t_max < prior.num_steps:
            raise ValueError(f"SDSLoss: t_range must satisfy 0 <= t_min <= t_max < {prior.num_steps}, got {t_range}")
        weighting = "dpposer" if weighting == "dposer" else weighting
        if weighting not in WEIGHTINGS:
            raise ValueError(f"SDSLoss: unknown weighting {weighting!r}; known: {list(WEIGHTINGS)}")
        if joint_weighting not in JOINT_WEIGHTINGS:
            raise ValueError(f"SDSLoss: unknown joint_weighting {joint_weighting!r}; known: {list(JOINT_WEIGHTINGS)}")
        if int(draws) < 1:
            raise ValueError(f"SDSLoss: draws must be >= 1, got {draws}")
        self.t_range = (t_min, t_max)
        self.weighting = weighting
        self.grad_clip = grad_clip
        self.min_confidence = float(min_confidence)
        self.joint_weighting = joint_weighting
        self.draws = int(draws)
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

    def joint_weights(self, confidence: torch.Tensor) -> torch.Tensor:
        """Per-joint weights ``u`` from confidences (``joint_weighting``), before the usable-joint mask."""
        conf = confidence.clamp(0.0, 1.0)
        if self.joint_weighting == "uncertainty":
            return 1.0 - conf
        if self.joint_weighting == "confidence":
            return conf
        return torch.ones_like(conf)

    def prior_step(
        self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``g`` for normalised poses ``x (B, ..., D)`` (averaged over ``draws``) and the steps ``t (draws·B,)``.

        ``t`` is the generator's first draw, then the noise; the draws are stacked along the batch.
        """
        b = x.shape[0]
        t_min, t_max = self.t_range
        n = b * self.draws
        t = torch.randint(t_min, t_max + 1, (n,), generator=generator).to(x.device)
        eps = torch.randn((n, *x.shape[1:]), generator=generator).to(x.device)
        reps = (self.draws,) + (1,) * (x.ndim - 1)
        with torch.no_grad():
            xs, ms = x.detach().repeat(reps), mask.repeat(reps[:-1])
            x_t = self.prior.schedule.q_sample(xs, t, eps)
            eps_hat = self.prior.predict_eps(x_t, t, ms)
            w = self.weight(t).reshape((n,) + (1,) * (x.ndim - 1))
            g = torch.nan_to_num(w * (eps_hat - eps), nan=0.0, posinf=0.0, neginf=0.0)
            if self.grad_clip is not None:
                g = g.clamp(-self.grad_clip, self.grad_clip)
            g = g.reshape(self.draws, *x.shape).mean(0)
        return g, t

    def forward(
        self,
        keypoints: torch.Tensor,
        confidence: torch.Tensor | None = None,
        *,
        normalized: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """SDS loss (a scalar; exactly 0, graph-connected, when no joint carries weight).

        Args:
            keypoints: ``(B, K, 2|3)`` keypoints in any pixel unit (image, crop or heatmap pixels; the gradient
                comes out in that unit), or already normalised poses when ``normalized=True``. ``(B, F, K, D)`` for
                windowed priors.
            confidence: ``(B, [F,] K)`` confidence or visibility (> ``min_confidence`` = usable); ``None`` = all
                usable with confidence 1.
            normalized: ``keypoints`` are normalised poses in a fixed frame (no re-normalisation, no projection).
            generator: source of ``t`` and ``eps`` (CPU generator), else the global RNG.

        After a call, ``last`` holds ``t``, ``step`` (``delta``, detached, the keypoints' shape and unit),
        ``weights`` (``u`` times the usable mask) and ``samples`` (``N``).
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
        kp = keypoints.float()
        if normalized:
            x, mask, norm = kp.detach(), usable.float(), None
        else:
            with torch.no_grad():
                norm = self.prior.normalize(kp.detach(), usable)
            x, mask = norm.x, norm.mask
        weights = mask * self.joint_weights(conf)
        sample_ok = weights.reshape(b, -1).sum(1) > 0
        count = int(sample_ok.sum())
        if count == 0:
            return zero
        g, t = self.prior_step(x, mask, generator)
        with torch.no_grad():
            if norm is not None:
                g = remove_similarity(g, x, mask)
            h = g * weights[..., None]
            if norm is None:
                delta = h
            else:
                rot = norm.rotation[:, None] if h.ndim == 4 else norm.rotation
                delta = (h @ rot) * norm.scale.reshape((-1,) + (1,) * (h.ndim - 1))
        target = (kp - delta).detach()
        loss = 0.5 * (kp - target).square().sum() / count
        self.last = {"t": t, "step": delta, "weights": weights, "samples": torch.tensor(count),
                     "grad_norm": delta.reshape(b, -1).norm(dim=1)}
        return loss
