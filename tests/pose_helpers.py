"""A hand-made COCO17 pose shared by the loss tests."""

from __future__ import annotations

import numpy as np

from hyper_sapiens.keypoints import COCO17


def axis_skeleton() -> np.ndarray:
    """``(17, 2)`` float64: a COCO17 pose with arms and legs along the axes, shoulders 2 apart, torso length 4."""
    k = np.zeros((17, 2), dtype=np.float64)
    pts = {
        "left_shoulder": (1, 0), "right_shoulder": (-1, 0), "left_hip": (1, 4), "right_hip": (-1, 4),
        "left_elbow": (3, 0), "left_wrist": (5, 0), "right_elbow": (-3, 0), "right_wrist": (-5, 0),
        "left_knee": (1, 7), "left_ankle": (1, 10), "right_knee": (-1, 7), "right_ankle": (-1, 10),
        "nose": (0, -2), "left_eye": (0.3, -2.3), "right_eye": (-0.3, -2.3),
        "left_ear": (0.6, -2), "right_ear": (-0.6, -2),
    }
    for name, xy in pts.items():
        k[COCO17.index(name)] = xy
    return k
