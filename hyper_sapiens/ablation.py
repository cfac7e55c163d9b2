"""The ``hyper-sapiens ablate`` verb: what each ingredient of the method buys, on the demo data or on real photos.

Every variant starts from the shipped pretrained weights (as the demo does; ``--from-scratch``: random
weights) and gets the same budget of optimiser steps (the three-stage variants split it 40/35/25 % over the stages,
:data:`STAGE_SHARE`, whatever the stage configs' own ``run.steps``); each is trained and evaluated with several
seeds:

(0) ``pretrained``    — the pretrained weights zero-shot, no infant training (the same for every seed);
(a) ``real_only``     — labelled real images only;
(b) ``stage1_only``   — synthetic images + MINI-RGBD only (stage 1 for the whole budget);
(c) ``curriculum``    — stages 1 → 2 → 3 without the prior (SDS) and without geometry (geo) terms;
(d) ``+geometry``     — (c) with the depth-normal consistency term;
(e) ``+prior``        — (d) with the SDS prior term: the full method.

Recipes: ``demo`` (the demo's stage configs on the rendered ``demo`` set, scored on its ``test_real``; the labelled
real images of (a) are the 25 % of ``train_real`` that keep keypoints) and ``real`` (the ``*_real`` stage configs:
SyRIP's real training images, unlabelled clip frames from ``hyper-sapiens frames``, the renders; scored on the
held-out fold of SyRIP's training images, or with ``--score validate`` on SyRIP's validate images; the prior is
trained on the renders' skeletons plus the OpenPose tracks given).

The table reports PCK@0.05, G-Error and the prior plausibility of the predictions, mean ± std over seeds, and
for the real recipe PCK@0.05 per posture. ``ablation.json`` is written after every run; running the same command
again (same recipe, budget, overrides and scoring) keeps the finished runs and trains only the missing ones.
(c), (d) and (e) of one seed share one stage-1 run (:func:`_shared_first_stage`). Seeds can also run as separate
processes or on separate machines, each with its own ``--out`` (and the same ``--data`` and settings); ``--merge``
then gathers their finished runs into one folder's table (:func:`merge_finished_runs`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("pretrained", "real_only", "stage1_only", "curriculum", "+geometry", "+prior")
STAGE_SHARE = (0.4, 0.35, 0.25)
#: Each recipe's three stage configs.
RECIPES: dict[str, tuple[str, str, str]] = {
    "demo": ("stage1_syn_warmup_demo", "stage2_mixed_demo", "stage3_real_refine_demo"),
    "real": ("stage1_syn_warmup_real", "stage2_mixed_real", "stage3_real_refine_real"),
}
#: Where the real recipe's variants are scored: the held-out training fold (settings are chosen there) or validate.
SCORE_ON = ("fold", "validate")


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


def _labelled_real_source(recipe: str, data: Path, common: list[str]) -> dict[str, Any]:
    """The labelled real images variant (a) trains on: the demo's labelled ``train_real``, or the real recipe's
    stage-2 ``syrip_train`` source (SyRIP's training folds that are not held out)."""
    if recipe == "real":
        from .config import load_config

        return dict(load_config(RECIPES["real"][1], common).data.sources["syrip_train"])
    syrip = data / "syrip"
    return {"type": "coco", "ann_file": str(syrip / "annotations" / "train_real.json"),
            "image_root": str(syrip / "images" / "train_real"), "labelled": "labelled"}


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
    recipe: str = "demo",
    data_overrides: tuple[str, ...] = (),
) -> Path:
    """Train one variant; returns its final weights. ``overrides`` (``key=value``) apply to every stage,
    ``stageN:key=value`` to stage N only (:func:`overrides_for`; the one-stage variants run stage 1);
    ``from_scratch`` adds the demo's from-scratch overrides of each stage (random start, their learning rates).
    ``recipe`` picks the stage configs (:data:`RECIPES`); ``data_overrides`` name its other data folders
    (``data.syrip=...``, ``data.frames=...``)."""
    from .config import load_config
    from .demo import stage_overrides

    names = RECIPES[recipe]
    common = [
        f"data.root={data}",
        *data_overrides,
        f"run.root={runs}",
        f"run.seed={seed}",
        f"run.device={device}",
        f"loss.sds.prior={prior}",
    ]
    out = runs / f"{variant}_seed{seed}"
    if variant == "pretrained":
        stage1 = load_config(names[0], common + overrides_for("stage1", overrides))
        return _pretrained_weights(stage1, out)
    if variant in ("real_only", "stage1_only"):
        cfg = load_config(
            names[0], common + overrides_for("stage1", overrides)
            + stage_overrides("stage1", from_scratch=from_scratch) + _run_overrides(budget, out)
        )
        if variant == "real_only":
            cfg.data.sources = {"real": _labelled_real_source(recipe, data, common)}
            cfg.data.batch = {"counts": {"real": int(sum(cfg.data.batch.counts.values()))}}
        return _train(cfg, progress)
    geo = variant in ("+geometry", "+prior")
    sds = variant == "+prior"
    steps = [max(1, int(round(budget * s))) for s in STAGE_SHARE]
    init = None
    for i, (name, n) in enumerate(zip(names, steps, strict=True)):
        stage = f"stage{i + 1}"
        stage_common = common + overrides_for(stage, overrides) + stage_overrides(stage, from_scratch=from_scratch)
        cfg = _stage_cfg(name, stage_common, n, out / f"stage{i + 1}", init, geo, sds)
        init = _shared_first_stage(cfg, runs, progress) if i == 0 else _train(cfg, progress)
    return init


def _shared_first_stage(cfg, runs: Path, progress: bool) -> Path:
    """Stage 1 of a curriculum variant, trained once for every variant whose stage-1 config is the same.

    (c), (d) and (e) usually differ from stage 2 on (stage 1 has neither term), and training is deterministic
    per seed, so their stage-1 weights are identical; the run lives in ``runs/stage1_<hash>`` (the hash of the
    resolved config without ``run.dir``, which includes the seed), and a variant whose stage 1 is already there
    starts its stage 2 from it. A stage 1 with a term switched on (``stage1:loss.geo.weight=...``) gets its own
    hash, so the variants then train their own."""
    from .config import resolved_container

    plain = resolved_container(cfg)
    plain["run"].pop("dir")
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True).encode("utf-8")).hexdigest()[:12]
    cfg.run.dir = str(runs / f"stage1_{digest}")
    final = Path(cfg.run.dir) / "final.safetensors"
    if final.is_file():
        return final
    return _train(cfg, progress)


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
    recipe: str = "demo",
    syrip: Path | None = None,
    frames: Path | None = None,
    openpose: Path | None = None,
    openpose_videos: Path | None = None,
    score_on: str = "fold",
    merge: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """Train and evaluate ``variants`` for every seed; writes ``ablation.json`` (after every run) and ``ablation.md``.

    ``from_scratch`` starts every variant from random weights (drops the ``pretrained`` row); ``overrides``
    (``key=value``) apply to every stage of every variant. The ``real`` recipe needs ``syrip`` (SyRIP in FiDIP's
    layout) and ``frames`` (``hyper-sapiens frames`` output); ``openpose`` (with ``openpose_videos``, the clips
    whose frame sizes scale the fractions) adds real tracks to the prior's skeletons; ``score_on`` is ``fold`` or
    ``validate`` (module docstring). Runs already in ``out/ablation.json`` under the same settings are kept, and
    so are those of the ``merge`` folders' ``ablation.json`` files (:func:`merge_finished_runs`).
    """
    from .config import load_config
    from .devices import pick_device
    from .evaluation.report import evaluate_checkpoint
    from .models import load_model
    from .prior.command import load_prior_config
    from .prior.train import train_prior
    from .synth import generate_dataset

    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
    if score_on not in SCORE_ON:
        raise ValueError(f"score_on must be one of {list(SCORE_ON)}, got {score_on!r}")
    data_overrides: list[str] = []
    if recipe == "real":
        for flag, path in (("--syrip", syrip), ("--frames", frames)):
            if path is None or not Path(path).is_dir():
                raise FileNotFoundError(f"the real recipe needs {flag} (a folder), got {path}")
        data_overrides = [f"data.syrip={Path(syrip).resolve()}", f"data.frames={Path(frames).resolve()}"]
    if from_scratch:
        variants = tuple(v for v in variants if v != "pretrained")
    out.mkdir(parents=True, exist_ok=True)
    settings = {"recipe": recipe, "budget_steps": budget, "overrides": list(overrides), "from_scratch": from_scratch,
                "score_on": score_on if recipe == "real" else "test_real"}
    results = _finished_runs(out / "ablation.json", settings, variants)
    if merge:
        results = merge_finished_runs(results, [Path(m) / "ablation.json" for m in merge], settings, variants)
        (out / "ablation.json").write_text(
            json.dumps({**settings, "seeds": seeds, "runs": results}, indent=2), encoding="utf-8")
    # the pretrained row is evaluated once for all seeds; data and prior are needed only while something is left
    work_left = any(not (any(r["seed"] == s for r in results[v]) or (v == "pretrained" and results[v]))
                        for s in seeds for v in variants)
    if data is None:
        data = out / "data"
        if work_left and not (data / "meta.json").is_file():
            generate_dataset(data, preset="demo", seed=0, progress=progress)
    runs = out / "runs"
    prior = runs / "prior" / "prior.safetensors"
    if work_left and not prior.is_file():
        prior_over = [f"data.root={data}", f"train.progress={str(progress).lower()}"]
        if openpose is not None:
            prior_over.append(f"data.openpose=[{Path(openpose).resolve()}]")
            if openpose_videos is not None:
                prior_over.append(f"data.openpose_videos={Path(openpose_videos).resolve()}")
        train_prior(load_prior_config("prior_demo", prior_over), str(runs / "prior"))
    eval_cfg = load_config(RECIPES[recipe][2], [f"data.root={data}", *data_overrides, f"run.root={runs}",
                                                f"loss.sds.prior={prior}"])
    if recipe == "real" and score_on == "validate":
        from .data.syrip_layout import syrip_file

        root, layout = str(eval_cfg.data.syrip), str(eval_cfg.data.syrip_layout)
        eval_cfg.data.val = {"type": "coco", "ann_file": syrip_file(root, layout, "test_ann"),
                             "image_root": syrip_file(root, layout, "test_images"), "labelled": "labelled"}
    for seed in seeds:
        for variant in variants:
            if any(r["seed"] == seed for r in results[variant]):
                continue  # finished in an earlier run of this command
            if variant == "pretrained" and results[variant]:  # no training: the same figures for every seed
                results[variant].append({**results[variant][0], "seed": seed})
                continue
            t = time.perf_counter()
            weights = run_variant(variant, data, runs, prior, seed, budget, device, progress, overrides, from_scratch,
                                  recipe, tuple(data_overrides))
            metrics = evaluate_checkpoint(
                load_model(weights),
                eval_cfg,
                runs / f"{variant}_seed{seed}" / "eval",
                pick_device(device),
                progress=progress,
                title=f"ablation {variant} seed {seed}",
            )
            row = {
                "seed": seed,
                "pck@0.05": metrics["pck@0.05"],
                "g_error": metrics["g_error"],
                "prior_plausibility": metrics["prior_plausibility"],
                "time_s": round(time.perf_counter() - t, 1),
            }
            groups = (metrics.get("groups") or {}).get(eval_cfg.eval.group_by or "", {})
            if groups:
                row["groups"] = {str(k): v["pck@0.05"] for k, v in sorted(groups.items())}
            results[variant].append(row)
            (out / "ablation.json").write_text(
                json.dumps({**settings, "seeds": seeds, "runs": results}, indent=2), encoding="utf-8")
    table = summarise(results)
    (out / "ablation.md").write_text(render_table(table, budget, seeds, overrides, from_scratch, recipe, score_on),
                                     encoding="utf-8")
    return {**settings, "seeds": seeds, "runs": results, "table": table}


def _finished_runs(path: Path, settings: dict[str, Any], variants: tuple[str, ...]) -> dict[str, list[dict]]:
    """The rows of an earlier ``ablation.json`` written under the same ``settings`` (empty lists otherwise): every
    variant it holds, so that a run of fewer ``variants`` keeps the others' rows in the file it rewrites."""
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    if not path.is_file():
        return results
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not readable JSON ({err}); move it away to start afresh") from None
    same = all(earlier.get(k, "test_real" if k == "score_on" else "demo" if k == "recipe" else None) == v
               for k, v in settings.items())
    if not same:
        raise ValueError(f"{path} holds runs of other settings ({ {k: earlier.get(k) for k in settings} }); use "
                         "another --out, or move it away to start afresh")
    for variant, rows in earlier.get("runs", {}).items():
        results[variant] = list(rows)
    return {v: results[v] for v in (*VARIANTS, *results) if v in results}


def merge_finished_runs(
    results: dict[str, list[dict[str, Any]]], paths: list[Path], settings: dict[str, Any], variants: tuple[str, ...]
) -> dict[str, list[dict[str, Any]]]:
    """``results`` with the finished runs of other ablation folders' ``ablation.json`` files (``paths``) added.

    Each file must hold runs of the same ``settings`` (recipe, budget, overrides, scoring), else ``ValueError``;
    whether the folders trained on the same data is the caller's to ensure (``--data``: the same renders). A
    (variant, seed) already present keeps its row, so the first folder that has it wins; rows come back sorted by
    seed."""
    merged = {variant: list(rows) for variant, rows in results.items()}
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no ablation.json to merge (has that folder finished any run?)")
        for variant, rows in _finished_runs(path, settings, variants).items():
            have = {r["seed"] for r in merged.setdefault(variant, [])}
            merged[variant].extend(r for r in rows if r["seed"] not in have)
    return {variant: sorted(rows, key=lambda r: r["seed"]) for variant, rows in merged.items()}


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
        for group in sorted({g for r in rows for g in r.get("groups", {})}):
            vals = np.array([r["groups"][group] for r in rows if r.get("groups", {}).get(group) is not None], float)
            if vals.size:
                entry[f"group:{group}"] = float(vals.mean())
                entry[f"group:{group}_std"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        table[variant] = entry
    return table


def render_table(
    table: dict[str, dict[str, float]],
    budget: int,
    seeds: list[int],
    overrides: tuple[str, ...] | list[str] = (),
    from_scratch: bool = False,
    recipe: str = "demo",
    score_on: str = "fold",
) -> str:
    """``ablation.md``: the table (with a PCK@0.05 column per image group, e.g. SyRIP's postures, when the runs
    have them) and the verdicts of :func:`effects`."""
    start = "random weights" if from_scratch else "the pretrained weights"
    where = ("the demo data (scored on test_real)" if recipe == "demo" else
             "real photographs (scored on " + ("SyRIP validate" if score_on == "validate" else
                                               "the held-out fold of SyRIP's training images") + ")")
    groups = sorted({k[len("group:"):] for e in table.values() for k in e if k.startswith("group:")
                     and not k.endswith("_std")})
    lines = [
        f"# Ablation on {where} ({budget} steps per variant from {start}, seeds {seeds})",
        *(["", f"Overrides (`stageN:` for one stage only): `{' '.join(overrides)}`"] if overrides else []),
        "",
        "| variant | PCK@0.05 ↑ | G-Error ↓ | prior plausibility ↓ |" + "".join(f" {g} PCK ↑ |" for g in groups),
        "|---|---|---|---|" + "---|" * len(groups),
    ]
    for variant, e in table.items():

        def cell(k: str, fmt: str, e: dict[str, float] = e) -> str:
            return f"{e[k]:{fmt}} ± {e[k + '_std']:{fmt}}" if k in e else "n/a"

        lines.append(
            f"| {variant} | {cell('pck@0.05', '.4f')} | {cell('g_error', '.5f')} | "
            f"{cell('prior_plausibility', '.4f')} |" + "".join(f" {cell('group:' + g, '.3f')} |" for g in groups)
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
        description=" ".join(__doc__.split("\n\n")[i] for i in (1, 3)) if __doc__ else None,
        epilog="examples: hyper-sapiens ablate --out ablation --seeds 0 1 2 --steps 240; on real photos: "
        "hyper-sapiens ablate --recipe real --syrip SYRIP --frames FRAMES --openpose OPENPOSE --openpose-videos "
        "VIDEOS --data DEMO_RENDERS --out ablation_real --seeds 0 1 2 --steps 640",
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
    parser.add_argument("--recipe", default="demo", choices=sorted(RECIPES),
                        help="demo: the demo's stages on rendered data (default); real: the *_real stages on SyRIP's "
                        "real photos and clip frames (needs --syrip and --frames)")
    parser.add_argument("--syrip", default=None, help="real recipe: SyRIP in FiDIP's layout")
    parser.add_argument("--frames", default=None, help="real recipe: unlabelled clip frames (hyper-sapiens frames)")
    parser.add_argument("--openpose", default=None,
                        help="real recipe: a folder of OpenPose folders whose tracks join the prior's skeletons")
    parser.add_argument("--openpose-videos", default=None,
                        help="the clips of --openpose (each folder's fractions scaled by its video's frame size)")
    parser.add_argument("--score", default="fold", choices=SCORE_ON,
                        help="real recipe: score on the held-out fold of SyRIP's training images (default; choose "
                        "settings there) or on SyRIP validate (once, with the chosen settings)")
    parser.add_argument("--merge", nargs="+", default=[], metavar="DIR",
                        help="other ablation folders (same settings and --data) whose finished runs join this "
                        "one's, e.g. one folder per seed run as separate processes; their runs are not repeated")
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
            recipe=args.recipe,
            syrip=Path(args.syrip) if args.syrip else None,
            frames=Path(args.frames) if args.frames else None,
            openpose=Path(args.openpose) if args.openpose else None,
            openpose_videos=Path(args.openpose_videos) if args.openpose_videos else None,
            score_on=args.score,
            merge=tuple(Path(m) for m in args.merge),
        )
    except (FileNotFoundError, DataFileError, UnsafeCheckpointError, ValueError) as err:
        print(f"ablate: error: {err}", file=sys.stderr)
        return 2
    print(render_table(result["table"], result["budget_steps"], result["seeds"], result["overrides"],
                       result["from_scratch"], result["recipe"], args.score))
    return 0
