"""Does ``hyper-sapiens video`` find the infant again after it has left the frame? Measured on a rendered sequence.

A MINI-RGBD-style sequence (``hyper-sapiens synth``, 640×480, 30 frames/s) is turned into a clip in which the
camera pans away and back: each frame's content is shifted horizontally by ``d(t)`` pixels (the uncovered part
filled with grey 128) and the true joints with it. With ``T`` frames split in fifths by ``a = T/5``:

* frames ``[0, a)``: ``d = 0`` (**before**);
* ``[a, 2a)``: ``d`` grows linearly to the frame width, the infant slides out to the right (**leaving**);
* ``[2a, 3a)``: the whole frame is grey, the infant is gone (**away**);
* ``[3a, 4a)``: ``d`` grows from minus the width to 0, the infant slides in from the left (**entering**);
* ``[4a, T)``: ``d = 0`` again (**back**).

The verb runs on that clip and, as a reference, on the unshifted sequence (same settings: ``--no-prior``, no
MP4 or plots, the default batch of 8). Printed as one JSON object, per part: the raw track's mean error to the
truth in pixels over the joints inside the frame (:func:`hyper_sapiens.video.truth.mean_error`), the same frames'
error in the reference run, the mean keypoint score and the frames per box source (``frame``: whole-frame crop,
``refined``: a whole-frame crop predicted again on its own keypoints' box, ``track``: the previous keypoints'
box; ``box_source_per_frame`` has their first letters). Recovery means the **back** part's error equals the
reference's.

    python benchmarks/video_recovery.py --checkpoint demo_run/runs/stage3/final.safetensors \\
        --sequence demo_run/data/minirgbd/01
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from hyper_sapiens.cli import main as cli_main
from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.video.truth import RAW_COLUMNS, mean_error, minirgbd_truth, read_track

PARTS = ("before", "leaving", "away", "entering", "back")


def pan_offsets(num_frames: int, width: int) -> tuple[np.ndarray, list[str]]:
    """``(T,)`` horizontal shifts in pixels (``NaN`` = the frame is empty) and each frame's part name."""
    a = num_frames // 5
    d = np.zeros(num_frames)
    parts = []
    for t in range(num_frames):
        part = PARTS[min(t // a, 4)]
        parts.append(part)
        if part == "leaving":
            d[t] = width * (t - a + 1) / a
        elif part == "away":
            d[t] = np.nan
        elif part == "entering":
            d[t] = -width + width * (t - 3 * a + 1) / a
    return d, parts


def panned_frame(image: np.ndarray, shift: float) -> np.ndarray:
    """``image (H, W, 3)`` shifted right by ``shift`` pixels (rounded), grey where nothing is shown."""
    out = np.full_like(image, 128)
    if not np.isfinite(shift):
        return out
    s = int(round(shift))
    w = image.shape[1]
    if s >= 0:
        out[:, s:] = image[:, : max(w - s, 0)]
    else:
        out[:, : w + s] = image[:, -s:]
    return out


def run_verb(checkpoint: str, folder: Path, out: Path, extra: list[str]) -> Path:
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries only this script's JSON
        rc = cli_main(["video", "--checkpoint", checkpoint, str(folder), "--out", str(out), "--no-prior",
                       "--no-video", "--no-plots", *extra])
    if rc != 0:
        raise SystemExit(f"video failed on {folder} (rc {rc})")
    return next(out.rglob("keypoints.csv"))


def read_scores_and_sources(csv_path: Path, num_frames: int) -> tuple[np.ndarray, list[str]]:
    """``(T,)`` mean keypoint score per frame and ``(T,)`` box sources from the verb's ``keypoints.csv``."""
    scores = np.zeros((num_frames, COCO17.num_keypoints))
    sources = [""] * num_frames
    index = {n: i for i, n in enumerate(COCO17.names)}
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            t = int(row["frame"])
            scores[t, index[row["joint"]]] = float(row["score"])
            sources[t] = row["box_source"]
    return scores.mean(1), sources


def run(args: argparse.Namespace) -> dict:
    seq = Path(args.sequence)
    files = sorted((seq / "rgb").glob("*.png"))
    truth = minirgbd_truth(seq)
    if len(files) != len(truth) or len(files) < 10:
        raise SystemExit(f"{seq}: need >= 10 frames with joints, got {len(files)} frames and {len(truth)} joint files")
    width = cv2.imread(str(files[0])).shape[1]
    shifts, parts = pan_offsets(len(files), width)
    panned_truth = truth.copy()
    panned_truth[..., 0] += shifts[:, None]
    inside = (panned_truth[..., 0] >= 0) & (panned_truth[..., 0] <= width - 1)
    panned_truth[~inside] = np.nan
    reference_truth = truth.copy()
    reference_truth[~inside] = np.nan  # the reference is scored on the same joints as the panned clip
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "panned" / "rgb"
        clip.mkdir(parents=True)
        for t, f in enumerate(files):
            cv2.imwrite(str(clip / f.name), panned_frame(cv2.imread(str(f)), shifts[t]))
        extra = ["--no-refine"] if args.no_refine else []
        csv_panned = run_verb(args.checkpoint, clip, Path(tmp) / "out_panned", extra)
        csv_reference = run_verb(args.checkpoint, seq / "rgb", Path(tmp) / "out_reference", extra)
        raw = read_track(csv_panned, RAW_COLUMNS, len(files))
        reference = read_track(csv_reference, RAW_COLUMNS, len(files))
        scores, sources = read_scores_and_sources(csv_panned, len(files))
    table = {}
    for part in PARTS:
        idx = [t for t, p in enumerate(parts) if p == part]
        table[part] = {
            "frames": [idx[0], idx[-1]],
            "joints_inside": int(inside[idx].sum()),
            "mean_error_px": mean_error(raw[idx], panned_truth[idx]) if inside[idx].any() else None,
            "reference_error_px": mean_error(reference[idx], reference_truth[idx]) if inside[idx].any() else None,
            "mean_score": float(scores[idx].mean()),
            "box_sources": {s: sum(sources[t] == s for t in idx) for s in ("frame", "refined", "track")},
        }
    return {"checkpoint": args.checkpoint, "sequence": str(seq), "refine": not args.no_refine,
            "frames": len(files), "width": width, "parts": table,
            "box_source_per_frame": "".join(s[0] for s in sources)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="weights written by train (safetensors)")
    parser.add_argument("--sequence", required=True, help="a minirgbd/<seq> folder written by hyper-sapiens synth")
    parser.add_argument("--no-refine", action="store_true", help="the verb's --no-refine (no second pass)")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
