"""Map keypoints between layouts; joints without a counterpart get visibility 0."""

from __future__ import annotations

import numpy as np

from .layouts import KeypointLayout, get_layout

# Correspondence tables, destination joint name -> source joint name. Only one direction
# is written per pair; the converter inverts a table when asked for the other direction.
# MINI-RGBD -> COCO17: the SMIL joint order of MINI-RGBD (Hesse et al. 2018) mapped by joint meaning (layouts.py).
# BODY_25 -> COCO17 and BODY_18 (OpenPose's COCO model) -> COCO17: OpenPose's own definitions (doc/02_output.md),
# all 17 COCO points present; their Neck (and BODY_25's MidHip and feet) have no COCO17 counterpart.
_NAME_TABLES: dict[tuple[str, str], dict[str, str]] = {
    ("minirgbd25", "coco17"): {
        "nose": "noseVertex",
        "left_shoulder": "leftUpperArm", "right_shoulder": "rightUpperArm",
        "left_elbow": "leftForeArm", "right_elbow": "rightForeArm",
        "left_wrist": "leftHand", "right_wrist": "rightHand",
        "left_hip": "leftThigh", "right_hip": "rightThigh",
        "left_knee": "leftCalf", "right_knee": "rightCalf",
        "left_ankle": "leftFoot", "right_ankle": "rightFoot",
    },
    ("body25", "coco17"): {
        "nose": "Nose", "left_eye": "LEye", "right_eye": "REye", "left_ear": "LEar", "right_ear": "REar",
        "left_shoulder": "LShoulder", "right_shoulder": "RShoulder",
        "left_elbow": "LElbow", "right_elbow": "RElbow", "left_wrist": "LWrist", "right_wrist": "RWrist",
        "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee", "right_knee": "RKnee",
        "left_ankle": "LAnkle", "right_ankle": "RAnkle",
    },
}
_NAME_TABLES[("body18", "coco17")] = dict(_NAME_TABLES[("body25", "coco17")])  # same joint names


def _index_table(src: KeypointLayout, dst: KeypointLayout) -> np.ndarray:
    """``table[d]`` = source index feeding destination joint ``d``, or -1 for none."""
    table = np.full(dst.num_keypoints, -1, dtype=np.int64)
    if src.name == dst.name:
        table[:] = np.arange(dst.num_keypoints)
        return table
    if (src.name, dst.name) in _NAME_TABLES:
        pairs = _NAME_TABLES[(src.name, dst.name)].items()
    elif (dst.name, src.name) in _NAME_TABLES:
        pairs = ((s, d) for d, s in _NAME_TABLES[(dst.name, src.name)].items())
    else:
        known = sorted({f"{a}->{b}" for a, b in _NAME_TABLES} | {f"{b}->{a}" for a, b in _NAME_TABLES})
        raise KeyError(f"no keypoint mapping from {src.name!r} to {dst.name!r}; known: {known}")
    for dst_name, src_name in pairs:
        table[dst.index(dst_name)] = src.index(src_name)
    return table


class KeypointConverter:
    """Convert keypoint arrays from ``src_layout`` to ``dst_layout`` (default COCO17).

    Example:
        >>> conv = KeypointConverter("minirgbd25")
        >>> xy, vis = conv(joints_25, vis_25)   # (N, 25, 3), (N, 25) -> (N, 17, 3), (N, 17)
        >>> conv.common_names                  # the 13 COCO17 points MINI-RGBD has
    """

    def __init__(self, src_layout: str | KeypointLayout, dst_layout: str | KeypointLayout = "coco17"):
        self.src = get_layout(src_layout)
        self.dst = get_layout(dst_layout)
        self.table = _index_table(self.src, self.dst)
        self.table.setflags(write=False)

    @property
    def common_indices(self) -> tuple[int, ...]:
        """Destination indices that have a source counterpart."""
        return tuple(int(i) for i in np.flatnonzero(self.table >= 0))

    @property
    def common_names(self) -> tuple[str, ...]:
        return tuple(self.dst.names[i] for i in self.common_indices)

    def __call__(
        self, keypoints: np.ndarray, visible: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Convert coordinates and visibilities.

        Args:
            keypoints: ``(N, K_src, D)`` or ``(K_src, D)`` coordinates, any D (2 for pixels,
                3 for pixels+depth or metres).
            visible: ``(N, K_src)`` or ``(K_src,)`` visibilities; all ones when omitted.

        Returns:
            ``(keypoints (N, K_dst, D), visible (N, K_dst))`` in the input's leading shape;
            joints without a counterpart have coordinates 0 and visibility 0.
        """
        kpts = np.asarray(keypoints)
        single = kpts.ndim == 2
        if single:
            kpts = kpts[None]
        if kpts.ndim != 3 or kpts.shape[1] != self.src.num_keypoints:
            raise ValueError(
                f"KeypointConverter({self.src.name}->{self.dst.name}): expected keypoints of shape "
                f"(N, {self.src.num_keypoints}, D), got {np.shape(keypoints)}"
            )
        if visible is None:
            vis = np.ones(kpts.shape[:2], dtype=np.float32)
        else:
            vis = np.asarray(visible)
            if single:
                vis = vis[None]
            if vis.shape != kpts.shape[:2]:
                raise ValueError(
                    f"KeypointConverter({self.src.name}->{self.dst.name}): visibility shape "
                    f"{np.shape(visible)} does not match keypoints {np.shape(keypoints)}"
                )
        has = self.table >= 0
        src_idx = np.where(has, self.table, 0)
        out = np.where(has[None, :, None], kpts[:, src_idx], 0).astype(kpts.dtype, copy=False)
        out_vis = np.where(has[None], vis[:, src_idx], 0).astype(vis.dtype, copy=False)
        if single:
            return out[0], out_vis[0]
        return out, out_vis
