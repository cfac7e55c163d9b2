"""Dense prediction heads on the ViT feature map: pose heatmaps, relative depth, surface normals.

All three follow the Sapiens design (``HeatmapHead`` with ``use_silu=True``, ``VitDepthHead``,
``VitNormalHead``): a stack of stride-2 transposed convolutions, then 1×1 convolutions, each followed
by InstanceNorm (no affine, eps 1e-5) and SiLU, then a final 1×1 convolution. Module indices match the
Sapiens checkpoints: ``deconv_layers.{0,3,6,...}.weight`` (no bias), ``conv_layers.{0,3,...}.{weight,bias}``,
and ``final_layer`` (pose) or ``conv_seg`` (depth, normal).

Each head's ``output_stride`` is its output resolution relative to the input image:
``in_stride / 2**len(deconv_channels)`` (pose 16/4 = 4, Sapiens depth 16/16 = 1, Sapiens normal 16/8 = 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "InstanceNorm",
    "biases_before_instance_norm",
    "PoseHeatmapHead",
    "DepthHead",
    "NormalHead",
    "parse_axis_map",
    "SAPIENS_HEAD_DEFAULTS",
]

# Head widths of the released Sapiens configs (identical for every backbone size).
# pose: pose/configs/sapiens_pose/coco/sapiens_*-210e_coco-1024x768.py
# depth: seg/configs/sapiens_depth/render_people/sapiens_*_render_people-1024x768.py
# normal: seg/configs/sapiens_normal/normal_render_people/*.py
SAPIENS_HEAD_DEFAULTS: dict[str, dict[str, tuple[int, ...]]] = {
    "pose": {"deconv_channels": (768, 768), "conv_channels": (768, 768)},
    "depth": {"deconv_channels": (384, 384, 384, 384), "conv_channels": (384, 384)},
    "normal": {"deconv_channels": (768, 768, 768), "conv_channels": (768, 768, 768)},
}

_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}  # kernel -> (padding, output_padding): exact 2x upsampling


class InstanceNorm(nn.Module):
    """``nn.InstanceNorm2d(C)`` with PyTorch defaults (no affine, no running stats, eps 1e-5).

    Computed as ``group_norm`` with one group per channel, which is the same normalisation, has fast
    channels-last kernels, and runs in float32 under CUDA autocast.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, x.shape[1], eps=self.eps)


def biases_before_instance_norm(model: nn.Module) -> list[str]:
    """Names of the convolution biases that an :class:`InstanceNorm` follows directly.

    InstanceNorm subtracts each channel's mean, so a per-channel bias added just before it cannot change
    the output: its true gradient is exactly 0, and what autograd returns for it is float rounding noise.
    The Sapiens heads have one in every ``conv_layers`` block (kept: the checkpoints carry them). The
    trainer sets their gradient to that exact 0, so AdamW does not turn the noise into full-size steps.
    """
    names: list[str] = []
    for prefix, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (name, layer), (_, following) in zip(children, children[1:]):
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and layer.bias is not None and isinstance(
                following, (InstanceNorm, nn.InstanceNorm2d)
            ):
                names.append(f"{prefix}.{name}.bias" if prefix else f"{name}.bias")
    return names


def _as_tuple(values: Sequence[int] | None, name: str) -> tuple[int, ...]:
    if values is None:
        return ()
    out = tuple(int(v) for v in values)
    if any(v <= 0 for v in out):
        raise ValueError(f"{name} must hold positive integers, got {list(values)}")
    return out


class _UpsampleConvHead(nn.Module):
    """Deconvolution stack + 1×1 (or k×k) convolution stack shared by the three heads."""

    def __init__(
        self,
        in_channels: int,
        deconv_channels: Sequence[int],
        deconv_kernel_sizes: Sequence[int] | None,
        conv_channels: Sequence[int],
        conv_kernel_sizes: Sequence[int] | None,
        in_stride: int,
    ) -> None:
        super().__init__()
        deconv_channels = _as_tuple(deconv_channels, "deconv_channels")
        conv_channels = _as_tuple(conv_channels, "conv_channels")
        deconv_kernel_sizes = _as_tuple(deconv_kernel_sizes, "deconv_kernel_sizes") or (4,) * len(deconv_channels)
        conv_kernel_sizes = _as_tuple(conv_kernel_sizes, "conv_kernel_sizes") or (1,) * len(conv_channels)
        if len(deconv_kernel_sizes) != len(deconv_channels) or len(conv_kernel_sizes) != len(conv_channels):
            raise ValueError("each deconv/conv layer needs exactly one kernel size")
        if in_stride % (2 ** len(deconv_channels)):
            raise ValueError(f"{len(deconv_channels)} stride-2 deconvs overshoot the input stride {in_stride}")
        self.in_channels = int(in_channels)
        self.deconv_channels = deconv_channels
        self.conv_channels = conv_channels
        self.output_stride = in_stride // 2 ** len(deconv_channels)

        layers: list[nn.Module] = []
        channels = self.in_channels
        for out_channels, kernel in zip(deconv_channels, deconv_kernel_sizes):
            if kernel not in _DECONV_PADDING:
                raise ValueError(f"unsupported deconv kernel size {kernel}; use 2, 3 or 4")
            padding, output_padding = _DECONV_PADDING[kernel]
            layers += [
                nn.ConvTranspose2d(channels, out_channels, kernel, 2, padding, output_padding, bias=False),
                InstanceNorm(),
                nn.SiLU(inplace=True),
            ]
            channels = out_channels
        self.deconv_layers = nn.Sequential(*layers) if layers else nn.Identity()

        layers = []
        for out_channels, kernel in zip(conv_channels, conv_kernel_sizes):
            layers += [nn.Conv2d(channels, out_channels, kernel, 1, (kernel - 1) // 2), InstanceNorm(), nn.SiLU(True)]
            channels = out_channels
        self.conv_layers = nn.Sequential(*layers) if layers else nn.Identity()
        self.out_features = channels

    @torch.no_grad()
    def _init_body(self, std: float = 1e-3) -> None:
        """mmpose ``HeatmapHead`` init: Normal(std=0.001) for (de)conv weights, zero biases."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and not module.weight.is_meta:
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, h, w)`` -> ``(B, out_features, h*2^n, w*2^n)``."""
        return self.conv_layers(self.deconv_layers(x))


class PoseHeatmapHead(_UpsampleConvHead):
    """COCO17 heatmap head (Sapiens ``HeatmapHead``): raw heatmaps ``(B, K, H/4, W/4)`` with 2 deconvs.

    Keys: ``deconv_layers.{0,3}.weight``, ``conv_layers.{0,3}.{weight,bias}``, ``final_layer.{weight,bias}``.
    """

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int = 17,
        deconv_channels: Sequence[int] = (768, 768),
        conv_channels: Sequence[int] = (768, 768),
        deconv_kernel_sizes: Sequence[int] | None = None,
        conv_kernel_sizes: Sequence[int] | None = None,
        in_stride: int = 16,
    ) -> None:
        super().__init__(in_channels, deconv_channels, deconv_kernel_sizes, conv_channels, conv_kernel_sizes, in_stride)
        self.num_keypoints = int(num_keypoints)
        self.final_layer = nn.Conv2d(self.out_features, self.num_keypoints, 1)
        self._init_body()

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats (B, C, Gh, Gw)`` -> heatmaps ``(B, K, Gh*2^n, Gw*2^n)`` (raw, no sigmoid)."""
        return self.final_layer(self.features(feats))


class DepthHead(_UpsampleConvHead):
    """Relative-depth head (Sapiens ``VitDepthHead``): one raw channel; Sapiens: 4 deconvs of 384, stride 1.

    Keys: ``deconv_layers.{0,3,6,9}.weight``, ``conv_layers.{0,3}.*``, ``conv_seg.{weight,bias}``.
    ``dropout`` is the ``Dropout2d`` before ``conv_seg`` (training only; Sapiens: 0.1).
    """

    def __init__(
        self,
        in_channels: int,
        deconv_channels: Sequence[int] = (384, 384, 384, 384),
        conv_channels: Sequence[int] = (384, 384),
        deconv_kernel_sizes: Sequence[int] | None = None,
        conv_kernel_sizes: Sequence[int] | None = None,
        dropout: float = 0.1,
        in_stride: int = 16,
    ) -> None:
        super().__init__(in_channels, deconv_channels, deconv_kernel_sizes, conv_channels, conv_kernel_sizes, in_stride)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(self.out_features, 1, 1)
        self._init_body()

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats (B, C, Gh, Gw)`` -> relative depth ``(B, 1, H/s, W/s)``, raw and unbounded."""
        return self.conv_seg(self.dropout(self.features(feats)))


def parse_axis_map(axis_map: Sequence[str] | str) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """Parse a signed axis map such as ``("x", "-y", "-z")`` or ``"x,-y,-z"``.

    Output component ``i`` is ``sign_i * raw[axis_i]``: ``("x", "-y", "-z")`` turns an OpenGL-style
    normal (y up, z towards the viewer) into ours (y down, z away from the camera).
    Returns ``(indices, signs)``.
    """
    items = [a.strip() for a in axis_map.split(",")] if isinstance(axis_map, str) else [str(a) for a in axis_map]
    if len(items) != 3:
        raise ValueError(f"axis_map needs 3 entries like ['x', '-y', '-z'], got {axis_map!r}")
    indices, signs = [], []
    for item in items:
        sign = -1.0 if item.startswith("-") else 1.0
        name = item.lstrip("+-").lower()
        if name not in ("x", "y", "z"):
            raise ValueError(f"axis_map entry {item!r} is not one of x, y, z with an optional sign")
        indices.append("xyz".index(name))
        signs.append(sign)
    if sorted(indices) != [0, 1, 2]:
        raise ValueError(f"axis_map {axis_map!r} must use each of x, y, z exactly once")
    return (indices[0], indices[1], indices[2]), (signs[0], signs[1], signs[2])


class NormalHead(_UpsampleConvHead):
    """Surface-normal head (Sapiens ``VitNormalHead``): 3 channels; Sapiens: 3 deconvs of 768, stride 2.

    The raw ``conv_seg`` output is re-ordered/re-signed by ``axis_map`` into our camera frame
    (x right, y down, z away from the camera) and L2-normalised. The default identity map assumes
    Sapiens' "camera coordinates, XYZ" already is that frame (unverified upstream; see docs/model.md).
    Keys: ``deconv_layers.{0,3,6}.weight``, ``conv_layers.{0,3,6}.*``, ``conv_seg.{weight,bias}``.
    """

    def __init__(
        self,
        in_channels: int,
        deconv_channels: Sequence[int] = (768, 768, 768),
        conv_channels: Sequence[int] = (768, 768, 768),
        deconv_kernel_sizes: Sequence[int] | None = None,
        conv_kernel_sizes: Sequence[int] | None = None,
        dropout: float = 0.1,
        axis_map: Sequence[str] | str = ("x", "y", "z"),
        in_stride: int = 16,
    ) -> None:
        super().__init__(in_channels, deconv_channels, deconv_kernel_sizes, conv_channels, conv_kernel_sizes, in_stride)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv_seg = nn.Conv2d(self.out_features, 3, 1)
        indices, signs = parse_axis_map(axis_map)
        self.axis_map = tuple(("-" if s < 0 else "") + "xyz"[i] for i, s in zip(indices, signs))
        self._axis_indices = list(indices)
        self._identity_map = indices == (0, 1, 2) and signs == (1.0, 1.0, 1.0)
        self.register_buffer("axis_signs", torch.tensor(signs).view(1, 3, 1, 1), persistent=False)
        self._init_body()

    def forward_raw(self, feats: torch.Tensor) -> torch.Tensor:
        """The Sapiens head output ``(B, 3, H/s, W/s)``: no axis map, not normalised."""
        return self.conv_seg(self.dropout(self.features(feats)))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats (B, C, Gh, Gw)`` -> unit normals ``(B, 3, H/s, W/s)`` in our camera frame."""
        raw = self.forward_raw(feats)
        if not self._identity_map:
            raw = raw[:, self._axis_indices] * self.axis_signs.to(raw.dtype)
        return F.normalize(raw.float(), dim=1, eps=1e-6)
