"""From the ``data`` section of a config to transforms, datasets and samplers.

```yaml
data:
  workers: 2
  skip_bad: false                 # true: skip (count and log) samples whose files are broken
  pipeline: {input_size: [192, 256], flip_prob: 0.5, ...}   # PipelineConfig; map sizes come from the model
  sources:                        # name -> source spec (hyper_sapiens.data.sources.build_source)
    syn:  {type: coco, ann_file: ..., image_root: ..., labelled: labelled}
    real: {type: coco, ann_file: ..., image_root: ...}
  batch:
    counts: {syn: 16, real: 16}   # per micro-batch and rank; or
    # batch_size: 32
    # ratios: {real: 0.8, syn: 0.2}
  val: {type: coco, ann_file: ..., image_root: ..., labelled: labelled}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config_schema import plain_container
from .mixing import MixedBatchSampler, MixedDataset, counts_from_ratios
from .pipeline import PipelineConfig, TopDownTransform
from .sources import build_source


def pipeline_config(
    data_cfg: Mapping[str, Any], map_sizes: Mapping[str, tuple[int, int]] | None = None
) -> PipelineConfig:
    """The :class:`PipelineConfig` of ``data.pipeline`` with the heads' map sizes filled in.

    ``map_sizes``: ``{"heatmap": (W, H), "depth": (W, H), "normal": (W, H)}`` (from the model's output
    strides); keys present in ``data.pipeline`` win.
    """
    raw = dict(plain_container(data_cfg.get("pipeline", {})) or {})
    for key, name in (("heatmap", "heatmap_size"), ("depth", "depth_size"), ("normal", "normal_size")):
        if map_sizes and key in map_sizes and raw.get(name) is None:
            raw[name] = list(map_sizes[key])
    return PipelineConfig.from_dict(raw)


def map_sizes_for(input_size: tuple[int, int], strides: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """Output map sizes ``(W, H)`` of each head for an input ``(w, h)``; pose → ``heatmap``."""
    w, h = input_size
    out = {}
    for head, stride in strides.items():
        key = "heatmap" if head == "pose" else head
        out[key] = (w // stride, h // stride)
    return out


def inference_pipeline(input_size: tuple[int, int], strides: Mapping[str, int]) -> PipelineConfig:
    """The crop and codec settings of ``predict`` (and of an exported file's metadata) for a model whose input is
    ``input_size`` ``(w, h)`` pixels and whose heads have ``strides``: default σ and box padding, no augmentation
    (heatmaps at stride 4 when there is no pose head)."""
    sizes = map_sizes_for(tuple(input_size), strides)
    return PipelineConfig(
        input_size=(int(input_size[0]), int(input_size[1])),
        heatmap_size=sizes.get("heatmap", (int(input_size[0]) // 4, int(input_size[1]) // 4)),
        depth_size=sizes.get("depth"),
        normal_size=sizes.get("normal"),
    )


def batch_counts(data_cfg: Mapping[str, Any], source_names: list[str]) -> dict[str, int]:
    """Per micro-batch counts from ``data.batch`` (``counts``, or ``batch_size`` + ``ratios``)."""
    batch = dict(plain_container(data_cfg.get("batch", {})) or {})
    if batch.get("counts"):
        counts = {str(k): int(v) for k, v in batch["counts"].items()}
    elif batch.get("ratios") and batch.get("batch_size"):
        counts = counts_from_ratios(int(batch["batch_size"]), {str(k): float(v) for k, v in batch["ratios"].items()})
    elif batch.get("batch_size") and len(source_names) == 1:
        counts = {source_names[0]: int(batch["batch_size"])}
    else:
        raise ValueError("data.batch needs 'counts' {source: n}, or 'batch_size' with 'ratios' (or one source)")
    unknown = sorted(set(counts) - set(source_names))
    if unknown:
        raise ValueError(f"data.batch names sources {unknown} that data.sources does not define ({source_names})")
    return counts


def build_training_data(
    data_cfg: Mapping[str, Any],
    pipeline: PipelineConfig,
    seed: int,
    start_micro: int = 0,
    rank: int = 0,
    world_size: int = 1,
    accumulation: int = 1,
) -> tuple[MixedDataset, MixedBatchSampler]:
    """Datasets of every source with a non-zero count, behind one :class:`MixedBatchSampler`."""
    sources_cfg = plain_container(data_cfg.get("sources"))
    if not sources_cfg:
        raise ValueError("data.sources is empty: name at least one training source")
    counts = batch_counts(data_cfg, list(sources_cfg))
    transform = TopDownTransform(pipeline, train=True)
    datasets = [
        (name, build_source(spec, transform, name)) for name, spec in sources_cfg.items() if counts.get(name, 0) > 0
    ]
    mixed = MixedDataset(datasets, skip_bad=bool(data_cfg.get("skip_bad", False)))
    sampler = MixedBatchSampler(
        mixed.sizes,
        {n: counts[n] for n in mixed.names},
        seed=seed,
        start=start_micro,
        rank=rank,
        world_size=world_size,
        accumulation=accumulation,
    )
    return mixed, sampler


def build_eval_dataset(spec: Mapping[str, Any], pipeline: PipelineConfig, name: str = "val"):
    """The deterministic (no augmentation) dataset of an evaluation source spec."""
    return build_source(plain_container(spec), TopDownTransform(pipeline, train=False), name)
