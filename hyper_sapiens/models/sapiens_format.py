"""The Sapiens checkpoint format: reading its files and mapping its key names onto our model.

Key names and shapes follow facebookresearch/sapiens: ``backbone.*`` is the ViT
(``pretrain/mmpretrain/models/backbones/vision_transformer.py``); a pose model is an mmpose top-down
estimator whose head is ``head.*`` (``pose/mmpose/models/pose_estimators/base.py``); depth and normal
models are mmseg encoder-decoders whose head is ``decode_head.*``
(``seg/mmseg/models/segmentors/encoder_decoder.py``, ``depth_estimator.py``), possibly with
``auxiliary_head.*`` and ``data_preprocessor.*``. :func:`load_sapiens_checkpoint` maps them onto a
:class:`~hyper_sapiens.models.HyperPoseModel` (or a bare :class:`SapiensViT`): ``backbone.*`` ->
``backbone``, ``head.*`` -> ``pose_head``, ``decode_head.*`` -> ``depth_head``/``normal_head``; it strips
``module.``, accepts the flat pretrain ``*_clean.pth`` (drops ``cls_token`` and the class entry of
``pos_embed``, as mmpretrain's ``VisionTransformer._prepare_pos_embed`` does) and resizes ``pos_embed``
(``[1, Gh·Gw, C]``) bicubically whenever the file's token grid differs from the model's.

Accepted files (:func:`read_sapiens_state_dict`, told apart by their contents): mmengine ``.pth`` (read by
:func:`~hyper_sapiens.models.restricted_unpickler.read_torch_checkpoint`, no code runs), a ``.safetensors``
file with Sapiens key names (what ``hyper-sapiens convert-checkpoint`` writes) and, only with
``trust_code=True`` (``convert-checkpoint --trust``), a TorchScript export (``*_torchscript.pt2``, via
``torch.jit.load``, which runs TorchScript code from the archive) or a ``torch.export`` archive
(``*_bfloat16.pt2``, via ``torch.export.load``, which unpickles with ``weights_only=False``; best effort).
Without it those two are refused with :class:`UnsafeCheckpointError` whatever the file is named.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .restricted_unpickler import PickledObject, UnsafeCheckpointError, read_torch_checkpoint
from .vit import ARCHS, SapiensViT, resize_pos_embed

__all__ = [
    "SAPIENS_PARTS",
    "CheckpointMismatchError",
    "LoadReport",
    "read_sapiens_state_dict",
    "infer_sapiens_arch",
    "load_sapiens_checkpoint",
    "load_sapiens_parts",
    "part_prefixes",
    "is_pretrain_state",
    "file_kind",
    "CODE_FORMATS",
    "refuse_untrusted_code",
    "unwrap_model",
    "copy_tensors_into",
]

SAPIENS_PARTS = ("backbone", "pose", "depth", "normal")
# Which checkpoint prefix feeds which of our head attributes.
_HEAD_PREFIX = {"pose": "head.", "depth": "decode_head.", "normal": "decode_head."}
_HEAD_ATTR = {"pose": "pose_head", "depth": "depth_head", "normal": "normal_head"}
# Keys of other parts of a Sapiens checkpoint; never "unexpected", reported as ignored.
_KNOWN_PREFIXES = ("backbone.", "head.", "decode_head.", "auxiliary_head.", "data_preprocessor.")


class CheckpointMismatchError(RuntimeError):
    """Checkpoint keys/shapes do not match the model (strict loading)."""


def part_prefixes(part: str) -> tuple[str, ...]:
    """Key prefixes of a Sapiens ``part``: ``backbone.`` alone, or with the head's (``head.``/``decode_head.``)."""
    if part not in SAPIENS_PARTS:
        raise ValueError(f"part must be one of {SAPIENS_PARTS}, got {part!r}")
    return ("backbone.",) if part == "backbone" else ("backbone.", _HEAD_PREFIX[part])


def is_pretrain_state(state: Mapping[str, Any]) -> bool:
    """Whether ``state`` is a flat pretrain dict (``*_clean.pth``: backbone keys without any part prefix)."""
    return not any(k.startswith(_KNOWN_PREFIXES) for k in state)


# Formats whose loaders run code from the file (TorchScript) or unpickle without restriction (torch.export).
CODE_FORMATS = ("torchscript", "torch_export")


def file_kind(path: Path) -> str:
    """What ``path`` holds, from its bytes: ``safetensors`` (8-byte header length, then a JSON header; see
    huggingface/safetensors ``README.md``), ``torchscript`` (a zip with ``constants.pkl`` or ``code/``),
    ``torch_export``, ``torch_pickle`` (a ``torch.save`` zip archive) or ``unknown``."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if len(head) >= 9 and head[8:9] == b"{" and not zipfile.is_zipfile(path):
        return "safetensors"
    if not zipfile.is_zipfile(path):
        return "unknown"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return "unknown"
    if any(n.endswith("/constants.pkl") for n in names) or any("/code/" in n for n in names):
        return "torchscript"
    if any(n.endswith("serialized_exported_program.json") for n in names) or any(
        "/models/" in n and n.endswith(".json") for n in names
    ):
        return "torch_export"
    if any(n.endswith("/data.pkl") for n in names):
        return "torch_pickle"
    return "unknown"


def _tensor_items(obj: Mapping[str, Any], source: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            out[str(key)] = value
        elif isinstance(value, PickledObject):
            raise UnsafeCheckpointError(f"{source}: state_dict entry {key!r} is a {value!r}, not a tensor")
    return out


def refuse_untrusted_code(path: Path, kind: str) -> None:
    """Raise :class:`UnsafeCheckpointError` for a TorchScript or torch.export file, naming it and saying why."""
    why = {
        "torchscript": "a TorchScript archive (it holds constants.pkl or code/); torch.jit.load runs the "
        "TorchScript code stored in it",
        "torch_export": "a torch.export archive; torch.export.load unpickles parts of it with weights_only=False, "
        "which can run any code",
    }[kind]
    raise UnsafeCheckpointError(
        f"{path}: refused: {why}. Only load such a file if you trust where it came from: convert it once with "
        f"`hyper-sapiens convert-checkpoint --trust {path} {path.with_suffix('.safetensors')}` and use the "
        ".safetensors file (or pass trust_code=True in Python)"
    )


def read_sapiens_state_dict(
    path: str | os.PathLike, trust_code: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors of a Sapiens checkpoint in any supported format, with ``module.`` stripped.

    ``trust_code``: also read TorchScript (``torch.jit.load`` runs code from the file) and torch.export
    (``torch.export.load`` unpickles without restriction) archives; without it they are refused with
    :class:`UnsafeCheckpointError`. ``.pth`` files always go through the restricted unpickler.

    Returns ``(state_dict, info)`` where ``info`` has ``format`` (``torch_pickle``, ``torchscript``,
    ``torch_export``, ``safetensors``) and, for mmengine files, ``meta`` (the placeholder-laden meta dict).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    kind = file_kind(path)
    if kind in CODE_FORMATS and not trust_code:
        refuse_untrusted_code(path, kind)
    info: dict[str, Any] = {"format": kind, "path": str(path)}
    if kind == "torch_pickle":
        obj = read_torch_checkpoint(path)
        if not isinstance(obj, Mapping):
            raise UnsafeCheckpointError(f"{path}: top-level object is {type(obj).__name__}, not a dict")
        if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
            info["meta"] = obj.get("meta")
            obj = obj["state_dict"]
        elif "model" in obj and isinstance(obj["model"], Mapping):
            obj = obj["model"]
        state = _tensor_items(obj, str(path))
    elif kind == "safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), framework="pt") as fh:
                info["metadata"] = fh.metadata() or {}
            state = load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise UnsafeCheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    elif kind == "torchscript":
        try:  # runs TorchScript code from the archive: only reached with trust_code=True
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise UnsafeCheckpointError(f"{path}: torch.jit.load failed ({str(exc).strip()[:500]})") from exc
        state = {k: v.detach() for k, v in module.state_dict().items()}
    elif kind == "torch_export":
        try:  # unpickles with weights_only=False: only reached with trust_code=True
            program = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise UnsafeCheckpointError(
                f"{path}: torch.export.load failed ({exc}); use the .pth or torchscript file"
            ) from exc
        state = {k: v.detach() for k, v in program.state_dict.items()}
    else:
        raise UnsafeCheckpointError(f"{path}: unrecognised checkpoint format (expected .pth, .pt2 or .safetensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    if not state:
        raise UnsafeCheckpointError(f"{path}: no tensors found")
    return state, info


def infer_sapiens_arch(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """The Sapiens arch name (``sapiens_0.3b`` ...) whose width and depth match a state dict, else ``None``."""
    prefix = "backbone." if any(k.startswith("backbone.") for k in state_dict) else ""
    weight = state_dict.get(prefix + "patch_embed.projection.weight")
    if weight is None:
        return None
    layer_ids = {
        int(k[len(prefix) :].split(".")[1]) for k in state_dict if k.startswith(prefix + "layers.") and k.count(".") > 2
    }
    for name, arch in ARCHS.items():
        if arch.embed_dims == weight.shape[0] and arch.num_layers == len(layer_ids):
            return name
    return None


@dataclass
class LoadReport:
    """What :func:`load_sapiens_checkpoint` / :func:`load_weights` did.

    ``loaded``/``missing``/``unexpected``/``mismatched`` use our model's key names (``unexpected`` the
    file's); ``ignored`` are file keys of other parts (e.g. the pose head when loading only the backbone);
    ``resized`` maps keys to ``(source shape, target shape)`` of interpolated position tables.
    """

    path: str
    part: str
    source_format: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    resized: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        lines = [
            f"{self.path} [{self.source_format}, part={self.part}]: loaded {len(self.loaded)} tensors, "
            f"missing {len(self.missing)}, unexpected {len(self.unexpected)}, mismatched {len(self.mismatched)}, "
            f"ignored {len(self.ignored)}"
        ]
        for title, items in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("mismatched", self.mismatched),
        ):
            if items:
                shown = ", ".join(items[:20]) + (f", ... ({len(items) - 20} more)" if len(items) > 20 else "")
                lines.append(f"  {title}: {shown}")
        for key, (src, dst) in self.resized.items():
            lines.append(f"  resized {key}: {list(src)} -> {list(dst)}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside DDP/FSDP-style ``.module`` wrappers and a ``torch.compile`` wrapper."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)  # torch.compile wrapper


def _grid_of(num_tokens: int, target_grid: tuple[int, int]) -> tuple[int, int]:
    """Guess the (Gh, Gw) grid of a position table: the target's, square, or Sapiens' 4:3 (64×48 at 1024×768)."""
    if num_tokens == target_grid[0] * target_grid[1]:
        return target_grid
    side = math.isqrt(num_tokens)
    if side * side == num_tokens:
        return side, side
    h = math.isqrt(num_tokens * 4 // 3)
    if h * (h * 3 // 4) == num_tokens and h % 4 == 0:
        return h, h * 3 // 4
    raise CheckpointMismatchError(
        f"cannot tell the grid of a position table with {num_tokens} tokens; pass src_grid=(Gh, Gw)"
    )


def _adapt_pos_embed(
    value: torch.Tensor, backbone: SapiensViT, src_grid: tuple[int, int] | None, report: LoadReport, key: str
) -> torch.Tensor:
    """The file's position table ``value`` (``[1, N, C]``, N = Gh·Gw, or Gh·Gw + 1 with a class-token entry
    first) fitted to ``backbone``: the class entry dropped, the grid resized bicubically to ``backbone.grid``.
    Tables of another rank or width come back unchanged (the caller reports the shape mismatch)."""
    target = backbone.pos_embed
    n_target = target.shape[1]
    original = tuple(value.shape)
    if value.ndim != 3 or value.shape[0] != 1 or value.shape[2] != target.shape[2]:
        return value  # reported as a shape mismatch by the caller
    n = value.shape[1]
    side = math.isqrt(n - 1) if n > 1 else 0
    has_cls = n == n_target + 1 or (side * side == n - 1 and math.isqrt(n) ** 2 != n)
    if src_grid is not None and n == src_grid[0] * src_grid[1] + 1:
        has_cls = True
    if has_cls:
        value = value[:, 1:]
        report.notes.append(f"dropped the class-token entry of {key}")
    grid = tuple(src_grid) if src_grid is not None else _grid_of(value.shape[1], backbone.grid)
    if grid[0] * grid[1] != value.shape[1]:
        raise CheckpointMismatchError(f"{key}: src_grid {grid} does not hold {value.shape[1]} tokens")
    if tuple(grid) != tuple(backbone.grid):
        value = resize_pos_embed(value, grid, backbone.grid)
    if tuple(value.shape) != original:
        report.resized[key] = (original, tuple(value.shape))
    return value


def copy_tensors_into(module: nn.Module, values: Mapping[str, torch.Tensor]) -> None:
    """Copy ``values`` (state-dict key -> tensor of the same shape) into ``module``'s tensors, in place."""
    own = module.state_dict(keep_vars=True)
    with torch.no_grad():
        for key, value in values.items():
            own[key].copy_(value.to(device=own[key].device))


def load_sapiens_checkpoint(
    model: nn.Module,
    path: str | os.PathLike,
    part: str = "backbone",
    strict: bool = True,
    load_backbone: bool = True,
    src_grid: tuple[int, int] | None = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    trust_code: bool = False,
) -> LoadReport:
    """Load a Sapiens checkpoint into ``model`` (a :class:`HyperPoseModel` or a :class:`SapiensViT`).

    Args:
        path: ``.pth`` (finetuned task checkpoint or pretrain ``*_clean.pth``), ``*_torchscript.pt2``,
            ``*.pt2`` (torch.export) or ``.safetensors`` with Sapiens key names.
        part: ``"backbone"`` (only ``backbone.*``, or a flat pretrain dict), ``"pose"`` (``backbone.*`` +
            ``head.*`` -> ``pose_head``), ``"depth"``/``"normal"`` (``backbone.*`` + ``decode_head.*`` ->
            ``depth_head``/``normal_head``).
        strict: raise :class:`CheckpointMismatchError` listing missing/unexpected/mismatched keys.
        load_backbone: with a head part, also load the backbone (False: its keys are ignored, e.g. to add
            a depth head to a pose model without replacing the pose backbone).
        src_grid: token grid ``(Gh, Gw)`` of the file's position table when it cannot be inferred
            (inferred: the model's, square, or 4:3 as Sapiens' 64×48).
        state_dict: use these tensors instead of reading ``path`` (``path`` then only names the source).
        trust_code: also read TorchScript / torch.export files (see :func:`read_sapiens_state_dict`);
            refused by default.

    Returns a :class:`LoadReport`. Position tables are bicubically resized to the model grid.
    """
    if part not in SAPIENS_PARTS:
        raise ValueError(f"part must be one of {SAPIENS_PARTS}, got {part!r}")
    model = unwrap_model(model)
    if isinstance(model, SapiensViT):
        backbone, heads = model, {}
    elif isinstance(getattr(model, "backbone", None), SapiensViT):
        backbone = model.backbone
        heads = {name: getattr(model, attr, None) for name, attr in _HEAD_ATTR.items()}
    else:
        raise TypeError(f"load_sapiens_checkpoint needs a HyperPoseModel or SapiensViT, got {type(model).__name__}")
    if state_dict is None:
        state, info = read_sapiens_state_dict(path, trust_code=trust_code)
    else:
        state, info = dict(state_dict), {"format": "state_dict"}
    report = LoadReport(path=str(path), part=part, source_format=str(info.get("format")))

    flat = is_pretrain_state(state)
    if flat:  # pretrain *_clean.pth: backbone keys without prefix, plus cls_token
        if part != "backbone":
            raise CheckpointMismatchError(f"{path}: a backbone-only (pretrain) checkpoint has no {part} head")
        report.source_format += "/pretrain"
        state = {("backbone." + k): v for k, v in state.items()}
        if "backbone.cls_token" in state:
            del state["backbone.cls_token"]
            report.notes.append("dropped cls_token (Sapiens task models have no class token)")

    targets: dict[str, nn.Module] = {}
    if part == "backbone" or load_backbone:
        targets["backbone."] = backbone
    if part != "backbone":
        head = heads.get(part)
        if head is None:
            raise ValueError(f"model has no {part} head to load {path} into")
        targets[_HEAD_PREFIX[part]] = head
        pad = backbone.patch_padding
        if load_backbone and part == "depth" and pad != "corner":
            report.notes.append(
                f"Sapiens depth models use corner patch padding; this backbone uses patch_padding={pad}"
            )
        if load_backbone and part in ("pose", "normal") and pad != 2:
            report.notes.append(f"Sapiens {part} models use patch_padding=2; this backbone uses {pad}")
        if not load_backbone and part == "depth" and pad != "corner":
            report.notes.append(
                "this depth head was trained on a Sapiens depth backbone (corner patch padding); here it runs on "
                f"a backbone with patch_padding={pad}, so its first outputs are only approximate until fine-tuned"
            )

    plan: list[tuple[nn.Module, dict[str, torch.Tensor]]] = []
    for prefix, module in targets.items():
        own = module.state_dict()
        picked: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            if not key.startswith(prefix):
                continue
            name = key[len(prefix) :]
            if name not in own:
                report.unexpected.append(key)
                continue
            if module is backbone and name == "pos_embed":
                value = _adapt_pos_embed(value, backbone, src_grid, report, key)
            if tuple(value.shape) != tuple(own[name].shape):
                report.mismatched.append(f"{key}: file {list(value.shape)} vs model {list(own[name].shape)}")
                continue
            picked[name] = value
        owner = "" if module is model else next(n for n, m in model.named_children() if m is module) + "."
        mismatched = {m.split(":")[0][len(prefix) :] for m in report.mismatched if m.startswith(prefix)}
        report.missing.extend(owner + k for k in own if k not in picked and k not in mismatched)
        report.loaded.extend(owner + k for k in picked)
        plan.append((module, picked))
    for key in state:
        if not any(key.startswith(p) for p in targets):
            (report.ignored if key.startswith(_KNOWN_PREFIXES) else report.unexpected).append(key)
    if strict and not report.ok:
        raise CheckpointMismatchError(
            f"checkpoint does not match the model (nothing loaded):\n{report.summary()}{_mismatch_hint(part, report)}"
        )
    for module, picked in plan:
        copy_tensors_into(module, picked)
    return report


def _mismatch_hint(part: str, report: LoadReport) -> str:
    """A sentence naming the likely cause of a shape mismatch, when it is a known one."""
    for item in report.mismatched:
        key, _, shapes = item.partition(": ")
        if part == "pose" and key.endswith("final_layer.weight"):
            file_k = shapes.split("]")[0].lstrip("file [").split(",")[0]
            if file_k.strip() == "308":
                return (
                    "\n  cause: this is a Sapiens Goliath pose model (308 keypoints, sapiens_*_goliath_best_goliath_AP_"
                    "*.pth); Hyper-Sapiens predicts the 17 COCO keypoints. Use the sapiens-pose-coco release "
                    "(sapiens_{0.3b,0.6b,1b,2b}_coco_best_coco_AP_{796,812,821,822}.pth), or load only this file's "
                    "backbone with sapiens_checkpoints.backbone (part=backbone)."
                )
            return f"\n  cause: the file's pose head predicts {file_k.strip()} keypoints, the model 17 (COCO17)."
    return ""


def load_sapiens_parts(
    model: nn.Module, files: Mapping[str, Any], backbone_from: str | None = None, strict: bool = True
) -> dict[str, LoadReport]:
    """Load several Sapiens checkpoints into one model: **one** file gives the backbone, the others heads only.

    Args:
        files: part -> path for the parts in :data:`SAPIENS_PARTS` (``backbone``, ``pose``, ``depth``,
            ``normal``); empty entries are skipped.
        backbone_from: the part whose file supplies the shared backbone (default: ``backbone`` when that
            file is given, else ``pose``, else ``depth``, else ``normal``). Loading every file with its
            backbone would leave the model with the backbone of whichever came last.

    Returns ``{part: LoadReport}``; the reports of head-only loads list the file's backbone keys as ignored.
    """
    chosen = {str(p): str(v) for p, v in files.items() if v}
    unknown = sorted(set(chosen) - set(SAPIENS_PARTS))
    if unknown:
        raise ValueError(f"sapiens_checkpoints: unknown parts {unknown}; allowed: {list(SAPIENS_PARTS)}")
    if not chosen:
        return {}
    if backbone_from is None:
        backbone_from = next(p for p in SAPIENS_PARTS if p in chosen)
    if backbone_from not in chosen:
        raise ValueError(
            f"sapiens_checkpoints.backbone_from={backbone_from!r}, but no {backbone_from} file is given "
            f"(given: {sorted(chosen)})"
        )
    if "backbone" in chosen and backbone_from != "backbone":
        raise ValueError(
            f"sapiens_checkpoints.backbone ({chosen['backbone']}) would be overwritten: backbone_from is "
            f"{backbone_from!r}; remove one of them"
        )
    reports = {}
    for part in sorted(chosen, key=lambda p: p != backbone_from):  # the backbone's file first
        reports[part] = load_sapiens_checkpoint(
            model, chosen[part], part=part, strict=strict, load_backbone=part == backbone_from
        )
    return reports
