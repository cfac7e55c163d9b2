"""Deterministic k-fold splits of a COCO file's images, stratified by an image field (SyRIP's ``posture``).

Settings are chosen on images that are not reported: a source with ``folds: 5, fold: 0, fold_take: rest`` trains on
four fifths of a file and the same spec with ``fold_take: fold`` scores the fifth left out. The split depends only
on the image ids, the stratifying field and ``split_seed`` (not on the run's seed), so every run of an experiment,
whatever its seed, holds out the same images.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FOLD_TAKES = ("rest", "fold")


def fold_of_images(images: Sequence[Mapping[str, Any]], folds: int, stratify: str | None = "posture",
                   split_seed: int = 0) -> dict[int, int]:
    """``{image_id: fold index}`` for ``folds`` folds.

    Images are grouped by their ``stratify`` field (missing: one group of their own), each group is shuffled by a
    generator seeded with ``split_seed`` (ids sorted first, so the file's order does not matter), and its images
    are dealt to the folds in turn, continuing where the previous group stopped: every fold gets its share of each
    group, fold sizes differ by at most one.
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    groups: dict[str, list[int]] = defaultdict(list)
    for image in images:
        key = image.get(stratify) if stratify else None
        groups["" if key is None else str(key)].append(int(image["id"]))
    rng = np.random.default_rng(split_seed)
    assigned: dict[int, int] = {}
    turn = 0
    for key in sorted(groups):
        ids = sorted(groups[key])
        for image_id in (ids[i] for i in rng.permutation(len(ids))):
            assigned[image_id] = turn % folds
            turn += 1
    return assigned


def select_fold(data: Mapping[str, Any], folds: int, fold: int, take: str, stratify: str | None = "posture",
                split_seed: int = 0, where: str = "") -> dict[str, Any]:
    """A copy of the COCO dict ``data`` with the images (and their annotations) of fold ``fold`` (``take="fold"``)
    or of every other fold (``take="rest"``)."""
    if take not in FOLD_TAKES:
        raise ValueError(f"{where}fold_take must be one of {list(FOLD_TAKES)}, got {take!r}")
    if not 0 <= fold < folds:
        raise ValueError(f"{where}fold must be in 0..{folds - 1} for {folds} folds, got {fold}")
    assigned = fold_of_images(data["images"], folds, stratify, split_seed)
    keep = {i for i, f in assigned.items() if (f == fold) == (take == "fold")}
    return dict(data, images=[im for im in data["images"] if int(im["id"]) in keep],
                annotations=[a for a in data.get("annotations", []) if int(a.get("image_id", -1)) in keep])
