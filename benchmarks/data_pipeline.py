"""Samples per second of one data worker for the stage-2 pipeline (syn + real, full augmentation).

Renders a small synthetic data set (the `tiny` preset at 640x480, like camera photos) unless --data
names an existing `synth` output, then times `TopDownTransform` (decode, one affine for image, depth,
normals and masks, texture randomisation, UDP heatmaps) in this process with one thread, i.e. what
one DataLoader worker (one core) delivers. Prints one JSON object.

    python benchmarks/data_pipeline.py [--data DIR] [--samples 200]

With ``--photos ANN IMAGES`` it times real photographs instead: the labelled instances of a COCO keypoints file
(e.g. SyRIP's real training images), each decoded from its JPEG and cropped at 256x192 with the training
augmentation; ``--upscale SIDE`` first writes copies whose longer side is SIDE pixels (JPEG quality 95), as
large as the phone photographs SyRIP's originals are (up to 2048 px), to time those.

    python benchmarks/data_pipeline.py --photos SYRIP/annotations/person_keypoints_train_infant.json \\
        SYRIP/images/train_infant [--upscale 2048] [--samples 100]
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


def measure_photos(ann: Path, images: Path, samples: int, upscale: int | None, tmp: Path) -> dict[str, float]:
    """ms per augmented 256x192 crop of the labelled photographs of ``ann`` (optionally upscaled first)."""
    from hyper_sapiens.data.coco_topdown import CocoTopDownDataset
    from hyper_sapiens.data.io import read_json
    from hyper_sapiens.data.pipeline import TopDownTransform

    if upscale:
        data = read_json(ann)
        data["images"] = data["images"][:samples]
        factor: dict[int, float] = {}
        big = tmp / "photos"
        big.mkdir()
        for im in data["images"]:
            picture = cv2.imread(str(images / im["file_name"]))
            factor[im["id"]] = upscale / max(picture.shape[:2])
            picture = cv2.resize(picture, None, fx=factor[im["id"]], fy=factor[im["id"]],
                                 interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(big / im["file_name"]), picture, [cv2.IMWRITE_JPEG_QUALITY, 95])
            im["width"], im["height"] = picture.shape[1], picture.shape[0]
        data["annotations"] = [a for a in data["annotations"] if a["image_id"] in factor]
        for a in data["annotations"]:
            f = factor[a["image_id"]]
            a["bbox"] = [v * f for v in a["bbox"]]
            a["keypoints"] = [v * f if i % 3 < 2 else v for i, v in enumerate(a["keypoints"])]
            a["area"] = a.get("area", 0) * f * f
        ann, images = tmp / "photos.json", big
        ann.write_text(json.dumps(data))
    t = TopDownTransform({"input_size": [192, 256], "heatmap_size": [48, 64],
                          "bbox": {"rotate_factor": 60.0, "scale_factor": [0.75, 1.25]}}, train=True)
    ds = CocoTopDownDataset(ann, images, t, labelled="labelled")
    keys = [(i % len(ds), i) for i in range(samples)]
    for k in keys[:4]:
        ds[k]
    start = time.perf_counter()
    for k in keys:
        ds[k]
    elapsed = time.perf_counter() - start
    sizes = sorted(max(r.image_size) for r in ds.records if r.image_size is not None)
    return {"samples_per_s": samples / elapsed, "ms_per_sample": 1000 * elapsed / samples,
            "instances": len(ds), "longest_side_px_median": sizes[len(sizes) // 2] if sizes else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--photos", nargs=2, metavar=("ANN", "IMAGES"), default=None,
                        help="time real photographs: a COCO keypoints file and its image folder")
    parser.add_argument("--upscale", type=int, default=None, metavar="SIDE",
                        help="with --photos: time copies whose longer side is SIDE pixels")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.photos:
            ann, images = Path(args.photos[0]), Path(args.photos[1])
            result = {"what": "augmented 256x192 crops of real photographs, one process, one thread",
                      "photos": ann.name, "upscaled_to_px": args.upscale,
                      "256x192": measure_photos(ann, images, args.samples, args.upscale, Path(tmp))}
            print(json.dumps(result, indent=2))
            return
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
