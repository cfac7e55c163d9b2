"""Keypoint subsets for evaluation: presets derived from layout mappings, names or indices.

Every metric report lists the names of the points it used (``subset_names``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .converter import KeypointConverter
from .layouts import COCO17, KeypointLayout, get_layout

# COCO17 points that exist in the MPII-style 16-joint layout used by infant domain-adaptation
# work ("Body16" of thuml/Transfer-Learning-Library's keypoint benchmarks, used by SHIFT, CVPR-W 2025):
# shoulders, elbows, wrists, hips, knees, ankles.
_MPII16_IN_COCO17 = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)


def subset_presets(layout: str | KeypointLayout = COCO17) -> dict[str, tuple[int, ...]]:
    """Named keypoint subsets of ``layout``.

    ``all`` — every point; ``minirgbd25`` / ``body25`` — the points shared with that layout
    (derived from the converter's table, so 13 and 17 for COCO17); ``mpii16`` — the 12 COCO17
    points that the MPII-style 16-joint infant benchmark layout also has.
    """
    layout = get_layout(layout)
    presets = {"all": tuple(range(layout.num_keypoints))}
    for other in ("minirgbd25", "body25", "coco17"):
        if other == layout.name:
            continue
        try:
            presets[other] = KeypointConverter(other, layout).common_indices
        except KeyError:
            continue
    if layout.name == "coco17":
        presets["mpii16"] = tuple(layout.index(n) for n in _MPII16_IN_COCO17)
    return presets


def resolve_subset(
    spec: str | Sequence[int | str] | None, layout: str | KeypointLayout = COCO17
) -> tuple[int, ...]:
    """Turn a subset spec into sorted, unique keypoint indices of ``layout``.

    Args:
        spec: ``None`` or ``"all"``; a preset name (see ``subset_presets``); a comma-separated
            string of names or indices; or a sequence of names and/or integer indices.
    """
    layout = get_layout(layout)
    if spec is None:
        spec = "all"
    if isinstance(spec, str):
        presets = subset_presets(layout)
        if spec in presets:
            return presets[spec]
        items: Sequence[int | str] = [s.strip() for s in spec.split(",") if s.strip()]
        if len(items) == 1 and not items[0].lstrip("-").isdigit() and items[0] not in layout.names:
            raise KeyError(
                f"unknown keypoint subset {spec!r} for layout {layout.name!r}; presets: {sorted(presets)}, "
                f"or a list of joint names / indices"
            )
    else:
        items = list(spec)
    out: set[int] = set()
    for item in items:
        if isinstance(item, str) and item.lstrip("-").isdigit():
            item = int(item)
        if isinstance(item, str):
            out.add(layout.index(item))
        else:
            idx = int(item)
            if not 0 <= idx < layout.num_keypoints:
                raise IndexError(f"keypoint index {idx} out of range for layout {layout.name!r}")
            out.add(idx)
    if not out:
        raise ValueError(f"empty keypoint subset {spec!r}")
    return tuple(sorted(out))


def subset_names(indices: Sequence[int], layout: str | KeypointLayout = COCO17) -> list[str]:
    layout = get_layout(layout)
    return [layout.names[i] for i in indices]
