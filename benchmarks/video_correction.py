"""What the SDS correction of flagged frames (``hyper-sapiens video --correct-steps N``) does to poses with a truth.

End to end from nothing, in a temporary folder:

1. renders synthetic skeleton sequences (:func:`hyper_sapiens.synth.generate_skeletons`, the ``tiny`` preset's
   skeleton sequences with more sequences and frames): seed 0 to train the prior, seed 1 as held-out test poses;
2. trains the prior with the ``train-prior`` code path (:func:`hyper_sapiens.prior.command.load_prior_config` and
   :func:`hyper_sapiens.prior.train.train_prior`, packaged config ``prior_demo``, overrides ``data.root=<seed 0>``
   and ``train.threads=<--threads>``, ``train.steps=<--prior-steps>``);
3. draws ``--poses`` fully visible held-out poses, scores them with the prior and sets the flagging threshold to
   3 x their median score (as ``hyper-sapiens video`` does on a clip);
4. corrupts every pose three ways: a wrist or ankle thrown 2-4 torso radii in a uniformly random direction,
   one arm swapped with one leg, and Gaussian noise of 0.3 torso radii on every joint
   (:func:`hyper_sapiens.prior.quality.corrupt`), and flags the corrupted poses scoring above the threshold;
5. corrects the flagged poses with :func:`hyper_sapiens.video.correction.correct_frames` over a grid of the
   movement budget ``N * lr`` (1, 2, 4 torso radii) and step size ``lr`` (0.05, 0.1, 0.2, 0.4), ``N`` =
   round(budget / lr) steps, and corrects all clean poses at lr 0.1 with N = 10, 20, 40;
6. in-sample contrast: trains a second prior the same way on the plain ``tiny`` preset's 5 skeleton sequences of
   64 frames (seed 0; overrides also ``data.stride=1``, ``data.val_fraction=0.2``: 4 sequences train, 1
   validates), draws ``--in-sample-poses`` fully visible poses of all 5 (so mostly poses it trained on), throws a
   joint of each as above and corrects the flagged ones at (N, lr) = (10, 0.1), (10, 0.2), (20, 0.1), (20, 0.2).

Units: errors and movements are Euclidean joint distances divided by the pose's torso radius
(:func:`hyper_sapiens.keypoints.torso_radius`, RMS distance of the four torso joints from their centroid, taken
from the clean pose), averaged over the 17 COCO joints and then over poses. Prints one JSON object (progress on
stderr):

- ``test``: poses, median torso radius (pixels), median clean score, threshold (3 x that; scores are the prior's
  SDS plausibility, lower = more plausible);
- ``flagged``: per corruption, corrupted poses above the threshold (the ones corrected) and their error before;
- ``grid``: per (budget, lr): steps, per-corruption ``error_ratio`` (mean error after / before over the flagged
  poses; below 1 = closer to the truth), their mean, ``still_flagged`` (share of corrected poses still above
  the threshold), for the thrown-joint case the thrown joint's own error and the mean movement of the other 16
  joints (which were at the truth), seconds;
- ``clean_moved``: mean joint movement of clean poses corrected at lr 0.1, per N;
- ``in_sample``: step 6: threshold, flagged thrown-joint poses, and per (N, lr) their error ratio and the share
  still flagged;
- ``prior``: training poses, steps, validation loss, seconds; ``time_s``: seconds per stage.

Deterministic given the seeds (synth, prior training, pose draw, corruptions and correction are all seeded).
The numbers in ``docs/video.md`` ("Correction of flagged frames") come from

    OMP_NUM_THREADS=1 python benchmarks/video_correction.py

(``--quick``: a smoke run, 20 + 10 sequences of 100 frames, 500 + 100 poses, 600 prior steps, about 25 s; few
poses get flagged, so its numbers mean little.) The default run takes about 65 s on one core of this project's
2-core Xeon, most of it training the two priors.

Reference: the SDS step is that of Poole et al. 2022, "DreamFusion: Text-to-3D using 2D Diffusion", §3.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hyper_sapiens.data.skeletons import SkeletonSequenceDataset
from hyper_sapiens.keypoints import COCO17, torso_radius
from hyper_sapiens.prior import PosePrior, score_keypoints
from hyper_sapiens.prior.command import load_prior_config
from hyper_sapiens.prior.quality import corrupt
from hyper_sapiens.prior.train import train_prior
from hyper_sapiens.synth import generate_skeletons
from hyper_sapiens.video.correction import correct_frames

BUDGETS = (1.0, 2.0, 4.0)
"""Movement budgets ``N * lr``: how far, in torso radii, the correction can move one coordinate."""
STEP_SIZES = (0.05, 0.1, 0.2, 0.4)
"""Step sizes ``lr`` (fraction of the way to the prior's denoised pose per step)."""
CLEAN_LR, CLEAN_STEPS = 0.1, (10, 20, 40)
"""Step size and step counts of the correction applied to clean (unflagged) poses."""
THRESHOLD_FACTOR = 3.0
"""Flagging threshold: this many times the median score of the clean poses."""
THROWN_JOINTS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle")
THROW_RANGE = (2.0, 4.0)
"""How far the thrown joint moves, in torso radii of its pose."""
NOISE_SIGMA = 0.3
"""Standard deviation of the Gaussian noise corruption, torso radii."""


IN_SAMPLE_SETTINGS = ((10, 0.1), (10, 0.2), (20, 0.1), (20, 0.2))
"""(N, lr) of the in-sample contrast."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def throw_joint(poses: np.ndarray, size: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Move one wrist or ankle of each pose 2-4 torso radii in a uniformly random direction.

    Args:
        poses: ``(N, 17, 2)`` COCO17 poses, pixels.
        size: ``(N,)`` torso radius of each pose, pixels.
        rng: draws, per pose in order: the joint, the direction angle, the distance.

    Returns:
        The thrown poses ``(N, 17, 2)`` float64 pixels and ``(N,)`` the index of the thrown joint.
    """
    choices = [COCO17.names.index(name) for name in THROWN_JOINTS]
    out = np.array(poses, np.float64, copy=True)
    joint = np.empty(len(out), np.int64)
    for i in range(len(out)):
        j = int(rng.choice(choices))
        angle = rng.uniform(0.0, 2.0 * np.pi)
        dist = rng.uniform(*THROW_RANGE) * size[i]
        out[i, j] += dist * np.array([np.cos(angle), np.sin(angle)])
        joint[i] = j
    return out, joint


def _cpu_name() -> str:
    """The CPU model (Linux ``/proc/cpuinfo``), else :func:`platform.processor`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _train(root: Path, out: Path, steps: int, threads: int, extra: tuple[str, ...] = ()) -> tuple[PosePrior, dict]:
    """Train a prior as ``hyper-sapiens train-prior --config prior_demo data.root=ROOT ...`` does; returns it
    (loaded back from its ``prior.safetensors``) and the training summary."""
    overrides = [f"data.root={root}", f"train.threads={threads}", f"train.steps={steps}", *extra]
    cfg = load_prior_config("prior_demo", overrides)
    cfg["train"]["progress"] = False
    summary = train_prior(cfg, out)
    prior = PosePrior.load(summary["prior"])
    torch.set_num_threads(threads)   # train_prior set it from train.threads; keep it explicit
    return prior, summary


def _score(prior: PosePrior, poses: np.ndarray) -> np.ndarray:
    """``(N,)`` the prior's plausibility score of ``(N, 17, 2)`` pixel poses (lower = more plausible)."""
    return score_keypoints(prior, torch.as_tensor(poses, dtype=torch.float32)).numpy()


def _fully_visible(pattern: Path, n: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``n`` poses drawn without replacement from the fully visible frames of the files ``pattern`` (float64
    pixels), and how many fully visible frames there were."""
    kp, vis = SkeletonSequenceDataset(str(pattern), dims=2).arrays()
    kp = kp[vis.all(1)]
    if len(kp) < n:
        raise SystemExit(f"only {len(kp)} fully visible poses in {pattern}, fewer than the {n} asked for")
    return kp[rng.choice(len(kp), n, replace=False)].astype(np.float64), len(kp)


def in_sample(root: Path, out: Path, args: argparse.Namespace) -> dict:
    """Step 6 of the module docstring: the thrown-joint correction with a prior scored on its own training data."""
    t0 = time.perf_counter()
    generate_skeletons(root, "tiny", 0)
    extra = ("data.stride=1", "data.val_fraction=0.2")
    prior, summary = _train(root, out, args.prior_steps, args.threads, extra)
    clean, _ = _fully_visible(root / "skeletons" / "*_coco17_2d.npz", args.in_sample_poses, np.random.default_rng(0))
    size = torso_radius(clean)
    s_clean = _score(prior, clean)
    threshold = THRESHOLD_FACTOR * float(np.median(s_clean))
    bad, _ = throw_joint(clean, size, np.random.default_rng(1))
    m = _score(prior, bad) > threshold
    before = _mean((np.linalg.norm(bad - clean, axis=-1) / size[:, None])[m])
    result: dict = {"sequences": 5, "train_files": summary["data"]["train_files"],
                    "prior_overrides": ["data.root=<tiny seed 0 skeletons>", *[f"train.threads={args.threads}",
                                        f"train.steps={args.prior_steps}", *extra]],
                    "poses": len(clean), "clean_score_median": float(np.median(s_clean)), "threshold": threshold,
                    "flagged": int(m.sum()), "error_before": before, "settings": []}
    for steps, lr in IN_SAMPLE_SETTINGS:
        fixed = correct_frames(prior, bad, m.astype(np.float64), steps, lr)
        err = _mean((np.linalg.norm(fixed - clean, axis=-1) / size[:, None])[m])
        still = _mean((_score(prior, fixed[m]) > threshold).astype(np.float64)) if m.any() else None
        result["settings"].append({"steps": steps, "lr": lr, "error_ratio": _ratio(err, before),
                                   "still_flagged": still})
    result["time_s"] = round(time.perf_counter() - t0, 2)
    log(f"in-sample: {result['flagged']}/{len(clean)} flagged, still flagged "
        + ", ".join(f"N {c['steps']} lr {c['lr']}: {c['still_flagged']}" for c in result["settings"]))
    return result


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train_root, test_root = Path(tmp) / "train", Path(tmp) / "test"
        made = {"train": generate_skeletons(train_root, "tiny", 0, sequences=args.train_sequences, frames=args.frames),
                "test": generate_skeletons(test_root, "tiny", 1, sequences=args.test_sequences, frames=args.frames)}
        times["synth"] = time.perf_counter() - t0
        log(f"skeletons: {made['train']['frames']} training, {made['test']['frames']} test frames "
            f"({times['synth']:.1f} s)")

        t0 = time.perf_counter()
        prior, summary = _train(train_root, Path(tmp) / "prior", args.prior_steps, args.threads)
        times["train_prior"] = time.perf_counter() - t0
        log(f"prior: {summary['steps']} steps, val loss {summary.get('val_loss')} ({times['train_prior']:.1f} s)")

        t0 = time.perf_counter()
        clean, available = _fully_visible(test_root / "skeletons" / "*_coco17_2d.npz", args.poses,
                                          np.random.default_rng(0))
        size = torso_radius(clean)
        times["score"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        contrast = in_sample(Path(tmp) / "in_sample", Path(tmp) / "in_sample_prior", args)
        times["in_sample"] = time.perf_counter() - t0

    t0 = time.perf_counter()

    def score(poses: np.ndarray) -> np.ndarray:
        return _score(prior, poses)

    def error(poses: np.ndarray) -> np.ndarray:
        """``(N, 17)`` joint distances to the truth, torso radii."""
        return np.linalg.norm(poses - clean, axis=-1) / size[:, None]

    s_clean = score(clean)
    threshold = THRESHOLD_FACTOR * float(np.median(s_clean))
    thrown, thrown_joint = throw_joint(clean, size, np.random.default_rng(1))
    cases = {"thrown_joint": thrown,
             "swap_arm_leg": corrupt("swap_arm_leg", clean, np.random.default_rng(2)).astype(np.float64),
             f"noise_{NOISE_SIGMA:g}": corrupt("noise", clean, np.random.default_rng(3),
                                               sigma=NOISE_SIGMA).astype(np.float64)}
    flags = {name: score(bad) > threshold for name, bad in cases.items()}
    before = {name: _mean(error(bad)[flags[name]]) for name, bad in cases.items()}
    is_thrown = np.arange(17)[None, :] == thrown_joint[:, None]          # (N, 17)
    fl = flags["thrown_joint"]
    thrown_before = _mean(error(thrown)[fl][is_thrown[fl]])
    times["score"] += time.perf_counter() - t0
    log(f"threshold {threshold:.3f}; flagged " + ", ".join(f"{n} {int(f.sum())}" for n, f in flags.items()))

    grid = []
    t_grid = time.perf_counter()
    for budget in BUDGETS:
        for lr in STEP_SIZES:
            steps = int(round(budget / lr))
            t0 = time.perf_counter()
            cell: dict = {"n_lr": budget, "lr": lr, "steps": steps, "error_ratio": {}, "still_flagged": {}}
            for name, bad in cases.items():
                m = flags[name]
                fixed = correct_frames(prior, bad, m.astype(np.float64), steps, lr)
                cell["error_ratio"][name] = _ratio(_mean(error(fixed)[m]), before[name])
                cell["still_flagged"][name] = _mean((score(fixed[m]) > threshold).astype(np.float64)) \
                    if m.any() else None
                if name == "thrown_joint":
                    err = error(fixed)[m]
                    moved = (np.linalg.norm(fixed - bad, axis=-1) / size[:, None])[m]
                    cell["thrown_joint_error"] = _mean(err[is_thrown[m]])
                    cell["other_joints_moved"] = _mean(moved[~is_thrown[m]])
            ratios = [r for r in cell["error_ratio"].values() if r is not None]
            cell["mean_error_ratio"] = float(np.mean(ratios)) if ratios else None
            cell["time_s"] = round(time.perf_counter() - t0, 2)
            grid.append(cell)
            log(f"N*lr {budget:g} lr {lr:g} N {steps}: mean error ratio {cell['mean_error_ratio']} "
                f"({cell['time_s']} s)")
    times["correct_grid"] = time.perf_counter() - t_grid

    t0 = time.perf_counter()
    clean_moved = {}
    for steps in CLEAN_STEPS:
        fixed = correct_frames(prior, clean, np.ones(len(clean)), steps, CLEAN_LR)
        clean_moved[str(steps)] = float(error(fixed).mean())
    times["correct_clean"] = time.perf_counter() - t0
    times = {k: round(v, 2) for k, v in times.items()}
    times["total"] = round(sum(times.values()), 2)

    return {
        "command": " ".join(["python", "benchmarks/video_correction.py", *sys.argv[1:]]),
        "machine": {"processor": _cpu_name(), "torch_threads": args.threads,
                    "torch": torch.__version__, "device": "cpu"},
        "config": {"train_sequences": args.train_sequences, "test_sequences": args.test_sequences,
                   "frames": args.frames, "poses": args.poses, "synth_preset": "tiny",
                   "seeds": {"train": 0, "test": 1, "pose_draw": 0, "thrown_joint": 1, "swap_arm_leg": 2,
                             "noise": 3, "correction": 0},
                   "prior_config": "prior_demo",
                   "prior_overrides": ["data.root=<seed 0 skeletons>", f"train.threads={args.threads}",
                                       f"train.steps={args.prior_steps}"],
                   "threshold_factor": THRESHOLD_FACTOR, "thrown_joints": list(THROWN_JOINTS),
                   "throw_torso_radii": list(THROW_RANGE), "noise_sigma_torso_radii": NOISE_SIGMA},
        "prior": {"train_poses": summary["data"]["train_poses"], "val_poses": summary["data"]["val_poses"],
                  "steps": summary["steps"], "val_loss": summary.get("val_loss"),
                  "train_time_s": round(summary["train_time_s"], 2)},
        "test": {"poses": len(clean), "fully_visible_available": available,
                 "torso_radius_median_px": float(np.median(size)),
                 "clean_score_median": float(np.median(s_clean)), "threshold": threshold},
        "flagged": {name: {"count": int(m.sum()), "error_before": before[name]} for name, m in flags.items()},
        "thrown_joint_error_before": thrown_before,
        "grid": grid,
        "clean_moved": {"lr": CLEAN_LR, "by_steps": clean_moved},
        "in_sample": contrast,
        "time_s": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-sequences", type=int, default=50, help="skeleton sequences to train on (seed 0)")
    parser.add_argument("--test-sequences", type=int, default=50, help="held-out skeleton sequences (seed 1)")
    parser.add_argument("--frames", type=int, default=200, help="frames per sequence")
    parser.add_argument("--poses", type=int, default=1500, help="held-out test poses drawn")
    parser.add_argument("--prior-steps", type=int, default=1500, help="prior training steps (prior_demo: 1500)")
    parser.add_argument("--in-sample-poses", type=int, default=300,
                        help="poses of the in-sample contrast (the tiny preset has 320 frames)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 20 + 10 sequences of 100 frames, 500 + 100 poses, 600 prior steps")
    args = parser.parse_args()
    if args.quick:
        args.train_sequences, args.test_sequences, args.frames, args.poses, args.prior_steps = 20, 10, 100, 500, 600
        args.in_sample_poses = 100
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
