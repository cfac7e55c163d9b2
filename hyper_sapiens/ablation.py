"""The ``hyper-sapiens ablate`` verb: what each ingredient of the method buys, on the demo data.

Every variant starts from the shipped pretrained weights (as the demo does; ``--from-scratch``: random
weights) and gets the same budget of optimiser steps (split over the stages as in the demo configs); each is
trained and evaluated on ``test_real`` with several seeds:

(0) ``pretrained``    — the pretrained weights zero-shot, no infant training (the same for every seed);
(a) ``real_only``     — labelled real images only (the 25 % of ``train_real`` that keep keypoints);
(b) ``stage1_only``   — synthetic images + MINI-RGBD only (stage 1 for the whole budget);
(c) ``curriculum``    — stages 1 → 2 → 3 without the prior (SDS) and without geometry (geo) terms;
(d) ``+geometry``     — (c) with the depth-normal consistency term;
(e) ``+prior``        — (d) with the SDS prior term: the full method.

The table reports PCK@0.05, G-Error and the prior plausibility of the predictions, mean ± std over seeds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("pretrained", "real_only", "stage1_only", "curriculum", "+geometry", "+prior")
STAGE_SHARE = (0.4, 0.35, 0.25)


def overrides_for(stage: str, overrides: tuple[str, ...] | list[str]) -> list[str]:
    """The overrides that apply to ``stage`` (``stage1``, ``stage2`` or ``stage3``): every ``key=value``, and
    every ``stageN:key=value`` of that stage without its prefix."""
    out = []
    for item in overrides:
        match = re.match(r"^(stage[123]):(.*)$", item)
        if match is None:
            out.append(item)
        elif match.group(1) == stage:
            out.append(match.group(2))
    return out


def _run_overrides(steps: int, run_dir: Path) -> list[str]:
    """One training run of a variant: its steps and folder; no intermediate checkpoints, no periodic val."""
    return [f"run.steps={steps}", f"run.dir={run_dir}", "run.ckpt_every=0", "data.val=null"]


def _stage_cfg(name: str, common: list[str], steps: int, run_dir: Path, init_from: Path | None, geo: bool, sds: bool):
    from .config import load_config

    over = common + _run_overrides(steps, run_dir)
    if not geo:
        over.append("loss.geo.weight=0")
    if not sds:
        over.append("loss.sds.weight=0")
    over.append(f"init_from={init_from}" if init_from else "init_from=null")
    cfg = load_config(name, over)
    if init_from is None:
        cfg.init_from = None
    return cfg


def _train(cfg, progress: bool) -> Path:
    from .engine.trainer import Trainer

    trainer = Trainer(cfg, progress=progress)
    try:
        trainer.fit()
    finally:
        trainer.close()
    return Path(cfg.run.dir) / "final.safetensors"


def _pretrained_weights(cfg, out: Path) -> Path:
    """The stage-1 model with only ``sapiens_checkpoints.pose`` loaded, saved as our weights file."""
    import torch

    from .models import build_model, load_sapiens_checkpoint, save_weights

    if not cfg.sapiens_checkpoints.pose:
        raise ValueError("the 'pretrained' variant needs pretrained weights; it has none with --from-scratch")
    torch.manual_seed(0)
    model = build_model(cfg.model)
    load_sapiens_checkpoint(model, cfg.sapiens_checkpoints.pose, part="pose", strict=True)
    return save_weights(model, out / "final.safetensors")


def run_variant(
    variant: str,
    data: Path,
    runs: Path,
    prior: Path,
    seed: int,
    budget: int,
    device: str,
    progress: bool,
    overrides: tuple[str, ...] = (),
    from_scratch: bool = False,
) -> Path:
    """Train one variant; returns its final weights. ``overrides`` (``key=value``) apply to every stage,
    ``stageN:key=value`` to stage N only (:func:`overrides_for`; the one-stage variants run stage 1);
    ``from_scratch`` adds the demo's from-scratch overrides of each stage (random start, their learning rates)."""
    from .config import load_config
    from .demo import stage_overrides

    common = [
        f"data.root={data}",
        f"run.root={runs}",
        f"run.seed={seed}",
        f"run.device={device}",
        f"loss.sds.prior={prior}",
    ]
    out = runs / f"{variant}_seed{seed}"
    if variant == "pretrained":
        stage1 = load_config("stage1_syn_warmup_demo", common + overrides_for("stage1", overrides))
        return _pretrained_weights(stage1, out)
    if variant in ("real_only", "stage1_only"):
        cfg = load_config(
            "stage1_syn_warmup_demo", common + overrides_for("stage1", overrides)
            + stage_overrides("stage1", from_scratch=from_scratch) + _run_overrides(budget, out)
        )
        if variant == "real_only":
            syrip = data / "syrip"
            cfg.data.sources = {
                "real": {
                    "type": "coco",
                    "ann_file": str(syrip / "annotations" / "train_real.json"),
                    "image_root": str(syrip / "images" / "train_real"),
                    "labelled": "labelled",
                }
            }
            cfg.data.batch = {"counts": {"real": int(sum(cfg.data.batch.counts.values()))}}
        return _train(cfg, progress)
    geo = variant in ("+geometry", "+prior")
    sds = variant == "+prior"
    steps = [max(1, int(round(budget * s))) for s in STAGE_SHARE]
    init = None
    names = ("stage1_syn_warmup_demo", "stage2_mixed_demo", "stage3_real_refine_demo")
    for i, (name, n) in enumerate(zip(names, steps, strict=True)):
        stage = f"stage{i + 1}"
        stage_common = common + overrides_for(stage, overrides) + stage_overrides(stage, from_scratch=from_scratch)
        cfg = _stage_cfg(name, stage_common, n, out / f"stage{i + 1}", init, geo, sds)
        init = _train(cfg, progress)
    return init


def run_ablation(
    out: Path,
    seeds: list[int],
    budget: int,
    device: str = "auto",
    progress: bool = True,
    data: Path | None = None,
    variants: tuple[str, ...] = VARIANTS,
    overrides: tuple[str, ...] = (),
    from_scratch: bool = False,
) -> dict[str, Any]:
    """Train and evaluate ``variants`` for every seed; writes ``ablation.json`` (after every run) and ``ablation.md``.

    ``from_scratch`` starts every variant from random weights (drops the ``pretrained`` row); ``overrides``
    (``key=value``) apply to every stage of every variant.
    """
    from .config import load_config
    from .devices import pick_device
    from .evaluation.report import evaluate_checkpoint
    from .models import load_model
    from .prior.command import load_prior_config
    from .prior.train import train_prior
    from .synth import generate_dataset

    if from_scratch:
        variants = tuple(v for v in variants if v != "pretrained")
    out.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = out / "data"
        if not (data / "meta.json").is_file():
            generate_dataset(data, preset="demo", seed=0, progress=progress)
    runs = out / "runs"
    prior = runs / "prior" / "prior.safetensors"
    if not prior.is_file():
        prior_over = [f"data.root={data}", f"train.progress={str(progress).lower()}"]
        train_prior(load_prior_config("prior_demo", prior_over), str(runs / "prior"))
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    eval_cfg = load_config(
        "stage3_real_refine_demo", [f"data.root={data}", f"run.root={runs}", f"loss.sds.prior={prior}"]
    )
    for seed in seeds:
        for variant in variants:
            if variant == "pretrained" and results[variant]:  # no training: the same figures for every seed
                results[variant].append({**results[variant][0], "seed": seed})
                continue
            t = time.perf_counter()
            weights = run_variant(variant, data, runs, prior, seed, budget, device, progress, overrides, from_scratch)
            metrics = evaluate_checkpoint(
                load_model(weights),
                eval_cfg,
                runs / f"{variant}_seed{seed}" / "eval",
                pick_device(device),
                progress=progress,
                title=f"ablation {variant} seed {seed}",
            )
            results[variant].append(
                {
                    "seed": seed,
                    "pck@0.05": metrics["pck@0.05"],
                    "g_error": metrics["g_error"],
                    "prior_plausibility": metrics["prior_plausibility"],
                    "time_s": round(time.perf_counter() - t, 1),
                }
            )
            (out / "ablation.json").write_text(
                json.dumps(
                    {"budget_steps": budget, "seeds": seeds, "overrides": list(overrides),
                     "from_scratch": from_scratch, "runs": results},
                    indent=2,
                ),
                encoding="utf-8",
            )
    table = summarise(results)
    (out / "ablation.md").write_text(render_table(table, budget, seeds, overrides, from_scratch), encoding="utf-8")
    return {"budget_steps": budget, "seeds": seeds, "overrides": list(overrides), "runs": results, "table": table,
            "from_scratch": from_scratch}


def summarise(results: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (over seeds) of each metric of each variant."""
    table = {}
    for variant, rows in results.items():
        if not rows:
            continue
        entry = {}
        for key in ("pck@0.05", "g_error", "prior_plausibility"):
            vals = np.array([r[key] for r in rows if r[key] is not None], dtype=float)
            if vals.size:
                entry[key] = float(vals.mean())
                entry[key + "_std"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        table[variant] = entry
    return table


def render_table(
    table: dict[str, dict[str, float]],
    budget: int,
    seeds: list[int],
    overrides: tuple[str, ...] | list[str] = (),
    from_scratch: bool = False,
) -> str:
    start = "random weights" if from_scratch else "the pretrained weights"
    lines = [
        f"# Ablation on the demo data ({budget} steps per variant from {start}, seeds {seeds})",
        *(["", f"Overrides (`stageN:` for one stage only): `{' '.join(overrides)}`"] if overrides else []),
        "",
        "| variant | PCK@0.05 ↑ | G-Error ↓ | prior plausibility ↓ |",
        "|---|---|---|---|",
    ]
    for variant, e in table.items():

        def cell(k: str, fmt: str, e: dict[str, float] = e) -> str:
            return f"{e[k]:{fmt}} ± {e[k + '_std']:{fmt}}" if k in e else "n/a"

        lines.append(
            f"| {variant} | {cell('pck@0.05', '.4f')} | {cell('g_error', '.5f')} | "
            f"{cell('prior_plausibility', '.4f')} |"
        )
    found = effects(table)
    if found:
        lines += ["", "What each ingredient did (mean over seeds; ± is the standard deviation):", "", *found]
    versus = effects(table, VERSUS)
    if versus:
        lines += ["", "The full method against the baselines:", "", *versus]
    return "\n".join(lines) + "\n"


#: Each ingredient and the variant it is added to.
STEPS = (
    ("training on the labelled real infants (from the pretrained start)", "pretrained", "real_only"),
    ("synthetic data instead of the labelled real images", "real_only", "stage1_only"),
    ("the curriculum (stages 2 and 3 with real images)", "stage1_only", "curriculum"),
    ("the depth-normal consistency term", "curriculum", "+geometry"),
    ("the SDS prior term", "+geometry", "+prior"),
)


#: The full method against the baselines the method must beat.
VERSUS = (
    ("the full method against (a) real-labelled only", "real_only", "+prior"),
    ("the full method against (b) stage 1 only", "stage1_only", "+prior"),
)


def effects(table: dict[str, dict[str, float]], steps: tuple[tuple[str, str, str], ...] = STEPS) -> list[str]:
    """One sentence per ingredient: the change of mean PCK@0.05 it brought, called a help or a harm only
    when it exceeds the seeds' spread (the two standard deviations added in quadrature)."""
    lines = []
    for what, before, after in steps:
        a, b = table.get(before, {}), table.get(after, {})
        if "pck@0.05" not in a or "pck@0.05" not in b:
            continue
        delta = b["pck@0.05"] - a["pck@0.05"]
        spread = float(np.hypot(a.get("pck@0.05_std", 0.0), b.get("pck@0.05_std", 0.0)))
        verdict = (
            "helped" if delta > spread else "hurt" if delta < -spread else "made no difference beyond the seed spread"
        )
        lines.append(f"- {what} ({before} → {after}): PCK@0.05 {delta:+.4f} (spread {spread:.4f}): {verdict}.")
    return lines


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "ablate",
        help="train and evaluate the method's variants (real only, synthetic only, curriculum, +geometry, +prior)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
        epilog="example: hyper-sapiens ablate --out ablation --seeds 0 1 2 --steps 240",
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=240, help="optimiser steps per variant (split over stages)")
    parser.add_argument("--data", default=None, help="an existing `synth --preset demo` folder (else rendered)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every stage of every variant (e.g. loss.sds.min_confidence=0), or for one "
        "stage with a stageN: prefix (e.g. stage2:loss.geo.weight=0.1)",
    )
    parser.add_argument("--from-scratch", action="store_true",
                        help="start every variant from random weights instead of the shipped pretrained weights")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from .data.io import DataFileError
    from .models.restricted_unpickler import UnsafeCheckpointError

    try:
        result = run_ablation(
            Path(args.out),
            args.seeds,
            args.steps,
            device=args.device,
            progress=not args.no_progress,
            data=Path(args.data) if args.data else None,
            variants=tuple(args.variants),
            overrides=tuple(args.set),
            from_scratch=args.from_scratch,
        )
    except (FileNotFoundError, DataFileError, UnsafeCheckpointError, ValueError) as err:
        print(f"ablate: error: {err}", file=sys.stderr)
        return 2
    print(render_table(result["table"], result["budget_steps"], result["seeds"], result["overrides"],
                       result["from_scratch"]))
    return 0
