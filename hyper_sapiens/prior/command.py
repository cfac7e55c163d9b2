"""The ``hyper-sapiens train-prior`` verb: train the diffusion pose prior on skeleton sequences."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "load_prior_config", "run"]


def load_prior_config(config: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read a prior config: a YAML path, or the name of a packaged config (``prior``, ``prior_demo``, with or
    without ``.yaml``, read through ``importlib.resources``), with ``key.sub=value`` overrides (OmegaConf)."""
    from omegaconf import OmegaConf

    path = Path(config)
    if path.is_file():
        base = OmegaConf.load(path)
    else:
        name = config if config.endswith((".yaml", ".yml")) else f"{config}.yaml"
        packaged = resources.files("hyper_sapiens").joinpath("configs").joinpath(Path(name).name)
        if Path(name).parent != Path(".") or not packaged.is_file():
            raise FileNotFoundError(f"{config}: no such config file, nor a packaged config of that name")
        base = OmegaConf.create(packaged.read_text(encoding="utf-8"))
    bad = [item for item in overrides or [] if "=" not in item]
    if bad:
        raise ValueError(f"overrides must look like key.sub=value, got {bad}")
    merged = OmegaConf.merge(base, OmegaConf.from_dotlist(list(overrides or [])))
    return OmegaConf.to_container(merged, resolve=True)


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
    except (FileNotFoundError, SkeletonFileError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"train-prior: error: {message}", file=sys.stderr)
        return 1
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
