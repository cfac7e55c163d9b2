"""The ``hyper-sapiens evaluate`` verb."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="PCK@0.05, G-Error, COCO AP of a checkpoint or a results file on a test set; writes metrics.json and "
        "report.md",
        description="Evaluate a trained model (--checkpoint best.safetensors / final.safetensors) or any model's COCO "
        "keypoint results file (--predictions results.json) on the test set named by the config (eval.dataset, else "
        "data.val): PCK@0.05 (longer box side) per joint and its curve, AUC, EPE, G-Error (mean and median forms), "
        "COCO AP/AR with the published areas and with box areas, and all of these per group of images "
        "(eval.group_by, default the image field posture; null: none). With --checkpoint the UDP flip test is on by "
        "default (eval.flip_test=false turns it off).",
        epilog="examples: hyper-sapiens evaluate --checkpoint runs/demo/stage3/best.safetensors "
        "--config stage3_real_refine_demo data.root=data/demo --out runs/demo/eval; "
        "hyper-sapiens evaluate --predictions results.json --config eval_syrip_real data.syrip=/data/syrip "
        "--out eval_results",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="weights written by train (safetensors)")
    source.add_argument(
        "--predictions",
        help="a COCO keypoint results JSON (list of {image_id, category_id, keypoints [51], score}) to score instead "
        "of running a model: every labelled instance needs a result",
    )
    parser.add_argument("--config", required=True, help="YAML file or packaged config name (for the data paths)")
    parser.add_argument(
        "--out", default=None, help="output folder (default: eval/ beside the checkpoint or the results file)"
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.set_defaults(func=run)
    return parser


def _format(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..data.io import DataFileError
    from ..devices import pick_device
    from ..models.restricted_unpickler import UnsafeCheckpointError
    from .report import evaluate_checkpoint, evaluate_results_file

    given = args.checkpoint or args.predictions
    out = Path(args.out) if args.out else Path(given).parent / "eval"
    try:
        cfg = load_config(args.config, args.overrides)
        if args.predictions:
            metrics = evaluate_results_file(args.predictions, cfg, out, pick_device(args.device))
        else:
            from ..models import load_model

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
    print(
        f"PCK@0.05 {metrics['pck@0.05']:.4f}  AUC {metrics['pck_auc']:.4f}  EPE {metrics['epe']:.2f}px  "
        f"G-Error {_format(metrics['g_error_median'], '.5f')} (median form; mean form "
        f"{_format(metrics['g_error'], '.5f')})  COCO AP {_format(metrics['coco_ap'], '.4f')} "
        f"(box areas {_format(metrics['coco_ap_box_area'], '.4f')})  ({metrics['num_instances']} instances)"
    )
    for field, groups in (metrics.get("groups") or {}).items():
        for name, g in groups.items():
            print(
                f"  {field} {name}: PCK@0.05 {g['pck@0.05']:.4f}  AP {_format(g.get('coco_ap'), '.4f')} "
                f"(box areas {_format(g.get('coco_ap_box_area'), '.4f')})  ({g['num_instances']} instances)"
            )
    print(f"wrote {out / 'metrics.json'} and {out / 'report.md'}")
    return 0
