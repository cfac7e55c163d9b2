"""Lay the rendered SyRIP-style splits out as the real SyRIP download does (``synth --syrip-layout``).

The project's own layout keeps three files (``train_syn``, ``train_real``, ``test_real``) with a ``domain``
field. The real data set instead has one mixed training file whose images carry ``is_synthetic``, image
files named from their ids (``train%05d.jpg``: real images from 1, synthetic ones from 10001;
``test%d.jpg`` from 0), and the folders of :data:`hyper_sapiens.data.syrip_layout.SYRIP_LAYOUTS`
(``release`` or ``fidip``). Rewriting the rendered splits that way lets tests and users exercise exactly the
files they will get. Depth, normal and part maps are not part of SyRIP and are left out; image entries keep
only ``id``, ``file_name``, ``width``, ``height``, ``is_synthetic`` and, as SyRIP's entries, ``posture`` (Supine,
Prone, Sitting, Standing).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data.syrip_layout import SYRIP_LAYOUTS
from .files import write_bytes, write_json

SYN_ID_OFFSET = 10_000
"""Synthetic training images are ``train10001.jpg`` onwards, as in FiDIP's README listing."""


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _as_jpeg(src: Path, quality: int = 95) -> bytes:
    if src.suffix.lower() in (".jpg", ".jpeg"):
        return src.read_bytes()
    image = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read {src}")
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise RuntimeError(f"cv2 could not encode {src} as JPEG")
    return buf.tobytes()


def _entries(split_file: dict[str, Any], new_id, name_of, synthetic: bool, src_dir: Path, dst_dir: Path):
    """Renumbered image entries and annotations of one split; copies (PNG → JPEG) its images."""
    images, anns, id_map = [], [], {}
    for image in sorted(split_file["images"], key=lambda im: int(im["id"])):
        old = int(image["id"])
        new = new_id(old)
        id_map[old] = new
        name = name_of(new)
        write_bytes(dst_dir / name, _as_jpeg(src_dir / image["file_name"]))
        entry = {"id": new, "file_name": name, "width": image["width"], "height": image["height"],
                 "is_synthetic": synthetic}
        if "posture" in image:
            entry["posture"] = image["posture"]
        images.append(entry)
    for ann in split_file["annotations"]:
        new = id_map[int(ann["image_id"])]
        anns.append(dict(ann, id=new, image_id=new))
    return images, anns, id_map


def write_syrip_layout(root: Path, layout: str) -> dict[str, Any]:
    """Rewrite ``root/syrip`` (the project's layout, as just rendered) into SyRIP's ``layout`` in place.

    Returns the layout's description for ``meta.json``; remaps the image ids of ``root/detections``.
    """
    if layout not in SYRIP_LAYOUTS:
        raise ValueError(f"unknown SyRIP layout {layout!r}; choose one of {sorted(SYRIP_LAYOUTS)} or 'project'")
    files = SYRIP_LAYOUTS[layout]
    syrip = root / "syrip"
    staging = root / "syrip.layout"
    if staging.exists():
        shutil.rmtree(staging)
    splits = {s: _load(syrip / "annotations" / f"{s}.json") for s in ("train_syn", "train_real", "test_real")}
    train_dir, test_dir = staging / files["train_images"], staging / files["test_images"]
    real_imgs, real_anns, real_ids = _entries(splits["train_real"], lambda i: i, "train{:05d}.jpg".format, False,
                                              syrip / "images" / "train_real", train_dir)
    syn_imgs, syn_anns, _ = _entries(splits["train_syn"], lambda i: SYN_ID_OFFSET + i, "train{:05d}.jpg".format, True,
                                     syrip / "images" / "train_syn", train_dir)
    test_imgs, test_anns, test_ids = _entries(splits["test_real"], lambda i: i - 1, "test{}.jpg".format, False,
                                              syrip / "images" / "test_real", test_dir)
    base = {k: v for k, v in splits["train_syn"].items() if k not in ("images", "annotations")}
    train = {**base, "images": real_imgs + syn_imgs, "annotations": real_anns + syn_anns}
    write_json(staging / files["train_ann"], train)
    write_json(staging / files["test_ann"], {**base, "images": test_imgs, "annotations": test_anns})
    shutil.rmtree(syrip)
    staging.rename(syrip)
    for split, id_map in (("train_real", real_ids), ("test_real", test_ids)):
        path = root / "detections" / f"{split}.json"
        if path.is_file():
            dets = [dict(d, image_id=id_map[int(d["image_id"])]) for d in _load(path)]
            write_json(path, dets, indent=None)
    return {
        "layout": layout,
        "files": {k: f"syrip/{v}" for k, v in files.items()},
        "train_images": {
            "real": f"train00001.jpg .. train{len(real_imgs):05d}.jpg",
            "synthetic": f"train{SYN_ID_OFFSET + 1:05d}.jpg .. train{SYN_ID_OFFSET + len(syn_imgs):05d}.jpg",
        },
        "test_images": f"test0.jpg .. test{len(test_imgs) - 1}.jpg",
        "counts": {"train_real": len(real_imgs), "train_syn": len(syn_imgs), "test": len(test_imgs),
                   "train_real_labelled": int(np.sum([a["num_keypoints"] > 0 for a in real_anns]))},
        "note": "ids are the numbers in the file names; detections/*.json use these ids",
    }
