"""One Sapiens backbone shared by up to three heads (pose heatmaps, relative depth, surface normals).

Model config block (YAML / dict / OmegaConf ``DictConfig``), consumed by :func:`build_model`:

```yaml
model:
  arch: tiny                 # sapiens_0.3b | sapiens_0.6b | sapiens_1b | sapiens_2b | tiny | small
  input_size: [192, 256]     # (w, h) pixels of the network input; multiples of 16
  patch_size: 16
  patch_padding: 2           # patch-conv padding: 2 (Sapiens pose/normal) or "corner" (Sapiens depth)
  drop_path_rate: 0.0        # stochastic depth (0 in the Sapiens COCO configs)
  grad_checkpointing: false  # recompute blocks in backward
  # optional backbone overrides: embed_dims, num_layers, num_heads, ffn_ratio
  heads:                     # a head that is absent, null or false is not built; {} or true -> defaults
    pose:   {num_keypoints: 17, deconv_channels: [768, 768], conv_channels: [768, 768]}
    depth:  {deconv_channels: [384, 384, 384, 384], conv_channels: [384, 384], dropout: 0.1}
    normal: {deconv_channels: [768, 768, 768], conv_channels: [768, 768, 768], dropout: 0.1,
             axis_map: [x, y, z]}
```

Head defaults: the Sapiens widths above for the ``sapiens_*`` archs; for ``tiny``/``small`` narrower
heads with two deconvolutions (output stride 4) so CPU training stays cheap (see ``CPU_HEAD_DEFAULTS``).
Every head also accepts ``deconv_kernel_sizes`` / ``conv_kernel_sizes`` (default 4 / 1).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from ..config_schema import check_known_keys, plain_container
from .heads import SAPIENS_HEAD_DEFAULTS, DepthHead, NormalHead, PoseHeatmapHead
from .vit import SapiensViT

__all__ = [
    "CPU_HEAD_DEFAULTS",
    "HEAD_NAMES",
    "HyperPoseModel",
    "autocast_for",
    "build_model",
    "check_model_config",
]

HEAD_NAMES = ("pose", "depth", "normal")

# Head widths for the CPU archs (ours, not Sapiens'): 2 deconvs -> output stride 4 for every head.
CPU_HEAD_DEFAULTS: dict[str, dict[str, dict[str, tuple[int, ...]]]] = {
    "tiny": {
        "pose": {"deconv_channels": (128, 64), "conv_channels": (64, 64)},
        "depth": {"deconv_channels": (128, 64), "conv_channels": (64,)},
        "normal": {"deconv_channels": (128, 64), "conv_channels": (64,)},
    },
    "small": {
        "pose": {"deconv_channels": (256, 128), "conv_channels": (128, 128)},
        "depth": {"deconv_channels": (256, 128), "conv_channels": (128,)},
        "normal": {"deconv_channels": (256, 128), "conv_channels": (128,)},
    },
}

_BACKBONE_KEYS = {
    "arch",
    "input_size",
    "patch_size",
    "patch_padding",
    "drop_path_rate",
    "grad_checkpointing",
    "embed_dims",
    "num_layers",
    "num_heads",
    "ffn_ratio",
    "heads",
    "depth_output",  # what the depth head predicts: log_depth | relative (read by the losses; see docs/model.md)
}
_HEAD_KEYS = {
    "pose": {"num_keypoints", "deconv_channels", "conv_channels", "deconv_kernel_sizes", "conv_kernel_sizes"},
    "depth": {"deconv_channels", "conv_channels", "deconv_kernel_sizes", "conv_kernel_sizes", "dropout"},
    "normal": {
        "deconv_channels",
        "conv_channels",
        "deconv_kernel_sizes",
        "conv_kernel_sizes",
        "dropout",
        "axis_map",
    },
}


def autocast_for(device: torch.device | str, enabled: bool = True) -> AbstractContextManager:
    """The project's mixed-precision policy: bf16 autocast on CUDA, plain fp32 elsewhere."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


class HyperPoseModel(nn.Module):
    """Sapiens backbone + any subset of {pose, depth, normal} heads.

    ``forward(images (B, 3, H, W))`` (normalised RGB) returns a dict with only the present heads:

    - ``heatmaps``: ``(B, K, H/s_p, W/s_p)`` raw heatmaps (s_p = pose head stride, 4)
    - ``depth``: ``(B, 1, H/s_d, W/s_d)`` raw relative depth
    - ``normal``: ``(B, 3, H/s_n, W/s_n)`` unit normals, camera frame (x right, y down, z forward)

    Outputs are float32 whatever the autocast dtype. ``output_strides`` gives each head's stride.
    """

    def __init__(
        self,
        backbone: SapiensViT,
        pose_head: PoseHeatmapHead | None = None,
        depth_head: DepthHead | None = None,
        normal_head: NormalHead | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if pose_head is None and depth_head is None and normal_head is None:
            raise ValueError("HyperPoseModel needs at least one head")
        self.backbone = backbone
        self.pose_head = pose_head
        self.depth_head = depth_head
        self.normal_head = normal_head
        self.config = dict(config) if config is not None else {}

    @property
    def heads(self) -> dict[str, nn.Module]:
        """The present heads by name (``pose``, ``depth``, ``normal``)."""
        pairs = (("pose", self.pose_head), ("depth", self.depth_head), ("normal", self.normal_head))
        return {name: head for name, head in pairs if head is not None}

    @property
    def output_strides(self) -> dict[str, int]:
        """Output stride (input pixels per output pixel) of each present head."""
        return {name: head.output_stride for name, head in self.heads.items()}

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.backbone(images)
        out: dict[str, torch.Tensor] = {}
        if self.pose_head is not None:
            out["heatmaps"] = self.pose_head(feats).float()
        if self.depth_head is not None:
            out["depth"] = self.depth_head(feats).float()
        if self.normal_head is not None:
            out["normal"] = self.normal_head(feats).float()
        return out

    def parameter_counts(self) -> dict[str, int]:
        """Parameters of ``backbone`` and each head, ``total`` and ``trainable``."""
        counts = {"backbone": sum(p.numel() for p in self.backbone.parameters())}
        for name, head in self.heads.items():
            counts[f"{name}_head"] = sum(p.numel() for p in head.parameters())
        counts["total"] = sum(p.numel() for p in self.parameters())
        counts["trainable"] = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return counts

    def describe(self, print_fn=print) -> dict[str, int]:
        """Print (through ``print_fn``) and return the parameter counts of the backbone parts and heads."""
        counts = {f"backbone.{k}": v for k, v in self.backbone.describe(print_fn).items()}
        for name, head in self.heads.items():
            n = sum(p.numel() for p in head.parameters())
            counts[f"{name}_head"] = n
            print_fn(
                f"  {name + '_head':<12} {n:>15,d}  deconvs={list(head.deconv_channels)} "
                f"convs={list(head.conv_channels)} stride={head.output_stride}"
            )
        counts["total"] = sum(p.numel() for p in self.parameters())
        counts["trainable"] = sum(p.numel() for p in self.parameters() if p.requires_grad)
        print_fn(f"  {'total':<12} {counts['total']:>15,d}")
        print_fn(f"  {'trainable':<12} {counts['trainable']:>15,d}")
        return counts


def _head_settings(arch: str, name: str, user: Any) -> dict[str, Any]:
    if user is True:
        user = {}
    if not isinstance(user, Mapping):
        raise ValueError(f"model.heads.{name} must be a mapping, true, false or null; got {user!r}")
    check_known_keys(user, _HEAD_KEYS[name], f"model.heads.{name}")
    if arch in CPU_HEAD_DEFAULTS:
        defaults = copy.deepcopy(CPU_HEAD_DEFAULTS[arch][name])
    else:
        defaults = copy.deepcopy(SAPIENS_HEAD_DEFAULTS[name])
    defaults.update(user)
    return defaults


def check_model_config(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`~hyper_sapiens.config_schema.ConfigError` for an unknown key of a ``model`` block or of
    one of its heads, naming the closest allowed key (values are checked when the model is built)."""
    check_known_keys(cfg, _BACKBONE_KEYS, "model")
    heads = cfg.get("heads")
    if isinstance(heads, Mapping):
        check_known_keys(heads, HEAD_NAMES, "model.heads")
        for name, user in heads.items():
            if isinstance(user, Mapping):
                check_known_keys(user, _HEAD_KEYS[name], f"model.heads.{name}")


def build_model(cfg: Mapping[str, Any] | Any) -> HyperPoseModel:
    """Build a :class:`HyperPoseModel` from a model config block (see the module docstring).

    ``cfg`` may be the ``model`` block itself or a full config holding a ``model`` key.
    Unknown keys raise ``ValueError`` naming them. The resolved config is kept in ``model.config``.
    """
    cfg = plain_container(cfg)
    if not isinstance(cfg, Mapping):
        raise ValueError(f"model config must be a mapping, got {type(cfg).__name__}")
    if "model" in cfg and isinstance(cfg["model"], Mapping):
        cfg = cfg["model"]
    check_known_keys(cfg, _BACKBONE_KEYS, "model")
    arch = str(cfg.get("arch", "sapiens_0.3b"))
    input_size = cfg.get("input_size", [768, 1024])
    if len(input_size) != 2:
        raise ValueError(f"model.input_size must be [w, h], got {input_size!r}")
    width, height = int(input_size[0]), int(input_size[1])
    patch_size = int(cfg.get("patch_size", 16))
    if width % patch_size or height % patch_size:
        raise ValueError(f"model.input_size {width}x{height} (w x h) must be a multiple of patch_size {patch_size}")
    patch_padding = cfg.get("patch_padding", 2)
    patch_padding = patch_padding if patch_padding == "corner" else int(patch_padding)
    overrides = {k: cfg[k] for k in ("embed_dims", "num_layers", "num_heads", "ffn_ratio") if cfg.get(k) is not None}
    backbone = SapiensViT(
        arch=arch,
        img_size=(height, width),
        patch_size=patch_size,
        patch_padding=patch_padding,
        drop_path_rate=float(cfg.get("drop_path_rate", 0.0)),
        grad_checkpointing=bool(cfg.get("grad_checkpointing", False)),
        **overrides,
    )
    heads_cfg = cfg.get("heads", {"pose": {}})
    if not isinstance(heads_cfg, Mapping):
        raise ValueError(f"model.heads must be a mapping, got {heads_cfg!r}")
    check_known_keys(heads_cfg, HEAD_NAMES, "model.heads")
    arch_key = backbone.arch_name.lower()
    resolved_heads: dict[str, dict[str, Any]] = {}
    built: dict[str, nn.Module] = {}
    common = {"in_channels": backbone.embed_dims, "in_stride": patch_size}
    for name, head_cls in (("pose", PoseHeatmapHead), ("depth", DepthHead), ("normal", NormalHead)):
        user = heads_cfg.get(name)
        if user is None or user is False:
            continue
        settings = _head_settings(arch_key, name, user)
        built[name] = head_cls(**common, **settings)
        resolved_heads[name] = {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
    resolved = {
        "arch": backbone.arch_name,
        "input_size": [width, height],
        "patch_size": patch_size,
        "patch_padding": patch_padding,
        "drop_path_rate": float(cfg.get("drop_path_rate", 0.0)),
        "grad_checkpointing": backbone.grad_checkpointing,
        "embed_dims": backbone.arch.embed_dims,
        "num_layers": backbone.arch.num_layers,
        "num_heads": backbone.arch.num_heads,
        "ffn_ratio": backbone.arch.ffn_ratio,
        "heads": resolved_heads,
    }
    if cfg.get("depth_output") is not None:
        if cfg["depth_output"] not in ("log_depth", "relative"):
            raise ValueError(f"model.depth_output must be log_depth or relative, got {cfg['depth_output']!r}")
        resolved["depth_output"] = str(cfg["depth_output"])
    return HyperPoseModel(
        backbone,
        pose_head=built.get("pose"),
        depth_head=built.get("depth"),
        normal_head=built.get("normal"),
        config=resolved,
    )
