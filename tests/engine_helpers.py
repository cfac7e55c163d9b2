"""Small stage configs on the `tiny` synthetic data set for trainer tests (fast on 2 CPU cores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def tiny_stage_config(root: Path, run_dir: Path, stage: int = 1, **overrides: Any):
    """A stage config with a 2-block, 96-wide ViT at 64×96 input (maps 16×24) on the tiny data set."""
    syrip = root / "syrip"
    syn = {
        "type": "coco",
        "ann_file": str(syrip / "annotations" / "train_syn.json"),
        "image_root": str(syrip / "images" / "train_syn"),
        "labelled": "labelled",
    }
    real = {
        "type": "coco",
        "ann_file": str(syrip / "annotations" / "train_real.json"),
        "image_root": str(syrip / "images" / "train_real"),
        "labelled": "all",
    }
    cfg: dict[str, Any] = {
        "run": {
            "dir": str(run_dir),
            "seed": 0,
            "device": "cpu",
            "steps": 6,
            "log_every": 1,
            "eval_every": 0,
            "ckpt_every": 3,
            "max_nonfinite_steps": 3,
        },
        "model": {
            "arch": "tiny",
            "input_size": [64, 96],
            "embed_dims": 96,
            "num_layers": 2,
            "num_heads": 2,
            "heads": {
                "pose": {"deconv_channels": [32, 32], "conv_channels": [32]},
                "depth": {"deconv_channels": [16, 16], "conv_channels": [16]},
                "normal": {"deconv_channels": [16, 16], "conv_channels": [16]},
            },
        },
        "data": {
            "workers": 0,
            "pipeline": {"input_size": [64, 96], "sigma": 1.0},
            "val_batch_size": 8,
            "val": {
                "type": "coco",
                "ann_file": str(syrip / "annotations" / "test_real.json"),
                "image_root": str(syrip / "images" / "test_real"),
            },
        },
        "optim": {
            "lr": 2e-3,
            "weight_decay": 0.01,
            "layer_decay": 0.9,
            "warmup_steps": 2,
            "schedule": "cosine",
            "grad_clip": 1.0,
            "accumulation": 1,
            "ema": {"enabled": True, "decay": 0.9, "warmup_steps": 2},
        },
        "loss": {"pose": {"weight": 1.0}, "depth": {"weight": 0.02}, "normal": {"weight": 0.02}},
    }
    if stage == 1:
        cfg["data"]["sources"] = {"syn": syn}
        cfg["data"]["batch"] = {"counts": {"syn": 4}}
    else:
        cfg["data"]["sources"] = {"syn": syn, "real": real}
        cfg["data"]["batch"] = {"counts": {"syn": 2, "real": 2}}
        cfg["loss"]["geo"] = {"weight": 0.1, "mode": "log_depth"}
    conf = OmegaConf.create(cfg)
    if overrides:
        conf = OmegaConf.merge(conf, OmegaConf.from_dotlist([f"{k}={v}" for k, v in overrides.items()]))
    return conf
