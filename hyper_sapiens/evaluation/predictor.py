"""Loading the model that top-down prediction runs: safetensors weights, or exported ONNX / ``.pt2`` files.

Used by the ``predict`` and ``video`` verbs (:func:`load_predictor`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..data.codecs import UDPHeatmap
from ..data.pipeline import PipelineConfig
from ..keypoints import COCO17

__all__ = ["load_predictor", "resolve_backend"]


def resolve_backend(backend: str, checkpoint: str | Path) -> str:
    """``auto`` → ``onnxruntime`` for an ``.onnx`` file, ``torch`` otherwise (safetensors weights or a ``.pt2``
    export); an explicit choice is checked against the file."""
    suffix = Path(checkpoint).suffix
    if backend == "auto":
        return "onnxruntime" if suffix == ".onnx" else "torch"
    if backend == "torch" and suffix == ".onnx":
        raise ValueError(f"{checkpoint} is an ONNX file: run it with --backend onnxruntime")
    if backend == "onnxruntime" and suffix == ".pt2":
        raise ValueError(f"{checkpoint} is a torch.export file: run it with --backend torch")
    return backend


def load_predictor(
    checkpoint: str | Path, backend: str, device: Any, trust_code: bool = False
) -> tuple[Any, PipelineConfig, UDPHeatmap, str]:
    """The model ``predict`` runs, its crop settings and its codec, and a one-line description.

    ``torch``: safetensors weights (:func:`~hyper_sapiens.models.load_model`) or a ``.pt2`` export;
    ``onnxruntime``: an ``.onnx`` export, or safetensors weights exported to a temporary ONNX file first.
    For exported files the crop size and codec come from the file's metadata; for weights from the model
    config (:func:`~hyper_sapiens.data.factory.inference_pipeline`); both decode with :class:`UDPHeatmap`.
    """
    from ..data.factory import inference_pipeline
    from ..data.pipeline import codec_from_pipeline
    from ..models import load_model
    from .exported import ONNXRUNTIME_MISSING, ExportedProgramModel, OnnxRuntimeModel, onnxruntime_available

    path = Path(checkpoint)
    if backend == "torch" and path.suffix != ".pt2":
        model = load_model(path).to(device)
        if model.pose_head is None:
            raise ValueError(f"{path}: the model has no pose head")
        pipe = inference_pipeline(tuple(model.config["input_size"]), model.output_strides)
        return model, pipe, codec_from_pipeline(pipe), f"torch, {path.name}"
    if backend == "onnxruntime" and not onnxruntime_available():
        raise RuntimeError(ONNXRUNTIME_MISSING)
    if backend == "onnxruntime" and path.suffix != ".onnx":
        import tempfile
        import time

        from ..models.export import export_model

        model = load_model(path)
        pipe = inference_pipeline(tuple(model.config["input_size"]), model.output_strides)
        onnx_path = Path(tempfile.mkdtemp(prefix="hyper_sapiens_")) / (path.stem + ".onnx")
        start = time.perf_counter()
        export_model(model, onnx_path, "onnx", codec_from_pipeline(pipe), pipe.padding, dynamic_batch=True,
                     source={"file": path.name})
        print(f"exported {path.name} to {onnx_path} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        path = onnx_path
    runner = OnnxRuntimeModel(path, device=device.type) if backend == "onnxruntime" else ExportedProgramModel(
        path, trust_code
    )
    if path != Path(checkpoint):  # the session holds the temporary export in memory
        import shutil

        shutil.rmtree(path.parent, ignore_errors=True)
    meta = runner.metadata
    if "heatmaps" not in meta["outputs"] or meta["keypoints"]["layout"] != COCO17.name:
        raise ValueError(f"{path}: predict needs COCO17 heatmaps; the file has {list(meta['outputs'])}")
    codec_meta = meta["codec"]
    sizes = {v["head"]: tuple(v["shape"][:1:-1]) for v in meta["outputs"].values()}
    pipe = PipelineConfig(
        input_size=tuple(meta["input"]["size"]),
        heatmap_size=tuple(codec_meta["heatmap_size"]),
        depth_size=sizes.get("depth"),
        normal_size=sizes.get("normal"),
        sigma=float(codec_meta["sigma"]),
        padding=float(meta["crop"]["padding"]),
    )
    codec = UDPHeatmap(
        input_size=pipe.input_size,
        heatmap_size=pipe.heatmap_size,
        sigma=pipe.sigma,
        blur_kernel_size=int(codec_meta["blur_kernel_size"]),
    )
    return runner, pipe, codec, f"{backend}, {path.name}"
