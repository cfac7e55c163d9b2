"""Where the files of a SyRIP download are, in the two layouts real users have.

SyRIP (Huang et al., "Infant Pose Learning with Small Data", 2021; github.com/ostadabbas/Infant-Pose-Estimation)
comes in two layouts, both in public use:

``release`` — the data set archive as the authors publish it, used by FiDIP's scripts and later work
(e.g. the SHIFT code), with one *mixed* training file holding 200 real and 1,000 synthetic images, each image
flagged by ``is_synthetic``::

    annotations/200R_1000S/person_keypoints_train_infant.json
    annotations/validate500/person_keypoints_validate_infant.json
    images/train_infant/train%05d.jpg
    images/validate_infant/test%d.jpg

``fidip`` — the flat layout of FiDIP's README (``data/coco/``), the same files renamed::

    annotations/person_keypoints_train_infant.json
    annotations/person_keypoints_validate_infant.json
    images/train_infant/train%05d.jpg
    images/validate_infant/test%d.jpg

Configs name files through ``${syrip_file:${data.syrip},${data.syrip_layout},train_ann}`` (keys
``train_ann``, ``test_ann``, ``train_images``, ``test_images``), so ``data.syrip_layout`` switches all of
them at once.
"""

from __future__ import annotations

from pathlib import Path

SYRIP_LAYOUTS: dict[str, dict[str, str]] = {
    "release": {
        "train_ann": "annotations/200R_1000S/person_keypoints_train_infant.json",
        "test_ann": "annotations/validate500/person_keypoints_validate_infant.json",
        "train_images": "images/train_infant",
        "test_images": "images/validate_infant",
    },
    "fidip": {
        "train_ann": "annotations/person_keypoints_train_infant.json",
        "test_ann": "annotations/person_keypoints_validate_infant.json",
        "train_images": "images/train_infant",
        "test_images": "images/validate_infant",
    },
}


def syrip_file(root: str, layout: str, key: str) -> str:
    """Path of ``key`` (``train_ann``, ``test_ann``, ``train_images``, ``test_images``) in a SyRIP folder."""
    if layout not in SYRIP_LAYOUTS:
        raise ValueError(f"data.syrip_layout must be one of {sorted(SYRIP_LAYOUTS)}, got {layout!r}")
    files = SYRIP_LAYOUTS[layout]
    if key not in files:
        raise ValueError(f"unknown SyRIP file {key!r}; known: {sorted(files)}")
    return str(Path(root) / files[key])
