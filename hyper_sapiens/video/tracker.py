"""One infant tracked top-down through a clip: the crop box of each frame, batched inference, raw keypoints.

The box of a frame comes from, in order: the detections file (its best box for that frame), else the track
(the previous keypoints' box, padded and smoothed), else the whole frame (the first frame, and after a frame
whose mean keypoint score fell below ``reinit_score``). A frame cropped on the whole frame is predicted a second
time, cropped on the box of the keypoints the first pass found (``refined``), when they give one: on the whole
frame the infant is small in the crop.

Batching: the frames of one batch share the track's box as it stood before the batch (a detection still
wins per frame); the track is then updated frame by frame from the batch's keypoints. ``batch_size=1`` is a
strict frame-to-frame track; at 30 fps a batch of 8 spans 0.27 s, in which an infant's box barely moves, and
the crop's padding (``PipelineConfig.padding``) plus the track's margin cover that.

Crops, the flip test and decoding are the evaluation's own: the UDP warp of ``data/transforms.py``,
``evaluation.inference.predict_heatmaps`` and ``evaluation.inference.decode_to_image``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.codecs import UDPHeatmap
from ..data.pipeline import PipelineConfig
from ..data.transforms import bbox_xyxy2cs, fix_aspect_ratio, get_udp_warp_matrix, warp_image
from ..evaluation.inference import decode_to_image, predict_heatmaps

__all__ = ["BoxTrack", "TrackResult", "crop_frame", "keypoint_box", "track_clip"]

#: Where a frame's box came from (``TrackResult.box_source``).
BOX_SOURCES = ("detection", "track", "frame", "refined")


def keypoint_box(
    keypoints: np.ndarray, scores: np.ndarray, min_score: float, margin: float = 0.15, min_joints: int = 4
) -> np.ndarray | None:
    """The ``xyxy`` box (pixels) around the joints scoring ``>= min_score``, grown by ``margin`` × its size on
    every side; ``None`` with fewer than ``min_joints`` such joints. ``keypoints (K, 2)``, ``scores (K,)``."""
    ok = np.isfinite(keypoints).all(1) & (scores >= min_score)
    if ok.sum() < min_joints:
        return None
    lo, hi = keypoints[ok].min(0), keypoints[ok].max(0)
    pad = margin * (hi - lo).max()
    return np.concatenate([lo - pad, hi + pad]).astype(np.float32)


@dataclass
class BoxTrack:
    """The track's box: the keypoints' box of the last frame, smoothed over frames.

    Args:
        frame_size: ``(width, height)`` in pixels.
        reinit_score: a frame whose mean keypoint score is below this re-initialises the track on the whole frame.
        min_score: joints at or above this score make the box.
        smoothing: weight of the new box in the exponential moving average of the box corners (1 = no smoothing).
    """

    frame_size: tuple[int, int]
    reinit_score: float = 0.3
    min_score: float = 0.3
    smoothing: float = 0.6
    box: np.ndarray | None = None

    @property
    def whole_frame(self) -> np.ndarray:
        w, h = self.frame_size
        return np.array([0, 0, w - 1, h - 1], np.float32)

    def current(self) -> tuple[np.ndarray, str]:
        """The box for the next frame (``xyxy`` pixels) and its source, ``track`` or ``frame``."""
        return (self.box.copy(), "track") if self.box is not None else (self.whole_frame, "frame")

    def box_from(self, keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray | None:
        """The box (``xyxy`` pixels, inside the frame) that one frame's keypoints ``(K, 2)`` and scores ``(K,)``
        give, or ``None`` when the frame is too uncertain to place one: its mean score is below ``reinit_score``,
        fewer than 4 joints reach ``min_score``, or the box is under 2 pixels wide or high."""
        new = keypoint_box(keypoints, scores, self.min_score)
        if new is None or not np.isfinite(scores).all() or float(scores.mean()) < self.reinit_score:
            return None
        w, h = self.frame_size
        new = np.clip(new, [0, 0, 0, 0], [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)
        if new[2] - new[0] < 2 or new[3] - new[1] < 2:
            return None
        return new

    def update(self, keypoints: np.ndarray, scores: np.ndarray) -> None:
        """Take one frame's keypoints ``(K, 2)`` and scores ``(K,)`` (image pixels); an uncertain frame
        (:meth:`box_from` is ``None``) sends the next frame back to the whole frame."""
        new = self.box_from(keypoints, scores)
        if new is None:
            self.box = None
            return
        a = self.smoothing
        self.box = new if self.box is None else (a * new + (1 - a) * self.box).astype(np.float32)


def crop_frame(frame: np.ndarray, box: np.ndarray, pipe: PipelineConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The evaluation crop of an RGB ``(H, W, 3)`` frame for an ``xyxy`` box: ``(crop uint8 (3, h, w),
    center (2,), scale (2,))`` with the box padded by ``pipe.padding`` and fixed to the input's aspect ratio."""
    center, scale = bbox_xyxy2cs(np.asarray(box, np.float32), padding=pipe.padding)
    scale = fix_aspect_ratio(scale, pipe.input_size[0] / pipe.input_size[1])
    warp = get_udp_warp_matrix(center, scale, 0.0, pipe.input_size)
    crop = warp_image(frame, warp, pipe.input_size)
    return np.ascontiguousarray(crop.transpose(2, 0, 1)), center.astype(np.float32), scale.astype(np.float32)


@dataclass
class TrackResult:
    """Raw per-frame predictions of one clip (``T`` frames, ``K`` joints).

    ``keypoints (T, K, 2)`` image pixels; ``scores (T, K)`` heatmap maxima; ``boxes (T, 4)`` the ``xyxy`` box
    each frame was cropped from; ``box_source (T,)`` one of :data:`BOX_SOURCES`.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    box_source: list[str]


def track_clip(
    frames: Iterable[np.ndarray],
    model: Any,
    pipe: PipelineConfig,
    codec: UDPHeatmap,
    device: torch.device,
    frame_size: tuple[int, int],
    detections: Mapping[int, np.ndarray] | None = None,
    batch_size: int = 8,
    flip_test: bool = True,
    reinit_score: float = 0.3,
    min_score: float = 0.3,
    progress: Any = None,
    refine: bool = True,
) -> TrackResult:
    """Predict the keypoints of every frame (see the module docstring for the boxes and the batching).

    Args:
        frames: RGB ``uint8 (H, W, 3)`` frames in order, all ``frame_size`` ``(W, H)``.
        model: what :func:`~hyper_sapiens.evaluation.predict.load_predictor` returns.
        detections: ``{frame index: xyxy box}`` from a detections file, or ``None``.
        progress: a tqdm bar updated by the number of frames done.
        refine: predict a frame cropped on the whole frame a second time, cropped on the box its first
            keypoints give (:meth:`BoxTrack.box_from`; source ``refined``), when they give one.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    track = BoxTrack(frame_size, reinit_score=reinit_score, min_score=min_score)
    detections = detections or {}
    out_k: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    out_b: list[np.ndarray] = []
    sources: list[str] = []
    is_module = isinstance(model, torch.nn.Module)
    if is_module:
        model.eval()
    amp = device.type == "cuda"

    def predict(batch: list[np.ndarray], boxes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        crops, centers, scales = [], [], []
        for frame, box in zip(batch, boxes, strict=True):
            crop, center, scale = crop_frame(frame, box, pipe)
            crops.append(crop)
            centers.append(center)
            scales.append(scale)
        images = torch.from_numpy(np.stack(crops))
        heatmaps = predict_heatmaps(model, images, device, flip_test=flip_test, amp=amp)["heatmaps"]
        kpts, scores, _ = decode_to_image(codec, heatmaps, torch.from_numpy(np.stack(centers)),
                                          torch.from_numpy(np.stack(scales)))
        return kpts, scores

    def flush(batch: list[np.ndarray], start: int) -> None:
        shared, shared_source = track.current()
        boxes, batch_sources = [], []
        for j in range(len(batch)):
            det = detections.get(start + j)
            box, source = (np.asarray(det, np.float32), "detection") if det is not None else (shared, shared_source)
            boxes.append(box)
            batch_sources.append(source)
        kpts, scores = predict(batch, boxes)
        if refine:
            # A whole-frame crop shows the infant small: crop again around what it found (second pass).
            again = [j for j, src in enumerate(batch_sources) if src == "frame"]
            refined = {j: track.box_from(kpts[j], scores[j]) for j in again}
            again = [j for j in again if refined[j] is not None]
            if again:
                k2, s2 = predict([batch[j] for j in again], [refined[j] for j in again])
                for i, j in enumerate(again):
                    kpts[j], scores[j] = k2[i], s2[i]
                    boxes[j], batch_sources[j] = refined[j], "refined"
        for j in range(len(batch)):
            track.update(kpts[j], scores[j])
        out_k.append(kpts)
        out_s.append(scores)
        out_b.extend(boxes)
        sources.extend(batch_sources)
        if progress is not None:
            progress.update(len(batch))

    batch: list[np.ndarray] = []
    start = 0
    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            flush(batch, start)
            start += len(batch)
            batch = []
    if batch:
        flush(batch, start)
    if not out_k:
        raise ValueError("the clip has no frames")
    return TrackResult(np.concatenate(out_k), np.concatenate(out_s), np.stack(out_b), sources)
