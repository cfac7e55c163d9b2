"""Tracking error of ``hyper-sapiens video`` before and after cleaning, on MINI-RGBD-style sequences with truth.

Runs the ``video`` verb on each ``ROOT/<seq>/rgb`` folder (as written by ``hyper-sapiens synth``), reads its
``keypoints.csv`` and compares the raw track (``x_raw``, ``y_raw``) and the cleaned track (``x``, ``y``) with the
sequence's 2D joints (``joints_2Ddep``, converted to COCO17: the 13 joints MINI-RGBD has). Prints one JSON object:

- ``mean_error_px``: mean Euclidean distance to the truth, pixels, over joints and frames where both exist;
- ``jitter_px``: mean norm of the second difference ``p[t+1] - 2 p[t] + p[t-1]`` (pixels per frame²), the
  truth's own value beside it (smooth motion has a small one).

    python benchmarks/video_cleaning.py --checkpoint runs/demo/stage3/final.safetensors --root data/demo/minirgbd
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from hyper_sapiens.cli import main as cli_main
from hyper_sapiens.data.minirgbd import read_minirgbd_joints
from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.keypoints.converter import KeypointConverter


def truth(seq_dir: Path) -> np.ndarray:
    """``(T, 17, 2)`` pixels, NaN for the joints MINI-RGBD lacks."""
    conv = KeypointConverter("minirgbd25")
    files = sorted((seq_dir / "joints_2Ddep").glob("syn_joints_2Ddep_*.txt"))
    xy = np.stack([read_minirgbd_joints(f)[:, :2] for f in files]).astype(np.float64)
    kp, vis = conv(xy)
    kp[vis == 0] = np.nan
    return kp


def track(csv_path: Path, columns: tuple[str, str], num_frames: int) -> np.ndarray:
    """``(T, 17, 2)`` from the verb's CSV; empty cells are NaN."""
    out = np.full((num_frames, COCO17.num_keypoints, 2), np.nan)
    index = {name: i for i, name in enumerate(COCO17.names)}
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            t, j = int(row["frame"]), index[row["joint"]]
            for c, key in enumerate(columns):
                out[t, j, c] = float(row[key]) if row[key] not in ("", "nan") else np.nan
    return out


def mean_error(pred: np.ndarray, gt: np.ndarray) -> float:
    d = np.linalg.norm(pred - gt, axis=-1)
    return float(np.nanmean(d))


def jitter(p: np.ndarray) -> float:
    acc = np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=-1)
    return float(np.nanmean(acc))


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
            gt = truth(seq)
            csv_path = next(out.rglob("keypoints.csv"))
            raw = track(csv_path, ("x_raw", "y_raw"), len(gt))
            clean = track(csv_path, ("x", "y"), len(gt))
            both = ~np.isnan(gt[..., 0])
            raw[~both], clean[~both] = np.nan, np.nan
            raw_err.append(mean_error(raw, gt))
            clean_err.append(mean_error(clean, gt))
            raw_jit.append(jitter(raw))
            clean_jit.append(jitter(clean))
            gt_jit.append(jitter(gt))
            frames += len(gt)
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
