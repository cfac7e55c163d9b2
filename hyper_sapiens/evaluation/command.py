"""The ``hyper-sapiens evaluate`` verb."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="PCK@0.05, G-Error, COCO AP of a checkpoint on a test set; writes metrics.json and report.md",
        description="Evaluate a trained model (best.safetensors / final.safetensors) on the test set named by the "
        "config (eval.dataset, else data.val): PCK@0.05 (bbox-normalised) per joint and its curve, AUC, EPE, "
        "G-Error (per sequence when the set has sequences), COCO AP/AR; UDP flip test on by default "
        "(eval.flip_test=false turns it off).",
        epilog="example: hyper-sapiens evaluate --checkpoint runs/demo/stage3/best.safetensors "
        "--config stage3_real_refine_demo data.root=data/demo --out runs/demo/eval",
    )
    parser.add_argument("--checkpoint", required=True, help="weights written by train (safetensors)")
    parser.add_argument("--config", required=True, help="YAML file or packaged config name (for the data paths)")
    parser.add_argument("--out", default=None, help="output folder (default: beside the checkpoint, eval/)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..data.io import DataFileError
    from ..devices import pick_device
    from ..models import load_model
    from ..models.restricted_unpickler import UnsafeCheckpointError
    from .report import evaluate_checkpoint

    out = Path(args.out) if args.out else Path(args.checkpoint).parent / "eval"
    try:
        cfg = load_config(args.config, args.overrides)
        model = load_model(args.checkpoint)
        metrics = evaluate_checkpoint(
            model,
            cfg,
            out,
            pick_device(args.device),
            progress=not args.no_progress,
            title=f"evaluation of {Path(args.checkpoint).name}",
        )
    except (FileNotFoundError, DataFileError, UnsafeCheckpointError, ValueError) as err:
        print(f"evaluate: error: {err}", file=sys.stderr)
        return 2
    coco = "n/a" if metrics["coco_ap"] is None else f"{metrics['coco_ap']:.4f}"
    print(
        f"PCK@0.05 {metrics['pck@0.05']:.4f}  AUC {metrics['pck_auc']:.4f}  EPE {metrics['epe']:.2f}px  "
        f"G-Error {metrics['g_error']:.5f}  COCO AP {coco}  ({metrics['num_instances']} instances)"
    )
    print(f"wrote {out / 'metrics.json'} and {out / 'report.md'}")
    return 0
