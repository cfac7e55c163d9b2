"""Record → training/evaluation sample: one affine per sample for every field.

The image, keypoints, depth, normals and masks of a sample go through the *same* UDP warp
(mmpose's ``get_udp_warp_matrix``), with the horizontal flip folded into it, so they stay consistent:

* image: bilinear; depth and normals: bilinear where all four source pixels are valid, nearest
  elsewhere (never averaged across invalid pixels; 0 stays invalid); normals are renormalised, then
  their (x, y) components are rotated (and x negated under a flip) with the image; masks: nearest.
* the camera ``(fx, fy, cx, cy)`` is carried into the crop so normals can be recomputed from the
  warped depth (a rotation of the image is a rotation of the camera frame about its optical axis).

Sample dict (numpy; :func:`hyper_sapiens.data.loader.collate` stacks it into tensors):

============================  ====================  ==============================================
key                           shape / dtype         meaning
============================  ====================  ==============================================
``image``                     (3, h, w) uint8       RGB crop (normalise on the device)
``heatmaps``                  (K, Hh, Wh) float32   UDP Gaussian targets
``keypoint_weights``          (K,) float32          codec weights × has_keypoints
``keypoints``                 (K, 2) float32        crop pixels
``keypoints_visible``         (K,) float32          visibility in [0, 1]
``has_keypoints``             () bool               labelled instance
``depth`` / ``depth_mask``    (1, Hd, Wd)           metres / bool (at the depth head's resolution)
``normal`` / ``normal_mask``  (3, Hn, Wn) / (1,..)  unit normals / bool
``body_mask``                 (1, Hd, Wd) bool      infant pixels (``has_body_mask`` says if known)
``camera`` / ``has_camera``   (4,) float32 / bool   fx, fy, cx, cy in *crop* pixels
``domain``                    () int64              0 = syn, 1 = real
``center`` / ``scale``        (2,) float32          top-down box (image pixels), after aspect fix
``rotation`` / ``flipped``    () float32 / bool
``bbox`` / ``bbox_score``     (4,) / ()             original box xyxy, detector score
``image_keypoints``           (K, 2) float32        ground truth in image pixels (evaluation)
``image_visible``             (K,) float32
``image_id`` / ``instance_id``() int64
``group``                     str                   sequence / set name
============================  ====================  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..config_schema import from_mapping
from ..keypoints import COCO17
from .augment import (
    BBoxAugmentConfig,
    HalfBodyConfig,
    TextureConfig,
    random_bbox_transform,
    random_half_body,
    randomize_texture,
)
from .codecs import UDPHeatmap
from .io import DataFileError, decode_normals, read_depth_png, read_image, read_mask, read_normal_png_raw
from .records import InstanceRecord
from .transforms import bbox_xyxy2cs, fix_aspect_ratio, get_udp_warp_matrix, warp_keypoints

DOMAIN_IDS = {"syn": 0, "real": 1}


@dataclass
class PipelineConfig:
    """Sizes are ``(w, h)`` pixels. Dense sizes default to the heatmap size."""

    input_size: tuple[int, int] = (192, 256)
    heatmap_size: tuple[int, int] = (48, 64)
    depth_size: tuple[int, int] | None = None
    normal_size: tuple[int, int] | None = None
    sigma: float = 2.0
    padding: float = 1.25
    flip_prob: float = 0.5
    half_body: HalfBodyConfig = field(default_factory=HalfBodyConfig)
    bbox: BBoxAugmentConfig = field(default_factory=BBoxAugmentConfig)
    texture: TextureConfig = field(default_factory=TextureConfig)
    texture_domains: tuple[str, ...] = ("syn",)
    augment: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "data.pipeline") -> PipelineConfig:
        """Build from a plain dict (e.g. the ``data.pipeline`` section of a config); unknown keys and values of
        the wrong type raise :class:`~hyper_sapiens.config_schema.ConfigError` naming the closest key."""
        return from_mapping(cls, data, where)


def codec_from_pipeline(cfg: PipelineConfig) -> UDPHeatmap:
    """The UDP heatmap codec of a pipeline: crops of ``cfg.input_size`` ``(w, h)`` pixels, heatmaps of
    ``cfg.heatmap_size`` ``(W, H)``, Gaussian σ ``cfg.sigma`` in heatmap pixels.

    The one place the codec is built from a config: the training targets, the trainer's validation, the
    ``evaluate`` report and the ``predict`` verb all encode and decode with the same codec.
    """
    return UDPHeatmap(input_size=cfg.input_size, heatmap_size=cfg.heatmap_size, sigma=cfg.sigma)


def _rotation_part(matrix: np.ndarray) -> np.ndarray:
    """The orthogonal part ``(2, 2)`` of an affine whose linear part is ``diag(sx, sy) @ R @ F``."""
    lin = matrix[:, :2].astype(np.float64)
    return lin / np.linalg.norm(lin, axis=1, keepdims=True)


def _warp_nearest(array: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour warp with 0 outside (works for any channel count)."""
    flags = cv2.INTER_NEAREST
    if array.ndim == 3 and array.shape[2] > 4:
        chans = [cv2.warpAffine(array[..., c], matrix, size, flags=flags, borderValue=0) for c in range(array.shape[2])]
        return np.stack(chans, axis=2)
    return cv2.warpAffine(array, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _warp_valid_aware(
    array: np.ndarray, valid: np.ndarray, matrix: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear where all four source taps are valid, nearest elsewhere; never mixes in invalid pixels.

    Args: ``array (H, W[, C])`` float32 or uint16 (rounded by the bilinear warp), ``valid (H, W)`` bool.
    Returns the warped array (float32) and validity.
    """
    flags = dict(borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    lin = cv2.warpAffine(array, matrix, size, flags=cv2.INTER_LINEAR, **flags)
    near = cv2.warpAffine(array, matrix, size, flags=cv2.INTER_NEAREST, **flags)
    valid_f = valid.astype(np.float32)
    cover = cv2.warpAffine(valid_f, matrix, size, flags=cv2.INTER_LINEAR, **flags)
    ok = cv2.warpAffine(valid_f, matrix, size, flags=cv2.INTER_NEAREST, **flags) > 0
    full = cover > 0.999
    if array.ndim == 3:
        full = full[..., None]
    return np.where(full, lin, near).astype(np.float32), ok


def _scaled_matrix(matrix: np.ndarray, src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Compose a crop warp with the UDP resize crop → map: ``p_map = p_crop * (W - 1) / (w - 1)``."""
    sx = (dst_size[0] - 1) / (src_size[0] - 1)
    sy = (dst_size[1] - 1) / (src_size[1] - 1)
    return (np.diag([sx, sy]) @ matrix.astype(np.float64)).astype(np.float32)


def normals_from_depth_numpy(depth: np.ndarray, camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals ``(H, W, 3)`` and validity ``(H, W)`` from a metric depth map and ``(fx, fy, cx, cy)``.

    Uses central differences of log-depth (the same formula as
    :func:`hyper_sapiens.losses.geometry.normals_from_log_depth`); a pixel is valid when it and its
    four neighbours have depth.
    """
    h, w = depth.shape
    valid = depth > 0
    log_d = np.log(np.where(valid, depth, 1.0)).astype(np.float64)
    du = np.zeros_like(log_d)
    dv = np.zeros_like(log_d)
    du[:, 1:-1] = 0.5 * (log_d[:, 2:] - log_d[:, :-2])
    dv[1:-1, :] = 0.5 * (log_d[2:, :] - log_d[:-2, :])
    ok = np.zeros_like(valid)
    ok[1:-1, 1:-1] = valid[1:-1, 1:-1] & valid[1:-1, 2:] & valid[1:-1, :-2] & valid[2:, 1:-1] & valid[:-2, 1:-1]
    fx, fy, cx, cy = (float(v) for v in camera)
    u = np.arange(w, dtype=np.float64)[None, :] - cx
    v = np.arange(h, dtype=np.float64)[:, None] - cy
    n = np.stack([fx * du, fy * dv, -1.0 - u * du - v * dv], axis=2)
    n /= np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-12)
    n[~ok] = 0.0
    return n.astype(np.float32), ok


def check_box_overlaps(record: InstanceRecord, width: int, height: int) -> None:
    """A box that lies wholly outside its ``width`` x ``height`` image (pixel centres at integers, so the image
    spans ``[-0.5, width - 0.5]``) is a :class:`DataFileError` naming where it came from (``extra["origin"]``,
    e.g. a detections file and entry) or else the image and instance; its crop would be all black."""
    x1, y1, x2, y2 = (float(v) for v in record.bbox)
    if x2 > -0.5 and y2 > -0.5 and x1 < width - 0.5 and y1 < height - 0.5:
        return
    origin = record.extra.get("origin") or f"{record.image_path}: instance {record.instance_id}"
    raise DataFileError(
        f"{origin}: box [{x1:g}, {y1:g}, {x2 - x1:g}, {y2 - y1:g}] (x, y, w, h) lies outside the image "
        f"{record.image_path} ({width}x{height})"
    )


class TopDownTransform:
    """Turns an :class:`InstanceRecord` into a sample dict (see the module docstring).

    Args:
        config: :class:`PipelineConfig` or its dict form.
        train: random augmentation on (when ``config.augment``); otherwise the deterministic
            evaluation crop (box → centre/scale, aspect fix, UDP warp).
    """

    def __init__(self, config: PipelineConfig | dict[str, Any] | None = None, train: bool = True) -> None:
        self.config = config if isinstance(config, PipelineConfig) else PipelineConfig.from_dict(config)
        self.train = train
        cfg = self.config
        self.codec = codec_from_pipeline(cfg)
        self.depth_size = tuple(cfg.depth_size or cfg.heatmap_size)
        self.normal_size = tuple(cfg.normal_size or cfg.heatmap_size)
        self.flip_indices = np.asarray(COCO17.flip_indices)

    # ------------------------------------------------------------------ geometry
    def _geometry(
        self, record: InstanceRecord, image_width: int, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, bool]:
        """Centre, scale, rotation and flip of the crop, and the keypoints in the (flipped) image."""
        cfg = self.config
        center, scale = bbox_xyxy2cs(record.bbox, padding=cfg.padding)
        center = np.asarray(center, np.float32)
        scale = np.asarray(scale, np.float32)
        kpts = record.keypoints.copy()
        vis = record.visible.copy()
        rotation = 0.0
        flipped = False
        augment = self.train and cfg.augment and rng is not None
        if augment:
            if rng.random() < cfg.flip_prob:
                flipped = True
                kpts = kpts[self.flip_indices]
                vis = vis[self.flip_indices]
                kpts[:, 0] = image_width - 1 - kpts[:, 0]
                center = np.array([image_width - 1 - center[0], center[1]], np.float32)
            if record.has_keypoints:
                half = random_half_body(kpts, vis, cfg.half_body, rng)
                if half is not None:
                    center, scale = half
            center, scale, rotation = random_bbox_transform(center, scale, cfg.bbox, rng)
        scale = np.asarray(fix_aspect_ratio(scale, cfg.input_size[0] / cfg.input_size[1]), np.float32)
        return center, scale, kpts, vis, rotation, flipped

    def __call__(self, record: InstanceRecord, rng: np.random.Generator | None = None) -> dict[str, Any]:
        cfg = self.config
        image = read_image(record.image_path)
        height, width = image.shape[:2]
        if record.image_size is not None and tuple(record.image_size) != (width, height):
            raise DataFileError(
                f"image {record.image_path} is {width}x{height} but its annotation says "
                f"{record.image_size[0]}x{record.image_size[1]}"
            )
        check_box_overlaps(record, width, height)
        center, scale, kpts, vis, rotation, flipped = self._geometry(record, width, rng)
        warp = get_udp_warp_matrix(center, scale, rotation, cfg.input_size)
        flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) if flipped else np.eye(3)
        full = (np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]]) @ flip)[:2].astype(np.float32)

        crop = cv2.warpAffine(image, full, tuple(cfg.input_size), flags=cv2.INTER_LINEAR, borderValue=0)
        if self.train and cfg.augment and rng is not None and record.domain in cfg.texture_domains:
            crop = randomize_texture(crop, cfg.texture, rng)

        crop_kpts = np.asarray(warp_keypoints(kpts, warp), np.float32)
        labelled = bool(record.has_keypoints)
        heatmaps, weights = self.codec.encode(crop_kpts, vis if labelled else np.zeros_like(vis))
        sample: dict[str, Any] = {
            "image": np.ascontiguousarray(crop.transpose(2, 0, 1)),
            "heatmaps": heatmaps.astype(np.float32),
            "keypoint_weights": (weights * float(labelled)).astype(np.float32),
            "keypoints": crop_kpts,
            "keypoints_visible": vis.astype(np.float32) * float(labelled),
            "has_keypoints": np.bool_(labelled),
            "domain": np.int64(DOMAIN_IDS[record.domain]),
            "center": center.astype(np.float32),
            "scale": scale.astype(np.float32),
            "rotation": np.float32(rotation),
            "flipped": np.bool_(flipped),
            "bbox": record.bbox.astype(np.float32),
            "bbox_score": np.float32(record.bbox_score),
            "image_keypoints": record.keypoints.astype(np.float32),
            "image_visible": record.visible.astype(np.float32) * float(labelled),
            "image_id": np.int64(record.image_id),
            "instance_id": np.int64(record.instance_id),
            "group": record.group,
        }
        sample.update(self._dense_targets(record, full, (width, height)))
        return sample

    # ------------------------------------------------------------------ dense targets
    def _dense_targets(self, record: InstanceRecord, full: np.ndarray, image_size: tuple[int, int]) -> dict[str, Any]:
        cfg = self.config
        dw, dh = self.depth_size
        nw, nh = self.normal_size
        out: dict[str, Any] = {
            "depth": np.zeros((1, dh, dw), np.float32),
            "depth_mask": np.zeros((1, dh, dw), bool),
            "normal": np.zeros((3, nh, nw), np.float32),
            "normal_mask": np.zeros((1, nh, nw), bool),
            "body_mask": np.zeros((1, dh, dw), bool),
            "has_body_mask": np.bool_(False),
            "camera": np.zeros(4, np.float32),
            "has_camera": np.bool_(False),
        }
        lin = _rotation_part(full)
        if record.camera is not None:
            fx, fy, cx, cy = (float(v) for v in record.camera)
            sx, sy = np.linalg.norm(full[:, :2].astype(np.float64), axis=1)
            ccx, ccy = full[:, :2].astype(np.float64) @ np.array([cx, cy]) + full[:, 2]
            out["camera"] = np.array([fx * sx, fy * sy, ccx, ccy], np.float32)
            out["has_camera"] = np.bool_(True)

        depth = None
        if record.depth_path is not None:
            depth = read_depth_png(record.depth_path, scale=record.depth_scale)
            if depth.shape != (image_size[1], image_size[0]):
                raise DataFileError(f"depth map {record.depth_path} is {depth.shape[::-1]}, image is {image_size}")
            m = _scaled_matrix(full, cfg.input_size, (dw, dh))
            d, ok = _warp_valid_aware(depth, depth > 0, m, (dw, dh))
            out["depth"] = np.where(ok, d, 0.0).astype(np.float32)[None]
            out["depth_mask"] = (ok & (d > 0))[None]

        normals = valid = None
        encoded = False  # PNG values (uint16), decoded after resampling: the crop is far smaller than the file
        if record.normal_path is not None:
            normals, valid = read_normal_png_raw(record.normal_path)
            encoded = True
        elif record.normals_from_depth and depth is not None and record.camera is not None:
            normals, valid = normals_from_depth_numpy(depth, record.camera)
        if normals is not None:
            if normals.shape[:2] != (image_size[1], image_size[0]):
                raise DataFileError(f"normal map {record.normal_path} is {normals.shape[1::-1]}, image is {image_size}")
            m = _scaled_matrix(full, cfg.input_size, (nw, nh))
            n, ok = _warp_valid_aware(normals, valid, m, (nw, nh))
            if encoded:
                n = decode_normals(n, ok)
            n /= np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-6)
            xy = n[..., :2] @ lin.T.astype(np.float32)
            n = np.concatenate([xy, n[..., 2:]], axis=2)
            n[~ok] = 0.0
            out["normal"] = np.ascontiguousarray(n.transpose(2, 0, 1))
            out["normal_mask"] = ok[None]

        if record.mask_path is not None:
            mask = read_mask(record.mask_path)
            if mask.shape != (image_size[1], image_size[0]):
                raise DataFileError(f"mask {record.mask_path} is {mask.shape[::-1]}, image is {image_size}")
            m = _scaled_matrix(full, cfg.input_size, (dw, dh))
            out["body_mask"] = (_warp_nearest(mask, m, (dw, dh)) > 0)[None]
            out["has_body_mask"] = np.bool_(True)
        return out
