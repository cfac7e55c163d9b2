"""The report's picture grids: the best and worst instances, cut from the original photographs.

Each tile is the instance's box (padded 1.25×, made square) from the photograph as the annotation file names
it, scaled to :data:`TILE` pixels whatever the photograph's size (large photographs are area-averaged first, so
a 4000-pixel image does not alias), with the predicted skeleton on the left and the ground truth on the right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.io import read_image
from ..data.transforms import bbox_xyxy2cs, fix_aspect_ratio, get_udp_warp_matrix, warp_image, warp_keypoints
from .metrics import bbox_norm
from .plots import crop_grid, draw_skeleton, save_rgb, side_by_side

#: Side of a grid tile in pixels.
TILE = 256
#: Above this many photograph pixels per tile pixel, the photograph is area-averaged before the warp.
_SHRINK_ABOVE = 2.0


def photo_tile(
    image: np.ndarray, bbox: np.ndarray, size: int = TILE, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the padded, squared box ``bbox`` (xyxy, image pixels) from an RGB ``(H, W, 3)`` photograph.

    Returns ``(tile (size, size, 3) uint8, matrix (2, 3))``: the tile and the affine that maps photograph
    pixels to tile pixels (for the keypoints)."""
    center, scale = bbox_xyxy2cs(np.asarray(bbox, np.float32), padding)
    scale = fix_aspect_ratio(scale, 1.0)
    matrix = get_udp_warp_matrix(center, scale, 0.0, (size, size)).astype(np.float64)
    h, w = image.shape[:2]
    shrink = float(scale[0]) / size
    if shrink > _SHRINK_ABOVE:
        small = cv2.resize(image, (max(1, int(w / shrink)), max(1, int(h / shrink))), interpolation=cv2.INTER_AREA)
        rx, ry = small.shape[1] / w, small.shape[0] / h
        # small-image pixel → photograph pixel (pixel centres at integers), then the warp
        back = np.array([[1 / rx, 0, 0.5 / rx - 0.5], [0, 1 / ry, 0.5 / ry - 0.5], [0, 0, 1]])
        tile = warp_image(small, (np.vstack([matrix, [0, 0, 1]]) @ back)[:2], (size, size))
    else:
        tile = warp_image(image, matrix, (size, size))
    return tile, matrix.astype(np.float32)


def per_instance_pck(preds: Mapping[str, Any], thr: float = 0.05) -> np.ndarray:
    """``(N,)`` PCK@``thr`` of each instance over its visible joints (longer box side); NaN without one."""
    norm = bbox_norm(preds["bbox"])[:, :1]
    dist = np.linalg.norm(preds["keypoints"] - preds["image_keypoints"], axis=2) / norm
    vis = preds["image_visible"] > 0
    hit = (np.nan_to_num(dist, nan=np.inf) < thr) & vis
    return np.where(vis.sum(1) > 0, hit.sum(1) / np.maximum(vis.sum(1), 1), np.nan)


def _pair(record: Any, keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Prediction | ground truth, side by side on the record's photograph."""
    tile, matrix = photo_tile(read_image(record.image_path), record.bbox)
    finite = np.isfinite(keypoints).all(1)
    pred = warp_keypoints(np.where(finite[:, None], keypoints, -1e4).astype(np.float32), matrix)
    truth = warp_keypoints(np.asarray(record.keypoints, np.float32), matrix)
    predicted = draw_skeleton(tile, pred, np.where(finite, scores, 0.0), low_confidence="mark")
    return side_by_side(predicted, draw_skeleton(tile, truth, record.visible, score_thr=0.0))


def write_prediction_grids(
    records: Sequence[Any],
    preds: Mapping[str, Any],
    out: Path,
    labels: np.ndarray | None = None,
    n: int = 8,
) -> list[Path]:
    """``predictions_best.png`` and ``predictions_worst.png``: the ``n`` instances with the highest and lowest
    PCK@0.05, each as prediction (whole skeleton; joints with score ≤ 0.3 hollow) | ground truth (visible
    joints). ``records[i]`` is the dataset record of prediction row ``i``; ``labels`` ``(N,)`` (image groups)
    go into the captions. Returns the files written."""
    scores = per_instance_pck(preds)
    order = [i for i in np.argsort(-np.nan_to_num(scores, nan=-1.0), kind="stable") if not np.isnan(scores[i])]
    written = []
    for name, chosen in (("best", order[:n]), ("worst", order[::-1][:n])):
        tiles, captions = [], []
        for i in chosen:
            tiles.append(_pair(records[i], np.asarray(preds["keypoints"][i]), np.asarray(preds["scores"][i])))
            group = f" {labels[i]}" if labels is not None else ""
            captions.append(f"#{int(preds['image_id'][i])}{group} PCK {scores[i]:.2f}: pred | truth")
        if tiles:
            written.append(save_rgb(crop_grid(tiles, captions, columns=min(4, len(tiles))),
                                    out / f"predictions_{name}.png"))
    return written
