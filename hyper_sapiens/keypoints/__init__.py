"""Skeleton layouts (COCO17, MINI-RGBD 25, OpenPose BODY_25 and BODY_18), conversion and subsets."""

from .converter import KeypointConverter
from .layouts import (
    BODY18,
    BODY25,
    COCO17,
    COCO17_LIMB_NAMES,
    COCO17_LIMBS,
    COCO17_SKELETON_1BASED,
    COCO17_SYMMETRIC_LIMBS,
    LAYOUTS,
    MINIRGBD25,
    KeypointLayout,
    get_layout,
)
from .subsets import resolve_subset, subset_names, subset_presets
from .torso import torso_length, torso_radius

__all__ = [
    "BODY18",
    "BODY25",
    "COCO17",
    "COCO17_LIMBS",
    "COCO17_LIMB_NAMES",
    "COCO17_SKELETON_1BASED",
    "COCO17_SYMMETRIC_LIMBS",
    "LAYOUTS",
    "MINIRGBD25",
    "KeypointConverter",
    "KeypointLayout",
    "get_layout",
    "resolve_subset",
    "subset_names",
    "subset_presets",
    "torso_length",
    "torso_radius",
]
