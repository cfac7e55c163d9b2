"""MINI-RGBD sequences (Hesse et al. 2018): RGB, uint16 depth in mm, 25 SMIL joints per frame.

Layout (the real data set's): ``ROOT/<seq>/rgb/syn_%05d.png``, ``depth/syn_%05d_depth.png``,
``fg_mask/mask_%05d.png`` (optional), ``joints_2Ddep/syn_joints_2Ddep_%05d.txt`` (25 rows
``x y depth id``). Intrinsics: ``ROOT/intrinsics.json`` (``fx, fy, cx, cy``) or the published 640×480 values.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..keypoints import MINIRGBD25, KeypointConverter
from .base import RecordDataset
from .io import DataFileError, read_json, read_mask
from .pipeline import TopDownTransform
from .records import InstanceRecord

#: The published MINI-RGBD intrinsics at 640×480 (fx, fy, cx, cy).
MINIRGBD_CAMERA = (588.67905803875317, 590.25690113005601, 322.22048191353628, 237.46785983766890)


def read_minirgbd_joints(path: str | os.PathLike) -> np.ndarray:
    """Parse a 25-row joint file (``x y z [id]``) to ``(25, 3)`` float64; wrong row counts name the file."""
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"joint file not found: {p}")
    try:
        rows = np.loadtxt(p, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise DataFileError(f"malformed joint file {p}: {err}") from err
    if rows.shape[0] != MINIRGBD25.num_keypoints or rows.shape[1] < 3:
        raise DataFileError(
            f"joint file {p} has {rows.shape[0]} rows of {rows.shape[1]} values, "
            f"expected {MINIRGBD25.num_keypoints} rows of 'x y depth [id]'"
        )
    return rows[:, :3]


class MiniRGBDDataset(RecordDataset):
    """Every ``frame_step``-th frame of the chosen sequences, keypoints converted to COCO17.

    The box is the silhouette's (``fg_mask``) when the mask exists, otherwise the joints'. Depth is
    read in metres; normals are computed from depth and the intrinsics. Joints outside the image (size
    from ``intrinsics.json``, default 640×480) get visibility 0; COCO17 keypoints without a MINI-RGBD
    counterpart (eyes, ears) are unlabelled.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        transform: TopDownTransform,
        sequences: list[str] | None = None,
        frame_step: int = 1,
        camera: tuple[float, float, float, float] | None = None,
        domain: str = "syn",
    ) -> None:
        super().__init__([], transform, name=f"minirgbd:{Path(root).name}")
        self.image_size: tuple[int, int] = (640, 480)
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataFileError(f"MINI-RGBD folder not found: {self.root}")
        intrinsics_file = self.root / "intrinsics.json"
        if camera is None and intrinsics_file.is_file():
            info = read_json(intrinsics_file)
            camera = (info["fx"], info["fy"], info["cx"], info["cy"])
            if "width" in info and "height" in info:
                self.image_size = (int(info["width"]), int(info["height"]))
        self.camera = np.asarray(camera if camera is not None else MINIRGBD_CAMERA, np.float32)
        if sequences is None:
            sequences = sorted(p.name for p in self.root.iterdir() if (p / "rgb").is_dir())
        if not sequences:
            raise DataFileError(f"no MINI-RGBD sequences (folders with rgb/) in {self.root}")
        self.converter = KeypointConverter(MINIRGBD25, "coco17")
        for seq in sequences:
            self._add_sequence(str(seq), frame_step, domain)

    def _add_sequence(self, seq: str, frame_step: int, domain: str) -> None:
        seq_dir = self.root / seq
        rgb = sorted((seq_dir / "rgb").glob("syn_*.png"))
        if not rgb:
            raise DataFileError(f"no frames rgb/syn_*.png in {seq_dir}")
        for path in rgb[::frame_step]:
            frame = int(path.stem.split("_")[-1])
            joints = read_minirgbd_joints(seq_dir / "joints_2Ddep" / f"syn_joints_2Ddep_{frame:05d}.txt")
            depth_path = seq_dir / "depth" / f"syn_{frame:05d}_depth.png"
            if not depth_path.is_file():
                raise DataFileError(f"depth file not found: {depth_path} (frame {frame} of {seq_dir})")
            mask_path = seq_dir / "fg_mask" / f"mask_{frame:05d}.png"
            xy = joints[:, :2].astype(np.float32)
            w, h = self.image_size
            inside = (xy[:, 0] >= -0.5) & (xy[:, 0] < w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] < h - 0.5)
            vis25 = (inside & (joints[:, 2] > 0)).astype(np.float32)
            kp, vis = self.converter(xy[None], vis25[None])
            if mask_path.is_file():
                ys, xs = np.nonzero(read_mask(mask_path))
                if xs.size == 0:
                    self.skipped["frames with an empty silhouette"] += 1
                    continue
                box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)
            else:
                box = np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float32)
            self.records.append(
                InstanceRecord(
                    image_path=str(path),
                    bbox=box,
                    keypoints=kp[0],
                    visible=vis[0],
                    has_keypoints=True,
                    domain=domain,
                    image_id=int(seq) * 100000 + frame if seq.isdigit() else frame,
                    instance_id=frame,
                    group=seq,
                    depth_path=str(depth_path),
                    normals_from_depth=True,
                    mask_path=str(mask_path) if mask_path.is_file() else None,
                    camera=self.camera,
                )
            )
