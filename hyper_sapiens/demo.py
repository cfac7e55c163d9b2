"""The ``hyper-sapiens demo`` verb: synth → prior → stage 1 → 2 → 3 → evaluate, on the embedded data set.

Stage 1 starts from the shipped pretrained weights (``tiny_real_pose``: the tiny ViT trained on real photographs of
adults, the stand-in for a Sapiens COCO pose checkpoint), as a user starts from ``sapiens_checkpoints.pose``;
``--from-scratch`` starts from random weights with the from-scratch learning rates instead.

Everything lands under ``--out``: ``data/`` (the generated data set, with ``data/videos/minirgbd_*.mp4``, its
MINI-RGBD-style sequences as videos), ``runs/prior``, ``runs/stage{1,2,3}``, ``eval/`` (metrics.json, report.md,
plots), ``eval_pretrained/`` (the pretrained weights zero-shot), ``video/<clip>/`` (``hyper-sapiens video`` with the
stage-3 weights on each video: keypoints.csv, features.json, skeleton.mp4, plots; its error and jitter against
the sequences' true joints go to the report) and the top-level ``report.md`` + ``metrics.json``. ``--quick``
renders the ``tiny`` preset and trains a few steps per phase (a smoke test of the whole chain).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

#: Overrides that make ``--quick`` fast: few steps, small batches (the tiny data set has 12 synthetic images).
QUICK = {
    "prior": ["train.steps=150", "train.batch_size=64", "train.log_every=50"],
    "stage1": [
        "run.steps=20",
        "data.batch.counts.syn=6",
        "data.batch.counts.minirgbd=2",
        "run.ckpt_every=0",
        "optim.warmup_steps=3",
        "data.workers=0",
    ],
    "stage2": [
        "run.steps=10",
        "data.batch.counts.syn=4",
        "data.batch.counts.real=4",
        "run.ckpt_every=0",
        "optim.warmup_steps=3",
        "data.workers=0",
        "loss.sds.min_confidence=0.0",  # a smoke test: exercise SDS although a 20-step model has no confident peaks
    ],
    "stage3": [
        "run.steps=6",
        "data.batch.batch_size=8",
        "run.ckpt_every=0",
        "optim.warmup_steps=2",
        "data.workers=0",
        "loss.sds.min_confidence=0.0",
    ],
}
#: Overrides that turn the demo into the from-scratch run: no pretrained weights, the learning rates tuned for
#: learning from random weights (docs/training.md, "Demo"), every layer at the full rate.
FROM_SCRATCH = {
    "stage1": ["sapiens_checkpoints.pose=null", "optim.lr=2.0e-3", "optim.layer_decay=1.0"],
    "stage2": ["optim.lr=1.0e-3", "optim.layer_decay=1.0"],
    "stage3": ["optim.lr=5.0e-4", "optim.layer_decay=1.0"],
}
#: Where the ``video`` phase writes, under ``--out``; one sub-folder per clip (the video's file stem).
VIDEO_OUT = "video"


class VideoPhaseError(RuntimeError):
    """The ``video`` verb failed on one of the demo's videos (its own error is on stderr above)."""


STAGES = (("stage1", "stage1_syn_warmup_demo"), ("stage2", "stage2_mixed_demo"), ("stage3", "stage3_real_refine_demo"))


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="the whole method on the embedded data: synth, prior, stages 1-3, evaluation, video tracking, report",
        description="Render the `demo` synthetic infant data set (its MINI-RGBD-style sequences also as videos, "
        "OUT/data/videos/), train the diffusion prior, run the three curriculum stages with the tiny Sapiens model "
        "at 256x192, evaluate on test_real, track the videos with `hyper-sapiens video` and the stage-3 weights "
        "(OUT/video/<clip>/: keypoints.csv, features.json, skeleton.mp4; error and jitter before and after "
        "cleaning against the true joints) and write OUT/report.md and OUT/metrics.json. About 10 to 15 minutes on 2 "
        "CPU cores (README); --quick takes a few minutes at most (tiny data, few steps: a smoke test, not a result).",
        epilog="example: hyper-sapiens demo --out demo_run",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--quick", action="store_true", help="tiny data and few steps (smoke test)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="start stage 1 from random weights instead of the shipped pretrained weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
    return parser


def _phase(name: str) -> None:
    print(f"\n== {name} ==", flush=True)


def stage_overrides(stage: str, quick: bool = False, from_scratch: bool = False) -> list[str]:
    """The demo's overrides of one stage's packaged config."""
    return (FROM_SCRATCH[stage] if from_scratch else []) + (QUICK[stage] if quick else [])


def run_demo(
    out: Path,
    quick: bool = False,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    from_scratch: bool = False,
) -> dict[str, Any]:
    """Run every phase; returns the summary written to ``out/metrics.json``."""
    from . import json_safe
    from .config import load_config, save_config
    from .devices import pick_device
    from .engine.trainer import Trainer
    from .evaluation.report import evaluate_checkpoint
    from .models import load_model
    from .prior.command import load_prior_config
    from .prior.train import train_prior
    from .synth import generate_dataset

    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    runs = out / "runs"
    timings: dict[str, float] = {}
    common = [f"data.root={data}", f"run.root={runs}", f"run.seed={seed}", f"run.device={device}"]

    _phase("1/6 render the synthetic data set")
    t = time.perf_counter()
    data_meta = generate_dataset(data, preset="tiny" if quick else "demo", seed=seed, progress=progress,
                                 videos=True)
    timings["synth"] = time.perf_counter() - t

    _phase("2/6 train the diffusion pose prior")
    t = time.perf_counter()
    prior_over = [f"data.root={data}", f"seed={seed}", f"train.progress={str(progress).lower()}"]
    prior_cfg = load_prior_config("prior_demo", prior_over + (QUICK["prior"] if quick else []))
    train_prior(prior_cfg, str(runs / "prior"))
    timings["prior"] = time.perf_counter() - t

    pretrained = None
    if not from_scratch:
        _phase("3/6 the pretrained weights, zero-shot on test_real")
        t = time.perf_counter()
        stage1_cfg = load_config(STAGES[0][1], common + stage_overrides("stage1", quick))
        pretrained = _pretrained_zero_shot(stage1_cfg, out / "eval_pretrained", device, progress)
        timings["pretrained_zero_shot"] = time.perf_counter() - t

    stage_results = {}
    for i, (stage, config_name) in enumerate(STAGES):
        _phase(f"3/6 train {stage} ({config_name}), {i + 1} of {len(STAGES)}")
        t = time.perf_counter()
        cfg = load_config(config_name, common + stage_overrides(stage, quick, from_scratch))
        trainer = Trainer(cfg, progress=progress)
        try:
            stage_results[stage] = trainer.fit()
        finally:
            trainer.close()
        timings[stage] = time.perf_counter() - t

    _phase("4/6 evaluate on test_real")
    t = time.perf_counter()
    cfg = load_config(STAGES[-1][1], common)
    save_config(cfg, out / "eval" / "config.yaml")
    model = load_model(runs / "stage3" / "final.safetensors")
    metrics = evaluate_checkpoint(
        model,
        cfg,
        out / "eval",
        pick_device(device),
        progress=progress,
        title="demo: full method (stages 1-3, prior + geometry)",
    )
    untrained = _untrained_baseline(cfg, out / "eval_untrained", device, progress)
    timings["evaluate"] = time.perf_counter() - t

    _phase("5/6 track the rendered videos (hyper-sapiens video)")
    t = time.perf_counter()
    video = video_phase(out, data_meta, runs / "stage3" / "final.safetensors", device, progress)
    timings["video"] = time.perf_counter() - t

    _phase("6/6 report")
    summary = {
        **{k: v for k, v in metrics.items() if k not in ("pck_curve",)},
        "untrained_pck@0.05": untrained["pck@0.05"],
        "pretrained_zero_shot_pck@0.05": None if pretrained is None else pretrained["pck@0.05"],
        "from_scratch": from_scratch,
        "stages": {
            k: {
                "steps": v["step"],
                "time_s": round(v["time_s"], 1),
                "pck@0.05": None if not v.get("last_eval") else v["last_eval"]["pck@0.05"],
                "bad_samples": v["bad_samples"],
            }
            for k, v in stage_results.items()
        },
        "video": video,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "total_time_s": round(sum(timings.values()), 1),
        "quick": quick,
        "seed": seed,
    }
    (out / "metrics.json").write_text(json_safe.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
    (out / "report.md").write_text(_report(summary, metrics), encoding="utf-8")
    _print_table(summary)
    return summary


def video_phase(
    out: Path, data_meta: dict[str, Any], checkpoint: Path, device: str, progress: bool = True
) -> dict[str, Any]:
    """Run ``hyper-sapiens video`` (the verb itself, through :func:`hyper_sapiens.cli.main`) with ``checkpoint``
    on each of the data set's sequence videos, into ``out/video/<clip>/``, and compare its raw and cleaned tracks
    with the sequence's true joints (:func:`hyper_sapiens.video.truth.compare_with_truth`).

    The verb runs with its defaults (cleaning, and the prior it finds in the checkpoint's run ``config.yaml``),
    one call per clip so that each clip's wall time, model loading included, is known; ``progress=False``
    passes ``--no-progress``.

    Returns:
        the ``video`` entry of ``metrics.json``: ``checkpoint``, ``filter``, ``prior`` (as the verb recorded
        them in ``features.json``; the prior relative to ``out``), ``clips`` (per clip: ``input``, ``truth``,
        ``out``, ``frames``, ``mean_error_px {raw, raw_kept, cleaned}``, ``dropped``,
        ``jitter_px {raw, cleaned, truth}``, ``time_s``, ``frames_per_s``) and ``mean`` (over clips: the same
        error and jitter keys, ``dropped`` and ``frames`` in all, ``frames_per_s`` = all frames / all time).
        Paths are relative to ``out``.

    Raises:
        VideoPhaseError: the verb exited with an error on a clip.
    """
    from .cli import main as cli_main
    from .video.truth import compare_with_truth

    data = out / "data"
    clips: dict[str, dict[str, Any]] = {}
    recorded: dict[str, Any] = {}
    for seq, rel in data_meta["videos"]["files"].items():
        video_path = data / rel
        name = video_path.stem
        argv = ["video", "--checkpoint", str(checkpoint), str(video_path), "--out", str(out / VIDEO_OUT),
                "--device", device, *([] if progress else ["--no-progress"])]
        start = time.perf_counter()
        code = cli_main(argv)
        elapsed = time.perf_counter() - start
        if code != 0:
            raise VideoPhaseError(f"hyper-sapiens {' '.join(argv)} failed (exit code {code}; its error is above)")
        clip_dir = out / VIDEO_OUT / name
        result = compare_with_truth(clip_dir / "keypoints.csv", data / "minirgbd" / seq)
        features = json.loads((clip_dir / "features.json").read_text(encoding="utf-8"))
        prior = features["clip"]["prior"]
        recorded = {"filter": features["clip"]["filter"], "prior": None if prior is None else _relative(prior, out)}
        clips[name] = {
            "input": f"data/{rel}",
            "truth": f"data/minirgbd/{seq}",
            "out": f"{VIDEO_OUT}/{name}",
            **result,
            "time_s": round(elapsed, 2),
            "frames_per_s": round(result["frames"] / elapsed, 2) if elapsed > 0 else None,
        }
    frames = sum(c["frames"] for c in clips.values())
    seconds = sum(c["time_s"] for c in clips.values())
    mean = {
        "frames": frames,
        "mean_error_px": {k: _mean_finite([c["mean_error_px"][k] for c in clips.values()])
                          for k in ("raw", "raw_kept", "cleaned")},
        "dropped": sum(c["dropped"] for c in clips.values()),
        "jitter_px": {k: _mean_finite([c["jitter_px"][k] for c in clips.values()])
                      for k in ("raw", "cleaned", "truth")},
        "frames_per_s": round(frames / seconds, 2) if seconds > 0 else None,
    }
    return {"checkpoint": _relative(checkpoint, out), **recorded, "clips": clips, "mean": mean}


def _relative(path: str | Path, root: Path) -> str:
    """``path`` relative to ``root`` when it lies under it (as a POSIX string), else as given."""
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _mean_finite(values: list[float | None]) -> float | None:
    """The mean of the finite values, ``None`` when there is none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def _pretrained_zero_shot(cfg: Any, out: Path, device: str, progress: bool) -> dict[str, Any]:
    """The stage-1 model with only the pretrained weights loaded, evaluated on the test set before any infant
    training (the row every stage must improve on)."""
    import torch

    from .devices import pick_device
    from .evaluation.report import evaluate_checkpoint
    from .models import build_model, load_sapiens_checkpoint

    torch.manual_seed(0)
    model = build_model(cfg.model)
    load_sapiens_checkpoint(model, cfg.sapiens_checkpoints.pose, part="pose", strict=True)
    return evaluate_checkpoint(
        model, cfg, out, pick_device(device), progress=progress, title="pretrained weights, zero-shot on infants"
    )


def _untrained_baseline(cfg: Any, out: Path, device: str, progress: bool) -> dict[str, Any]:
    """The same evaluation for a randomly initialised model (the floor every trained model must beat)."""
    import torch

    from .devices import pick_device
    from .evaluation.report import evaluate_checkpoint
    from .models import build_model

    torch.manual_seed(0)
    model = build_model(cfg.model)
    return evaluate_checkpoint(model, cfg, out, pick_device(device), progress=progress, title="untrained model")


def _skipped_lines(stages: dict[str, Any]) -> list[str]:
    """Report lines for the stages that skipped broken samples (``data.skip_bad``); none when nothing was skipped."""
    lines = [f"- **{stage}: {entry['bad_samples']} broken samples skipped** (`data.skip_bad`, docs/errors.md)"
             for stage, entry in stages.items() if entry.get("bad_samples")]
    return lines + [""] if lines else []


def _report(summary: dict[str, Any], metrics: dict[str, Any]) -> str:
    start = "random weights (`--from-scratch`)" if summary["from_scratch"] else (
        "the shipped pretrained weights (`tiny_real_pose`: tiny ViT trained on real photographs of adults, "
        "docs/pretrained.md)")
    lines = [
        "# Hyper-Sapiens demo",
        "",
        "Synthetic infant data (`hyper-sapiens synth --preset " + ("tiny" if summary["quick"] else "demo") + "`), "
        "diffusion prior, three-stage curriculum with the tiny Sapiens model at 256×192 starting from "
        f"{start}, evaluated on `test_real` (real-looking test infants never seen in training).",
        "",
        *_skipped_lines(summary["stages"]),
        "| model | PCK@0.05 on test_real |",
        "|---|---|",
        f"| untrained (random weights) | {summary['untrained_pck@0.05']:.4f} |",
    ]
    if summary.get("pretrained_zero_shot_pck@0.05") is not None:
        lines.append(f"| pretrained, zero-shot on infants | {summary['pretrained_zero_shot_pck@0.05']:.4f} "
                     "([eval_pretrained/report.md](eval_pretrained/report.md)) |")
    for i, (stage, entry) in enumerate(summary["stages"].items()):
        if entry.get("pck@0.05") is not None and i < len(summary["stages"]) - 1:
            lines.append(f"| after {stage} ({entry['steps']} steps) | {entry['pck@0.05']:.4f} |")
    last = list(summary["stages"])[-1]
    lines += [
        f"| **full method** (after {last}, {summary['stages'][last]['steps']} steps) | **{summary['pck@0.05']:.4f}** |",
        "",
        "| full method | value |",
        "|---|---|",
        f"| PCK AUC | {summary['pck_auc']:.4f} |",
        f"| EPE (px) | {summary['epe']:.2f} |",
        f"| G-Error | {summary['g_error']:.5f} |",
        "| COCO AP | " + ("n/a" if summary["coco_ap"] is None else f"{summary['coco_ap']:.4f}") + " |",
        "",
        "## Time (seconds)",
        "",
        "| phase | s |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in summary["timings_s"].items()]
    lines += [
        f"| total | {summary['total_time_s']} |",
        "",
        "Details: [eval/report.md](eval/report.md) (per-joint PCK, curve, best/worst predictions beside the "
        "ground truth); training curves in `runs/stage*/metrics.jsonl`.",
        "",
        "![PCK curve](eval/pck_curve.png)",
        "",
        "![best predictions](eval/predictions_best.png)",
        "",
        "![worst predictions](eval/predictions_worst.png)",
        "",
        *(_video_lines(summary["video"]) if summary.get("video") else []),
    ]
    return "\n".join(lines)


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _video_lines(video: dict[str, Any]) -> list[str]:
    """The report's "Video" section: the before/after-cleaning table of the video phase, with links."""
    prior = f"the run's prior `{video['prior']}`" if video.get("prior") else "no prior"
    lines = [
        "## Video",
        "",
        f"`hyper-sapiens video` with the stage-3 weights (`{video['checkpoint']}`), default cleaning "
        f"(`{video['filter']}`) and {prior}, on each MINI-RGBD-style sequence rendered as a video "
        "(`hyper-sapiens synth --videos`), compared with the sequence's true joints (the 13 COCO17 joints "
        "MINI-RGBD has). Mean error is the mean distance in pixels from the true joint over joints and frames; "
        "*raw, kept* is the raw track's error over the joints the cleaned track still has, the same joints as "
        "*cleaned* (cleaning drops joints scoring below 0.3 and outliers, and fills gaps of up to 5 frames; "
        "*dropped* counts those it could not fill); "
        "jitter is the mean norm of p[t+1] − 2 p[t] + p[t−1] over joints and frames, in pixels/frame², with the "
        "truth's own jitter beside it (a track smoother than that lags behind the motion); frames/s is frames "
        "over the wall time of the verb's call, model loading and writing the files included.",
        "",
        "| video | frames | error raw (px) | error raw, kept (px) | error cleaned (px) | dropped | jitter raw "
        "| jitter cleaned | jitter truth | frames/s | outputs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, c in video["clips"].items():
        lines.append(
            f"| [{name}]({c['input']}) | {c['frames']} | {_num(c['mean_error_px']['raw'])} | "
            f"{_num(c['mean_error_px']['raw_kept'])} | {_num(c['mean_error_px']['cleaned'])} | {c['dropped']} | "
            f"{_num(c['jitter_px']['raw'])} | "
            f"{_num(c['jitter_px']['cleaned'])} | {_num(c['jitter_px']['truth'])} | {_num(c['frames_per_s'], 1)} | "
            f"[skeleton.mp4]({c['out']}/skeleton.mp4), [features.json]({c['out']}/features.json) |"
        )
    m = video["mean"]
    lines += [
        f"| **mean** | {m['frames']} | {_num(m['mean_error_px']['raw'])} | {_num(m['mean_error_px']['raw_kept'])} | "
        f"{_num(m['mean_error_px']['cleaned'])} | {m['dropped']} (sum) | "
        f"{_num(m['jitter_px']['raw'])} | {_num(m['jitter_px']['cleaned'])} | {_num(m['jitter_px']['truth'])} | "
        f"{_num(m['frames_per_s'], 1)} | |",
        "",
        f"Per-frame tracks: `{VIDEO_OUT}/<video>/keypoints.csv` (raw `x_raw`, `y_raw` and cleaned `x`, `y`); "
        "docs/video.md describes every file.",
        "",
    ]
    return lines


def _print_table(summary: dict[str, Any]) -> None:
    zero_shot = summary.get("pretrained_zero_shot_pck@0.05")
    video = summary["video"]["mean"] if summary.get("video") else None
    rows = [
        ("PCK@0.05 (test_real)", f"{summary['pck@0.05']:.4f}"),
        ("PCK@0.05 untrained", f"{summary['untrained_pck@0.05']:.4f}"),
        *([("PCK@0.05 pretrained, zero-shot", f"{zero_shot:.4f}")] if zero_shot is not None else []),
        ("PCK AUC", f"{summary['pck_auc']:.4f}"),
        ("EPE px", f"{summary['epe']:.2f}"),
        ("G-Error", f"{summary['g_error']:.5f}"),
        ("COCO AP", "n/a" if summary["coco_ap"] is None else f"{summary['coco_ap']:.4f}"),
        *([("video error px raw (kept) -> cleaned", f"{_num(video['mean_error_px']['raw'])} "
                                                    f"({_num(video['mean_error_px']['raw_kept'])}) -> "
                                                    f"{_num(video['mean_error_px']['cleaned'])}"),
           ("video jitter raw -> cleaned (truth)", f"{_num(video['jitter_px']['raw'])} -> "
                                                   f"{_num(video['jitter_px']['cleaned'])} "
                                                   f"({_num(video['jitter_px']['truth'])})")] if video else []),
        ("total time s", f"{summary['total_time_s']}"),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def run(args: argparse.Namespace) -> int:
    from .data.io import DataFileError
    from .models.restricted_unpickler import UnsafeCheckpointError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = run_demo(
            Path(args.out),
            quick=args.quick,
            seed=args.seed,
            device=args.device,
            progress=not args.no_progress,
            from_scratch=args.from_scratch,
        )
    except (FileNotFoundError, DataFileError, UnsafeCheckpointError, ValueError, VideoPhaseError) as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 2
    print(
        f"\nwrote {Path(args.out) / 'report.md'} and {Path(args.out) / 'metrics.json'} "
        f"({summary['total_time_s']:.0f} s)"
    )
    return 0
