"""Skeleton layouts as data: joint names, left/right flip pairs, bones and OKS sigmas.

Every table here is written once and read everywhere else; no other module spells joint
indices as literals. Sources are named beside each table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class KeypointLayout:
    """A named skeleton: the order of its joints and the structure between them.

    Attributes:
        name: registry key, e.g. ``"coco17"``.
        names: joint names in file order.
        flip_pairs: ``(left, right)`` index pairs swapped by a horizontal flip.
        bones: ``(parent, child)`` index pairs drawn and measured as limbs.
        sigmas: per-joint OKS sigmas (COCO units), or ``None`` where the layout has none.
        torso: ``(shoulder_l, shoulder_r, hip_l, hip_r)`` indices used for torso-size
            normalisation, or ``None`` where the layout lacks one of them.
    """

    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    bones: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] | None = None
    torso: tuple[int, int, int, int] | None = None
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"layout {self.name!r}: duplicate joint names")
        self._index.update({n: i for i, n in enumerate(self.names)})
        k = len(self.names)
        seen: set[int] = set()
        for a, b in self.flip_pairs:
            if not (0 <= a < k and 0 <= b < k) or a == b or a in seen or b in seen:
                raise ValueError(f"layout {self.name!r}: bad flip pair ({a}, {b})")
            seen.update((a, b))
        for a, b in self.bones:
            if not (0 <= a < k and 0 <= b < k) or a == b:
                raise ValueError(f"layout {self.name!r}: bad bone ({a}, {b})")
        if self.sigmas is not None and len(self.sigmas) != k:
            raise ValueError(f"layout {self.name!r}: {len(self.sigmas)} sigmas for {k} joints")

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of the joint called ``name``; ``KeyError`` naming the layout otherwise."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"layout {self.name!r} has no joint {name!r}; joints: {list(self.names)}") from None

    @property
    def flip_indices(self) -> tuple[int, ...]:
        """Permutation ``p`` such that ``flipped[:, i] = original[:, p[i]]`` (an involution)."""
        perm = list(range(self.num_keypoints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return tuple(perm)

    def flip_array(self) -> np.ndarray:
        return np.asarray(self.flip_indices, dtype=np.int64)


# --- COCO17 ---------------------------------------------------------------------------
# Names and skeleton: the COCO 2017 person category (person_keypoints_*.json, skeleton is
# 1-based there). Sigmas: pycocotools COCOeval / mmpose configs/_base_/datasets/coco.py.
COCO17 = KeypointLayout(
    name="coco17",
    names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    bones=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
        (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
        0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
    ),
    torso=(5, 6, 11, 12),
)

# COCO's 1-based skeleton exactly as the annotation files write it.
COCO17_SKELETON_1BASED: tuple[tuple[int, int], ...] = tuple((a + 1, b + 1) for a, b in COCO17.bones)

# The limbs whose lengths define a body's proportions (no face edges): used by G-Error,
# the bone-ratio loss and the prior's validation. Pairs of left/right limbs follow.
COCO17_LIMBS: tuple[tuple[int, int], ...] = (
    (5, 7), (7, 9), (6, 8), (8, 10),          # upper arm, forearm (L, R)
    (11, 13), (13, 15), (12, 14), (14, 16),   # thigh, shank (L, R)
    (5, 11), (6, 12),                         # torso sides (L, R)
    (5, 6), (11, 12),                         # shoulder width, hip width
)
COCO17_LIMB_NAMES: tuple[str, ...] = (
    "left_upper_arm", "left_forearm", "right_upper_arm", "right_forearm",
    "left_thigh", "left_shank", "right_thigh", "right_shank",
    "left_torso", "right_torso", "shoulders", "hips",
)
COCO17_SYMMETRIC_LIMBS: tuple[tuple[int, int], ...] = ((0, 2), (1, 3), (4, 6), (5, 7), (8, 9))
"""Pairs of indices into ``COCO17_LIMBS`` that are left/right mirror images."""

# --- MINI-RGBD (SMIL) 25 joints -------------------------------------------------------
# Order of the joints_2Ddep / joints_3D text files (Hesse et al. 2018, MINI-RGBD readme):
# SMIL's 24 kinematic joints followed by a nose vertex. SMIL joint names describe the
# segment that starts at the joint: "leftThigh" is the hip joint, "leftCalf" the knee,
# "leftFoot" the ankle, "leftUpperArm" the shoulder joint, "leftForeArm" the elbow,
# "leftHand" the wrist. "left" is the infant's own left.
MINIRGBD25 = KeypointLayout(
    name="minirgbd25",
    names=(
        "global", "leftThigh", "rightThigh", "spine", "leftCalf", "rightCalf", "spine1",
        "leftFoot", "rightFoot", "spine2", "leftToes", "rightToes", "neck",
        "leftShoulder", "rightShoulder", "head", "leftUpperArm", "rightUpperArm",
        "leftForeArm", "rightForeArm", "leftHand", "rightHand", "leftFingers", "rightFingers",
        "noseVertex",
    ),
    flip_pairs=(
        (1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23),
    ),
    # SMPL/SMIL kinematic tree (parent of joint j), plus the nose vertex on the head.
    bones=(
        (0, 1), (0, 2), (0, 3), (1, 4), (2, 5), (3, 6), (4, 7), (5, 8), (6, 9), (7, 10),
        (8, 11), (9, 12), (9, 13), (9, 14), (12, 15), (13, 16), (14, 17), (16, 18),
        (17, 19), (18, 20), (19, 21), (20, 22), (21, 23), (15, 24),
    ),
    torso=(16, 17, 1, 2),
)

# --- OpenPose BODY_25 -----------------------------------------------------------------
# Order and pose pairs: OpenPose doc/02_output.md (poseParameters BODY_25).
BODY25 = KeypointLayout(
    name="body25",
    names=(
        "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
        "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
        "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    ),
    flip_pairs=(
        (2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18),
        (19, 22), (20, 23), (21, 24),
    ),
    bones=(
        (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
        (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
        (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
    ),
    torso=(5, 2, 12, 9),
)

# --- OpenPose BODY_18 (its COCO model, "COCO-18") -------------------------------------
# Order and pose pairs: OpenPose doc/02_output.md (poseParameters COCO): the 17 COCO points in OpenPose's own
# order plus a Neck (mid-shoulder) at index 1.
BODY18 = KeypointLayout(
    name="body18",
    names=(
        "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
        "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    ),
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
    bones=(
        (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
        (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
    ),
    torso=(5, 2, 11, 8),
)

LAYOUTS: dict[str, KeypointLayout] = {
    layout.name: layout for layout in (COCO17, MINIRGBD25, BODY25, BODY18)
}


def get_layout(name: str | KeypointLayout) -> KeypointLayout:
    """Look a layout up by name (``"coco17"``, ``"minirgbd25"``, ``"body25"``, ``"body18"``)."""
    if isinstance(name, KeypointLayout):
        return name
    try:
        return LAYOUTS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown keypoint layout {name!r}; known: {sorted(LAYOUTS)}") from None
