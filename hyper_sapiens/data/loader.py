"""DataLoaders for the mixed sampler and for evaluation, plus on-device image normalisation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data._utils.collate import default_collate

#: ImageNet mean / std in RGB, 0-255 units, as Sapiens normalises its input.
IMAGE_MEAN = (123.675, 116.28, 103.53)
IMAGE_STD = (58.395, 57.12, 57.375)


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack sample dicts into a batch: arrays → tensors (masks stay bool), strings → lists."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    return default_collate(samples)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def make_loader(
    dataset: Dataset,
    batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | None = None,
    batch_size: int | None = None,
    workers: int = 0,
    device: torch.device | str = "cpu",
    prefetch_factor: int = 2,
) -> DataLoader:
    """A DataLoader with worker threads pinned to one core each, pinned memory on CUDA.

    Either ``batch_sampler`` (training: :class:`~hyper_sapiens.data.mixing.MixedBatchSampler`) or
    ``batch_size`` (evaluation: records in order, no augmentation).
    """
    kwargs: dict[str, Any] = {
        "num_workers": workers,
        "collate_fn": collate,
        "pin_memory": torch.device(device).type == "cuda",
        "worker_init_fn": _worker_init if workers > 0 else None,
    }
    if workers > 0:
        kwargs["prefetch_factor"] = prefetch_factor
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, **kwargs)
    return DataLoader(dataset, batch_size=batch_size or 1, shuffle=False, **kwargs)


def normalize_images(images: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """``(B, 3, H, W)`` uint8 RGB → float32 normalised with ImageNet mean/std (on ``device``)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    x = images.to(device, non_blocking=True) if device is not None else images
    mean = torch.tensor(IMAGE_MEAN, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    return (x.float() - mean) / std


def camera_to_map(camera: torch.Tensor, input_size: tuple[int, int], map_size: tuple[int, int]) -> torch.Tensor:
    """``(B, 4)`` intrinsics in crop pixels → pixels of a ``(W, H)`` output map (UDP: ``(W-1)/(w-1)``)."""
    sx = (map_size[0] - 1) / (input_size[0] - 1)
    sy = (map_size[1] - 1) / (input_size[1] - 1)
    scale = camera.new_tensor([sx, sy, sx, sy])
    return camera * scale
