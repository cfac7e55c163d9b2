"""Tracking error of ``hyper-sapiens video`` before and after cleaning, on MINI-RGBD-style sequences with truth.

Runs the ``video`` verb on each ``ROOT/<seq>/rgb`` folder (as written by ``hyper-sapiens synth``), reads its
``keypoints.csv`` and compares the raw track (``x_raw``, ``y_raw``) and the cleaned track (``x``, ``y``) with the
sequence's 2D joints (``joints_2Ddep``, converted to COCO17: the 13 joints MINI-RGBD has) with
:mod:`hyper_sapiens.video.truth`. Prints one JSON object:

- ``mean_error_px``: mean Euclidean distance to the truth, pixels, over joints and frames where both exist:
  ``raw`` over every raw joint, ``raw_kept`` and ``cleaned`` over the joints the cleaned track still has (the
  fair pair); ``dropped`` counts the joints cleaning removed without filling them in;
- ``jitter_px``: mean norm of the second difference ``p[t+1] - 2 p[t] + p[t-1]`` (pixels per frame²), the
  truth's own value beside it (smooth motion has a small one).

    python benchmarks/video_cleaning.py --checkpoint demo_run/runs/stage3/final.safetensors \\
        --root demo_run/data/minirgbd [--filter savgol|one-euro|none] [--outlier-k 3]
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
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seq in seqs:
            out = Path(tmp) / seq.name
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries only this script's JSON
                rc = cli_main(["video", "--checkpoint", args.checkpoint, str(seq / "rgb"), "--out", str(out),
                               "--filter", args.filter, "--outlier-k", str(args.outlier_k), "--no-video",
                               "--no-plots", "--no-prior", *(["--no-refine"] if args.no_refine else [])])
            if rc != 0:
                raise SystemExit(f"video failed on {seq} (rc {rc})")
            results.append(compare_with_truth(next(out.rglob("keypoints.csv")), seq))

    def mean(group: str, key: str) -> float:
        return float(np.mean([r[group][key] for r in results]))

    return {
        "checkpoint": args.checkpoint,
        "filter": args.filter,
        "outlier_k": args.outlier_k,
        "refine": not args.no_refine,
        "sequences": len(seqs),
        "frames": sum(r["frames"] for r in results),
        "mean_error_px": {k: mean("mean_error_px", k) for k in ("raw", "raw_kept", "cleaned")},
        "jitter_px": {k: mean("jitter_px", k) for k in ("raw", "cleaned", "truth")},
        "dropped": sum(r["dropped"] for r in results),
        "per_sequence": {seq.name: r for seq, r in zip(seqs, results, strict=True)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--root", required=True, help="a minirgbd/ folder written by hyper-sapiens synth")
    parser.add_argument("--filter", default="savgol", choices=("one-euro", "savgol", "none"),
                        help="the verb's --filter (default savgol, the verb's default)")
    parser.add_argument("--outlier-k", type=float, default=3.0, help="the verb's --outlier-k (default 3; 0 = off)")
    parser.add_argument("--no-refine", action="store_true", help="the verb's --no-refine (no second pass)")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
