"""One training loop for every curriculum stage, driven by the config.

Per optimiser step: apply the unfreezing schedule, set the learning rate (warm-up + cosine/step), run
``optim.accumulation`` micro-batches (forward under bf16 autocast on CUDA, fp32 on CPU; DDP syncs only the
last one), skip the step if any loss is not finite, clip gradients, step AdamW, update the EMA. Every
micro-batch re-seeds torch's RNG from ``(seed, step, slot)`` (slot = micro · world_size + rank), and the
mixed sampler is a pure function of the step too, so a resumed run repeats an uninterrupted one bit for
bit, and two processes reproduce one process with accumulation 2 (bitwise under DDP on the same
machine and torch thread count; to the last bits of the clip factor under FSDP; docs/training.md).

Files in ``run.dir``: ``config.yaml`` (resolved), ``metrics.jsonl`` (one JSON object per logged step /
evaluation), ``last.ckpt`` (trainer state, atomic), ``best.safetensors`` (weights with the best validation
PCK@0.05; EMA weights when the EMA is on), ``final.safetensors`` (the weights at the last step).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch.nn.parallel import DistributedDataParallel

from ..config import save_config, validate_stage_config
from ..data.factory import batch_counts, build_eval_dataset, build_training_data, map_sizes_for, pipeline_config
from ..data.loader import make_loader, normalize_images
from ..data.pipeline import codec_from_pipeline
from ..evaluation.inference import run_inference
from ..evaluation.metrics import evaluate_predictions
from ..models import (
    ModelEMA,
    UnfreezeSchedule,
    autocast_for,
    build_model,
    layer_decay_param_groups,
    load_sapiens_parts,
    load_weights,
    save_weights,
    set_trainable_blocks,
)
from ..models.heads import biases_before_instance_norm
from .checkpointing import load_trainer_state, save_trainer_state
from .distributed import DistInfo, all_reduce_mean, all_true, barrier, init_distributed, shutdown
from .grad_clip import clip_grad_norm_exact
from .objective import TrainingObjective, resolve_depth_output
from .run_log import RunLog
from .schedules import lr_factor

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training stopped after too many consecutive non-finite losses."""


def micro_seed(seed: int, step: int, slot: int) -> int:
    """The torch seed of one micro-batch (dropout, SDS noise)."""
    return int(np.random.SeedSequence([seed, step, slot]).generate_state(1)[0])


class Trainer:
    """Build everything a stage needs from ``cfg`` and train it with :meth:`fit`.

    Args:
        cfg: a stage config (a ``DictConfig`` or plain dict; ``hyper_sapiens/configs/*.yaml``), checked
            against :class:`~hyper_sapiens.config_sections.StageConfig` here, before anything is built.
        resume: continue from ``run.dir/last.ckpt``.
        progress: show a tqdm bar (rank 0 only).
    """

    def __init__(self, cfg: DictConfig | dict[str, Any], resume: bool = False, progress: bool = True) -> None:
        cfg = validate_stage_config(cfg)
        self.cfg = cfg
        self.dist: DistInfo = init_distributed(cfg.run.device)
        self.device = self.dist.device
        self.run_dir = Path(cfg.run.dir)
        self.seed = cfg.run.seed
        self.total_steps = cfg.run.steps
        self.accumulation = cfg.optim.accumulation
        self.amp = cfg.optim.amp and self.device.type == "cuda"
        self.progress = progress and self.dist.is_main
        self.step = 0
        self.best: dict[str, Any] = {"metric": None, "step": None}
        self.bad_streak = 0
        self.bad_total = 0
        self.bad_samples = 0

        self.strategy = cfg.run.strategy
        self.sharded = self.strategy == "fsdp" and self.dist.distributed
        # what last.ckpt records: one process under `fsdp` trains (and saves) exactly like `ddp`
        self.state_strategy = "fsdp" if self.sharded else "ddp"
        self._replica: torch.nn.Module | None = None  # rank 0's unsharded copy for evaluation (FSDP)

        # what the depth head predicts follows the weights it starts from (Sapiens depth heads: relative depth)
        init_from = cfg.init_from
        cfg.model.depth_output = resolve_depth_output(
            cfg.model,
            cfg.sapiens_checkpoints,
            init_from if init_from and Path(init_from).is_file() else None,
        )
        torch.manual_seed(self.seed)
        model = build_model(cfg.model)
        self._initial_weights(model)
        self.model = model.to(self.device)
        if self.sharded:
            from .sharding import shard_model

            shard_model(self.model, self.device, self.dist.world_size)
        inert = set(biases_before_instance_norm(self.model))
        self.inert_params = [p for name, p in self.model.named_parameters() if name in inert]  # true gradient 0
        self.unfreeze = self._unfreeze_schedule()
        self.optimizer = self._optimizer()
        self.ema = self._ema()

        input_size = tuple(cfg.model.input_size)
        self.map_sizes = map_sizes_for(input_size, self.model.output_strides)
        self.pipeline = pipeline_config(cfg.data, self.map_sizes)
        if tuple(self.pipeline.input_size) != input_size:
            raise ValueError(
                f"data.pipeline.input_size {self.pipeline.input_size} differs from model.input_size "
                f"{input_size}; set one of them only"
            )
        self.codec = codec_from_pipeline(self.pipeline)
        self.objective = TrainingObjective(
            cfg.loss,
            input_size,
            self.map_sizes.get("depth"),
            self.total_steps,
            self.device,
            depth_output=cfg.model.depth_output,
        )
        if resume:
            self._load_state(self.run_dir / "last.ckpt")
        # Data last: a missing path fails before any training, and the sampler starts at the resumed step.
        self.dataset, self.sampler = build_training_data(
            cfg.data,
            self.pipeline,
            seed=self.seed,
            start_micro=self.step * self.accumulation,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            accumulation=self.accumulation,
        )
        self.loader = make_loader(
            self.dataset, self.sampler, workers=cfg.data.workers, device=self.device
        )
        val_spec = cfg.data.val
        self.val_dataset = build_eval_dataset(val_spec, self.pipeline) if val_spec is not None else None
        # more evaluation sets, logged beside data.val (e.g. zero-shot infants while pretraining on adults);
        # the best checkpoint is still chosen on data.val alone
        self.extra_val = {
            str(name): build_eval_dataset(spec, self.pipeline, str(name)) for name, spec in cfg.data.extra_val.items()
        }
        self.ddp = self._wrap()
        self.run_log: RunLog | None = None  # rank 0 only
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
            self.run_log = RunLog(self.run_dir, tensorboard=cfg.run.tensorboard)
            dropped = self.run_log.drop_after(self.step) if resume else 0
            if dropped:
                log.info("resume: dropped %d metrics.jsonl records after step %d (repeated now)", dropped, self.step)

    # ------------------------------------------------------------------ set-up
    def _initial_weights(self, model: torch.nn.Module) -> None:
        init_from = self.cfg.init_from
        if init_from:
            if not Path(init_from).is_file():
                raise FileNotFoundError(f"init_from: weights file not found: {init_from}")
            report = load_weights(model, init_from, strict=self.cfg.init_strict)
            log.info("init_from %s: %d tensors loaded", init_from, len(report.loaded))
        files = {part: path for part, path in self.cfg.sapiens_checkpoints.items() if part != "backbone_from" and path}
        backbone_from = self.cfg.sapiens_checkpoints.backbone_from
        reports = load_sapiens_parts(model, files, backbone_from=backbone_from, strict=True)
        for i, (part, report) in enumerate(reports.items()):  # the file that gives the backbone comes first
            what = "backbone" if part == "backbone" else f"backbone + {part} head" if i == 0 else f"{part} head"
            log.info("%s <- %s\n%s", what, report.path, report.summary())

    def _unfreeze_schedule(self) -> UnfreezeSchedule | None:
        milestones = self.cfg.optim.unfreeze
        if not milestones:
            set_trainable_blocks(self.model, None)
            return None
        schedule = UnfreezeSchedule({int(k): (None if v is None else int(v)) for k, v in dict(milestones).items()})
        schedule.apply(self.model, 0)
        return schedule

    def _optimizer(self) -> torch.optim.Optimizer:
        o = self.cfg.optim
        groups = layer_decay_param_groups(
            self.model,
            lr=o.lr,
            weight_decay=o.weight_decay,
            layer_decay_rate=o.layer_decay,
            include_frozen=True,
        )
        return torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas))

    def _ema(self) -> ModelEMA | None:
        ema_cfg = self.cfg.optim.ema
        if not ema_cfg.enabled:
            return None
        decay, warmup = ema_cfg.decay, ema_cfg.warmup_steps
        if self.sharded:
            from .sharding import ShardedEMA

            return ShardedEMA(self.model, decay=decay, warmup_steps=warmup)
        return ModelEMA(self.model, decay=decay, warmup_steps=warmup)

    def _wrap(self) -> torch.nn.Module:
        if not self.dist.distributed or self.sharded:
            return self.model  # a sharded model is its own wrapper
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=ids)

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        """The trainer state (collective under FSDP: full tensors gathered to rank 0)."""
        if self.sharded:
            from .sharding import gather_model_state, gather_optimizer_state

            model_state = gather_model_state(self.model)
            optimizer_state = gather_optimizer_state(self.model, self.optimizer)
        else:
            model_state, optimizer_state = self.model.state_dict(), self.optimizer.state_dict()
        return {
            "step": self.step,
            "strategy": self.state_strategy,
            "model": model_state,
            "optimizer": optimizer_state,
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "best": {k: v for k, v in self.best.items() if v is not None},
            "bad_total": self.bad_total,
            "bad_samples": self.bad_samples,
            "seed": self.seed,
            "total_steps": self.total_steps,
            "data_stream": self._data_stream(),
        }

    def _data_stream(self) -> dict[str, Any]:
        """What fixes the order of the training samples besides the seed and the step: a resumed run must
        match it, or its batches would silently differ from the interrupted run's."""
        sources = list(self.cfg.data.sources)
        return {
            "batch_counts": batch_counts(self.cfg.data, sources) if sources else {},
            "accumulation": self.accumulation,
            "world_size": self.dist.world_size,
        }

    def _load_state(self, path: Path) -> None:
        state = load_trainer_state(path, map_location=self.device)
        if (
            int(state.get("seed", self.seed)) != self.seed
            or int(state.get("total_steps", self.total_steps)) != self.total_steps
        ):
            raise ValueError(
                f"{path}: written with run.seed={state.get('seed')} run.steps={state.get('total_steps')}, "
                f"but the config says {self.seed} / {self.total_steps}; resume needs the same run"
            )
        written_by = str(state.get("strategy", "ddp"))
        if written_by != self.state_strategy:
            raise ValueError(
                f"{path}: written by a {written_by} run, but this run is {self.state_strategy} "
                "(a single process counts as ddp); resume with the same run.strategy"
            )
        stream, ours = state.get("data_stream"), self._data_stream()
        if stream is not None and stream != ours:
            raise ValueError(
                f"{path}: written by a run whose data stream was {stream}, but this run's is "
                f"{ours}; resume with the same data.batch, optim.accumulation and number of "
                "processes (the sampler would otherwise draw different batches than the interrupted run)"
            )
        try:
            if self.sharded:
                from .sharding import load_full_state

                load_full_state(self.model, self.optimizer, state["model"], state["optimizer"])
            else:
                self.model.load_state_dict(state["model"])
        except (RuntimeError, KeyError) as err:
            raise ValueError(f"{path}: the checkpoint does not fit this model ({err})") from err
        self.step = int(state["step"])
        if self.unfreeze is not None:
            self.unfreeze.apply(self.model, self.step)
        if not self.sharded:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        self.best = {"metric": None, "step": None, **state.get("best", {})}
        self.bad_total = int(state.get("bad_total", 0))
        self.bad_samples = int(state.get("bad_samples", 0))
        log.info("resumed from %s at step %d", path, self.step)

    def save_checkpoint(self) -> None:
        """Write ``last.ckpt`` (collective: every rank calls it; rank 0 writes)."""
        state = self._state() if (self.sharded or self.dist.is_main) else None
        if self.dist.is_main:
            save_trainer_state(state, self.run_dir / "last.ckpt")
        barrier(self.dist)

    def eval_model(self) -> torch.nn.Module | None:
        """The weights to evaluate and save: the EMA when enabled, else the model.

        Under FSDP this is collective: the shards are gathered into an unsharded replica on rank 0, which is
        returned there (``None`` on the other ranks).
        """
        if not self.sharded:
            return self.ema.module if self.ema is not None else self.model
        from .sharding import gather_model_state

        full = self.ema.state_dict()["module"] if self.ema is not None else gather_model_state(self.model)
        if not self.dist.is_main:
            return None
        if self._replica is None:
            self._replica = build_model(self.cfg.model).to(self.device).eval().requires_grad_(False)
        self._replica.load_state_dict(full)
        return self._replica

    # ------------------------------------------------------------------ logging
    def _log(self, record: dict[str, Any]) -> None:
        if self.run_log is not None:
            self.run_log.write(record)

    def evaluate(self, weights: torch.nn.Module | None = None, dataset=None) -> dict[str, Any] | None:
        """PCK@0.05 (bbox-normalised, COCO17 labelled points) on ``data.val`` (or ``dataset``) of ``weights``
        (default: the EMA/model, see :meth:`eval_model`)."""
        dataset = self.val_dataset if dataset is None else dataset
        if dataset is None:
            return None
        weights = self.eval_model() if weights is None else weights
        loader = make_loader(
            dataset,
            batch_size=self.cfg.data.val_batch_size,
            workers=self.cfg.data.workers,
            device=self.device,
        )
        preds = run_inference(
            weights,
            loader,
            self.codec,
            self.device,
            flip_test=self.cfg.eval.flip_test,
            amp=self.amp,
        )
        return evaluate_predictions(preds, subset=self.cfg.eval.keypoints)

    # ------------------------------------------------------------------ training
    def _set_lr(self) -> float:
        o = self.cfg.optim
        factor = lr_factor(
            self.step,
            self.total_steps,
            schedule=o.schedule,
            warmup_steps=o.warmup_steps,
            min_ratio=o.min_lr_ratio,
            milestones=tuple(o.milestones),
            gamma=o.gamma,
        )
        lr = o.lr * factor
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {
            k: (v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()
        }

    def train_step(self, data_iter) -> dict[str, Any]:
        """One optimiser step (``accumulation`` micro-batches); returns the logged values."""
        if self.unfreeze is not None and self.unfreeze.apply(self.model, self.step) and self.dist.distributed:
            self.ddp = self._wrap()  # DDP must see the new set of trainable parameters
        lr = self._set_lr()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        wait = 0.0
        finite = True
        samples = 0
        domains = torch.zeros(2, dtype=torch.long)
        for m in range(self.accumulation):
            t0 = time.perf_counter()
            batch = next(data_iter)
            wait += time.perf_counter() - t0
            if not finite:
                continue  # consume the step's remaining micro-batches so the data stream stays aligned
            torch.manual_seed(micro_seed(self.seed, self.step, m * self.dist.world_size + self.dist.rank))
            self.bad_samples += int(batch["bad_skipped"].sum())
            domains += torch.bincount(batch["domain"], minlength=2)[:2]
            batch = self._to_device(batch)
            samples += int(batch["image"].shape[0])
            images = normalize_images(batch["image"])
            sync = contextlib.nullcontext()
            if self.sharded:
                self.model.set_requires_gradient_sync(m == self.accumulation - 1)
            elif self.dist.distributed and m < self.accumulation - 1:
                sync = self.ddp.no_sync()
            with sync:
                with autocast_for(self.device, enabled=self.amp):
                    outputs = self.ddp(images)
                loss, terms = self.objective(outputs, batch, self.step)
                if not all_true(bool(torch.isfinite(loss)), self.dist):
                    finite = False
                    continue
                (loss / self.accumulation).backward()
            for k, v in {"loss": loss.detach(), **terms}.items():
                sums[k] = sums.get(k, 0.0) + v.float() / self.accumulation
        grad_norm = float("nan")
        if finite:
            for p in self.inert_params:  # rounding noise around an exact 0: use the 0 (heads.biases_before_...)
                if p.grad is not None:
                    p.grad.zero_()
            clip = self.cfg.optim.grad_clip
            grad_norm = clip_grad_norm_exact(self.model.parameters(), clip, self.dist)
            finite = all_true(math.isfinite(grad_norm), self.dist)
        record: dict[str, Any] = {
            "step": self.step + 1,
            "lr": lr,
            "grad_norm": grad_norm,
            "data_wait_s": wait,
            "samples": samples * self.dist.world_size,
            "syn_samples": int(domains[0]),
            "real_samples": int(domains[1]),
        }
        if finite:
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.model)
            self.bad_streak = 0
            names = sorted(sums)
            values = all_reduce_mean(
                torch.stack([torch.as_tensor(sums[k], device=self.device) for k in names]), self.dist
            )
            record.update({k: float(v) for k, v in zip(names, values.tolist(), strict=True)})
            record["weights"] = self.objective.weights_at(self.step)
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.bad_streak += 1
            self.bad_total += 1
            record["skipped_nonfinite"] = True
            limit = self.cfg.run.max_nonfinite_steps
            log.warning(
                "step %d: non-finite loss or gradient, step skipped (%d in a row)", self.step + 1, self.bad_streak
            )
            if self.bad_streak >= limit:
                raise NonFiniteLossError(
                    f"stopped at step {self.step + 1}: {self.bad_streak} non-finite losses in a row "
                    f"(run.max_nonfinite_steps={limit}); lower optim.lr, check the data, or resume from last.ckpt"
                )
        self.step += 1
        return record

    def fit(self) -> dict[str, Any]:
        """Train until ``run.steps`` (or ``run.stop_after``); returns a summary."""
        run = self.cfg.run
        log_every, eval_every, ckpt_every = run.log_every, run.eval_every, run.ckpt_every
        end = self.total_steps if run.stop_after is None else min(self.total_steps, run.stop_after)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.total_steps,
                initial=self.step,
                desc=f"train {self.run_dir.name}",
                unit="step",
                dynamic_ncols=True,
            )
        data_iter = iter(self.loader)
        started = time.perf_counter()
        window_t, window_samples = time.perf_counter(), 0
        last_eval = None
        try:
            while self.step < end:
                record = self.train_step(data_iter)
                window_samples += record["samples"]
                if bar is not None:
                    bar.update(1)
                    if "loss" in record:
                        bar.set_postfix(loss=f"{record['loss']:.4g}", lr=f"{record['lr']:.2e}")
                if self.step % log_every == 0 or self.step == end:
                    now = time.perf_counter()
                    record["samples_per_s"] = window_samples / max(now - window_t, 1e-9)
                    record["elapsed_s"] = now - started
                    record["bad_samples"] = self.bad_samples
                    window_t, window_samples = now, 0
                    self._log(record)
                if eval_every and (self.step % eval_every == 0 or self.step == self.total_steps):
                    last_eval = self._evaluate_and_keep_best()
                if ckpt_every and self.step % ckpt_every == 0:
                    self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
        if not eval_every and self.step == self.total_steps:
            last_eval = self._evaluate_and_keep_best()
        self.save_checkpoint()
        if self.step == self.total_steps:
            weights = self.eval_model()
            if self.dist.is_main:
                save_weights(weights, self.run_dir / "final.safetensors")
                if not (self.run_dir / "best.safetensors").exists():
                    save_weights(weights, self.run_dir / "best.safetensors")
        barrier(self.dist)
        return {
            "step": self.step,
            "best": self.best,
            "last_eval": last_eval,
            "run_dir": str(self.run_dir),
            "bad_samples": self.bad_samples,
            "nonfinite_steps": self.bad_total,
            "time_s": time.perf_counter() - started,
        }

    def _evaluate_and_keep_best(self) -> dict[str, Any] | None:
        result = None
        weights = self.eval_model() if self.val_dataset is not None else None
        if self.dist.is_main:
            result = self.evaluate(weights)
            if result is not None:
                metric = float(result["pck@0.05"])
                self._log({"step": self.step, "eval": {k: v for k, v in result.items() if not isinstance(v, dict)}})
                if self.best["metric"] is None or metric > self.best["metric"]:
                    self.best = {"metric": metric, "step": self.step}
                    save_weights(
                        weights,
                        self.run_dir / "best.safetensors",
                        extra_metadata={"step": str(self.step), "pck@0.05": f"{metric:.6f}"},
                    )
            for name, dataset in self.extra_val.items():
                extra = self.evaluate(weights, dataset)
                scalars = {k: v for k, v in extra.items() if not isinstance(v, dict)}
                self._log({"step": self.step, f"eval_{name}": scalars})
        barrier(self.dist)
        return result

    def close(self) -> None:
        if self.run_log is not None:
            self.run_log.close()
            self.run_log = None
        shutdown(self.dist)
