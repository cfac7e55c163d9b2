"""Procedural infant renderer: the project's embedded default data set.

* :func:`generate_dataset` writes SyRIP-, MINI-RGBD- and skeleton-style files (``hyper-sapiens synth``).
* :func:`generate_skeletons` writes only the skeleton sequences (the pose prior's training data).
* :func:`render_sample` renders one image with exact labels in memory.

See ``docs/synth.md`` for the formats and conventions.
"""

from .body import PART_FLIP, PART_NAMES, InfantShape, forward_kinematics, sample_shape
from .camera import MINIRGBD_INTRINSICS, Camera
from .dataset import default_workers, generate_dataset, generate_skeletons
from .files import read_joint_rows
from .motion import POSTURES, sample_motion, sample_pose
from .postures import POSTURE_DETAILS, SYRIP_POSTURES, syrip_posture
from .presets import PRESETS, Preset, get_preset
from .sample import render_sample

__all__ = [
    "MINIRGBD_INTRINSICS",
    "PART_FLIP",
    "PART_NAMES",
    "POSTURES",
    "POSTURE_DETAILS",
    "PRESETS",
    "Camera",
    "InfantShape",
    "Preset",
    "SYRIP_POSTURES",
    "default_workers",
    "forward_kinematics",
    "generate_dataset",
    "generate_skeletons",
    "get_preset",
    "read_joint_rows",
    "render_sample",
    "sample_motion",
    "sample_pose",
    "sample_shape",
    "syrip_posture",
]
