"""The ``hyper-sapiens predict`` verb: top-down inference on a folder of images → COCO keypoint results JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import json_safe
from ..data.base import RecordDataset
from ..data.io import DataFileError, decode_image_file
from ..data.records import InstanceRecord
from ..data.unlabeled_topdown import IMAGE_SUFFIXES, UnlabeledTopDownDataset
from ..keypoints import COCO17
from ..models.restricted_unpickler import UnsafeCheckpointError
from .coco import rescore
from .exported import BACKENDS
from .predictor import load_predictor, resolve_backend


def whole_image_dataset(image_dir: Path, transform) -> RecordDataset:
    """One instance per image with the whole image as its box (when no detections are given).

    Each image is decoded here for its size: a truncated or undecodable file is a :class:`DataFileError`."""
    import cv2

    files = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataFileError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
    records = []
    k = COCO17.num_keypoints
    for i, path in enumerate(files):
        img = decode_image_file(path, cv2.IMREAD_UNCHANGED)
        h, w = img.shape[:2]
        image_id = int(path.stem) if path.stem.isdigit() else i
        records.append(
            InstanceRecord(
                image_path=str(path),
                bbox=np.array([0, 0, w - 1, h - 1], np.float32),
                keypoints=np.zeros((k, 2), np.float32),
                visible=np.zeros(k, np.float32),
                has_keypoints=False,
                domain="real",
                image_id=image_id,
                group=image_dir.name,
            )
        )
    return RecordDataset(records, transform, name=f"images:{image_dir.name}")


def predictions_to_results(preds: dict[str, Any], dataset: RecordDataset) -> list[dict[str, Any]]:
    """COCO keypoint results: one entry per instance, ``keypoints`` as ``x, y, score`` in image pixels.

    ``score`` is the detection score × the mean of the keypoint scores above 0.2 (mmpose's rescoring,
    :func:`hyper_sapiens.evaluation.coco.rescore`), rounded to 5 decimals.
    """
    results = []
    instance_scores = rescore(preds["scores"], preds["bbox_score"], score_thr=0.2)
    for i in range(len(preds["keypoints"])):
        kp, sc = preds["keypoints"][i], preds["scores"][i]
        rec = dataset.records[i]
        results.append(
            {
                "image_id": int(preds["image_id"][i]),
                "category_id": 1,
                "keypoints": [round(float(v), 3) for v in np.concatenate([kp, sc[:, None]], axis=1).reshape(-1)],
                "score": round(float(instance_scores[i]), 5),
                "bbox": [
                    round(float(v), 2)
                    for v in (rec.bbox[0], rec.bbox[1], rec.bbox[2] - rec.bbox[0], rec.bbox[3] - rec.bbox[1])
                ],
                "file_name": Path(rec.image_path).name,
            }
        )
    return results


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="top-down inference on images (+ COCO detections) -> COCO keypoint results JSON",
        description="Predict COCO17 keypoints for every person box: boxes from a COCO detection-results JSON "
        "(--detections; image ids from --images-json or numeric file names), or the whole image when no "
        "detections are given. Writes COCO keypoint results in image pixels; --vis draws the skeletons.",
        epilog="example: hyper-sapiens predict --checkpoint runs/demo/stage3/best.safetensors --images photos/ "
        "--detections dets.json --out keypoints.json --vis vis/",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="weights written by train or pretrain (safetensors), or a file written by export (.onnx, .pt2)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="torch (safetensors weights, .pt2 exports) or onnxruntime (.onnx exports; safetensors weights are "
        "exported to a temporary ONNX file first; needs the [onnx] extra). auto (default): onnxruntime for "
        ".onnx files, torch otherwise",
    )
    parser.add_argument(
        "--trust",
        action="store_true",
        help="allow a .pt2 export: torch.export.load unpickles its weights without restriction, so only for "
        "files you exported yourself (ONNX files need no trust)",
    )
    parser.add_argument("--images", required=True, help="folder of images")
    parser.add_argument("--detections", default=None, help="COCO detection-results JSON (category 1 boxes)")
    parser.add_argument("--images-json", default=None, help="COCO file mapping image ids to file names")
    parser.add_argument("--score-thr", type=float, default=0.3, help="minimum detection score (default 0.3)")
    parser.add_argument("--out", required=True, help="results JSON to write")
    parser.add_argument("--vis", default=None, help="folder for images with drawn skeletons")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-flip-test", action="store_true", help="single pass instead of the flip test")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--workers", type=int, default=0)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..data.loader import make_loader
    from ..data.pipeline import TopDownTransform
    from ..devices import pick_device
    from .inference import run_inference

    try:
        device = pick_device(args.device)
        backend = resolve_backend(args.backend, args.checkpoint)
        model, pipe, codec, described = load_predictor(args.checkpoint, backend, device, trust_code=args.trust)
        if backend != "torch" or not isinstance(model, torch.nn.Module):
            device = torch.device("cpu")  # exported runners return CPU tensors; decoding runs there
        transform = TopDownTransform(pipe, train=False)
        image_dir = Path(args.images)
        if args.detections:
            dataset = UnlabeledTopDownDataset(
                image_dir, args.detections, transform, images_json=args.images_json, score_thr=args.score_thr
            )
        else:
            dataset = whole_image_dataset(image_dir, transform)
        if len(dataset) == 0:
            raise DataFileError(f"{args.detections}: no detection with score >= {args.score_thr}")
        loader = make_loader(dataset, batch_size=args.batch_size, workers=args.workers, device=device)
        from tqdm.auto import tqdm

        with tqdm(total=len(dataset), desc=f"predict ({described})", unit="inst", dynamic_ncols=True) as bar:
            preds = run_inference(
                model, loader, codec, device, flip_test=not args.no_flip_test, amp=device.type == "cuda", progress=bar
            )
    except (FileNotFoundError, DataFileError, UnsafeCheckpointError, ValueError, RuntimeError) as err:
        print(f"predict: error: {err}", file=sys.stderr)
        return 2
    results = predictions_to_results(preds, dataset)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json_safe.dumps(results), encoding="utf-8")
    if args.vis:
        _draw(dataset, preds, Path(args.vis))
    print(f"wrote {len(results)} instances to {out}" + (f", drawings in {args.vis}" if args.vis else ""))
    return 0


def _draw(dataset: RecordDataset, preds: dict[str, Any], vis_dir: Path) -> None:
    from ..data.io import read_image
    from .plots import draw_skeleton, save_rgb

    by_image: dict[str, list[int]] = {}
    for i, rec in enumerate(dataset.records):
        by_image.setdefault(rec.image_path, []).append(i)
    for path, idx in by_image.items():
        image = read_image(path)
        for i in idx:
            image = draw_skeleton(image, preds["keypoints"][i], preds["scores"][i])
        save_rgb(image, vis_dir / (Path(path).stem + ".png"))
