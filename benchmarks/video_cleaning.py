"""Tracking error of ``hyper-sapiens video`` before and after cleaning, on MINI-RGBD-style sequences with truth.

Runs the ``video`` verb on each ``ROOT/<seq>/rgb`` folder (as written by ``hyper-sapiens synth``), reads its
``keypoints.csv`` and compares the raw track (``x_raw``, ``y_raw``) and the cleaned track (``x``, ``y``) with the
sequence's 2D joints (``joints_2Ddep``, converted to COCO17: the 13 joints MINI-RGBD has) with
:mod:`hyper_sapiens.video.truth`. Prints one JSON object:

- ``mean_error_px``: mean Euclidean distance to the truth, pixels, over joints and frames where both exist;
- ``jitter_px``: mean norm of the second difference ``p[t+1] - 2 p[t] + p[t-1]`` (pixels per frame²), the
  truth's own value beside it (smooth motion has a small one).

    python benchmarks/video_cleaning.py --checkpoint runs/demo/stage3/final.safetensors --root data/demo/minirgbd
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from hyper_sapiens.cli import main as cli_main
from hyper_sapiens.video.truth import compare_with_truth


def run(args: argparse.Namespace) -> dict:
    seqs = sorted(d for d in Path(args.root).iterdir() if (d / "rgb").is_dir())
    raw_err, clean_err, raw_jit, clean_jit, gt_jit, frames = [], [], [], [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for seq in seqs:
            out = Path(tmp) / seq.name
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries only this script's JSON
                rc = cli_main(["video", "--checkpoint", args.checkpoint, str(seq / "rgb"), "--out", str(out),
                               "--filter", args.filter, "--no-video", "--no-plots", "--no-prior"])
            if rc != 0:
                raise SystemExit(f"video failed on {seq} (rc {rc})")
            result = compare_with_truth(next(out.rglob("keypoints.csv")), seq)
            raw_err.append(result["mean_error_px"]["raw"])
            clean_err.append(result["mean_error_px"]["cleaned"])
            raw_jit.append(result["jitter_px"]["raw"])
            clean_jit.append(result["jitter_px"]["cleaned"])
            gt_jit.append(result["jitter_px"]["truth"])
            frames += result["frames"]
    return {
        "checkpoint": args.checkpoint,
        "filter": args.filter,
        "sequences": len(seqs),
        "frames": frames,
        "mean_error_px": {"raw": float(np.mean(raw_err)), "cleaned": float(np.mean(clean_err))},
        "jitter_px": {"raw": float(np.mean(raw_jit)), "cleaned": float(np.mean(clean_jit)),
                      "truth": float(np.mean(gt_jit))},
        "per_sequence": {
            "raw_error": raw_err, "cleaned_error": clean_err, "raw_jitter": raw_jit, "cleaned_jitter": clean_jit,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--root", required=True, help="a minirgbd/ folder written by hyper-sapiens synth")
    parser.add_argument("--filter", default="one-euro", choices=("one-euro", "savgol", "none"))
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
