"""Sapiens multi-task model: ViT backbone, pose/depth/normal heads, checkpoints, training controls.

See ``docs/model.md``.
"""

from __future__ import annotations

from .ema import ModelEMA
from .flops import backbone_flops, head_flops, model_flops
from .heads import DepthHead, NormalHead, PoseHeatmapHead
from .hyper_pose import HEAD_NAMES, HyperPoseModel, autocast_for, build_model, check_model_config
from .restricted_unpickler import PickledObject, UnsafeCheckpointError, read_torch_checkpoint
from .sapiens_format import (
    CheckpointMismatchError,
    LoadReport,
    file_kind,
    infer_sapiens_arch,
    load_sapiens_checkpoint,
    load_sapiens_parts,
    read_sapiens_state_dict,
)
from .training import (
    UnfreezeSchedule,
    convert_sync_batchnorm,
    layer_decay_param_groups,
    set_trainable_blocks,
)
from .vit import ARCHS, SapiensViT, get_arch, patch_grid, resize_pos_embed
from .weights_file import (
    load_model,
    load_state_file,
    load_weights,
    read_weights_metadata,
    save_weights,
)

__all__ = [
    "ARCHS",
    "HEAD_NAMES",
    "CheckpointMismatchError",
    "DepthHead",
    "HyperPoseModel",
    "LoadReport",
    "ModelEMA",
    "NormalHead",
    "PickledObject",
    "PoseHeatmapHead",
    "SapiensViT",
    "UnfreezeSchedule",
    "UnsafeCheckpointError",
    "autocast_for",
    "backbone_flops",
    "build_model",
    "check_model_config",
    "convert_sync_batchnorm",
    "file_kind",
    "get_arch",
    "head_flops",
    "infer_sapiens_arch",
    "layer_decay_param_groups",
    "load_model",
    "load_sapiens_checkpoint",
    "load_sapiens_parts",
    "load_state_file",
    "load_weights",
    "model_flops",
    "patch_grid",
    "read_sapiens_state_dict",
    "read_torch_checkpoint",
    "read_weights_metadata",
    "resize_pos_embed",
    "save_weights",
    "set_trainable_blocks",
]
