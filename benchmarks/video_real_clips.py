"""``hyper-sapiens video`` on real infant clips, against OpenPose tracks of the same clips. Prints one JSON object.

Runs the verb (``hyper_sapiens.cli.main``) on every clip of ``--videos`` with ``--checkpoint`` (and the prior its
run names, or ``--prior``), then per clip reads what it wrote (``keypoints.json``: the cleaned track with the
prior's flags; ``features.json``: gaps and outliers) and reports:

- ``flagged_share``: frames the prior flagged as implausible, over all frames;
- ``gap_share``: joint-frames left empty after cleaning (low scores or outliers not interpolated), over all;
- agreement with OpenPose (``--openpose``: one folder per clip named like it, read as ``train-prior --openpose``
  reads them, fractions scaled by the clip's frame size): per joint, the median distance between the cleaned
  track and OpenPose's chosen person over the frames where both have the joint, in torso lengths (the mean of
  OpenPose's two shoulder-hip distances in that frame; frames without all four torso joints are left out), and
  ``median_all`` over every joint-frame compared. OpenPose is another model, not the truth: the figure says how
  far two trackers disagree.

    python benchmarks/video_real_clips.py --checkpoint RUN/stage3/final.safetensors --videos VIDEOS \\
        --openpose OPENPOSE --out video_real [--prior prior.safetensors] [--no-video]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hyper_sapiens.data.openpose import VIDEO_SUFFIXES
from hyper_sapiens.keypoints import COCO17
from hyper_sapiens.keypoints.torso import torso_length


def read_track(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``keypoints.json`` the video verb wrote → ``(keypoints (T, 17, 2) pixels, NaN where missing; scores
    (T, 17); flagged (T,) bool, False without a prior)``."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    values = np.asarray([r["keypoints"] for r in rows], np.float64).reshape(len(rows), COCO17.num_keypoints, 3)
    missing = (values[..., 0] == 0) & (values[..., 1] == 0) & (values[..., 2] == 0)
    keypoints = np.where(missing[..., None], np.nan, values[..., :2])
    flagged = np.asarray([bool(r.get("flagged", False)) for r in rows])
    return keypoints, values[..., 2], flagged


def agreement(ours: np.ndarray, theirs: np.ndarray, their_visible: np.ndarray) -> dict[str, Any]:
    """Median distance per joint between two tracks of one clip, in the reference's torso lengths.

    Args:
        ours: ``(T, 17, 2)`` pixels, NaN where our track has no joint.
        theirs: ``(T', 17, 2)`` pixels (the reference, e.g. OpenPose), compared over the first ``min(T, T')`` frames.
        their_visible: ``(T', 17)``, ``> 0`` where the reference has the joint.

    Returns ``{"frames_compared", "median_all", "per_joint": {name: median or None}, "joint_frames"}``.
    """
    t = min(len(ours), len(theirs))
    ours, theirs, their_visible = ours[:t], theirs[:t], their_visible[:t]
    torso, ok = torso_length(theirs, their_visible)
    both = np.isfinite(ours).all(-1) & (their_visible > 0) & ok[:, None]
    dist = np.linalg.norm(np.nan_to_num(ours) - theirs, axis=-1) / np.where(ok, torso, 1.0)[:, None]
    per_joint = {name: (float(np.median(dist[both[:, k], k])) if both[:, k].any() else None)
                 for k, name in enumerate(COCO17.names)}
    return {"frames_compared": int((both.any(1)).sum()), "joint_frames": int(both.sum()),
            "median_all": float(np.median(dist[both])) if both.any() else None, "per_joint": per_joint}


def clip_report(out_dir: Path, openpose: Path | None, frame_size: tuple[int, int]) -> dict[str, Any]:
    """What the verb wrote for one clip, and its agreement with the clip's OpenPose folder when there is one."""
    from hyper_sapiens.video.frames import read_clip_openpose

    keypoints, _, flagged = read_track(out_dir / "keypoints.json")
    features = json.loads((out_dir / "features.json").read_text(encoding="utf-8"))["clip"]
    frames = len(keypoints)
    report: dict[str, Any] = {
        "frames": frames,
        "flagged_share": round(float(flagged.mean()), 4) if frames else None,
        "gap_share": round(float((~np.isfinite(keypoints).all(-1)).mean()), 4) if frames else None,
        "gaps": features["gaps"], "outliers": features["outliers"], "box_sources": features["box_sources"],
    }
    folder = openpose / out_dir.name if openpose is not None else None
    if folder is not None and folder.is_dir():
        track = read_clip_openpose(folder, frame_size)
        seq = track.sequence
        theirs = np.full((frames, COCO17.num_keypoints, 2), np.nan)
        visible = np.zeros((frames, COCO17.num_keypoints))
        rows = np.arange(len(seq.keypoints)) + track.first_frame
        keep = rows < frames
        theirs[rows[keep]], visible[rows[keep]] = seq.keypoints[keep], seq.visible[keep]
        report["openpose"] = {**agreement(keypoints, np.nan_to_num(theirs), visible),
                              "openpose_empty_frames": track.empty_frames}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--videos", required=True, help="a folder of clips (or one clip)")
    parser.add_argument("--openpose", default=None, help="a folder of OpenPose folders, one per clip")
    parser.add_argument("--out", required=True)
    parser.add_argument("--prior", default=None, help="the prior to flag frames with (default: the run's)")
    parser.add_argument("--no-video", action="store_true", help="do not write skeleton.mp4 (faster)")
    args = parser.parse_args()

    from hyper_sapiens.cli import main as cli
    from hyper_sapiens.video.reader import open_clip

    videos = Path(args.videos)
    clips = sorted(p for p in videos.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES) if videos.is_dir() else [videos]
    verb = ["video", "--checkpoint", args.checkpoint, *map(str, clips), "--out", args.out, "--no-plots"]
    verb += ["--prior", args.prior] if args.prior else []
    verb += ["--no-video"] if args.no_video else []
    start = time.perf_counter()
    rc = cli(verb)
    if rc != 0:
        print(f"video_real_clips: the video verb failed (exit {rc})", file=sys.stderr)
        return rc
    openpose = Path(args.openpose) if args.openpose else None
    reports = {clip.stem: clip_report(Path(args.out) / clip.stem, openpose, open_clip(clip).size) for clip in clips}
    compared = [r["openpose"]["median_all"] for r in reports.values() if r.get("openpose", {}).get("median_all")]
    summary = {
        "checkpoint": args.checkpoint, "clips": reports, "time_s": round(time.perf_counter() - start, 1),
        "mean_flagged_share": round(float(np.mean([r["flagged_share"] for r in reports.values()])), 4),
        "mean_gap_share": round(float(np.mean([r["gap_share"] for r in reports.values()])), 4),
        "median_of_clip_medians_vs_openpose": round(float(np.median(compared)), 4) if compared else None,
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
