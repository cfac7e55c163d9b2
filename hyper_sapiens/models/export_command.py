"""The ``hyper-sapiens export`` verb: weights → an ONNX or ``torch.export`` file that carries its own metadata."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    """``"192x256"`` → ``(192, 256)`` (width × height, pixels)."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"input size must be WxH in pixels, e.g. 192x256; got {text!r}")
    return int(parts[0]), int(parts[1])


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="weights -> ONNX or torch.export (.pt2) file with normalisation inside and metadata for decoding",
        description="Export a pose model for deployment: uint8 (or float) RGB crops in, the same normalisation as "
        "predict inside the graph, the chosen heads' raw maps out. The file's metadata (JSON) holds the keypoint "
        "layout, flip pairs, input size, crop padding and codec settings (UDP, sigma, heatmap size, blur kernel): "
        "ONNX metadata_props['hyper_sapiens'], or the extra file hyper_sapiens.json inside the .pt2 archive. "
        "See docs/deploy.md.",
        epilog="example: hyper-sapiens export --checkpoint runs/demo/stage3/best.safetensors --format onnx "
        "--out pose.onnx --dynamic-batch",
    )
    parser.add_argument(
        "--checkpoint", required=True, help="weights written by train or pretrain (safetensors, config inside)"
    )
    parser.add_argument("--format", required=True, choices=("onnx", "pt2"), dest="fmt")
    parser.add_argument("--out", required=True, help="file to write (.onnx or .pt2)")
    parser.add_argument(
        "--input-size", type=parse_size, default=None, help="WxH crop size in pixels (default: the model's)"
    )
    parser.add_argument(
        "--heads", default="pose", help="comma-separated heads to export: pose,depth,normal (default: pose)"
    )
    parser.add_argument(
        "--dynamic-batch", action="store_true", help="symbolic batch axis (default: batch size 1)"
    )
    parser.add_argument(
        "--input-dtype", default="uint8", choices=("uint8", "float32"), help="input tensor type, RGB 0-255 either way"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..data.factory import inference_pipeline
    from ..data.pipeline import codec_from_pipeline
    from . import load_model
    from .export import export_model
    from .pretrained import sha256_of

    out = Path(args.out)
    if out.suffix != "." + args.fmt:
        print(f"export: error: --out {out} should end in .{args.fmt}", file=sys.stderr)
        return 2
    try:
        model = load_model(args.checkpoint)
        size = args.input_size or tuple(model.config["input_size"])
        pipe = inference_pipeline(size, model.output_strides)
        source = {"file": Path(args.checkpoint).name, "sha256": sha256_of(args.checkpoint)}
        start = time.perf_counter()
        path, meta = export_model(
            model,
            out,
            args.fmt,
            codec_from_pipeline(pipe),
            pipe.padding,
            heads=args.heads,
            input_size=size,
            input_dtype=args.input_dtype,
            dynamic_batch=args.dynamic_batch,
            source=source,
        )
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 2
    outputs = ", ".join(f"{k} {v['shape']}" for k, v in meta["outputs"].items())
    w, h = meta["input"]["size"]
    seconds = time.perf_counter() - start
    print(
        f"wrote {path} ({args.fmt}, {seconds:.1f} s): image [{meta['input']['batch']}, 3, {h}, {w}] "
        f"{meta['input']['dtype']} -> {outputs}"
    )
    return 0
