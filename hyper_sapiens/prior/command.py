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
        "data.root=data/synth out_dir=runs/prior; with OpenPose tracks (per-frame JSON, fractions of 640x360 "
        "frames): ... --openpose tracks/ --openpose-frame-size 640x360",
    )
    parser.add_argument("--config", required=True,
                        help="YAML file, or a packaged config name: prior_demo (synthetic demo skeletons), prior")
    parser.add_argument("--out", default=None, help="output folder (overrides out_dir)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--openpose", action="append", default=[], metavar="DIR",
                        help="a folder of OpenPose per-frame JSON (BODY_25 or BODY_18), one sequence, or a folder of "
                        "such folders; repeatable; added to data.openpose, mixed with data.paths' skeletons")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--openpose-frame-size", default=None, metavar="WxH", type=frame_size,
                       help="the OpenPose files hold fractions of a WxH frame (--keypoint_scale 3); without this "
                       "or --openpose-videos they must be pixels")
    scale.add_argument("--openpose-videos", default=None, metavar="DIR",
                       help="the clips the OpenPose folders come from (DIR/<folder name>.mp4, ...): each folder's "
                       "fractions are scaled by its video's frame size")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.set_defaults(func=run)
    return parser


def frame_size(text: str) -> tuple[int, int]:
    """``WxH`` (e.g. ``640x360``) → ``(w, h)`` pixels; argparse's error otherwise."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit() or int(w) <= 0 or int(h) <= 0:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 640x360, got {text!r}")
    return int(w), int(h)


def with_openpose(cfg: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``cfg`` with the command line's OpenPose options in ``data`` (folders made absolute, so ``data.root`` does
    not move them), checked again."""
    from pathlib import Path

    from .train import prior_config

    if not (args.openpose or args.openpose_frame_size or args.openpose_videos):
        return cfg
    data = dict(cfg["data"])
    data["openpose"] = list(data.get("openpose") or []) + [str(Path(d).resolve()) for d in args.openpose]
    if args.openpose_frame_size:
        data["openpose_frame_size"], data["openpose_videos"] = list(args.openpose_frame_size), None
    if args.openpose_videos:
        data["openpose_videos"], data["openpose_frame_size"] = str(Path(args.openpose_videos).resolve()), None
    if not data["openpose"]:
        raise ValueError("--openpose-frame-size / --openpose-videos need OpenPose folders (--openpose DIR)")
    return prior_config({**cfg, "data": data})


def run(args: argparse.Namespace) -> int:
    from ..data.skeletons import SkeletonFileError
    from .train import train_prior

    try:
        cfg = with_openpose(load_prior_config(args.config, args.overrides), args)
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
    for track in data.get("openpose", []):
        print(f"  OpenPose {track['folder']}: {track['frames']} frames ({track['layout']}), "
              f"{track['empty_frames']} without a person (gaps), {track['multi_person_frames']} with several")
    print(f"  metrics: {summary['metrics']}, config: {summary['config']}")
    return 0
