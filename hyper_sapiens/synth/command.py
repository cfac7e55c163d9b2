"""The ``hyper-sapiens synth`` verb: render the synthetic infant data set."""

from __future__ import annotations

import argparse
import sys
import time

from .adults import ADULT_PRESETS
from .presets import PRESETS


def _size(text: str) -> tuple[int, int]:
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x"))
        else:
            w = h = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size must be N or WxH, got {text!r}") from None
    return w, h


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "synth",
        help="render the synthetic infant data set (SyRIP-, MINI-RGBD- and skeleton-style files)",
        description="Render synthetic infants lying, sitting, crawling and standing, seen from above, obliquely, "
        "at eye level and from the floor, on a bed or a floor with rugs, sofas, cots, blankets and an adult's hand, "
        "in a clean 'syn' and a real-looking 'real' domain, with exact keypoints, depth, normals and part masks. "
        "The same seed and preset give byte-identical files.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--population", default="infant", choices=("infant", "adult"),
                        help="infant: the SyRIP/MINI-RGBD/skeleton-style infant data set (default); adult: the "
                        "COCO-style synthetic adult set the demo's pretrained weights learn from (docs/synth.md)")
    parser.add_argument("--preset", default=None,
                        help=f"data set size: {', '.join(sorted(PRESETS))} for infants (default: demo); "
                        f"{', '.join(sorted(ADULT_PRESETS))} for adults (default: pretrain)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--workers", type=int, default=None, help="render processes (default: all usable cores)")
    parser.add_argument("--image-size", type=_size, default=None, metavar="N|WxH",
                        help="SyRIP-style image size in pixels (default: the preset's, 256x256 for demo)")
    parser.add_argument("--labelled-fraction", type=float, default=None, metavar="F",
                        help="share of train_real images with keypoints (default: the preset's, 0.25 for demo)")
    parser.add_argument("--syrip-layout", default="project", choices=("project", "release", "fidip"),
                        help="how syrip/ is laid out: project (train_syn/train_real/test_real files, default), "
                        "release (the SyRIP archive: one mixed 200R_1000S training file with is_synthetic, "
                        "train%%05d.jpg / test%%d.jpg) or fidip (FiDIP's flat layout)")
    parser.add_argument("--videos", action="store_true",
                        help="also encode each MINI-RGBD-style sequence's rgb frames as videos/minirgbd_<seq>.mp4 "
                        "(mp4v, 30 frames/s, the sequence's size), the input of `hyper-sapiens video`")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from .dataset import default_workers, generate_dataset

    workers = args.workers if args.workers is not None else default_workers()
    start = time.perf_counter()
    if args.population == "adult":
        return _run_adults(args, workers, start)
    preset = args.preset or "demo"
    if preset not in PRESETS:
        print(f"synth: error: unknown infant preset {preset!r}; choose one of {sorted(PRESETS)}", file=sys.stderr)
        return 2
    try:
        meta = generate_dataset(args.out, preset=preset, seed=args.seed, workers=workers,
                                image_size=args.image_size, progress=not args.no_progress,
                                labelled_fraction=args.labelled_fraction, syrip_layout=args.syrip_layout,
                                videos=args.videos)
    except OSError as err:  # FileExistsError (foreign files in --out) included
        print(f"synth: error: {err}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    c = meta["counts"]
    w, h = meta["image_size"]
    print(f"wrote {args.out} (preset {meta['preset']}, seed {meta['seed']}, {w}x{h}, {workers} workers)")
    print(f"  syrip: train_syn {c['train_syn']}, train_real {c['train_real']} ({c['train_real_labelled']} labelled), "
          f"test_real {c['test_real']}" + ("" if args.syrip_layout == "project" else
                                            f", in SyRIP's {args.syrip_layout} layout (docs/synth.md)"))
    print(f"  minirgbd: {c['minirgbd_sequences']} sequences, {c['minirgbd_frames']} frames")
    print(f"  skeletons: {c['skeleton_sequences']} sequences, {c['skeleton_frames']} frames")
    if meta["videos"]:
        print(f"  videos: {', '.join(meta['videos']['files'].values())}")
    print(f"  time: {elapsed:.1f} s")
    return 0


def _run_adults(args: argparse.Namespace, workers: int, start: float) -> int:
    from .adults import generate_adult_dataset

    preset = args.preset or "pretrain"
    if preset not in ADULT_PRESETS:
        print(f"synth: error: unknown adult preset {preset!r}; choose one of {sorted(ADULT_PRESETS)}", file=sys.stderr)
        return 2
    if (args.image_size is not None or args.labelled_fraction is not None or args.syrip_layout != "project"
            or args.videos):
        print("synth: error: --image-size, --labelled-fraction, --syrip-layout and --videos apply to the infant "
              "data set only", file=sys.stderr)
        return 2
    meta = generate_adult_dataset(args.out, preset=preset, seed=args.seed, workers=workers,
                                  progress=not args.no_progress)
    c = meta["counts"]
    print(f"wrote {args.out} (adults, preset {preset}, seed {meta['seed']}, {workers} workers)")
    print(f"  train {c['train']}, val {c['val']} (held-out subjects)")
    print(f"  time: {time.perf_counter() - start:.1f} s")
    return 0
