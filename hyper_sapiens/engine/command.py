"""The ``hyper-sapiens train`` verb: one curriculum stage."""

from __future__ import annotations

import argparse
import json
import logging
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train one curriculum stage (the config names it)",
        description="Train one stage of the curriculum from a YAML config (a path or a packaged name such as "
        "stage1_syn_warmup_demo) with key=value overrides. Writes RUN/config.yaml, RUN/metrics.jsonl, "
        "RUN/last.ckpt, RUN/best.safetensors and RUN/final.safetensors. Multi-GPU / multi-process: launch "
        "with torchrun, e.g. torchrun --nproc_per_node 8 -m hyper_sapiens train --config stage2_mixed_ddp.",
        epilog="example: hyper-sapiens train --config stage1_syn_warmup_demo data.root=data/demo run.dir=runs/s1",
    )
    parser.add_argument("--config", required=True, help="YAML file or packaged config name")
    parser.add_argument("--resume", action="store_true", help="continue from RUN/last.ckpt (exactly where it stopped)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..data.io import DataFileError
    from ..models import CheckpointMismatchError, UnsafeCheckpointError
    from .trainer import NonFiniteLossError, Trainer

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.overrides)
        trainer = Trainer(cfg, resume=args.resume, progress=not args.no_progress)
    except (FileNotFoundError, DataFileError, CheckpointMismatchError, UnsafeCheckpointError, ValueError) as err:
        print(f"train: error: {err}", file=sys.stderr)
        return 2
    try:
        summary = trainer.fit()
    except NonFiniteLossError as err:
        print(f"train: {err}", file=sys.stderr)
        return 3
    except DataFileError as err:  # a broken sample without data.skip_bad (workers' errors keep their message)
        print(f"train: error: {err}", file=sys.stderr)
        return 2
    finally:
        trainer.close()
    if trainer.dist.is_main and summary["bad_samples"]:
        print(f"train: skipped {summary['bad_samples']} broken samples (data.skip_bad; each logged, "
              "bad_samples in metrics.jsonl)", file=sys.stderr)
    if trainer.dist.is_main:
        print(json.dumps({k: summary[k] for k in ("step", "best", "run_dir", "bad_samples", "nonfinite_steps")}))
    return 0
