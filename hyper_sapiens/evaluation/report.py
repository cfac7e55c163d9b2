"""Evaluate a trained model on a test set and write ``metrics.json``, ``report.md`` and plots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from .. import json_safe
from ..config import validate_stage_config
from ..config_schema import plain_container
from ..data.factory import build_eval_dataset, map_sizes_for, pipeline_config
from ..data.loader import make_loader
from ..data.pipeline import codec_from_pipeline
from ..models import autocast_for
from .coco import finite_instances
from .inference import run_inference
from .metrics import bbox_norm, evaluate_predictions
from .plots import crop_grid, draw_skeleton, plot_pck_curves, save_rgb, side_by_side


def coco_metrics(dataset: Any, preds: dict[str, Any]) -> dict[str, float] | None:
    """COCO keypoint AP/AR of the predictions when the dataset comes from a COCO file (else None)."""
    coco = getattr(dataset, "coco", None)
    if coco is None or not coco.get("annotations"):
        return None
    from . import CocoKeypointEvaluator, topdown_to_coco_results

    results = topdown_to_coco_results(
        preds["image_id"],
        preds["keypoints"],
        preds["scores"],
        preds["bbox_score"],
        np.prod(preds["scale"], axis=1),
        instance_ids=preds["instance_id"],
    )
    return CocoKeypointEvaluator(coco).evaluate(results)


def plausibility(prior_path: str | None, preds: dict[str, Any], device: torch.device) -> float | None:
    """Mean prior plausibility score of the predicted poses, all 17 joints as decoded (lower = more
    plausible), or None without a prior."""
    if not prior_path:
        return None
    from ..prior import PosePrior, score_keypoints

    prior = PosePrior.load(prior_path, device=device)
    kp = torch.as_tensor(preds["keypoints"], device=device)
    scores = score_keypoints(prior, kp, torch.ones(kp.shape[:2], device=device))
    return float(scores[torch.isfinite(scores)].mean()) if torch.isfinite(scores).any() else None


def _per_instance_pck(preds: dict[str, Any], thr: float = 0.05) -> np.ndarray:
    norm = bbox_norm(preds["bbox"])[:, :1]
    dist = np.linalg.norm(preds["keypoints"] - preds["image_keypoints"], axis=2) / norm
    vis = preds["image_visible"] > 0
    hit = (dist < thr) & vis
    return np.where(vis.sum(1) > 0, hit.sum(1) / np.maximum(vis.sum(1), 1), np.nan)


def evaluate_checkpoint(
    model: torch.nn.Module,
    cfg: DictConfig | dict[str, Any],
    out_dir: str | os.PathLike,
    device: torch.device,
    progress: bool = True,
    title: str = "evaluation",
) -> dict[str, Any]:
    """Run the model on the config's test set (``eval.dataset``, else ``data.val``) and write the report.

    ``cfg`` is a stage config; it is checked (:func:`hyper_sapiens.config.validate_stage_config`) first."""
    cfg = validate_stage_config(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    input_size = tuple(model.config["input_size"])
    pipe = pipeline_config(cfg.data, map_sizes_for(input_size, model.output_strides))
    if tuple(pipe.input_size) != input_size:
        raise ValueError(
            f"data.pipeline.input_size {pipe.input_size} differs from the model's input size {input_size}; "
            "the crops must be the size the model was trained on"
        )
    spec = cfg.eval.dataset or cfg.data.val
    if spec is None:
        raise ValueError("the config names no test set: set eval.dataset (or data.val) to a source spec")
    dataset = build_eval_dataset(spec, pipe, name="test")
    loader = make_loader(
        dataset,
        batch_size=cfg.data.val_batch_size,
        workers=cfg.data.workers,
        device=device,
    )
    codec = codec_from_pipeline(pipe)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(dataset), desc="evaluate", unit="inst", dynamic_ncols=True)
    flip = cfg.eval.flip_test
    amp = device.type == "cuda"
    with autocast_for(device, enabled=False):
        preds = run_inference(model.to(device), loader, codec, device, flip_test=flip, amp=amp, progress=bar)
    if bar is not None:
        bar.close()
    metrics = evaluate_predictions(preds, subset=cfg.eval.keypoints)
    metrics["coco"] = coco_metrics(dataset, preds)
    finite = finite_instances(preds["keypoints"], preds["scores"], preds["bbox_score"], np.prod(preds["scale"], axis=1))
    metrics["nonfinite_predictions"] = int((~finite).sum())  # left out of COCO AP, misses for PCK, null in EPE
    metrics["coco_ap"] = None if metrics["coco"] is None else float(metrics["coco"]["AP"])
    prior_path = cfg.eval.prior or cfg.loss.sds.prior
    metrics["prior_plausibility"] = plausibility(
        prior_path if prior_path and Path(prior_path).is_file() else None, preds, device
    )
    metrics["flip_test"] = flip
    metrics["dataset"] = plain_container(spec)
    (out / "metrics.json").write_text(json_safe.dumps(metrics, indent=2, sort_keys=True), encoding="utf-8")
    curve = metrics["pck_curve"]
    plot_pck_curves({title: (curve["thresholds"], curve["pck"])}, out / "pck_curve.png")
    _write_grids(dataset, preds, out)
    (out / "report.md").write_text(render_report(metrics, title), encoding="utf-8")
    return metrics


def _write_grids(dataset: Any, preds: dict[str, Any], out: Path, n: int = 8) -> None:
    """Best and worst instances by PCK@0.05: the whole predicted skeleton (joints with score <= 0.3 as hollow
    circles) beside the ground truth (visible joints) on the same crop."""
    scores = _per_instance_pck(preds)
    order = [i for i in np.argsort(-np.nan_to_num(scores, nan=-1.0)) if not np.isnan(scores[i])]
    for name, chosen in (("best", order[:n]), ("worst", order[::-1][:n])):
        crops, captions = [], []
        for i in chosen:
            sample = dataset[int(i)]
            crop = sample["image"].transpose(1, 2, 0)
            predicted = draw_skeleton(crop, preds["crop_keypoints"][i], preds["scores"][i], radius=2, thickness=1,
                                      low_confidence="mark")
            truth = draw_skeleton(crop, sample["keypoints"], sample["keypoints_visible"], score_thr=0.0, radius=2,
                                  thickness=1)
            crops.append(side_by_side(predicted, truth))
            captions.append(f"#{int(preds['image_id'][i])} PCK {scores[i]:.2f}: pred | truth")
        if crops:
            save_rgb(crop_grid(crops, captions, columns=min(4, len(crops))), out / f"predictions_{name}.png")


def render_report(metrics: dict[str, Any], title: str) -> str:
    """Markdown with the headline numbers, the per-joint table and the pictures."""
    lines = [
        f"# {title}",
        "",
        f"- instances: {metrics['num_instances']} (keypoints scored: {metrics['num_keypoints']}), "
        f"flip test: {'on' if metrics['flip_test'] else 'off'}",
        f"- keypoints used ({len(metrics['keypoints_used'])}): {', '.join(metrics['keypoints_used'])}",
        *(
            [f"- **{metrics['nonfinite_predictions']} predictions hold non-finite values** (NaN/inf, e.g. a diverged "
             "model): they count as misses for PCK and are left out of COCO AP"]
            if metrics.get("nonfinite_predictions") else []
        ),
        "",
        "| metric | value |",
        "|---|---|",
        f"| PCK@0.05 (bbox) | {metrics['pck@0.05']:.4f} |",
        f"| PCK AUC (0.01-0.2) | {metrics['pck_auc']:.4f} |",
        f"| EPE (px) | {metrics['epe']:.2f} |",
        f"| G-Error | {metrics['g_error']:.5f} |",
        "| COCO AP | " + ("n/a" if metrics["coco_ap"] is None else f"{metrics['coco_ap']:.4f}") + " |",
    ]
    if metrics.get("prior_plausibility") is not None:
        lines.append(f"| prior plausibility (lower = more plausible) | {metrics['prior_plausibility']:.4f} |")
    if metrics.get("coco"):
        lines += ["", "COCO keypoints (pycocotools): " + ", ".join(f"{k} {v:.3f}" for k, v in metrics["coco"].items())]
    lines += ["", "## PCK@0.05 per joint", "", "| joint | PCK |", "|---|---|"]
    lines += [f"| {name} | {'n/a' if v < 0 else f'{v:.3f}'} |" for name, v in metrics["pck_per_joint"].items()]
    if metrics.get("g_error_per_group") and len(metrics["g_error_per_group"]) > 1:
        lines += ["", "## G-Error per sequence", "", "| group | G-Error |", "|---|---|"]
        lines += [f"| {g} | {v:.5f} |" for g, v in metrics["g_error_per_group"].items()]
    lines += [
        "",
        "## PCK vs threshold",
        "",
        "![PCK curve](pck_curve.png)",
        "",
        "## Predictions (crops), best and worst by per-instance PCK@0.05",
        "",
        "Each pair: the predicted skeleton (all 17 joints; hollow circles and thin limbs where the heatmap peak "
        "is at most 0.3) | the ground truth (visible joints).",
        "",
        "![best](predictions_best.png)",
        "",
        "![worst](predictions_worst.png)",
        "",
    ]
    return "\n".join(lines)
