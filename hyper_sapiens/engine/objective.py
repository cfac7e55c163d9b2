"""The training objective: every loss term of the curriculum, each masked to the samples that can feed it.

Config (``loss`` section; a term with weight 0 or absent is not computed)::

    loss:
      pose:   {weight: 1.0}                       # heatmap MSE on labelled samples (both domains)
      coord:  {weight: 0.1, beta: 50}             # integral regression: L1 of soft-argmax vs labels (/ map width)
      syn_pose_scale: {weight: 1.0, decay: ...}   # optional extra factor on synthetic pose samples
      depth:  {weight: 0.5, kind: auto, domains: [syn]}    # auto | silog (log-depth output) | ssi
      normal: {weight: 0.5, domains: [syn]}       # angular loss
      geo:    {weight: 0.1, mode: auto, detach: depth, domains: [syn, real]}   # auto | log_depth | tilt
      bone:   {weight: 0.05, reference: PATH_TO_SKELETONS, domains: [real]}
      sds:    {weight: 0.01, prior: RUN/prior.safetensors, t_range: [20, 200], domains: [real],
               samples: unlabelled, joint_weighting: uncertainty, readout: local, decay: {kind: cosine, final: 0.1}}

Every term also takes ``warmup_steps``, ``start_step`` and ``decay`` (see
:func:`hyper_sapiens.engine.schedules.term_weight`).

The SDS and bone terms read keypoints from the heatmaps with :func:`~hyper_sapiens.losses.local_soft_argmax`
(``loss.sds.readout: local``, a window of ``loss.sds.window`` pixels around the argmax) or the plain soft-argmax
(``global``). The SDS term is in the pose term's unit: ``π / (H·W·K)`` times :class:`~hyper_sapiens.prior.SDSLoss`
on heatmap-pixel coordinates. A Gaussian heatmap of any width shifted by ``d`` pixels has a summed squared error of
``(π/2) d²``, so the pose term (mean over ``K·H·W``) pulls a joint ``d`` pixels off its label back with the force
``π d / (H·W·K)`` per sample, and SDS at weight 1 pulls a joint along its prior step ``delta`` with ``π delta /
(H·W·K)``: the weight α is the prior's trust relative to a label.

What the depth head's output means is ``model.depth_output`` (:data:`DEPTH_OUTPUTS`):

- ``log_depth`` (our heads trained from scratch): natural log of metres up to a constant. ``kind: auto`` is
  ``silog``; ``geo`` ``mode: auto`` is ``log_depth``, which uses the intrinsics of samples that have them
  and falls back to the scale-free ``tilt`` form for the others.
- ``relative`` (the released Sapiens depth heads, whose targets are foreground depth min-max normalised to
  [0, 1] per image): depth up to an unknown scale and shift. ``kind: auto`` is ``ssi``; ``geo`` ``mode:
  auto`` is ``tilt``, the only form that needs neither. ``silog`` or ``mode: log_depth`` on relative depth
  are refused: their log of a [0, 1] value is not log-depth, and the normals they imply come out far too flat.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config_schema import from_mapping, plain_container
from ..config_sections import LossSection
from ..data.pipeline import DOMAIN_IDS
from ..losses import (
    bone_ratio_loss,
    crop_padding_mask,
    geo_loss,
    geo_region_mask,
    integral_coord_loss,
    keypoint_mse_loss,
    local_soft_argmax,
    normal_angular_loss,
    silog_loss,
    soft_argmax,
    ssi_loss,
)
from .schedules import term_weight

TERMS = ("pose_syn", "pose_real", "coord", "depth", "normal", "geo", "bone", "sds")
DEPTH_OUTPUTS = ("log_depth", "relative")
_AUTO = {"log_depth": {"kind": "silog", "mode": "log_depth"}, "relative": {"kind": "ssi", "mode": "tilt"}}


def resolve_depth_output(
    model_cfg: Mapping[str, Any], sapiens_checkpoints: Mapping[str, Any] | None, init_from: str | None = None
) -> str:
    """``model.depth_output`` when set; else that of the ``init_from`` weights (their stored config); else
    ``relative`` when a Sapiens depth checkpoint is loaded; else ``log_depth``."""
    value = model_cfg.get("depth_output") if model_cfg else None
    if value is None and init_from:
        from ..models import file_kind, read_weights_metadata

        if file_kind(Path(init_from)) == "safetensors":  # torch files carry no config; load_weights vets them
            value = (read_weights_metadata(init_from).get("config") or {}).get("depth_output")
    if value is None:
        return "relative" if (sapiens_checkpoints or {}).get("depth") else "log_depth"
    if value not in DEPTH_OUTPUTS:
        raise ValueError(f"model.depth_output must be one of {DEPTH_OUTPUTS}, got {value!r}")
    return str(value)


def _domain_mask(batch: Mapping[str, torch.Tensor], domains: list[str] | tuple[str, ...]) -> torch.Tensor:
    dom = batch["domain"]
    mask = torch.zeros_like(dom, dtype=torch.bool)
    for name in domains:
        if name not in DOMAIN_IDS:
            raise ValueError(f"unknown domain {name!r} in a loss term; use {list(DOMAIN_IDS)}")
        mask |= dom == DOMAIN_IDS[name]
    return mask


def load_bone_reference(source: str, quantile: float = 0.5) -> np.ndarray:
    """Reference log limb ratios from 2D skeleton files (file, folder or glob; converted to coco17): the
    ``quantile`` of each limb's ratios (:func:`~hyper_sapiens.losses.reference_log_ratios`)."""
    from ..data.skeletons import SkeletonSequenceDataset
    from ..losses import reference_log_ratios

    kp, vis = SkeletonSequenceDataset(source, dims=2).arrays()
    return reference_log_ratios(kp[..., :2], vis, quantile=quantile)


class TrainingObjective:
    """Computes the weighted sum and each term (as detached floats for logging).

    Args:
        loss_cfg: the ``loss`` section (a mapping, checked against
            :class:`~hyper_sapiens.config_sections.LossSection`, or a ``LossSection``).
        input_size: model input ``(w, h)``; needed to carry cameras to the depth map.
        depth_size: depth map ``(W, H)``.
        total_steps: for decays.
        device: where the prior lives.
        depth_output: what the depth head predicts, ``log_depth`` or ``relative`` (see the module docstring).
    """

    def __init__(
        self,
        loss_cfg: Mapping[str, Any] | LossSection,
        input_size: tuple[int, int],
        depth_size: tuple[int, int] | None,
        total_steps: int,
        device: torch.device,
        depth_output: str = "log_depth",
    ) -> None:
        if not isinstance(loss_cfg, LossSection):
            loss_cfg = from_mapping(LossSection, plain_container(loss_cfg), "loss")
        self.cfg = loss_cfg
        if depth_output not in DEPTH_OUTPUTS:
            raise ValueError(f"depth_output must be one of {DEPTH_OUTPUTS}, got {depth_output!r}")
        self.depth_output = depth_output
        self.depth_kind = self._choose("depth", "kind", self.cfg.depth.kind, {"relative": ("silog",)})
        self.geo_mode = self._choose("geo", "mode", self.cfg.geo.mode, {"relative": ("log_depth",)})
        self.input_size = tuple(input_size)
        self.depth_size = tuple(depth_size) if depth_size else None
        self.total_steps = total_steps
        self.sds = None
        self.bone_reference = None
        sds = self.cfg.sds
        if sds.weight > 0:
            from ..prior import PosePrior, SDSLoss

            if not sds.prior:
                raise ValueError("loss.sds.weight > 0 needs loss.sds.prior (a prior.safetensors from train-prior)")
            self.sds = SDSLoss(
                PosePrior.load(sds.prior, device=device),
                t_range=sds.t_range,
                weighting=sds.weighting,
                grad_clip=sds.grad_clip,
                min_confidence=sds.min_confidence,
                joint_weighting=sds.joint_weighting,
                draws=sds.draws,
            )
        if sds.window < 0:
            raise ValueError(f"loss.sds.window must be >= 0, got {sds.window}")
        bone = self.cfg.bone
        if bone.weight > 0:
            if not bone.reference:
                raise ValueError("loss.bone.weight > 0 needs loss.bone.reference (skeleton files for reference ratios)")
            if not 0.0 <= bone.quantile <= 1.0:
                raise ValueError(f"loss.bone.quantile must be in [0, 1], got {bone.quantile}")
            self.bone_reference = torch.as_tensor(load_bone_reference(bone.reference, bone.quantile), device=device)

    def _choose(self, term: str, key: str, value: str, refused: dict[str, tuple[str, ...]]) -> str:
        """``loss.<term>.<key>`` (``value``): ``auto`` (the default) follows the depth output; a choice that
        contradicts it is an error."""
        if value == "auto":
            return _AUTO[self.depth_output][key]
        if value in refused.get(self.depth_output, ()):
            raise ValueError(
                f"loss.{term}.{key}={value} reads the depth output as log-depth, but model.depth_output is "
                f"{self.depth_output} (the released Sapiens depth heads predict per-image min-max normalised "
                f"depth); use {key}: auto ({_AUTO[self.depth_output][key]})"
            )
        return value

    def weights_at(self, step: int) -> dict[str, float]:
        """Each term's weight at ``step``."""
        w_pose = term_weight(self.cfg.pose, step, self.total_steps)
        syn_scale = term_weight(self.cfg.syn_pose_scale, step, self.total_steps)
        out = {"pose_syn": w_pose * syn_scale, "pose_real": w_pose}
        for name in ("coord", "depth", "normal", "geo", "bone", "sds"):
            out[name] = term_weight(getattr(self.cfg, name), step, self.total_steps)
        return out

    def keypoint_readout(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Coordinates ``(B, K, 2)`` (heatmap pixels, differentiable) and confidences ``(B, K)`` (the peaks, in
        [0, 1]) that the SDS and bone terms read: ``loss.sds.readout``, with SDS's ``beta`` when SDS is on, else
        the bone term's."""
        beta = self.cfg.sds.beta if self.cfg.sds.weight > 0 else self.cfg.bone.beta
        if self.cfg.sds.readout == "local":
            coords, confidence = local_soft_argmax(heatmaps.float(), radius=self.cfg.sds.window, beta=beta)
        else:
            coords, confidence = soft_argmax(heatmaps.float(), beta=beta)
        return coords, confidence.clamp(0.0, 1.0)

    def sds_samples(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(B,)`` bool: the samples SDS applies to (``loss.sds.domains``; without keypoint labels unless
        ``loss.sds.samples: all``)."""
        sel = _domain_mask(batch, self.cfg.sds.domains)
        if self.cfg.sds.samples == "unlabelled":
            sel = sel & ~batch["has_keypoints"].bool()
        return sel

    def sds_loss(
        self,
        coords: torch.Tensor,
        confidence: torch.Tensor,
        map_size: tuple[int, int],
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The SDS term on read-out coordinates ``(N, K, 2)`` (heatmap pixels of a ``map_size = (W, H)`` map), in
        the pose term's unit (module docstring: ``π / (H·W·K)`` times :class:`~hyper_sapiens.prior.SDSLoss`)."""
        if self.sds is None:
            raise ValueError("sds_loss: loss.sds.weight is 0, no prior is loaded")
        w, h = map_size
        return self.sds(coords, confidence, generator=generator) * (math.pi / (w * h * coords.shape[1]))

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor], step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        weights = self.weights_at(step)
        ref = next(iter(outputs.values()))
        zero = ref.sum() * 0.0
        terms: dict[str, torch.Tensor] = {}
        heatmaps = outputs.get("heatmaps")
        labelled = batch["has_keypoints"].bool()
        if heatmaps is not None:
            for name, domain in (("pose_syn", "syn"), ("pose_real", "real")):
                if weights[name] > 0:
                    mask = labelled & _domain_mask(batch, [domain])
                    terms[name] = keypoint_mse_loss(heatmaps, batch["heatmaps"], batch["keypoint_weights"], mask)
        if heatmaps is not None and weights["coord"] > 0:
            terms["coord"] = self._coord(heatmaps, batch)
        depth = outputs.get("depth")
        if depth is not None and weights["depth"] > 0:
            cfg = self.cfg.depth
            mask = batch["depth_mask"] & _domain_mask(batch, cfg.domains)[:, None, None, None]
            if self.depth_kind == "silog":
                terms["depth"] = silog_loss(depth, batch["depth"], mask, variance_focus=cfg.variance_focus)
            else:
                terms["depth"] = ssi_loss(depth, batch["depth"], mask)
        normal = outputs.get("normal")
        if normal is not None and weights["normal"] > 0:
            mask = batch["normal_mask"] & _domain_mask(batch, self.cfg.normal.domains)[:, None, None, None]
            terms["normal"] = normal_angular_loss(normal, batch["normal"], mask)
        if depth is not None and normal is not None and weights["geo"] > 0:
            terms["geo"] = self._geo(depth, normal, batch)
        if heatmaps is not None and (weights["bone"] > 0 or weights["sds"] > 0):
            coords, confidence = self.keypoint_readout(heatmaps)   # one read-out for both terms
            if weights["bone"] > 0:
                sel = _domain_mask(batch, self.cfg.bone.domains).float()[:, None]
                terms["bone"] = bone_ratio_loss(coords, confidence * sel, self.bone_reference,
                                                tolerance=self.cfg.bone.tolerance,
                                                symmetry_weight=self.cfg.bone.symmetry_weight)
            if weights["sds"] > 0 and self.sds is not None:
                sel = self.sds_samples(batch)
                if sel.any():
                    size = (heatmaps.shape[-1], heatmaps.shape[-2])
                    terms["sds"] = self.sds_loss(coords[sel], confidence[sel], size)
                else:
                    terms["sds"] = zero
        total = zero
        for name, value in terms.items():
            total = total + weights[name] * value
        return total, {name: value.detach() for name, value in terms.items()}

    def _coord(self, heatmaps: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Integral-regression term on the labelled samples (:func:`hyper_sapiens.losses.integral_coord_loss`)."""
        return integral_coord_loss(
            heatmaps,
            batch["keypoints"],
            batch["keypoint_weights"],
            batch["has_keypoints"],
            self.input_size,
            beta=self.cfg.coord.beta,
        )

    def _geo(self, depth: torch.Tensor, normal: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Depth-normal consistency on the samples of ``loss.geo.domains``, on the body pixels (``region:
        body``, the default) or the whole map, less the crops' black padding (``mask_padding``), with the depth
        target as the depth branch where a sample has one (``anchor``) (:func:`hyper_sapiens.losses.geo_loss`)."""
        cfg = self.cfg.geo
        body = cfg.region == "body"
        region = geo_region_mask(
            _domain_mask(batch, cfg.domains),
            depth,
            body_mask=batch["body_mask"] if body else None,
            has_body_mask=batch["has_body_mask"] if body else None,
        )
        if cfg.mask_padding and "image" in batch:
            region = region & ~crop_padding_mask(batch["image"], (depth.shape[-1], depth.shape[-2]))
        anchor = cfg.anchor and "depth_mask" in batch
        return geo_loss(
            depth,
            normal,
            region,
            mode=self.geo_mode,
            detach=cfg.detach,
            camera=batch.get("camera"),
            has_camera=batch.get("has_camera"),
            input_size=self.input_size,
            depth_target=batch["depth"] if anchor else None,
            depth_target_mask=batch["depth_mask"] if anchor else None,
            slack=cfg.slack,
        )
