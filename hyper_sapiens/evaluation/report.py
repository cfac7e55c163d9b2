"""Evaluate a trained model, or a results file, on a test set and write ``metrics.json``, ``report.md`` and plots.

:func:`evaluate_checkpoint` predicts with a model, :func:`evaluate_results_file` reads any model's COCO
keypoint results; both hand the predictions to :func:`write_evaluation`, so both are scored and reported the
same way (:mod:`hyper_sapiens.evaluation.scoring`).
"""

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
from ..data.io import DataFileError
from ..data.loader import make_loader
from ..data.pipeline import PipelineConfig, codec_from_pipeline
from ..models import autocast_for
from .coco import finite_instances, topdown_to_coco_results
from .image_groups import image_labels
from .inference import run_inference
from .photo_grid import write_prediction_grids
from .plots import plot_pck_curves
from .report_markdown import render_report
from .results_file import check_image_ids, predictions_from_results, read_keypoint_results
from .scoring import plausibility, score_predictions, source_name


def _test_set(cfg: DictConfig, pipe: PipelineConfig) -> tuple[dict[str, Any], Any]:
    """``(source spec, dataset)`` of the config's test set: ``eval.dataset``, else ``data.val``."""
    spec = cfg.eval.dataset or cfg.data.val
    if spec is None:
        raise ValueError("the config names no test set: set eval.dataset (or data.val) to a source spec")
    return plain_container(spec), build_eval_dataset(spec, pipe, name="test")


def _model_pipeline(cfg: DictConfig, model: torch.nn.Module) -> PipelineConfig:
    """``data.pipeline`` with the model's map sizes; an unset ``input_size`` is the model's, a set one must be."""
    input_size = tuple(model.config["input_size"])
    data = dict(plain_container(cfg.data))
    pipeline = dict(data.get("pipeline") or {})
    if pipeline.get("input_size") is None:
        pipeline["input_size"] = list(input_size)
    pipe = pipeline_config({"pipeline": pipeline}, map_sizes_for(input_size, model.output_strides))
    if tuple(pipe.input_size) != input_size:
        raise ValueError(
            f"data.pipeline.input_size {pipe.input_size} differs from the model's input size {input_size}; "
            "the crops must be the size the model was trained on (leave it unset to take the model's)"
        )
    return pipe


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
    pipe = _model_pipeline(cfg, model)
    spec, dataset = _test_set(cfg, pipe)
    loader = make_loader(dataset, batch_size=cfg.data.val_batch_size, workers=cfg.data.workers, device=device)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(dataset), desc="evaluate", unit="inst", dynamic_ncols=True)
    flip = cfg.eval.flip_test
    with autocast_for(device, enabled=False):
        preds = run_inference(model.to(device), loader, codec_from_pipeline(pipe), device, flip_test=flip,
                              amp=device.type == "cuda", progress=bar)
    if bar is not None:
        bar.close()
    areas = np.prod(preds["scale"], axis=1)
    results = topdown_to_coco_results(
        preds["image_id"], preds["keypoints"], preds["scores"], preds["bbox_score"], areas,
        instance_ids=preds["instance_id"],
    )
    finite = finite_instances(preds["keypoints"], preds["scores"], preds["bbox_score"], areas)
    extra = {
        "flip_test": flip,
        "nonfinite_predictions": int((~finite).sum()),  # left out of COCO AP, misses for PCK, null in EPE
    }
    return write_evaluation(dataset, preds, results, cfg, spec, Path(out_dir), title, device, extra)


def evaluate_results_file(
    results_path: str | os.PathLike,
    cfg: DictConfig | dict[str, Any],
    out_dir: str | os.PathLike,
    device: torch.device | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Score a COCO keypoint results file (:mod:`hyper_sapiens.evaluation.results_file`) against the config's test
    set with the metrics and report of :func:`evaluate_checkpoint`.

    PCK/EPE/G-Error use each labelled instance's matched result; COCO AP scores the file as it is. The test set
    must be a COCO keypoints file (``type: coco``, annotated boxes)."""
    cfg = validate_stage_config(cfg)
    spec, dataset = _test_set(cfg, pipeline_config(cfg.data))
    coco = getattr(dataset, "coco", None)
    if coco is None or getattr(dataset, "ann_file", None) is None:
        raise ValueError(f"--predictions needs a COCO keypoints test set (type: coco), got {spec.get('type')}")
    if spec.get("detections"):
        raise ValueError("--predictions scores against annotated boxes: the test set must not set detections")
    path = str(results_path)
    results = read_keypoint_results(path)
    check_image_ids(results, {int(im["id"]) for im in coco["images"]}, path, str(dataset.ann_file))
    preds = predictions_from_results(dataset, results, path)
    if not preds["has_keypoints"].any():
        raise DataFileError(f"{dataset.ann_file}: no labelled instance to score the results against")
    extra = {"flip_test": None, "predictions": path, "nonfinite_predictions": 0}
    title = title or f"evaluation of {Path(path).name}"
    return write_evaluation(dataset, preds, results, cfg, spec, Path(out_dir), title,
                            device or torch.device("cpu"), extra)


def write_evaluation(
    dataset: Any,
    preds: dict[str, Any],
    results: list[dict[str, Any]],
    cfg: DictConfig,
    spec: dict[str, Any],
    out: Path,
    title: str,
    device: torch.device,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Score the predictions (one row per record of ``dataset``) and write ``metrics.json``, ``pck_curve.png``,
    ``predictions_{best,worst}.png`` and ``report.md`` to ``out``; returns the metrics."""
    out.mkdir(parents=True, exist_ok=True)
    coco = getattr(dataset, "coco", None)
    group_by = cfg.eval.group_by
    metrics = score_predictions(preds, coco, results, cfg.eval.keypoints, group_by, source=source_name(dataset))
    metrics.update(extra)
    prior_path = cfg.eval.prior or cfg.loss.sds.prior
    metrics["prior_plausibility"] = plausibility(
        prior_path if prior_path and Path(prior_path).is_file() else None, preds, device
    )
    metrics["dataset"] = spec
    (out / "metrics.json").write_text(json_safe.dumps(metrics, indent=2, sort_keys=True), encoding="utf-8")
    curve = metrics["pck_curve"]
    plot_pck_curves({title: (curve["thresholds"], curve["pck"])}, out / "pck_curve.png")
    labels = image_labels(coco, preds["image_id"], group_by) if group_by else None
    write_prediction_grids(dataset.records, preds, out, labels)
    (out / "report.md").write_text(render_report(metrics, title), encoding="utf-8")
    return metrics
