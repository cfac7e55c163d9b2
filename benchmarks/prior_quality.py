"""Quality and cost of the diffusion pose prior on the `demo` skeletons. Prints one JSON object.

- plausibility AUC: real poses vs corrupted ones (noise, limb stretch, left/right swap, arm/leg swap);
  1.0 = every corrupted pose scores less plausible than every real one;
- SDS pull: mean distance of noisy poses to their clean versions before/after 40 SDS gradient steps;
- sample statistics: limb-ratio error and left/right asymmetry of DDIM samples vs the data;
- cost: SDS forward+backward for a batch of 32 vs one training step of the tiny pose model
  (256x192, batch 32, all heads), target <= 5 %.

    python benchmarks/prior_quality.py [--data DIR] [--prior prior.safetensors]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _time(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="a `synth --preset demo` folder (rendered if absent)")
    parser.add_argument("--prior", default=None, help="a trained prior.safetensors (trained if absent)")
    args = parser.parse_args()

    from hyper_sapiens.data.skeletons import SkeletonSequenceDataset
    from hyper_sapiens.losses import soft_argmax
    from hyper_sapiens.models import build_model
    from hyper_sapiens.prior import PosePrior, SDSLoss, sample_ddim
    from hyper_sapiens.prior.command import load_prior_config
    from hyper_sapiens.prior.quality import CORRUPTIONS, auc, corrupt, sample_statistics, sds_pull
    from hyper_sapiens.prior.score import score_keypoints
    from hyper_sapiens.prior.train import train_prior

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        if not args.data:
            from hyper_sapiens.synth import generate_dataset

            generate_dataset(data, preset="demo", seed=0, progress=False)
        prior_path = Path(args.prior) if args.prior else Path(tmp) / "prior" / "prior.safetensors"
        train_time = None
        if not args.prior:
            t = time.perf_counter()
            train_prior(
                load_prior_config("prior_demo", [f"data.root={data}", "train.progress=false"]), str(prior_path.parent)
            )
            train_time = time.perf_counter() - t
        prior = PosePrior.load(prior_path)
        kp, _ = SkeletonSequenceDataset(str(data / "skeletons" / "*_coco17_2d.npz"), dims=2).arrays()
        rng = np.random.default_rng(0)
        real = kp[rng.choice(len(kp), 1000, replace=False)]
        real_scores = score_keypoints(prior, torch.as_tensor(real)).numpy()
        aucs = {
            kind: auc(score_keypoints(prior, torch.as_tensor(corrupt(kind, real, rng))).numpy(), real_scores)
            for kind in CORRUPTIONS
        }
        clean = real[:200]
        pull = sds_pull(prior, clean, corrupt("noise", clean, rng, sigma=0.3), steps=40, lr=0.2, t_range=(20, 200))
        samples = sample_ddim(prior, 1000, steps=100, eta=1.0, generator=torch.Generator().manual_seed(0)).numpy()
        stats = sample_statistics(samples, prior.normalize(torch.as_tensor(kp[:20000])).x.numpy())

        # cost: SDS (soft-argmax + loss, fwd+bwd) for 32 heatmaps vs a tiny model training step
        sds = SDSLoss(prior, t_range=(20, 200))
        heat = torch.randn(32, 17, 64, 48, requires_grad=True)

        def sds_step() -> None:
            coords, conf = soft_argmax(heat)
            sds(coords, conf.clamp(0, 1) + 1.0).backward()

        model = build_model(
            {"arch": "tiny", "input_size": [192, 256], "heads": {"pose": {}, "depth": {}, "normal": {}}}
        )
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        images = torch.randn(32, 3, 256, 192)

        def model_step() -> None:
            out = model(images)
            loss = sum(v.float().square().mean() for v in out.values())
            opt.zero_grad()
            loss.backward()
            opt.step()

        t_sds = _time(sds_step, 20)
        t_model = _time(model_step, 3)
    result = {
        "prior": str(prior_path) if args.prior else "trained with prior_demo.yaml",
        "prior_train_time_s": None if train_time is None else round(train_time, 1),
        "plausibility_auc": {k: round(v, 4) for k, v in aucs.items()},
        "sds_pull": {k: round(v, 4) for k, v in pull.items()},
        "sample_statistics": {k: round(v, 4) for k, v in stats.items()},
        "cost": {
            "sds_fwd_bwd_batch32_ms": round(1e3 * t_sds, 2),
            "tiny_model_step_batch32_ms": round(1e3 * t_model, 1),
            "ratio": round(t_sds / t_model, 4),
            "target_ratio": 0.05,
        },
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
