"""The ``hyper-sapiens train-prior`` verb: train the diffusion pose prior on skeleton sequences."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "load_prior_config", "run"]


def load_prior_config(config: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read a prior config: a YAML path, or the name of a packaged config (``prior``, ``prior_demo``), with its
    ``base:`` chain and ``key.sub=value`` overrides, resolved and checked against
    :class:`~hyper_sapiens.config_sections.PriorConfig` (defaults filled in)."""
    from ..config import ConfigError, load_tree, resolved_container
    from .train import prior_config

    where = f"prior config {config}"
    try:
        return prior_config(resolved_container(load_tree(config, overrides), where))
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train-prior",
        help="train the diffusion pose prior on skeleton sequences",
        description="Train the diffusion pose prior (an MLP denoiser on pelvis-centred, torso-normalised "
        "skeletons) on skeleton sequence files (.npz / .json). Writes OUT/prior.safetensors, "
        "OUT/metrics.jsonl and OUT/config.yaml. Example: hyper-sapiens train-prior --config prior_demo "
        "data.root=data/synth out_dir=runs/prior",
    )
    parser.add_argument("--config", required=True,
                        help="YAML file, or a packaged config name: prior_demo (synthetic demo skeletons), prior")
    parser.add_argument("--out", default=None, help="output folder (overrides out_dir)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..data.skeletons import SkeletonFileError
    from .train import train_prior

    try:
        cfg = load_prior_config(args.config, args.overrides)
        if args.no_progress:
            cfg.setdefault("train", {})["progress"] = False
        summary = train_prior(cfg, args.out)
    except (FileNotFoundError, SkeletonFileError, ValueError) as exc:
        print(f"train-prior: error: {exc}", file=sys.stderr)
        return 2
    data = summary["data"]
    print(f"wrote {summary['prior']}")
    print(f"  data: {data['dataset']['files']} files, {data['train_poses']} training / {data['val_poses']} "
          f"validation poses ({data['train_invalid_normalisation'] + data['val_invalid_normalisation']} without "
          f"hips/torso skipped, {data['dataset']['dropped_min_visible']} windows below min_visible)")
    val = summary.get("val_loss")
    print(f"  {summary['steps']} steps in {summary['train_time_s']:.1f} s, loss {summary['loss_smooth']:.4f}"
          + (f", validation loss {val:.4f}" if val is not None else ""))
    print(f"  metrics: {summary['metrics']}, config: {summary['config']}")
    return 0
