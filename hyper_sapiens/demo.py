"""The ``hyper-sapiens demo`` verb: synth → prior → stage 1 → 2 → 3 → evaluate, on the embedded data set.

Stage 1 starts from the shipped pretrained weights (the tiny ViT trained on synthetic adults, the stand-in for
a Sapiens COCO pose checkpoint), as a user starts from ``sapiens_checkpoints.pose``; ``--from-scratch`` starts
from random weights with the from-scratch learning rates instead.

Everything lands under ``--out``: ``data/`` (the generated data set), ``runs/prior``, ``runs/stage{1,2,3}``,
``eval/`` (metrics.json, report.md, plots), ``eval_pretrained/`` (the pretrained weights zero-shot) and the
top-level ``report.md`` + ``metrics.json``. ``--quick`` renders the ``tiny`` preset and trains a few steps per
phase (a smoke test of the whole chain).
"""

from __future__ import annotations

import argparse
import logging
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
STAGES = (("stage1", "stage1_syn_warmup_demo"), ("stage2", "stage2_mixed_demo"), ("stage3", "stage3_real_refine_demo"))


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="the whole method on the embedded data: synth, prior, stages 1-3, evaluation, report",
        description="Render the `demo` synthetic infant data set, train the diffusion prior, run the three "
        "curriculum stages with the tiny Sapiens model at 256x192, evaluate on test_real and write "
        "OUT/report.md and OUT/metrics.json. About 14 minutes on 2 CPU cores (README); --quick takes a few minutes "
        "at most (tiny data, few steps: a smoke test, not a result).",
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

    _phase("1/5 render the synthetic data set")
    t = time.perf_counter()
    generate_dataset(data, preset="tiny" if quick else "demo", seed=seed, progress=progress)
    timings["synth"] = time.perf_counter() - t

    _phase("2/5 train the diffusion pose prior")
    t = time.perf_counter()
    prior_over = [f"data.root={data}", f"seed={seed}", f"train.progress={str(progress).lower()}"]
    prior_cfg = load_prior_config("prior_demo", prior_over + (QUICK["prior"] if quick else []))
    train_prior(prior_cfg, str(runs / "prior"))
    timings["prior"] = time.perf_counter() - t

    pretrained = None
    if not from_scratch:
        _phase("3/5 the pretrained weights, zero-shot on test_real")
        t = time.perf_counter()
        stage1_cfg = load_config(STAGES[0][1], common + stage_overrides("stage1", quick))
        pretrained = _pretrained_zero_shot(stage1_cfg, out / "eval_pretrained", device, progress)
        timings["pretrained_zero_shot"] = time.perf_counter() - t

    stage_results = {}
    for i, (stage, config_name) in enumerate(STAGES):
        _phase(f"3/5 train {stage} ({config_name}), {i + 1} of {len(STAGES)}")
        t = time.perf_counter()
        cfg = load_config(config_name, common + stage_overrides(stage, quick, from_scratch))
        trainer = Trainer(cfg, progress=progress)
        try:
            stage_results[stage] = trainer.fit()
        finally:
            trainer.close()
        timings[stage] = time.perf_counter() - t

    _phase("4/5 evaluate on test_real")
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

    _phase("5/5 report")
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
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "total_time_s": round(sum(timings.values()), 1),
        "quick": quick,
        "seed": seed,
    }
    (out / "metrics.json").write_text(json_safe.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
    (out / "report.md").write_text(_report(summary, metrics), encoding="utf-8")
    _print_table(summary)
    return summary


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
        "the shipped pretrained weights (tiny ViT trained on synthetic adults, docs/pretrained.md)")
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
    ]
    return "\n".join(lines)


def _print_table(summary: dict[str, Any]) -> None:
    zero_shot = summary.get("pretrained_zero_shot_pck@0.05")
    rows = [
        ("PCK@0.05 (test_real)", f"{summary['pck@0.05']:.4f}"),
        ("PCK@0.05 untrained", f"{summary['untrained_pck@0.05']:.4f}"),
        *([("PCK@0.05 pretrained, zero-shot", f"{zero_shot:.4f}")] if zero_shot is not None else []),
        ("PCK AUC", f"{summary['pck_auc']:.4f}"),
        ("EPE px", f"{summary['epe']:.2f}"),
        ("G-Error", f"{summary['g_error']:.5f}"),
        ("COCO AP", "n/a" if summary["coco_ap"] is None else f"{summary['coco_ap']:.4f}"),
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
    except (FileNotFoundError, DataFileError, UnsafeCheckpointError, ValueError) as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 2
    print(
        f"\nwrote {Path(args.out) / 'report.md'} and {Path(args.out) / 'metrics.json'} "
        f"({summary['total_time_s']:.0f} s)"
    )
    return 0
