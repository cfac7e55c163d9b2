"""Deployable files of a pose model: ONNX and ``torch.export`` (``.pt2``), with everything a reader needs inside.

The exported graph is :class:`DeployModel`: RGB crops ``(B, 3, h, w)`` (uint8, or float32 in 0–255 units) in,
the same ImageNet normalisation as ``predict`` inside, then the backbone and the chosen heads; outputs in the
order of :data:`OUTPUT_NAMES` (``heatmaps``, ``depth``, ``normal``), only the exported heads. The flip test and
the decoding stay outside the graph.

Metadata (:func:`build_metadata`, format :data:`EXPORT_FORMAT`) is one JSON document: the keypoint layout
(names, flip pairs, flip indices, skeleton), the input (size, dtype, layout, normalisation), the outputs
(``output_names`` in the graph's order; each one's shape and stride), the top-down crop (box padding, UDP
warp) and the codec (UDP, σ, heatmap size, DARK blur kernel). It is stored

- in an ONNX file as ``metadata_props["hyper_sapiens"]`` (ONNX Runtime: ``session.get_modelmeta()
  .custom_metadata_map["hyper_sapiens"]``);
- in a ``.pt2`` archive as the extra file ``hyper_sapiens.json`` (``torch.export.load(f, extra_files=
  {"hyper_sapiens.json": ""})``; :func:`read_metadata` reads it from the zip without loading the program).

Reading either file unpickles nothing of ours: ONNX is protobuf; ``torch.export.load`` reads a serialised graph
and tensors (load ``.pt2`` files you made yourself).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..data.loader import IMAGE_MEAN, IMAGE_STD
from ..keypoints import COCO17
from .hyper_pose import HyperPoseModel

__all__ = [
    "EXPORT_FORMAT",
    "METADATA_KEY",
    "OUTPUT_NAMES",
    "PT2_EXTRA_FILE",
    "DeployModel",
    "build_metadata",
    "export_model",
    "export_onnx",
    "export_pt2",
    "read_metadata",
]

EXPORT_FORMAT = "hyper-sapiens/export-v1"
METADATA_KEY = "hyper_sapiens"
PT2_EXTRA_FILE = "hyper_sapiens.json"
OUTPUT_NAMES = {"pose": "heatmaps", "depth": "depth", "normal": "normal"}
"""Head name → output name (the keys of :class:`HyperPoseModel`'s output dict)."""
INPUT_DTYPES = {"uint8": torch.uint8, "float32": torch.float32}
# ONNX external data: above this many bytes of weights the tensors go beside the .onnx file (protobuf's 2 GiB cap)
_SINGLE_FILE_LIMIT = 1_800_000_000


class DeployModel(nn.Module):
    """The exported graph: normalisation + backbone + the chosen heads.

    ``forward(images (B, 3, h, w))``: RGB, uint8 or float in 0–255 units → a tuple with one float32 map per
    head in ``heads`` order: heatmaps ``(B, K, h/s, w/s)``, depth ``(B, 1, ·, ·)``, normals ``(B, 3, ·, ·)``.
    """

    def __init__(self, model: HyperPoseModel, heads: Sequence[str]) -> None:
        super().__init__()
        available = model.heads
        missing = [h for h in heads if h not in available]
        if missing or not heads:
            raise ValueError(f"cannot export heads {list(heads)}: the model has {sorted(available)}")
        self.backbone = model.backbone
        self.head_names = tuple(heads)
        self.heads = nn.ModuleDict({name: available[name] for name in heads})
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = (images.float() - self.mean) / self.std
        feats = self.backbone(x)
        return tuple(self.heads[name](feats).float() for name in self.head_names)


def _parse_heads(heads: Sequence[str] | str | None, model: HyperPoseModel) -> tuple[str, ...]:
    if heads is None:
        return ("pose",) if model.pose_head is not None else tuple(model.heads)
    names = [h.strip() for h in heads.split(",")] if isinstance(heads, str) else [str(h) for h in heads]
    names = [h for h in names if h]
    unknown = [h for h in names if h not in OUTPUT_NAMES]
    if unknown:
        raise ValueError(f"unknown heads {unknown}; choose from {list(OUTPUT_NAMES)}")
    return tuple(dict.fromkeys(names))


def build_metadata(
    model: HyperPoseModel,
    heads: Sequence[str],
    input_size: tuple[int, int],
    input_dtype: str,
    dynamic_batch: bool,
    codec: Any,
    padding: float,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document stored in an exported file (see the module docstring).

    Args:
        input_size: ``(w, h)`` pixels of the exported input.
        codec: the :class:`~hyper_sapiens.data.codecs.UDPHeatmap` that decodes the heatmaps (``input_size``,
            ``heatmap_size``, ``sigma``, ``blur_kernel_size`` are read).
        padding: box padding of the top-down crop (``bbox_xyxy2cs``; mmpose 1.25).
        source: where the weights came from (file name, sha256), recorded as given.
    """
    w, h = int(input_size[0]), int(input_size[1])
    batch: int | str = "batch" if dynamic_batch else 1
    outputs = {}
    for name in heads:
        head = model.heads[name]
        stride = head.output_stride
        channels = {"pose": getattr(head, "num_keypoints", 0), "depth": 1, "normal": 3}[name]
        outputs[OUTPUT_NAMES[name]] = {"head": name, "shape": [batch, channels, h // stride, w // stride],
                                       "stride": stride, "dtype": "float32"}
    if "heatmaps" in outputs:
        outputs["heatmaps"]["meaning"] = "raw UDP Gaussian heatmaps, one channel per keypoint"
    if "depth" in outputs:
        outputs["depth"]["meaning"] = f"raw depth head output ({model.config.get('depth_output', 'log_depth')})"
    if "normal" in outputs:
        outputs["normal"]["meaning"] = "unit surface normals, camera frame (x right, y down, z forward)"
    return {
        "format": EXPORT_FORMAT,
        "hyper_sapiens_version": __version__,
        "source": dict(source or {}),
        "model": dict(model.config),
        "input": {
            "name": "image",
            "layout": "NCHW",
            "color": "RGB",
            "dtype": input_dtype,
            "value_range": [0, 255],
            "size": [w, h],
            "batch": batch,
            "normalization": {"mean": list(IMAGE_MEAN), "std": list(IMAGE_STD), "inside_graph": True},
        },
        "output_names": [OUTPUT_NAMES[name] for name in heads],
        "outputs": outputs,
        "keypoints": {
            "layout": COCO17.name,
            "names": list(COCO17.names),
            "flip_pairs": [list(p) for p in COCO17.flip_pairs],
            "flip_indices": list(COCO17.flip_indices),
            "skeleton": [list(b) for b in COCO17.bones],
        },
        "crop": {"warp": "udp", "padding": float(padding), "aspect_ratio": w / h, "interpolation": "bilinear"},
        "codec": {
            "type": "UDPHeatmap",
            "input_size": [int(v) for v in codec.input_size],
            "heatmap_size": [int(v) for v in codec.heatmap_size],
            "sigma": float(codec.sigma),
            "blur_kernel_size": int(codec.blur_kernel_size),
            "decode": "dark-udp",
        },
        "flip_test": {"mode": "heatmap", "shift": False, "default": True},
    }


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporters' progress prints and their warnings about optional packages (torchvision ops)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _example(input_size: tuple[int, int], input_dtype: str, batch: int) -> torch.Tensor:
    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"input dtype must be one of {list(INPUT_DTYPES)}, got {input_dtype!r}")
    w, h = input_size
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (batch, 3, h, w), generator=gen).to(INPUT_DTYPES[input_dtype])


def export_onnx(
    deploy: DeployModel, path: str | os.PathLike, metadata: Mapping[str, Any], opset: int = 18
) -> Path:
    """Write ``deploy`` as ONNX (the ``torch.onnx`` dynamo exporter; needs ``onnx`` and ``onnxscript``) with
    ``metadata`` as JSON in ``metadata_props["hyper_sapiens"]``. Input ``image``, outputs named by
    :data:`OUTPUT_NAMES`; the batch axis is symbolic when ``metadata["input"]["batch"]`` is ``"batch"``.
    Weights above 1.8 GB go to ``<file>.data`` beside it (ONNX external data)."""
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as exc:
        raise RuntimeError('ONNX export needs onnx and onnxscript: pip install -e ".[onnx]"') from exc
    inp = metadata["input"]
    dynamic = inp["batch"] == "batch"
    example = _example(tuple(inp["size"]), inp["dtype"], 2 if dynamic else 1)
    shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic else None
    names = [OUTPUT_NAMES[h] for h in deploy.head_names]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deploy.eval()
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            deploy, (example,), None, input_names=["image"], output_names=names, dynamic_shapes=shapes,
            opset_version=opset, dynamo=True, verbose=False,
        )
    program.model.metadata_props[METADATA_KEY] = json.dumps(metadata)
    weight_bytes = sum(t.numel() * t.element_size() for t in deploy.state_dict().values())
    program.save(str(path), external_data=weight_bytes > _SINGLE_FILE_LIMIT)
    return path


def export_pt2(deploy: DeployModel, path: str | os.PathLike, metadata: Mapping[str, Any]) -> Path:
    """Write ``deploy`` as a ``torch.export`` archive with ``metadata`` in its extra file ``hyper_sapiens.json``."""
    inp = metadata["input"]
    dynamic = inp["batch"] == "batch"
    example = _example(tuple(inp["size"]), inp["dtype"], 2 if dynamic else 1)
    shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deploy.eval()
    with _quiet_exporter(), torch.no_grad():
        program = torch.export.export(deploy, (example,), dynamic_shapes=shapes)
    torch.export.save(program, str(path), extra_files={PT2_EXTRA_FILE: json.dumps(metadata)})
    return path


def export_model(
    model: HyperPoseModel,
    path: str | os.PathLike,
    fmt: str,
    codec: Any,
    padding: float,
    heads: Sequence[str] | str | None = None,
    input_size: tuple[int, int] | None = None,
    input_dtype: str = "uint8",
    dynamic_batch: bool = False,
    source: Mapping[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Export ``model`` as ``fmt`` (``onnx`` or ``pt2``) to ``path``; returns the path and the stored metadata.

    ``input_size`` ``(w, h)`` defaults to the model's; ``codec`` must be built for that size (the heatmap
    size is ``input_size / stride``). ``heads`` defaults to ``pose`` (or every head of a model without one).
    """
    if fmt not in ("onnx", "pt2"):
        raise ValueError(f"export format must be onnx or pt2, got {fmt!r}")
    heads = _parse_heads(heads, model)
    size = tuple(int(v) for v in (input_size or model.config["input_size"]))
    patch = int(model.config.get("patch_size", 16))
    if size[0] % patch or size[1] % patch:
        raise ValueError(f"input size {size[0]}x{size[1]} must be a multiple of the patch size {patch}")
    if tuple(codec.input_size) != size:
        raise ValueError(f"the codec is for {codec.input_size}, the export for {size}")
    model = model.eval()
    deploy = DeployModel(model, heads).eval()
    meta = build_metadata(model, heads, size, input_dtype, dynamic_batch, codec, padding, source)
    writer = export_onnx if fmt == "onnx" else export_pt2
    return writer(deploy, path, meta), meta


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of an exported ``.onnx`` (needs ``onnx``, or else ``onnxruntime``) or ``.pt2`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exported model not found: {path}")
    if path.suffix == ".pt2":
        with zipfile.ZipFile(path) as archive:
            found = [n for n in archive.namelist() if n.endswith("/extra/" + PT2_EXTRA_FILE)]
            if not found:
                raise ValueError(f"{path}: no {PT2_EXTRA_FILE} in the archive (not written by hyper-sapiens export?)")
            text = archive.read(found[0]).decode("utf-8")
    else:
        try:
            import onnx

            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        except ImportError:
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            props = dict(session.get_modelmeta().custom_metadata_map)
        if METADATA_KEY not in props:
            raise ValueError(f"{path}: no {METADATA_KEY} metadata (was it written by hyper-sapiens export?)")
        text = props[METADATA_KEY]
    meta = json.loads(text)
    if meta.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path}: metadata format {meta.get('format')!r}, expected {EXPORT_FORMAT}")
    return meta
