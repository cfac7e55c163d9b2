"""Samples per second of one data worker for the stage-2 pipeline (syn + real, full augmentation).

Renders a small synthetic data set (the `tiny` preset at 640x480, like camera photos) unless --data
names an existing `synth` output, then times `TopDownTransform` (decode, one affine for image, depth,
normals and masks, texture randomisation, UDP heatmaps) in this process with one thread, i.e. what
one DataLoader worker (one core) delivers. Prints one JSON object.

    python benchmarks/data_pipeline.py [--data DIR] [--samples 200]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import torch


def measure(root: Path, input_size: tuple[int, int], samples: int) -> dict[str, float]:
    from hyper_sapiens.data.coco_topdown import CocoTopDownDataset
    from hyper_sapiens.data.mixing import MixedBatchSampler, MixedDataset
    from hyper_sapiens.data.pipeline import TopDownTransform

    w, h = input_size
    cfg = {"input_size": [w, h], "heatmap_size": [w // 4, h // 4]}
    t = TopDownTransform(cfg, train=True)
    syrip = root / "syrip"
    syn = CocoTopDownDataset(syrip / "annotations/train_syn.json", syrip / "images/train_syn", t, labelled="labelled")
    real = CocoTopDownDataset(syrip / "annotations/train_real.json", syrip / "images/train_real", t)
    mixed = MixedDataset([("syn", syn), ("real", real)])
    sampler = MixedBatchSampler(mixed.sizes, {"syn": 8, "real": 8}, seed=0)
    keys = [k for b in range(samples // 16 + 1) for k in sampler.batch(b)][:samples]
    for k in keys[:8]:  # warm-up (imports, caches)
        mixed[k]
    start = time.perf_counter()
    for k in keys:
        mixed[k]
    elapsed = time.perf_counter() - start
    return {"samples_per_s": samples / elapsed, "ms_per_sample": 1000 * elapsed / samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.data:
            root = Path(args.data)
        else:
            from hyper_sapiens.synth import generate_dataset

            root = Path(tmp) / "data"
            generate_dataset(root, preset="tiny", seed=0, workers=1, image_size=(640, 480), progress=False)
        result = {
            "what": "stage-2 pipeline (8 syn with depth/normal/mask + 8 real), one process, one thread",
            "data": str(root) if args.data else "synth tiny preset at 640x480",
            "256x192": measure(root, (192, 256), args.samples),
            "1024x768": measure(root, (768, 1024), max(20, args.samples // 4)),
            "target_samples_per_s_per_core_256x192": 150,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
