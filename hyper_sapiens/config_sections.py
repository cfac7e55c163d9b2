"""Every key a config may set, with its type and default: the stage configs and the prior configs.

A stage config (``hyper-sapiens train --config ...``; ``docs/training.md``) is a :class:`StageConfig`; a prior
config (``hyper-sapiens train-prior --config ...``; ``docs/prior.md``) is a :class:`PriorConfig`. Both are
read by :func:`hyper_sapiens.config_schema.validate_section`: an unknown key fails with the closest allowed
one, a value of the wrong type fails, a missing key takes the default written here.

Three sub-trees are checked by the code that owns them, also before any training step: ``model`` (the
architecture keys of :func:`hyper_sapiens.models.build_model`), ``data.pipeline``
(:class:`hyper_sapiens.data.pipeline.PipelineConfig`) and the data source specs ``data.sources.<name>``,
``data.val``, ``data.extra_val.<name>``, ``eval.dataset`` (:func:`hyper_sapiens.data.sources.build_source`).

This module imports nothing else from the package: every layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BatchSection",
    "BoneTerm",
    "CheckpointsSection",
    "CoordTerm",
    "DataSection",
    "DecaySection",
    "DepthTerm",
    "EmaSection",
    "EvalSection",
    "GeoTerm",
    "LossSection",
    "NormalTerm",
    "OptimSection",
    "PoseTerm",
    "PriorAugmentSection",
    "PriorConfig",
    "PriorDataSection",
    "PriorDenoiserSection",
    "PriorModelSection",
    "PriorNormalizerSection",
    "PriorScheduleSection",
    "PriorTrainSection",
    "RunSection",
    "SdsTerm",
    "StageConfig",
    "SynPoseScaleTerm",
    "TermSection",
]


# --------------------------------------------------------------------------- stage configs
@dataclass
class RunSection:
    """``run``: where the run writes, how long it trains, how often it logs, evaluates and checkpoints."""

    root: str = "runs"                 # a base folder for interpolation (``run.dir: ${run.root}/stage1``)
    dir: str = "runs/train"            # the run's folder: config.yaml, metrics.jsonl, last.ckpt, *.safetensors
    seed: int = 0
    steps: int = 1000                  # optimiser steps
    stop_after: int | None = None      # stop (resumably) after this step, for running a long recipe in pieces
    device: str = "auto"               # auto | cpu | cuda
    strategy: Literal["ddp", "fsdp"] = "ddp"
    log_every: int = 10
    eval_every: int = 0                # 0: evaluate once, at the end
    ckpt_every: int = 0                # 0: write last.ckpt only at the end
    max_nonfinite_steps: int = 5       # consecutive skipped (non-finite) steps before the run stops
    tensorboard: bool = False          # also log to RUN/tensorboard (pip install tensorboard)


@dataclass
class EmaSection:
    """``optim.ema``: an exponential moving average of the weights (what is evaluated and saved)."""

    enabled: bool = True
    decay: float = 0.999
    warmup_steps: int = 100


@dataclass
class OptimSection:
    """``optim``: AdamW with layer-wise learning-rate decay, warm-up and a schedule."""

    lr: float = 5.0e-4
    weight_decay: float = 0.05
    layer_decay: float = 1.0           # lr × layer_decay^(depth from the top) per ViT block; 1: no decay
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0          # cosine: the last step's lr as a fraction of lr
    milestones: list[int] = field(default_factory=list)   # schedule: step
    gamma: float = 0.1                 # schedule: step
    grad_clip: float = 0.0             # max gradient norm; 0: no clipping
    accumulation: int = 1              # micro-batches per optimiser step
    amp: bool = True                   # bf16 autocast on CUDA (CPU always runs fp32)
    ema: EmaSection = field(default_factory=EmaSection)
    unfreeze: dict[int, int | None] | None = None   # {step: trainable last blocks (null: all)}


@dataclass
class DecaySection:
    """A loss weight's decay over the run, from 1 to ``final`` (stage 3's decaying α)."""

    kind: Literal["linear", "cosine", "exp"] = "cosine"
    final: float = 0.1


@dataclass
class TermSection:
    """What every loss term takes: its weight (0: not computed), a start step, a linear warm-up, a decay."""

    weight: float = 0.0
    start_step: int = 0
    warmup_steps: int = 0
    decay: DecaySection | None = None


@dataclass
class PoseTerm(TermSection):
    """``loss.pose``: heatmap MSE on labelled samples of both domains."""

    weight: float = 1.0


@dataclass
class SynPoseScaleTerm(TermSection):
    """``loss.syn_pose_scale``: an extra factor on the pose term of synthetic samples."""

    weight: float = 1.0


@dataclass
class CoordTerm(TermSection):
    """``loss.coord``: integral regression, L1 of soft-argmax coordinates against the labels."""

    beta: float = 50.0                 # soft-argmax inverse temperature


@dataclass
class DepthTerm(TermSection):
    """``loss.depth``: supervised depth on samples with rendered depth."""

    kind: Literal["auto", "silog", "ssi"] = "auto"   # auto: silog for log-depth output, ssi for relative depth
    domains: list[str] = field(default_factory=lambda: ["syn"])
    variance_focus: float = 0.85       # silog's λ


@dataclass
class NormalTerm(TermSection):
    """``loss.normal``: angular loss on samples with rendered normals."""

    domains: list[str] = field(default_factory=lambda: ["syn"])


@dataclass
class GeoTerm(TermSection):
    """``loss.geo``: consistency of the predicted normals with the normals implied by the predicted depth."""

    mode: Literal["auto", "log_depth", "tilt"] = "auto"
    detach: Literal["depth", "normal"] | None = "depth"   # the branch that gets no gradient
    domains: list[str] = field(default_factory=lambda: ["syn", "real"])
    region: Literal["body", "all"] = "body"   # body: pixels of the body mask where a sample has one
    anchor: bool = True                # depth branch from the depth target where a sample has one
    mask_padding: bool = True          # leave out the black border of crops that reach past their image
    slack: float = 1.0                 # forgiven share of the depth's third difference (losses/geometry.py)


@dataclass
class BoneTerm(TermSection):
    """``loss.bone``: limb-length ratios of the predictions against reference skeletons."""

    reference: str | None = None       # skeleton file(s): a file, folder or glob
    domains: list[str] = field(default_factory=lambda: ["real"])
    beta: float = 50.0
    quantile: float = 0.99             # reference ratio per limb: this quantile of the skeletons' 2-D ratios
    tolerance: float = 0.1             # a limb may exceed its reference ratio by this fraction for free
    symmetry_weight: float = 0.0       # left/right term; 0: off (foreshortening makes true 2-D poses asymmetric)


@dataclass
class SdsTerm(TermSection):
    """``loss.sds``: score distillation from the frozen diffusion pose prior."""

    prior: str | None = None           # prior.safetensors from train-prior
    t_range: tuple[int, int] = (2, 20)  # a low band: less drift from true poses (docs/prior.md, Calibration)
    weighting: Literal["x0", "sds", "uniform", "dpposer"] = "x0"
    grad_clip: float | None = 1.0
    min_confidence: float = 0.0        # joints whose heatmap peak is at or below this are hidden from the prior
    joint_weighting: Literal["uncertainty", "confidence", "uniform"] = "uncertainty"   # 1 - peak: move unsure joints
    samples: Literal["unlabelled", "all"] = "unlabelled"   # unlabelled: not on samples that carry keypoint labels
    readout: Literal["local", "global"] = "local"   # local: soft-argmax in a window around the argmax
    window: int = 3                    # local read-out: the window's half-width in heatmap pixels
    draws: int = 8                     # noise draws (t, eps) averaged per pose
    domains: list[str] = field(default_factory=lambda: ["real"])
    beta: float = 50.0


@dataclass
class LossSection:
    """``loss``: every term of the training objective (``hyper_sapiens.engine.objective``)."""

    pose: PoseTerm = field(default_factory=PoseTerm)
    syn_pose_scale: SynPoseScaleTerm = field(default_factory=SynPoseScaleTerm)
    coord: CoordTerm = field(default_factory=CoordTerm)
    depth: DepthTerm = field(default_factory=DepthTerm)
    normal: NormalTerm = field(default_factory=NormalTerm)
    geo: GeoTerm = field(default_factory=GeoTerm)
    bone: BoneTerm = field(default_factory=BoneTerm)
    sds: SdsTerm = field(default_factory=SdsTerm)


@dataclass
class BatchSection:
    """``data.batch``: ``counts`` per source, or ``batch_size`` with ``ratios`` (or one source)."""

    counts: dict[str, int] | None = None
    batch_size: int | None = None
    ratios: dict[str, float] | None = None


@dataclass
class DataSection:
    """``data``: the training sources and their mix, the validation set, the augmentation pipeline."""

    # folders and files for interpolation (``ann_file: ${data.root}/syrip/annotations/train_syn.json``)
    root: str | None = None
    syrip: str | None = None
    syrip_layout: str | None = None
    minirgbd: str | None = None
    adults: str | None = None
    real_adults: str | None = None     # real adult photos as COCO17 crops (pretrain_tiny_real)
    frames: str | None = None          # unlabelled clip frames written by `hyper-sapiens frames` (*_real stages)
    train_ann_file: str | None = None
    train_images: str | None = None
    test_ann_file: str | None = None
    test_images: str | None = None
    workers: int = 0                   # data loader processes
    skip_bad: bool = False             # true: skip (count and log) samples whose files are broken
    val_batch_size: int = 32
    pipeline: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch: BatchSection = field(default_factory=BatchSection)
    val: dict[str, Any] | None = None
    extra_val: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class EvalSection:
    """``eval``: how ``evaluate`` and the trainer's validation score a model."""

    keypoints: str | list[str] | list[int] = "all"   # a preset name, joint names or indices
    flip_test: bool = True
    dataset: dict[str, Any] | None = None   # evaluate's data set (default: data.val)
    prior: str | None = None           # the prior that scores plausibility (default: loss.sds.prior)
    group_by: str | None = "posture"   # image field whose values group evaluate's metrics (SyRIP: posture); null: none


@dataclass
class CheckpointsSection:
    """``sapiens_checkpoints``: original Sapiens files (``.pth`` or converted ``.safetensors``) to start from."""

    backbone: str | None = None
    pose: str | None = None
    depth: str | None = None
    normal: str | None = None
    backbone_from: Literal["backbone", "pose", "depth", "normal"] | None = None


@dataclass
class StageConfig:
    """A curriculum stage: ``hyper-sapiens train --config NAME``."""

    run: RunSection = field(default_factory=RunSection)
    model: dict[str, Any] = field(default_factory=dict)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    loss: LossSection = field(default_factory=LossSection)
    eval: EvalSection = field(default_factory=EvalSection)
    init_from: str | None = None       # our own weights file to start from
    init_strict: bool = True
    sapiens_checkpoints: CheckpointsSection = field(default_factory=CheckpointsSection)


# --------------------------------------------------------------------------- prior configs
@dataclass
class PriorDataSection:
    """``data`` of a prior config: the skeleton sequence files."""

    root: str | None = None            # base folder for relative paths
    paths: list[str] = field(default_factory=list)   # files, folders or globs of .npz / .json sequences
    layout: str = "coco17"             # the prior's layout; files of other layouts are converted
    dims: int = 2
    window: int = 1                    # frames per sample (1: single poses)
    stride: int = 1
    min_visible: int = 8               # joints with visibility > 0 a frame needs to be used
    val_fraction: float = 0.1          # share of sequence files held out for validation
    max_frames: int | None = None      # subsample the training poses (seeded) to at most this many
    # OpenPose per-frame JSON (hyper_sapiens/data/openpose.py): folders, one sequence each (or folders of them)
    openpose: list[str] = field(default_factory=list)
    openpose_frame_size: tuple[int, int] | None = None   # [w, h]: the files hold fractions (--keypoint_scale 3)
    openpose_videos: str | None = None  # folder of the clips, named like the OpenPose folders: each one's frame size
    openpose_min_score: float = 0.0    # OpenPose joints scored at or below this are unlabelled


@dataclass
class PriorNormalizerSection:
    """``prior.normalizer``: how poses are normalised before the denoiser sees them."""

    scale: Literal["torso", "rms"] = "torso"
    align: bool = True
    scale_factor: float = 1.5
    min_relative_scale: float = 0.05


@dataclass
class PriorDenoiserSection:
    """``prior.denoiser``: the MLP denoiser's size."""

    hidden: int = 512
    blocks: int = 2
    embed_dim: int = 128
    dropout: float = 0.0
    groups: int = 32


@dataclass
class PriorScheduleSection:
    """``prior.schedule``: the DDPM noise schedule."""

    kind: str = "cosine"
    num_steps: int = 1000


@dataclass
class PriorModelSection:
    normalizer: PriorNormalizerSection = field(default_factory=PriorNormalizerSection)
    denoiser: PriorDenoiserSection = field(default_factory=PriorDenoiserSection)
    schedule: PriorScheduleSection = field(default_factory=PriorScheduleSection)


@dataclass
class PriorAugmentSection:
    rotate_deg: float = 0.0
    flip_prob: float = 0.5
    joint_mask_prob: float = 0.05
    part_mask_prob: float = 0.1


@dataclass
class PriorTrainSection:
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    log_every: int = 100
    val_every: int = 500
    val_steps: list[int] = field(default_factory=lambda: [10, 25, 50, 100, 200, 500])
    device: str = "cpu"
    threads: int | None = None         # torch CPU threads (null: torch's default)
    progress: bool = True


@dataclass
class PriorConfig:
    """A diffusion pose prior: ``hyper-sapiens train-prior --config NAME``."""

    seed: int = 0
    out_dir: str = "runs/prior"
    data: PriorDataSection = field(default_factory=PriorDataSection)
    prior: PriorModelSection = field(default_factory=PriorModelSection)
    augment: PriorAugmentSection = field(default_factory=PriorAugmentSection)
    train: PriorTrainSection = field(default_factory=PriorTrainSection)
