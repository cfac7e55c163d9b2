"""Training the pose prior: denoising score matching (ε-prediction) on normalised skeletons.

One step: a batch of normalised poses (in memory, drawn with a seeded generator), augmentation (in-plane
rotation, flip with left/right swap, random joint / part hiding), ``t ~ U{0..T-1}``, ``x_t = q_sample(x, t,
eps)``, loss = masked mean of ``(eps_hat - eps)²`` over the present joints. AdamW with linear warm-up and
cosine decay, gradient-norm clipping, an EMA of the weights (the EMA is what is saved). Sequences are split
into train / validation files by a seeded permutation; the validation loss at fixed steps and noise is logged.

``train_prior(config, out_dir)`` writes ``prior.safetensors``, ``metrics.jsonl`` (one JSON object per logged
step) and ``config.yaml`` (the resolved configuration). The same config and seed give the same weights.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..config_schema import validate_section
from ..config_sections import PriorConfig
from ..data.skeletons import SkeletonSequenceDataset
from .model import PosePrior
from .normalize import augment_normalized

__all__ = ["PreparedData", "prepare_data", "prior_config", "train_prior", "validation_loss"]

def prior_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """``config`` checked against :class:`~hyper_sapiens.config_sections.PriorConfig` (every key a prior config
    may set, with its default); an unknown key or a wrong type raises
    :class:`~hyper_sapiens.config_schema.ConfigError` naming the closest allowed key."""
    return validate_section(PriorConfig, config or {}, "")


class PreparedData:
    """Normalised training and validation poses, in memory.

    Attributes: ``train_x``/``val_x`` ``(N, [F,] K, D)``, ``train_mask``/``val_mask`` ``(N, [F,] K)``,
    ``summary`` (counts for the log: files, frames, invalid normalisations dropped, ...).
    """

    def __init__(self, train_x, train_mask, val_x, val_mask, summary, raw) -> None:
        self.train_x, self.train_mask = train_x, train_mask
        self.val_x, self.val_mask = val_x, val_mask
        self.summary = summary
        # {"train": (keypoints, visible), "val": ..., "val_files": the held-out poses of skeleton files only (not
        # of OpenPose tracks)}, valid poses in input units
        self.raw = raw


def prepare_data(cfg: dict[str, Any], prior: PosePrior) -> PreparedData:
    """Load the skeletons named by ``cfg["data"]`` (raises ``FileNotFoundError`` / ``SkeletonFileError`` naming
    a missing or malformed path before any training), split by file, normalise, drop (and count) poses whose
    normalisation is invalid."""
    data = cfg["data"]
    paths = data["paths"]
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    openpose = data.get("openpose") or []
    if not paths and not openpose:
        raise FileNotFoundError("prior config: data.paths and data.openpose are empty; name the skeleton files or "
                                "globs (or OpenPose folders) to train on")
    tracks = []
    if openpose:
        from ..data.openpose import load_openpose_sequences

        if int(data["dims"]) != 2:
            raise ValueError(f"prior config: data.openpose holds 2D skeletons, but data.dims is {data['dims']}")
        frame_size = data.get("openpose_frame_size")
        tracks = load_openpose_sequences(openpose, root=data["root"],
                                         frame_size=tuple(frame_size) if frame_size else None,
                                         videos=data.get("openpose_videos"), min_score=data["openpose_min_score"],
                                         layout=data["layout"])
    ds = SkeletonSequenceDataset(paths, layout=data["layout"], dims=data["dims"], window=data["window"],
                                 stride=data["stride"], min_visible=data["min_visible"], root=data["root"],
                                 sequences=[track.sequence for track in tracks])
    if len(ds) == 0:
        raise ValueError(f"prior data: no usable windows in {len(ds.paths)} file(s) ({ds.summary()})")
    rng = np.random.default_rng(int(cfg["seed"]))
    n_files = len(ds.sequences)
    n_val = int(round(n_files * float(data["val_fraction"]))) if n_files > 1 else 0
    n_val = min(max(n_val, 1 if float(data["val_fraction"]) > 0 and n_files > 1 else 0), n_files - 1)
    order = rng.permutation(n_files)
    val_seq, train_seq = sorted(order[:n_val].tolist()), sorted(order[n_val:].tolist())
    summary = {"dataset": ds.summary(), "train_files": len(train_seq), "val_files": len(val_seq)}
    if tracks:
        summary["openpose"] = [track.summary() for track in tracks]
    out, raw = {}, {}
    for name, seqs in (("train", train_seq), ("val", val_seq)):
        kp, vis = ds.arrays(seqs)
        if name == "train" and data["max_frames"] and len(kp) > int(data["max_frames"]):
            keep = np.sort(rng.choice(len(kp), int(data["max_frames"]), replace=False))
            kp, vis = kp[keep], vis[keep]
        with torch.no_grad():
            norm = prior.normalize(torch.from_numpy(kp), torch.from_numpy(vis))
        valid = norm.valid.numpy()
        summary[f"{name}_poses"] = int(valid.sum())
        summary[f"{name}_invalid_normalisation"] = int((~valid).sum())
        out[name] = (norm.x[norm.valid].contiguous(), norm.mask[norm.valid].contiguous())
        raw[name] = (kp[valid], vis[valid])
    # files come first in ds.sequences, the OpenPose tracks after them
    file_val = [s for s in val_seq if s < n_files - len(tracks)]
    if file_val:
        kp, vis = ds.arrays(file_val)
        with torch.no_grad():
            valid = prior.normalize(torch.from_numpy(kp), torch.from_numpy(vis)).valid.numpy()
        raw["val_files"] = (kp[valid], vis[valid])
    if out["train"][0].shape[0] == 0:
        raise ValueError(f"prior data: every training pose lacks hips/torso joints ({summary})")
    return PreparedData(*out["train"], *out["val"], summary, raw)


@torch.no_grad()
def validation_loss(prior: PosePrior, x: torch.Tensor, mask: torch.Tensor, steps: list[int],
                    seed: int = 1234, max_poses: int = 2048) -> dict[str, float]:
    """Masked ε-MSE at each of ``steps`` with fixed noise (``val_loss_t<step>``) and their mean (``val_loss``)."""
    if x.shape[0] == 0:
        return {}
    gen = torch.Generator().manual_seed(seed)
    if x.shape[0] > max_poses:
        idx = torch.randperm(x.shape[0], generator=gen)[:max_poses]
        x, mask = x[idx], mask[idx]
    device = next(prior.parameters()).device
    x, mask = x.to(device), mask.to(device)
    result = {}
    for step in steps:
        eps = torch.randn(x.shape, generator=gen).to(device)
        t = torch.full((x.shape[0],), int(step), dtype=torch.long, device=device)
        eps_hat = prior.predict_eps(prior.schedule.q_sample(x, t, eps), t, mask)
        err = ((eps_hat - eps).square().sum(-1) * mask).sum() / (mask.sum() * x.shape[-1]).clamp_min(1)
        result[f"val_loss_t{step}"] = float(err)
    result["val_loss"] = float(np.mean(list(result.values())))
    return result


def _lr_at(step: int, cfg: dict[str, Any]) -> float:
    warm, total, base = int(cfg["warmup_steps"]), int(cfg["steps"]), float(cfg["lr"])
    if warm > 0 and step < warm:
        return base * (step + 1) / warm
    frac = (step - warm) / max(1, total - warm)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def build_prior(cfg: dict[str, Any], info: dict[str, Any] | None = None) -> PosePrior:
    """The untrained prior described by a merged config."""
    norm = {"layout": cfg["data"]["layout"], "dims": cfg["data"]["dims"], "window": cfg["data"]["window"],
            **cfg["prior"]["normalizer"]}
    return PosePrior(norm, cfg["prior"]["denoiser"], cfg["prior"]["schedule"], info)


def train_prior(config: dict[str, Any] | None, out_dir: str | os.PathLike | None = None,
                data: PreparedData | None = None) -> dict[str, Any]:
    """Train a prior; returns a summary (paths, counts, final losses, time).

    Args:
        config: a (partial) prior config; missing keys take the defaults of :func:`prior_config`.
        out_dir: where to write (default ``config["out_dir"]``).
        data: pre-loaded data (skips loading; for tests and benchmarks).
    """
    cfg = prior_config(config)
    out = Path(out_dir if out_dir is not None else cfg["out_dir"])
    cfg["out_dir"] = str(out)
    tcfg, acfg = cfg["train"], cfg["augment"]
    seed = int(cfg["seed"])
    if tcfg["threads"]:
        torch.set_num_threads(int(tcfg["threads"]))
    torch.manual_seed(seed)
    prior = build_prior(cfg)
    if data is None:
        data = prepare_data(cfg, prior)   # fails on a missing path before anything is written
    device = torch.device(tcfg["device"])
    prior.to(device).train()
    out.mkdir(parents=True, exist_ok=True)
    _write_yaml(cfg, out / "config.yaml")

    from ..models.ema import ModelEMA

    ema = ModelEMA(prior.denoiser, decay=float(tcfg["ema_decay"]), warmup_steps=10)
    opt = torch.optim.AdamW(prior.denoiser.parameters(), lr=float(tcfg["lr"]),
                            weight_decay=float(tcfg["weight_decay"]))
    gen = torch.Generator().manual_seed(seed)
    x_all, m_all = data.train_x, data.train_mask
    n = x_all.shape[0]
    batch = int(tcfg["batch_size"])
    steps = int(tcfg["steps"])
    layout = prior.normalizer.layout
    metrics_path = out / "metrics.jsonl"
    start = time.perf_counter()
    last: dict[str, Any] = {}
    running = 0.0
    with open(metrics_path, "w", encoding="utf-8") as log:
        log.write(json.dumps({"event": "data", **data.summary}) + "\n")
        bar = tqdm(range(steps), desc="train-prior", disable=not tcfg["progress"], dynamic_ncols=True)
        for step in bar:
            idx = torch.randint(0, n, (batch,), generator=gen)
            x, m = augment_normalized(x_all[idx], m_all[idx], layout, gen, rotate_deg=float(acfg["rotate_deg"]),
                                      flip_prob=float(acfg["flip_prob"]),
                                      joint_mask_prob=float(acfg["joint_mask_prob"]),
                                      part_mask_prob=float(acfg["part_mask_prob"]))
            t = torch.randint(0, prior.num_steps, (batch,), generator=gen)
            eps = torch.randn(x.shape, generator=gen)
            x, m, t, eps = x.to(device), m.to(device), t.to(device), eps.to(device)
            x_t = prior.schedule.q_sample(x, t, eps)
            eps_hat = prior.denoiser(x_t, t, m)
            loss = ((eps_hat - eps).square().sum(-1) * m).sum() / (m.sum() * x.shape[-1]).clamp_min(1)
            lr = _lr_at(step, tcfg)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(prior.denoiser.parameters(), float(tcfg["grad_clip"]))
            opt.step()
            ema.update(prior.denoiser)
            loss_value = loss.item()
            running = loss_value if step == 0 else 0.95 * running + 0.05 * loss_value
            record: dict[str, Any] | None = None
            if (step + 1) % int(tcfg["log_every"]) == 0 or step + 1 == steps:
                record = {"step": step + 1, "loss": loss_value, "loss_smooth": running, "lr": lr,
                          "grad_norm": float(grad_norm), "time_s": round(time.perf_counter() - start, 3)}
                bar.set_postfix(loss=f"{running:.4f}")
            if (step + 1) % int(tcfg["val_every"]) == 0 or step + 1 == steps:
                record = record or {"step": step + 1, "time_s": round(time.perf_counter() - start, 3)}
                ema_prior = _with_weights(prior, ema.module)
                record.update(validation_loss(ema_prior, data.val_x, data.val_mask, list(tcfg["val_steps"])))
                prior.denoiser.train()
            if record is not None:
                log.write(json.dumps(record) + "\n")
                log.flush()
                last.update(record)
        bar.close()
    elapsed = time.perf_counter() - start
    final = _with_weights(prior, ema.module)
    final.info = {"steps": steps, "seed": seed, "train_poses": int(n), "data": data.summary,
                  "val_loss": last.get("val_loss"), "train_time_s": round(elapsed, 2)}
    final = final.cpu().freeze()
    weights = final.save(out)
    return {"prior": str(weights), "metrics": str(metrics_path), "config": str(out / "config.yaml"),
            "steps": steps, "train_time_s": elapsed, "loss_smooth": running, **{k: v for k, v in last.items()
                                                                                    if k.startswith("val_")},
            "data": data.summary}


def _with_weights(prior: PosePrior, denoiser: torch.nn.Module) -> PosePrior:
    """A copy of ``prior`` (eval) with ``denoiser``'s weights (the EMA)."""
    copy = PosePrior(prior.normalizer.config, prior.denoiser.config.as_dict(),
                     {"kind": prior.schedule.kind, "num_steps": prior.schedule.num_steps}, prior.info)
    copy.denoiser.load_state_dict(denoiser.state_dict())
    return copy.to(next(prior.parameters()).device).eval()


def _write_yaml(cfg: dict[str, Any], path: Path) -> None:
    from omegaconf import OmegaConf

    OmegaConf.save(OmegaConf.create(cfg), path)
