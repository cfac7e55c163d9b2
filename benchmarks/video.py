"""Frames/s of ``hyper-sapiens video`` end to end, and the time of each phase.

Runs the verb itself (``hyper_sapiens.cli.main``) on a video file or frame folder, with timers wrapped around
the functions it calls: frame decoding (``Clip.frames``), cropping (``tracker.crop_frame``), the model with the
flip test (``tracker.predict_heatmaps``), heatmap decoding (``tracker.decode_to_image``), cleaning
(``cleaning.clean_track``) and features (``features.movement_features``); ``other`` is the rest (loading the
model, tracking bookkeeping, writing the CSV/JSON files, and the MP4 and plots unless turned off). Prints one
JSON object.

    python benchmarks/video.py --input data/demo/minirgbd/01/rgb                  # the shipped tiny weights
    python benchmarks/video.py --input clip.mp4 --checkpoint runs/demo/stage3/final.safetensors --batch-size 16
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

import hyper_sapiens.video.cleaning as cleaning
import hyper_sapiens.video.features as features
import hyper_sapiens.video.reader as reader
import hyper_sapiens.video.tracker as tracker
from hyper_sapiens.cli import main as cli_main
from hyper_sapiens.devices import cpu_name
from hyper_sapiens.keypoints import COCO17

SHIPPED = Path(__file__).resolve().parents[1] / "hyper_sapiens" / "weights" / "tiny_adult_pose.safetensors"
seconds: dict[str, float] = defaultdict(float)


def timed(phase: str, fn: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[phase] += time.perf_counter() - start

    return wrapper


def timed_frames(frames: Callable) -> Callable:
    """``Clip.frames`` with the time spent producing each frame counted as ``decode``."""

    def wrapper(self) -> Iterator:
        it = frames(self)
        while True:
            start = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                seconds["decode"] += time.perf_counter() - start
                return
            seconds["decode"] += time.perf_counter() - start
            yield frame

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a video file or a folder of frames")
    parser.add_argument("--checkpoint", default=str(SHIPPED))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-flip-test", action="store_true")
    parser.add_argument("--with-outputs", action="store_true", help="also write the MP4 and the plots")
    args = parser.parse_args()

    reader.Clip.frames = timed_frames(reader.Clip.frames)
    tracker.crop_frame = timed("crop", tracker.crop_frame)
    tracker.predict_heatmaps = timed("model", tracker.predict_heatmaps)
    tracker.decode_to_image = timed("heatmap_decode", tracker.decode_to_image)
    cleaning.clean_track = timed("clean", cleaning.clean_track)
    features.movement_features = timed("features", features.movement_features)

    with tempfile.TemporaryDirectory() as out:
        argv = ["video", "--checkpoint", args.checkpoint, args.input, "--out", out, "--batch-size",
                str(args.batch_size), "--no-prior", "--device", "cpu"]
        argv += ["--no-flip-test"] if args.no_flip_test else []
        argv += [] if args.with_outputs else ["--no-video", "--no-plots"]
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only this script's JSON
            rc = cli_main(argv)
        total = time.perf_counter() - start
        if rc != 0:
            raise SystemExit(f"video failed (rc {rc})")
        csvs = list(Path(out).rglob("keypoints.csv"))  # one per clip, one row per frame and joint
        rows = sum(sum(1 for _ in open(p, encoding="utf-8")) - 1 for p in csvs)
    num_frames = rows // COCO17.num_keypoints
    phases = {k: round(v, 3) for k, v in seconds.items()}
    phases["other"] = round(total - sum(seconds.values()), 3)
    print(json.dumps({
        "input": args.input, "checkpoint": Path(args.checkpoint).name, "clips": len(csvs), "frames": num_frames,
        "batch_size": args.batch_size, "flip_test": not args.no_flip_test, "cpu": cpu_name(),
        "torch_threads": torch.get_num_threads(), "total_s": round(total, 3),
        "frames_per_s": round(num_frames / total, 2), "seconds": phases,
        "share": {k: round(v / total, 3) for k, v in phases.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
