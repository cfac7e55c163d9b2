"""Running exported files (:mod:`hyper_sapiens.models.export`) in the inference loop.

An exported model here is a callable ``model(images) -> {output name: tensor}`` on uint8 RGB crops ``(B, 3, h, w)``
(the normalisation is inside the file), with its ``metadata``. :func:`~hyper_sapiens.evaluation.inference.
predict_heatmaps` runs these and a :class:`~hyper_sapiens.models.HyperPoseModel` alike: the flip test, the DARK-UDP
decoding and the back-projection to image pixels are the same code for every backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.export import EXPORT_FORMAT, INPUT_DTYPES, METADATA_KEY, read_metadata
from ..models.restricted_unpickler import UnsafeCheckpointError

__all__ = ["BACKENDS", "ExportedProgramModel", "OnnxRuntimeModel", "load_exported", "onnxruntime_available"]

BACKENDS = ("auto", "torch", "onnxruntime")

ONNXRUNTIME_MISSING = (
    'the onnxruntime backend needs ONNX Runtime, which is not installed: pip install -e ".[onnx]" '
    "(or pip install onnxruntime)"
)


def onnxruntime_available() -> bool:
    """Whether ``import onnxruntime`` works."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class _ExportedBase:
    """Shared by the two runners: metadata, input dtype, output names, fixed or free batch size."""

    training = False

    def __init__(self, path: str | os.PathLike, metadata: dict[str, Any]) -> None:
        self.path = Path(path)
        self.metadata = metadata
        self.output_names = list(metadata["output_names"])  # the graph's order
        self.input_dtype = INPUT_DTYPES[metadata["input"]["dtype"]]
        batch = metadata["input"]["batch"]
        self.fixed_batch = batch if isinstance(batch, int) else None

    @property
    def input_size(self) -> tuple[int, int]:
        """``(w, h)`` pixels of the crops the file takes."""
        w, h = self.metadata["input"]["size"]
        return int(w), int(h)

    def _run(self, images: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images (B, 3, h, w)`` uint8 RGB → ``{output name: float32 tensor (B, ...)}`` on the CPU.

        A file exported with a fixed batch size runs the crops in chunks of that size (the last one padded).
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, h, w), got {tuple(images.shape)}")
        w, h = self.input_size
        if tuple(images.shape[2:]) != (h, w):
            raise ValueError(f"{self.path.name} takes {w}x{h} crops, got {images.shape[3]}x{images.shape[2]}")
        images = images.to("cpu", self.input_dtype).contiguous()
        n = self.fixed_batch
        if n is None:
            outs = self._run(images)
        else:
            parts = []
            for start in range(0, images.shape[0], n):
                chunk = images[start : start + n]
                if chunk.shape[0] < n:
                    pad = chunk.new_zeros((n - chunk.shape[0], *chunk.shape[1:]))
                    chunk = torch.cat([chunk, pad])
                parts.append([o[: min(n, images.shape[0] - start)] for o in self._run(chunk)])
            outs = [torch.cat([p[i] for p in parts]) for i in range(len(self.output_names))]
        return dict(zip(self.output_names, outs))


class OnnxRuntimeModel(_ExportedBase):
    """An exported ``.onnx`` file in an ONNX Runtime session (CPU, or CUDA when ``device`` is cuda and the
    CUDA provider is installed); ``threads`` intra-op threads (default: torch's thread count)."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeError(ONNXRUNTIME_MISSING) from exc
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX file not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ValueError(f"{path}: no hyper_sapiens metadata (was it written by hyper-sapiens export?)")
        super().__init__(path, read_metadata_from_text(meta[METADATA_KEY], path))
        self.input_name = self.session.get_inputs()[0].name

    def _run(self, images: torch.Tensor) -> list[torch.Tensor]:
        outs = self.session.run(self.output_names, {self.input_name: images.numpy()})
        return [torch.from_numpy(np.asarray(o, dtype=np.float32)) for o in outs]


class ExportedProgramModel(_ExportedBase):
    """An exported ``.pt2`` file (``torch.export.load``) run by PyTorch on the CPU.

    ``torch.export.load`` unpickles the archive's weights and constants with ``torch.load(weights_only=False)``
    (torch 2.13, ``torch/export/pt2_archive/_package.py``), so a hostile ``.pt2`` can run code: the file is
    refused unless ``trust_code`` is true (``predict --trust``), meant for files you exported yourself. ONNX files
    need no trust (protobuf, run by ONNX Runtime).
    """

    def __init__(self, path: str | os.PathLike, trust_code: bool = False) -> None:
        if not trust_code:
            raise UnsafeCheckpointError(
                f"{path}: refused: torch.export.load unpickles a .pt2 archive's weights with "
                "torch.load(weights_only=False), which can run code from the file. Pass --trust only for a file "
                "you exported yourself, or export to ONNX (--format onnx), which needs no trust"
            )
        metadata = read_metadata(path)
        super().__init__(path, metadata)
        self.module = torch.export.load(str(path)).module()

    @torch.no_grad()
    def _run(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [o.float() for o in self.module(images)]


def read_metadata_from_text(text: str, path: str | os.PathLike) -> dict[str, Any]:
    """Parse the stored JSON and check its format (as :func:`hyper_sapiens.models.export.read_metadata`)."""
    meta = json.loads(text)
    if meta.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path}: metadata format {meta.get('format')!r}, expected {EXPORT_FORMAT}")
    return meta


def load_exported(
    path: str | os.PathLike, device: str = "cpu", trust_code: bool = False
) -> OnnxRuntimeModel | ExportedProgramModel:
    """An ``.onnx`` file → :class:`OnnxRuntimeModel`; a ``.pt2`` file → :class:`ExportedProgramModel` (refused
    unless ``trust_code``: see there)."""
    suffix = Path(path).suffix
    if suffix == ".onnx":
        return OnnxRuntimeModel(path, device=device)
    if suffix == ".pt2":
        return ExportedProgramModel(path, trust_code)
    raise ValueError(f"{path}: not an exported model (.onnx or .pt2)")
