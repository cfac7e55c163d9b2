"""Synthetic adults: the stand-in for COCO that the demo's pretrained backbone learns from.

Real users start from a Sapiens pose checkpoint trained on adults in real photos (COCO) and adapt it to
infants. The embedded default mirrors that: adults lying, sprawled or curled on a bed or the floor, seen
from above (as in in-bed pose data sets such as SLP), with adult proportions (a head of about 1/7.5 of
the body, long legs and trunk, thinner limbs), adult lying poses and adult clothing, rendered by the same
ray caster as the infants, mostly in the real-looking appearance domain. Adults never appear in the
infant splits.

Layout (``DIR`` = the output folder)::

    DIR/images/{train,val}/adult_%05d.{jpg,png}   real-looking (JPEG) / clean (PNG) renders
    DIR/annotations/{train,val}.json              COCO keypoints, as the SyRIP-style splits
    DIR/meta.json

Each image entry carries ``domain``, ``population: adult``, ``subject``, ``posture`` (SyRIP's name) and
``posture_detail`` (supine, prone, side_left, side_right); subjects of the
two splits are disjoint, so ``val`` measures held-out adults.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2

from .. import __version__
from .dataset import acceptable, coco_annotation, coco_category, item_rng, subject_identity
from .files import write_bytes, write_json
from .pool import map_items
from .sample import render_sample

ADULT_SPLITS = ("train", "val")
_STREAM = {"train": 21, "val": 22}
_SUBJECT_BASE = {"train": 500_000, "val": 600_000}


@dataclass(frozen=True)
class AdultPreset:
    """How many adults to render; ``image_size`` is (width, height) in pixels."""

    name: str
    train: int
    val: int
    image_size: tuple[int, int]
    train_subjects: int
    val_subjects: int
    real_fraction: float = 0.75  # the rest are clean renders


ADULT_PRESETS: dict[str, AdultPreset] = {
    "tiny": AdultPreset("tiny", train=16, val=12, image_size=(256, 256), train_subjects=8, val_subjects=4),
    "pretrain": AdultPreset("pretrain", train=10_000, val=500, image_size=(256, 256), train_subjects=800,
                            val_subjects=100),
}

_CFG: dict[str, Any] = {}


def _init_worker(cfg: dict[str, Any]) -> None:
    _CFG.clear()
    _CFG.update(cfg)
    cv2.setNumThreads(1)


def _render_adult(item: tuple[str, int]) -> tuple[str, int, dict, dict]:
    split, index = item
    preset: AdultPreset = _CFG["preset"]
    seed, out = _CFG["seed"], Path(_CFG["out"])
    width, height = preset.image_size
    rng = item_rng(seed, _STREAM[split], index)
    pool = preset.train_subjects if split == "train" else preset.val_subjects
    subject = _SUBJECT_BASE[split] + int(rng.integers(pool))
    domain = "real" if rng.random() < preset.real_fraction else "syn"
    shape, skin = subject_identity(seed, subject, domain, population="adult")
    for _ in range(50):
        s = render_sample(rng, domain, (width, height), shape=shape, skin_tone=skin, population="adult")
        if acceptable(s, width, height):
            break
    name = f"adult_{index:05d}{s['ext']}"
    write_bytes(out / "images" / split / name, s["encoded"])
    image = {"id": index, "file_name": name, "width": width, "height": height,
             "camera": {k: round(v, 6) for k, v in s["camera"].items()},
             "domain": domain, "population": "adult", "subject": subject, "posture": s["posture"],
             "posture_detail": s["posture_detail"]}
    return split, index, image, coco_annotation(index, s)


def generate_adult_dataset(out: str | os.PathLike, preset: str = "pretrain", seed: int = 0,
                           workers: int | None = None, progress: bool = True) -> dict:
    """Render the synthetic adult set into ``out`` and return its metadata (also ``out/meta.json``).

    Args:
        out: output folder; an earlier adult set there is replaced, other files are refused.
        preset: "tiny" (tests) or "pretrain" (10,000 train + 500 val adults at 256x256).
        seed: non-negative int; the same seed and preset give byte-identical files for any ``workers``.
        workers: render processes (default: all usable cores; 1 renders in this process).
    """
    if preset not in ADULT_PRESETS:
        raise ValueError(f"unknown adult preset {preset!r}; known: {sorted(ADULT_PRESETS)}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    cfg_preset = ADULT_PRESETS[preset]
    out = Path(out)
    _prepare(out)
    cfg = {"preset": cfg_preset, "seed": int(seed), "out": str(out)}
    items = [(split, i) for split in ADULT_SPLITS for i in range(1, getattr(cfg_preset, split) + 1)]
    results = map_items(items, _render_adult, _init_worker, cfg, workers, progress, f"synth adults {preset}")
    per_split: dict[str, list[tuple[int, dict, dict]]] = {s: [] for s in ADULT_SPLITS}
    for split, index, image, ann in results:
        per_split[split].append((index, image, ann))
    counts = {}
    for split, entries in per_split.items():
        entries.sort(key=lambda e: e[0])
        coco = {
            "info": {"description": f"hyper-sapiens synthetic adults, split {split}", "version": __version__,
                     "preset": preset, "seed": int(seed)},
            "licenses": [],
            "categories": [coco_category()],
            "images": [e[1] for e in entries],
            "annotations": [e[2] for e in entries],
        }
        write_json(out / "annotations" / f"{split}.json", coco)
        counts[split] = len(entries)
    meta = {
        "generator": "hyper_sapiens.synth.adults",
        "version": __version__,
        "population": "adult",
        "preset": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg_preset).items()},
        "seed": int(seed),
        "counts": counts,
        "files": {"images": "images/<split>/adult_%05d.jpg (real-looking) or .png (clean)",
                  "annotations": "annotations/<split>.json (COCO keypoints)"},
    }
    write_json(out / "meta.json", meta, indent=2)
    return meta


def _prepare(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    meta = out / "meta.json"
    present = [p.name for p in out.iterdir()]
    if present and not meta.exists():
        raise FileExistsError(f"{out}: not empty and holds no meta.json; refusing to overwrite files synth did not "
                              "write")
    if meta.exists():
        if json.loads(meta.read_text(encoding="utf-8")).get("population") != "adult":
            raise FileExistsError(f"{out}: holds another synth data set; choose an empty folder for the adults")
        for name in ("images", "annotations"):
            if (out / name).exists():
                shutil.rmtree(out / name)
        meta.unlink()
