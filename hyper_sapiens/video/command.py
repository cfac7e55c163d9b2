"""The ``hyper-sapiens video`` verb: track one infant through recordings, clean the keypoints, measure movement."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data.io import DataFileError
from ..models.restricted_unpickler import UnsafeCheckpointError
from .correction import DEFAULT_CORRECT_LR


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "video",
        help="pose tracks of one infant in videos or frame folders -> keypoints CSV/JSON, movement features",
        description="Top-down pose of one infant in every frame of each INPUT (a video file OpenCV decodes, or a "
        "folder of frames sorted by name such as a MINI-RGBD rgb/ folder). The crop box comes from --detections, "
        "else from the previous frames' keypoints, else the whole frame. Low-score joints become gaps, short gaps "
        "are interpolated, a temporal filter removes jitter; features.json holds speeds, accelerations, range of "
        "motion, left-right symmetry and G-Error. With a pose prior every frame is scored, implausible frames are "
        "flagged and, with --correct-steps, moved toward plausible poses by SDS steps, reported apart from the "
        "cleaned track. Outputs go to OUT/<clip name>/ (docs/video.md).",
        epilog="example: hyper-sapiens video --checkpoint runs/demo/stage3/best.safetensors clip.mp4 "
        "data/minirgbd/01/rgb --out video_out/ --filter savgol",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="video file or folder of frames")
    parser.add_argument("--checkpoint", required=True, help="weights written by train or pretrain (safetensors)")
    parser.add_argument("--out", required=True, help="output folder (one sub-folder per input)")
    parser.add_argument(
        "--detections", default=None,
        help="COCO detection-results JSON whose image_id is the frame index (from 0); the best box of a frame "
        "is its crop (one input only)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="frames per forward pass (default 8)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-flip-test", action="store_true", help="single pass instead of the flip test")
    parser.add_argument("--no-refine", action="store_true",
                        help="do not predict whole-frame crops a second time on the box their keypoints give")
    parser.add_argument("--min-score", type=float, default=0.3,
                        help="joints scoring below this become gaps (default 0.3)")
    parser.add_argument("--reinit-score", type=float, default=0.3,
                        help="a frame whose mean keypoint score is below this restarts the track on the whole "
                        "frame (default 0.3)")
    parser.add_argument("--outlier-k", type=float, default=3.0,
                        help="a joint farther than this many robust sigmas (or --outlier-min-px) from the median of "
                        "its --outlier-window frames is dropped as an outlier, then interpolated like a gap "
                        "(Hampel filter; default 3, 0 = off)")
    parser.add_argument("--outlier-window", type=int, default=7,
                        help="frames in the outlier filter's window, odd (default 7)")
    parser.add_argument("--outlier-min-px", type=float, default=2.0,
                        help="the smallest distance from the median, pixels, that counts as an outlier (default 2)")
    parser.add_argument("--max-gap", type=int, default=5, help="longest gap (frames) interpolated (default 5)")
    parser.add_argument("--filter", default="savgol", choices=("one-euro", "savgol", "none"),
                        help="temporal filter (default savgol: on rendered sequences it lowered jitter more than "
                        "one-euro and, unlike it, also lowered the error; docs/video.md)")
    parser.add_argument("--min-cutoff", type=float, default=1.0, help="one-euro cutoff at rest, Hz (default 1.0)")
    parser.add_argument("--beta", type=float, default=0.05,
                        help="one-euro cutoff increase, Hz per px/s of speed (default 0.05)")
    parser.add_argument("--window", type=int, default=9, help="savgol window, odd number of frames (default 9)")
    parser.add_argument("--order", type=int, default=2, help="savgol polynomial order (default 2)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate (default: the video's; 30 for a folder of frames)")
    parser.add_argument("--moving-threshold", type=float, default=0.5,
                        help="a joint moves above this speed, in torso lengths/s (default 0.5)")
    parser.add_argument("--prior", default=None,
                        help="pose prior (train-prior output) to score every frame (default: the prior named by "
                        "the checkpoint's run config.yaml, eval.prior or loss.sds.prior, if it exists)")
    parser.add_argument("--no-prior", action="store_true", help="do not score frames with a prior")
    parser.add_argument("--prior-threshold", type=float, default=None,
                        help="frames scoring above this are flagged (default: 3 x the clip's median score)")
    parser.add_argument("--correct-steps", type=int, default=0, metavar="N",
                        help="with a prior, move each flagged frame by this many SDS steps toward the prior's "
                        "denoised pose; written apart from the cleaned track (x_corrected/y_corrected, "
                        "keypoints_corrected.json); default 0 = no correction, 10-20 suggested")
    parser.add_argument("--correct-lr", type=float, default=DEFAULT_CORRECT_LR, metavar="LR",
                        help="SDS step size: the fraction of the way to the denoised pose taken per step, in the "
                        f"prior's normalised frame; a step moves a coordinate by at most LR torso sizes (default "
                        f"{DEFAULT_CORRECT_LR}: at equal N x LR, smaller steps were slightly closer to the truth on "
                        "corrupted test poses, 0.05 by about 1%% for twice the steps; docs/video.md)")
    parser.add_argument("--no-video", action="store_true", help="do not write the drawn skeleton.mp4")
    parser.add_argument("--no-plots", action="store_true", help="do not write the plots")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)
    return parser


def _frame_boxes(path: str, min_score: float) -> dict[int, np.ndarray]:
    """The highest-scoring box of each frame of a detections file, ``{frame: xyxy}``; zero-size boxes are counted,
    reported on stderr and skipped."""
    from ..data.coco_topdown import _load_detections

    boxes: dict[int, np.ndarray] = {}
    empty = 0
    for frame, dets in _load_detections(path, min_score).items():
        usable = [d for _, d in dets if float(d["bbox"][2]) > 0 and float(d["bbox"][3]) > 0]
        empty += len(dets) - len(usable)
        if usable:
            best = max(usable, key=lambda d: float(d.get("score", 1.0)))
            x, y, w, h = (float(v) for v in best["bbox"])
            boxes[frame] = np.array([x, y, x + w, y + h], np.float32)
    if empty:
        print(f"video: {path}: skipped {empty} empty detection boxes (zero width or height)", file=sys.stderr)
    return boxes


def _check_args(args: argparse.Namespace) -> None:
    if args.detections and len(args.inputs) > 1:
        raise ValueError("--detections is for one INPUT; run the verb once per clip")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.fps is not None and args.fps <= 0:
        raise ValueError(f"--fps must be > 0, got {args.fps}")
    if args.filter == "savgol" and (args.window < 3 or args.window % 2 == 0 or not 0 <= args.order < args.window):
        raise ValueError(f"--window must be odd and >= 3 and --order in [0, window); got {args.window}, {args.order}")
    if args.outlier_k < 0 or args.outlier_min_px < 0:
        raise ValueError(f"--outlier-k and --outlier-min-px must be >= 0, got {args.outlier_k}, {args.outlier_min_px}")
    if args.outlier_window < 3 or args.outlier_window % 2 == 0:
        raise ValueError(f"--outlier-window must be odd and >= 3, got {args.outlier_window}")
    if args.correct_steps < 0:
        raise ValueError(f"--correct-steps must be >= 0, got {args.correct_steps}")
    if not args.correct_lr > 0:
        raise ValueError(f"--correct-lr must be > 0, got {args.correct_lr}")


def process_clip(args: argparse.Namespace, clip: Any, predictor: tuple[Any, Any, Any], device: Any,
                 detections: dict[int, np.ndarray] | None, out_dir: Path) -> dict[str, Any]:
    """Track, clean, score and measure one clip; write its files to ``out_dir``. Returns a summary."""
    from tqdm.auto import tqdm

    from .. import json_safe
    from .cleaning import clean_track
    from .features import movement_features
    from .outputs import (
        keypoint_results,
        write_keypoints_csv,
        write_keypoints_json,
        write_plausibility_plot,
        write_plots,
        write_skeleton_video,
    )
    from .tracker import BOX_SOURCES, track_clip

    model, pipe, codec = predictor
    start = time.perf_counter()
    with tqdm(total=clip.num_frames or None, desc=f"video {clip.name}", unit="frame", dynamic_ncols=True,
              disable=args.no_progress) as bar:
        raw = track_clip(clip.frames(), model, pipe, codec, device, clip.size, detections=detections,
                         batch_size=args.batch_size, flip_test=not args.no_flip_test,
                         reinit_score=args.reinit_score, min_score=args.min_score, progress=bar,
                         refine=not args.no_refine)
    elapsed = time.perf_counter() - start
    cleaned = clean_track(raw.keypoints, raw.scores, clip.fps, min_score=args.min_score, max_gap=args.max_gap,
                          method=args.filter, min_cutoff=args.min_cutoff, beta=args.beta, window=args.window,
                          order=args.order,
                          outlier_k=args.outlier_k, outlier_window=args.outlier_window,
                          outlier_min_px=args.outlier_min_px)
    plaus = flags = corrected = plaus_after = correction = None
    threshold = None
    if args.prior:
        from ..prior import PosePrior
        from .plausibility import flag_implausible, frame_plausibility

        prior = PosePrior.load(args.prior, device=device)
        plaus = frame_plausibility(prior, cleaned.keypoints, device)
        flags, threshold = flag_implausible(plaus, args.prior_threshold)
        if args.correct_steps > 0:
            from .correction import correct_frames, correction_summary

            corrected = correct_frames(prior, cleaned.keypoints, flags, args.correct_steps, args.correct_lr, device)
            plaus_after = plaus.copy()
            idx = np.flatnonzero(flags == 1.0)
            if idx.size:
                plaus_after[idx] = frame_plausibility(prior, corrected[idx], device)
            correction = correction_summary(cleaned.keypoints, corrected, flags, plaus, plaus_after, threshold,
                                            args.correct_steps, args.correct_lr)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_keypoints_csv(out_dir / "keypoints.csv", clip.fps, raw.keypoints, raw.scores, cleaned.keypoints,
                        cleaned.gap, cleaned.outlier, cleaned.interpolated, raw.box_source, plaus, flags, corrected)
    write_keypoints_json(out_dir / "keypoints_raw.json", keypoint_results(raw.keypoints, raw.scores, clip.fps))
    write_keypoints_json(out_dir / "keypoints.json",
                         keypoint_results(cleaned.keypoints, raw.scores, clip.fps, flags))
    if corrected is not None:
        write_keypoints_json(out_dir / "keypoints_corrected.json",
                             keypoint_results(corrected, raw.scores, clip.fps, flags))
    features = movement_features(cleaned.keypoints, clip.fps, args.moving_threshold, flags)
    t = raw.keypoints.shape[0]
    features["clip"] = {
        "input": str(clip.path), "frames": t, "width": clip.size[0], "height": clip.size[1],
        "filter": args.filter, "min_score": args.min_score, "max_gap": args.max_gap,
        "gaps": int(cleaned.gap.sum()), "outliers": int(cleaned.outlier.sum()),
        "outlier_k": args.outlier_k, "interpolated": int(cleaned.interpolated.sum()),
        "box_sources": {s: raw.box_source.count(s) for s in BOX_SOURCES},
        "prior": args.prior, "prior_threshold": threshold, "correction": correction,
    }
    (out_dir / "features.json").write_text(json_safe.dumps(features, indent=2), encoding="utf-8")
    if not args.no_video:
        write_skeleton_video(out_dir / "skeleton.mp4", clip.frames(), cleaned.keypoints, clip.fps, clip.size)
    if not args.no_plots:
        write_plots(out_dir, cleaned.keypoints, clip.fps)
        if plaus is not None:
            write_plausibility_plot(out_dir / "plausibility.png", plaus, clip.fps, threshold, flags, plaus_after)
    return {"clip": clip.name, "frames": t, "out": str(out_dir),
            "frames_per_s": round(t / elapsed, 2) if elapsed else None}


def run(args: argparse.Namespace) -> int:
    import torch

    from ..devices import pick_device
    from ..evaluation.predictor import load_predictor
    from .reader import open_clip

    try:
        _check_args(args)
        clips = [open_clip(p, args.fps) for p in args.inputs]
        names = [c.name for c in clips]
        if len(set(names)) != len(names):
            raise ValueError(f"two inputs share an output name ({', '.join(names)}); run them separately")
        detections = _frame_boxes(args.detections, 0.0) if args.detections else None
        if args.no_prior:
            args.prior = None
        elif not args.prior:
            from .plausibility import run_prior

            args.prior = run_prior(args.checkpoint)
            if args.prior:
                print(f"video: scoring frames with the run's prior {args.prior}", file=sys.stderr)
        if args.correct_steps > 0 and not args.prior:
            print("video: --correct-steps needs a prior (--prior, or the run's); no frame is corrected",
                  file=sys.stderr)
        device = pick_device(args.device)
        model, pipe, codec, _ = load_predictor(args.checkpoint, "torch", device)
        if not isinstance(model, torch.nn.Module):
            device = torch.device("cpu")
        summaries = [process_clip(args, clip, (model, pipe, codec), device, detections, Path(args.out) / clip.name)
                     for clip in clips]
    except (FileNotFoundError, DataFileError, UnsafeCheckpointError, ValueError, RuntimeError, OSError) as err:
        print(f"video: error: {err}", file=sys.stderr)
        return 2
    for s in summaries:
        print(f"{s['clip']}: {s['frames']} frames ({s['frames_per_s']} frames/s) -> {s['out']}")
    return 0
