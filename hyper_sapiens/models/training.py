"""Training controls for the Sapiens model: layered unfreezing, layer-wise LR decay, SyncBN passthrough.

Layered unfreezing (``set_trainable_blocks``): the last ``n`` transformer blocks, the position table,
the final LayerNorm and all heads train; the patch embedding and the leading blocks get
``requires_grad=False`` and stay in eval mode (``SapiensViT.train`` keeps them there, so a later
``model.train()`` does not undo it). The backbone's LayerNorms have no running statistics, so eval mode
only matters for stochastic depth (drop-path) and dropout: frozen blocks never drop paths.

Cost note: while the position table trains, its gradient flows through every frozen block (input
gradients only: no weight gradients), so a step still back-propagates through the whole backbone; with
``train_pos_embed=False`` and ``n`` small, backward stops at the first trainable block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .vit import SapiensViT

__all__ = [
    "set_trainable_blocks",
    "UnfreezeSchedule",
    "layer_decay_param_groups",
    "sapiens_layer_id",
    "convert_sync_batchnorm",
    "find_backbone",
]


def find_backbone(model: nn.Module) -> tuple[SapiensViT, str]:
    """The :class:`SapiensViT` inside ``model`` (unwrapping DDP/compile) and its parameter-name prefix."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    model = getattr(model, "_orig_mod", model)
    if isinstance(model, SapiensViT):
        return model, ""
    for name, module in model.named_modules():
        if isinstance(module, SapiensViT):
            return module, name + "."
    raise TypeError(f"{type(model).__name__} holds no SapiensViT backbone")


def set_trainable_blocks(
    model: nn.Module, n: int | None, train_pos_embed: bool = True, train_patch_embed: bool = False
) -> dict[str, int]:
    """Train the last ``n`` blocks (+ position table, final norm, heads); freeze the rest.

    Args:
        model: a :class:`HyperPoseModel` or :class:`SapiensViT` (DDP/compiled wrappers are unwrapped).
        n: number of trailing blocks to train; ``None``, a negative value or ``n >= num_layers`` trains
            every block and the patch embedding (full fine-tuning). ``0`` trains only the heads, the final
            norm and the position table.
        train_pos_embed: train the position table (the project default, as the spec asks).
        train_patch_embed: also train the patch embedding while blocks are partly frozen.

    Returns ``{"trainable": params, "frozen": params, "trainable_blocks": k}``.
    """
    backbone, _ = find_backbone(model)
    total_blocks = backbone.num_layers
    full = n is None or n < 0 or n >= total_blocks
    k = total_blocks if full else int(n)
    first_trainable = total_blocks - k

    for p in model.parameters():  # heads and anything outside the backbone train
        p.requires_grad_(True)
    backbone.num_frozen_blocks = first_trainable
    backbone.patch_embed_frozen = not (full or train_patch_embed)
    backbone.patch_embed.requires_grad_(not backbone.patch_embed_frozen)
    for i, layer in enumerate(backbone.layers):
        layer.requires_grad_(i >= first_trainable)
    backbone.pos_embed.requires_grad_(bool(train_pos_embed) or full)
    backbone.ln1.requires_grad_(True)
    backbone.train(backbone.training)  # re-applies eval mode to the frozen modules
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return {"trainable": trainable, "frozen": frozen, "trainable_blocks": k}


class UnfreezeSchedule:
    """Unfreeze more blocks as training progresses.

    ``UnfreezeSchedule({0: 4, 2000: 8, 6000: -1})``: from step 0 train the last 4 blocks, from step 2000
    the last 8, from step 6000 everything (-1 / ``None`` = all). Call :meth:`apply` every step; it changes
    the model only when the block count changes and returns whether it did.

    Build the optimizer with ``layer_decay_param_groups(..., include_frozen=True)`` so that parameters
    unfrozen later are already in it (AdamW skips parameters whose ``grad`` is ``None``, so frozen ones
    are neither updated nor decayed until they train).
    """

    def __init__(
        self, milestones: Mapping[int, int | None] | Iterable[tuple[int, int | None]], train_pos_embed: bool = True
    ) -> None:
        items = milestones.items() if isinstance(milestones, Mapping) else milestones
        self.milestones = sorted((int(step), None if b is None else int(b)) for step, b in items)
        if not self.milestones:
            raise ValueError("UnfreezeSchedule needs at least one (step, blocks) milestone")
        self.train_pos_embed = train_pos_embed
        self._current: tuple[bool, int | None] = (False, None)

    @staticmethod
    def _norm(blocks: int | None) -> int:
        return -1 if blocks is None or blocks < 0 else blocks

    def blocks_at(self, step: int) -> int:
        """Trainable trailing blocks at ``step`` (-1 = all); before the first milestone, the first's value."""
        blocks = self.milestones[0][1]
        for start, value in self.milestones:
            if step >= start:
                blocks = value
        return self._norm(blocks)

    def apply(self, model: nn.Module, step: int) -> bool:
        blocks = self.blocks_at(step)
        if self._current == (True, blocks):
            return False
        set_trainable_blocks(model, blocks, train_pos_embed=self.train_pos_embed)
        self._current = (True, blocks)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"milestones": [list(m) for m in self.milestones], "train_pos_embed": self.train_pos_embed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.milestones = sorted((int(s), None if b is None else int(b)) for s, b in state["milestones"])
        self.train_pos_embed = bool(state["train_pos_embed"])
        self._current = (False, None)


def sapiens_layer_id(name: str, num_layers: int, prefix: str = "backbone.") -> int:
    """Layer id of a parameter as Sapiens' ``get_num_layer_for_vit`` (``num_layers`` = blocks + 2):
    0 for the position table / class token / patch embedding, ``i + 1`` for block ``i``, and
    ``num_layers - 1`` for everything else (final norm, heads)."""
    if not name.startswith(prefix):
        return num_layers - 1
    rest = name[len(prefix) :]
    if rest in ("cls_token", "mask_token", "pos_embed") or rest.startswith("patch_embed"):
        return 0
    if rest.startswith("layers."):
        return int(rest.split(".")[1]) + 1
    return num_layers - 1


def layer_decay_param_groups(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    layer_decay_rate: float,
    include_frozen: bool = False,
) -> list[dict[str, Any]]:
    """AdamW parameter groups as Sapiens' ``LayerDecayOptimWrapperConstructor``.

    With ``L`` blocks, ids run over ``0 .. L+1`` (:func:`sapiens_layer_id`); a group's learning rate is
    ``lr * layer_decay_rate ** (L + 2 - id - 1)`` (heads and final norm: ``lr``; patch embedding and
    position table: ``lr * rate**(L+1)``). Parameters that are 1-D, named ``*.bias`` or contain
    ``pos_embed`` get weight decay 0, the others ``weight_decay``. Frozen parameters are skipped unless
    ``include_frozen`` (use that with :class:`UnfreezeSchedule`).

    Each group has ``params``, ``param_names``, ``lr``, ``lr_scale``, ``weight_decay``,
    ``group_name`` (``layer_{id}_{decay|no_decay}``), ``layer_id``; groups are ordered by layer id.
    """
    backbone, prefix = find_backbone(model)
    num_layers = backbone.num_layers + 2
    groups: dict[str, dict[str, Any]] = {}
    named = model.named_parameters()
    for name, param in named:
        if not param.requires_grad and not include_frozen:
            continue
        for wrapper in ("module.", "_orig_mod."):
            while name.startswith(wrapper):
                name = name[len(wrapper) :]
        no_decay = param.ndim == 1 or name.endswith(".bias") or "pos_embed" in name
        layer_id = sapiens_layer_id(name, num_layers, prefix)
        group_name = f"layer_{layer_id}_{'no_decay' if no_decay else 'decay'}"
        if group_name not in groups:
            scale = layer_decay_rate ** (num_layers - layer_id - 1)
            groups[group_name] = {
                "params": [],
                "param_names": [],
                "lr": lr * scale,
                "lr_scale": scale,
                "weight_decay": 0.0 if no_decay else weight_decay,
                "group_name": group_name,
                "layer_id": layer_id,
            }
        groups[group_name]["params"].append(param)
        groups[group_name]["param_names"].append(name)
    return sorted(groups.values(), key=lambda g: (g["layer_id"], g["group_name"]))


def convert_sync_batchnorm(model: nn.Module, process_group: Any = None) -> nn.Module:
    """``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` for distributed runs.

    The Sapiens model has no BatchNorm (LayerNorm in the backbone, InstanceNorm in the heads, neither
    with running statistics), so this is a no-op for it; it matters only if a custom head adds BN.
    """
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group)
