"""Top-down inference: batches of crops → heatmaps (optional flip test) → keypoints in image pixels."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.codecs import UDPHeatmap
from ..data.loader import normalize_images
from ..data.transforms import crop_to_image
from ..keypoints import COCO17
from ..models import autocast_for


def flip_heatmaps_back(heatmaps: torch.Tensor, flip_indices: Iterable[int] = COCO17.flip_indices) -> torch.Tensor:
    """Heatmaps ``(B, K, H, W)`` of horizontally flipped crops → the unflipped crops' frame.

    mmpose's UDP flip test (``flip_mode='heatmap'``, ``shift_heatmap=False``): mirror the width and swap
    left/right channels. With UDP the mirror ``x → W-1-x`` of the heatmap is exact, so no shift is needed.
    """
    return heatmaps.flip(-1)[:, list(flip_indices)]


ImageModel = Callable[[torch.Tensor], Mapping[str, torch.Tensor]]
"""An exported model's runner: uint8 RGB crops ``(B, 3, h, w)`` → ``{output name: tensor}`` (normalisation inside)."""


def _crop_forward(model: nn.Module | ImageModel, device: torch.device, amp: bool) -> ImageModel:
    """uint8 crops → outputs, for a :class:`~torch.nn.Module` taking normalised images (normalise on ``device``,
    autocast per :func:`~hyper_sapiens.models.autocast_for`) or for an :data:`ImageModel` as it is."""
    if not isinstance(model, nn.Module):
        return model

    def forward(images: torch.Tensor) -> Mapping[str, torch.Tensor]:
        with autocast_for(device, enabled=amp):
            return model(normalize_images(images, device))

    return forward


@torch.no_grad()
def predict_heatmaps(
    model: nn.Module | ImageModel,
    images: torch.Tensor,
    device: torch.device,
    flip_test: bool = True,
    amp: bool = True,
) -> dict[str, torch.Tensor]:
    """Run the model on uint8 crops ``(B, 3, h, w)``; returns its outputs (heatmaps averaged with the flipped pass).

    ``model`` is a :class:`~hyper_sapiens.models.HyperPoseModel` (normalised input) or an exported model's
    runner (:mod:`hyper_sapiens.evaluation.exported`, uint8 input): the flip test is the same for both.
    The flipped pass mirrors the uint8 crops, which equals mirroring the normalised ones.
    """
    forward = _crop_forward(model, device, amp)
    out = dict(forward(images))
    if flip_test and "heatmaps" in out:
        flipped = forward(images.flip(-1))["heatmaps"]
        out["heatmaps"] = 0.5 * (out["heatmaps"] + flip_heatmaps_back(flipped))
    return {k: v.float() for k, v in out.items()}


def decode_to_image(
    codec: UDPHeatmap, heatmaps: torch.Tensor, center: torch.Tensor, scale: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode ``(B, K, H, W)`` heatmaps (DARK-UDP) and map the points to image pixels (mmpose back-projection).

    Returns ``(image keypoints (B, K, 2), scores (B, K), crop keypoints (B, K, 2))``.
    """
    kpts, scores = codec.batch_decode(heatmaps)
    kpts = kpts.detach().cpu().numpy() if isinstance(kpts, torch.Tensor) else np.asarray(kpts)
    scores = scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores)
    image_kpts = crop_to_image(
        kpts, center.cpu().numpy()[:, None, :], scale.cpu().numpy()[:, None, :], codec.input_size
    )
    return np.asarray(image_kpts, np.float32), scores.astype(np.float32), kpts.astype(np.float32)


def run_inference(
    model: nn.Module | ImageModel,
    loader: Iterable[Mapping[str, Any]],
    codec: UDPHeatmap,
    device: torch.device,
    flip_test: bool = True,
    amp: bool = True,
    progress: Any = None,
    keep_heatmaps: bool = False,
) -> dict[str, Any]:
    """Predict every sample of an evaluation loader (``model`` as in :func:`predict_heatmaps`).

    Returns numpy arrays stacked over samples: ``keypoints`` ``(N, K, 2)`` and ``scores`` ``(N, K)`` in image
    pixels, plus the ground-truth fields the metrics need (``image_keypoints``, ``image_visible``,
    ``has_keypoints``, ``bbox``, ``bbox_score``, ``center``, ``scale``, ``image_id``, ``instance_id``,
    ``group``) and, for the report's crop grid, ``crop_keypoints`` ``(N, K, 2)`` in crop pixels.
    """
    is_module = isinstance(model, nn.Module)
    was_training = is_module and model.training
    if is_module:
        model.eval()
    fields = (
        "image_keypoints",
        "image_visible",
        "has_keypoints",
        "bbox",
        "bbox_score",
        "center",
        "scale",
        "image_id",
        "instance_id",
    )
    acc: dict[str, list] = {k: [] for k in (*fields, "keypoints", "scores", "crop_keypoints", "group")}
    if keep_heatmaps:
        acc["heatmaps"] = []
    try:
        for batch in loader:
            out = predict_heatmaps(model, batch["image"], device, flip_test=flip_test, amp=amp)
            heatmaps = out["heatmaps"]
            kpts, scores, crop_kpts = decode_to_image(codec, heatmaps, batch["center"], batch["scale"])
            acc["keypoints"].append(kpts)
            acc["scores"].append(scores)
            acc["crop_keypoints"].append(crop_kpts)
            for k in fields:
                acc[k].append(batch[k].cpu().numpy())
            acc["group"].extend(list(batch["group"]))
            if keep_heatmaps:
                acc["heatmaps"].append(heatmaps.cpu().numpy())
            if progress is not None:
                progress.update(len(kpts))
    finally:
        if is_module:
            model.train(was_training)
    if not acc["keypoints"]:
        raise ValueError("evaluation set is empty")
    return {k: (v if k == "group" else np.concatenate(v)) for k, v in acc.items()}
