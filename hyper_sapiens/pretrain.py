"""The ``hyper-sapiens pretrain`` verb: the recipe behind the shipped ``tiny_adult_pose`` weights.

1. render the synthetic adults (``synth --population adult --preset pretrain``) into ``OUT/data/adults`` and
   the infant ``demo`` set into ``OUT/data/demo`` (kept when already there with the same preset and seed);
2. train ``pretrain_tiny_adult`` (tiny ViT, pose head only, from scratch) into ``OUT/train``, logging
   PCK@0.05 on held-out adults and zero-shot on the infant ``test_real`` set every ``run.eval_every`` steps;
   ``--resume`` continues exactly where a stopped run left off, ``--stop-after N`` stops after step N;
3. once the schedule is complete, write ``OUT/tiny_adult_pose.safetensors`` (fp16, Sapiens key names) and
   ``OUT/tiny_adult_pose.json`` (the manifest: sha256, recipe, commit, seed, steps, wall time, figures of the
   written file re-measured after the fp16 cast, learning curve).

Copy the two files into ``hyper_sapiens/weights/`` to ship them (docs/pretrained.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CONFIG = "pretrain_tiny_adult"
WEIGHTS_NAME = "tiny_adult_pose"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "pretrain",
        help="the recipe of the shipped pretrained weights: synthetic adults -> tiny ViT pose model",
        description="Render the synthetic adult set and the infant demo set, train the tiny Sapiens ViT "
        "(pose head only) on the adults with the pretrain_tiny_adult config, and write the fp16 weights in "
        "the Sapiens layout with their manifest. About 2 hours on 2 CPU cores; run it in pieces with "
        "--stop-after and --resume.",
        epilog="example: hyper-sapiens pretrain --out runs/pretrain && "
        "cp runs/pretrain/tiny_adult_pose.* hyper_sapiens/weights/",
    )
    parser.add_argument("--out", required=True, help="output folder (data/, train/, the weights and manifest)")
    parser.add_argument("--resume", action="store_true", help="continue OUT/train from its last.ckpt")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N", help="stop after step N (resumable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data sets and of training (default 0)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the training run (repeatable), e.g. run.steps=500")
    parser.add_argument("--adult-preset", default="pretrain", help="synthetic adult set size (default: pretrain)")
    parser.add_argument("--infant-preset", default="demo", help="infant set for the zero-shot curve (default: demo)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)
    return parser


def _render_if_needed(path: Path, population: str, preset: str, seed: int, progress: bool) -> float:
    """Render a data set into ``path`` unless a complete one with this preset and seed is there; seconds spent."""
    meta_path = path / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        have = meta["preset"]["name"] if isinstance(meta.get("preset"), dict) else meta.get("preset")
        if have == preset and int(meta.get("seed", -1)) == seed:
            print(f"  {path}: already rendered ({population}, preset {preset}, seed {seed})", flush=True)
            return 0.0
    start = time.perf_counter()
    if population == "adult":
        from .synth.adults import generate_adult_dataset

        generate_adult_dataset(path, preset=preset, seed=seed, progress=progress)
    else:
        from .synth import generate_dataset

        generate_dataset(path, preset=preset, seed=seed, progress=progress)
    return time.perf_counter() - start


def git_commit() -> str:
    """The commit of the checkout this package runs from (``+dirty`` with uncommitted changes), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def learning_curve(metrics_file: Path) -> list[dict[str, Any]]:
    """``[{step, adults_pck@0.05, infants_pck@0.05}]`` from a run's ``metrics.jsonl`` evaluation records."""
    curve: dict[int, dict[str, Any]] = {}
    for line in metrics_file.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        step = int(record["step"])
        if "eval" in record:
            curve.setdefault(step, {"step": step})["adults_pck@0.05"] = record["eval"]["pck@0.05"]
        if "eval_infants_test_real" in record:
            curve.setdefault(step, {"step": step})["infants_pck@0.05"] = record["eval_infants_test_real"]["pck@0.05"]
    return [curve[s] for s in sorted(curve)]


def package_weights(cfg: Any, run_dir: Path, out: Path, timings: dict[str, float], device: str,
                    progress: bool, commits: list[str] | None = None) -> dict[str, Any]:
    """Write the fp16 Sapiens-layout weights and their manifest; figures are measured on the written file."""
    from omegaconf import OmegaConf

    from .config_schema import plain_container
    from .devices import pick_device
    from .evaluation.report import evaluate_checkpoint
    from .models import build_model, load_model, load_sapiens_checkpoint
    from .models.pretrained import save_sapiens_pose, sha256_of
    from .portable_paths import portable

    trained = load_model(run_dir / "final.safetensors")
    commits = sorted(set(commits or [git_commit()]))
    commit = commits[0] if len(commits) == 1 else " ".join(commits)
    steps = int(cfg.run.steps)
    weights = save_sapiens_pose(
        trained, out / f"{WEIGHTS_NAME}.safetensors",
        metadata={"recipe": CONFIG, "commit": commit, "seed": str(cfg.run.seed), "steps": str(steps)},
    )
    shipped = build_model(cfg.model)
    load_sapiens_checkpoint(shipped, weights, part="pose", strict=True)
    figures = {}
    dev = pick_device(device)
    for name, spec in (("adults_val", cfg.data.val), ("infants_test_real", cfg.data.extra_val.infants_test_real)):
        eval_cfg = OmegaConf.merge(cfg, {"eval": {"dataset": spec}})
        metrics = evaluate_checkpoint(shipped, eval_cfg, out / f"eval_{name}", dev, progress=progress,
                                      title=f"{WEIGHTS_NAME}: {name}")
        figures[name] = {k: metrics[k] for k in ("pck@0.05", "pck_auc", "epe", "num_instances") if k in metrics}
    manifest = {
        "file": weights.name,
        "sha256": sha256_of(weights),
        "bytes": weights.stat().st_size,
        "dtype": "float16",
        "key_layout": "sapiens (backbone.*, head.*): load with sapiens_checkpoints.pose",
        "recipe": {"config": CONFIG, "command": "hyper-sapiens pretrain --out DIR",
                   "resolved_config": plain_container(cfg)},
        "commit": commit,
        "seed": int(cfg.run.seed),
        "steps": steps,
        "samples_seen": steps * sum(int(v) for v in cfg.data.batch.counts.values()),
        "data": {"adults": str(cfg.data.adults), "infants": str(cfg.data.root)},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "figures": figures,
        "learning_curve": learning_curve(run_dir / "metrics.jsonl"),
        "machine": _machine(),
    }
    manifest = portable(manifest, {"OUT": out})
    manifest["paths"] = {"OUT": "the folder given as pretrain --out; every path here is relative to a named folder"}
    (out / f"{WEIGHTS_NAME}.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def _machine() -> str:
    import os
    import platform

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cores} cores, {cpu}, torch {torch.__version__}"


def run_pretrain(out: Path, resume: bool = False, stop_after: int | None = None, seed: int = 0,
                 overrides: list[str] | None = None, device: str = "auto", progress: bool = True,
                 adult_preset: str = "pretrain", infant_preset: str = "demo") -> dict[str, Any]:
    """Run the recipe; returns ``{"complete": bool, "step": int, "manifest": dict | None}``."""
    from .config import load_config
    from .engine.trainer import Trainer

    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    timings_file = out / "timings.json"
    timings: dict[str, float] = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
    # the code that trains is the code of every piece's start: record each piece's commit
    commits_file = out / "commits.json"
    commits: list[str] = json.loads(commits_file.read_text()) if commits_file.is_file() and resume else []
    commits.append(git_commit())
    if not resume:
        timings.pop("train", None)  # a fresh run: only the rendering (when reused) carries over

    print("== 1/3 render the synthetic adults and the infant demo set ==", flush=True)
    for key, (population, preset) in {"synth_adults": ("adult", adult_preset),
                                       "synth_infants": ("infant", infant_preset)}.items():
        spent = _render_if_needed(data / ("adults" if population == "adult" else "demo"), population, preset, seed,
                                  progress)
        if spent:
            timings[key] = spent
    timings_file.write_text(json.dumps(timings, indent=2))

    run_dir = out / "train"
    if (run_dir / "last.ckpt").exists() and not resume:
        raise ValueError(f"{run_dir / 'last.ckpt'} exists: pass --resume to continue it, or choose another --out")
    cfg = load_config(CONFIG, [f"data.adults={data / 'adults'}", f"data.root={data / 'demo'}", f"run.dir={run_dir}",
                               f"run.seed={seed}", f"run.device={device}", *(overrides or [])]
                      + ([f"run.stop_after={stop_after}"] if stop_after is not None else []))
    print(f"== 2/3 train {CONFIG} ({cfg.run.steps} steps) into {run_dir} ==", flush=True)
    commits_file.write_text(json.dumps(commits))
    start = time.perf_counter()
    trainer = Trainer(cfg, resume=resume, progress=progress)
    try:
        result = trainer.fit()
    finally:
        trainer.close()
    timings["train"] = timings.get("train", 0.0) + time.perf_counter() - start
    timings_file.write_text(json.dumps(timings, indent=2))
    if result["step"] < int(cfg.run.steps):
        print(f"stopped at step {result['step']} of {cfg.run.steps}; continue with --resume", flush=True)
        return {"complete": False, "step": result["step"], "manifest": None}

    print("== 3/3 write the fp16 weights and their manifest ==", flush=True)
    cfg.run.pop("stop_after", None)
    manifest = package_weights(cfg, run_dir, out, timings, device, progress, commits)
    return {"complete": True, "step": result["step"], "manifest": manifest}


def run(args: argparse.Namespace) -> int:
    from .data.io import DataFileError
    from .models.restricted_unpickler import UnsafeCheckpointError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run_pretrain(Path(args.out), resume=args.resume, stop_after=args.stop_after, seed=args.seed,
                              overrides=args.overrides, device=args.device, progress=not args.no_progress,
                              adult_preset=args.adult_preset, infant_preset=args.infant_preset)
    except (FileNotFoundError, DataFileError, UnsafeCheckpointError, ValueError) as err:
        print(f"pretrain: error: {err}", file=sys.stderr)
        return 2
    if result["complete"]:
        m = result["manifest"]
        f = m["figures"]
        print(f"\nwrote {Path(args.out) / m['file']} ({m['bytes'] / 1e6:.1f} MB, sha256 {m['sha256'][:12]}...) and its "
              f"manifest; PCK@0.05 held-out adults {f['adults_val']['pck@0.05']:.3f}, zero-shot infants "
              f"{f['infants_test_real']['pck@0.05']:.3f}")
    return 0
