"""The instance record every dataset produces before the transforms turn it into a sample."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DOMAINS = ("syn", "real")


@dataclass
class InstanceRecord:
    """One person instance in one image, as read from the annotation files (no pixels loaded yet).

    Coordinates are image pixels with pixel centres at integers.

    Attributes:
        image_path: the RGB image file.
        bbox: ``(4,)`` float32 box ``x1, y1, x2, y2`` in pixels.
        keypoints: ``(K, 2)`` float32 COCO17 keypoints (zeros when unlabelled).
        visible: ``(K,)`` float32 visibility in ``[0, 1]`` (mmpose: ``min(1, v)``).
        has_keypoints: whether the keypoints are labels (unlabelled instances still train depth/normal/SDS).
        domain: ``"syn"`` or ``"real"``.
        image_id, instance_id: ids from the source (COCO image id, annotation id or a running index).
        bbox_score: detector score (1 for annotated boxes).
        group: sequence / set name, used by G-Error (e.g. a MINI-RGBD sequence).
        depth_path: uint16 PNG, ``depth_scale`` metres per unit (1e-3 for millimetres).
        normal_path: 16-bit normal PNG; when absent but ``normals_from_depth`` is set, normals are
            computed from the depth map and ``camera``.
        mask_path: body mask (part ids or 0/255; > 0 = body).
        camera: ``(4,)`` ``fx, fy, cx, cy`` in image pixels, or None.
        image_size: ``(w, h)`` from the annotation when known (checked against the decoded image).
    """

    image_path: str
    bbox: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    has_keypoints: bool
    domain: str
    image_id: int = 0
    instance_id: int = 0
    bbox_score: float = 1.0
    group: str = ""
    depth_path: str | None = None
    depth_scale: float = 1e-3
    normal_path: str | None = None
    normals_from_depth: bool = False
    mask_path: str | None = None
    camera: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"{self.image_path}: domain must be one of {DOMAINS}, got {self.domain!r}")
        self.bbox = np.asarray(self.bbox, dtype=np.float32).reshape(4)
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.visible = np.asarray(self.visible, dtype=np.float32)
        if self.keypoints.ndim != 2 or self.keypoints.shape[1] != 2 or self.visible.shape != self.keypoints.shape[:1]:
            raise ValueError(
                f"{self.image_path}: keypoints must be (K, 2) with visible (K,), "
                f"got {self.keypoints.shape} and {self.visible.shape}"
            )
        if self.camera is not None:
            self.camera = np.asarray(self.camera, dtype=np.float32).reshape(4)
