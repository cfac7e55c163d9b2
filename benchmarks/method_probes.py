"""Probes of the method's terms against the truth: SDS, depth-normal consistency, bone ratios. Prints JSON.

Every probe asks a question a loss term should answer "yes" to, on rendered data whose truth is known:

- **SDS, expected step** (labelled ``train_real`` crops, deterministic crops, the model's heatmaps read out as the
  stage config reads them): the SDS gradient on the coordinates, averaged over ``--draws`` noise draws, against
  the error ``truth - prediction``: its cosine per sample and per joint (> 0: towards the truth), the torso joints'
  step against the others', how far the read-out lies from the heatmap's argmax on weak maps (peak < 0.2). The
  labelled crops stand in for the unlabelled ones the term trains on (same images, known truth). ``--sds-variants``
  repeats it for other SDS settings (``"loss.sds.t_range=[2,20] loss.sds.weighting=sds"``).
- **SDS, flow from the truth** (the true poses of the labelled ``test_real`` crops): a noise-averaged flow
  ``x <- x - lr E[g]`` in the prior's frame, ``g = clip(w(t)(eps_hat - eps))``, for ``--flow-steps`` steps: the
  expected step at the truth and the drift of the flow from it, in torso radii (RMS distance of the four torso
  joints from their centroid), and the same flow from noisy copies of the truth (its pull back towards it), for a
  grid of noise bands and weightings. A band and weighting that pull noisy poses in while drifting little from
  true ones (``drift_over_pull``) are what a prior can do for a pose network.
- **Gradients on the backbone** (training batches of the stage config): each term's gradient on the backbone's
  parameters: its norm, times the config's weight (and SPEC's α = 0.01, β = 0.1) relative to the pose loss's, and
  its cosine with the pose loss's, the depth loss's and the normal loss's gradients; SDS also noise-averaged.
- **Depth-normal consistency** (labelled ``train_syn`` crops with rendered depth, normals, body mask and
  intrinsics, at the depth head's resolution): the term on the true depth with the true normals, on the model's
  predictions, and on a flat depth with camera-facing normals (with the depth target where the code anchors the
  term to it), on the body and on the whole crop; how far the normals drift when they follow the term's gradient
  against the exact depth (the depth branch fixed); the share of black padding in real training crops.
- **Bone term** on the true 2-D poses of ``test_real``: its value, and the left/right asymmetry of true poses.

    python benchmarks/method_probes.py --data DATA --prior PRIOR.safetensors --model WEIGHTS.safetensors

``--data`` is a ``hyper-sapiens synth --preset demo`` folder, ``--prior`` a ``train-prior`` result, ``--model`` a
Sapiens-layout file (``hyper_sapiens/weights/tiny_adult_pose.safetensors``) or a stage's weights. The script runs
against the package it imports; with an older checkout on ``PYTHONPATH`` it measures that one (the hooks below read
the objective's SDS read-out, sample selection and depth-normal anchoring where the code has them).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

TORSO = (5, 6, 11, 12)


def _r(x: Any, n: int = 4) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, n) if math.isfinite(x) else None


def _mean(values: list[float], n: int = 4) -> float | None:
    return _r(np.mean(values), n) if values else None


# ------------------------------------------------------------------------------------------ set-up
def build(args: argparse.Namespace) -> dict[str, Any]:
    from safetensors import safe_open

    from hyper_sapiens.data.factory import map_sizes_for, pipeline_config
    from hyper_sapiens.models import build_model, load_sapiens_parts, load_weights

    cfg = stage_config(args, [])
    torch.manual_seed(0)
    model = build_model(cfg.model)
    with safe_open(args.model, framework="pt") as fh:
        sapiens_layout = any(k.startswith("backbone.") for k in fh.keys())
    if sapiens_layout:
        load_sapiens_parts(model, {"pose": args.model})
    else:
        load_weights(model, args.model, strict=False)
    map_sizes = map_sizes_for(tuple(cfg.model.input_size), model.output_strides)
    pipeline = pipeline_config(cfg.data, map_sizes)
    return {"cfg": cfg, "model": model, "pipeline": pipeline, "map_sizes": map_sizes,
            "objective": objective_for(args, cfg, map_sizes)}


def stage_config(args: argparse.Namespace, extra: list[str]):
    from hyper_sapiens.config import load_config

    data = Path(args.data)
    over = [f"data.root={data}", f"loss.sds.prior={args.prior}", "init_from=null", "data.workers=0",
            "loss.bone.weight=0.05", f"loss.bone.reference={data}/skeletons/*_coco17_2d.npz", *args.set, *extra]
    return load_config(args.config, over)


def objective_for(args: argparse.Namespace, cfg, map_sizes):
    from hyper_sapiens.engine.objective import TrainingObjective, resolve_depth_output

    depth_output = resolve_depth_output(cfg.model, cfg.sapiens_checkpoints)
    return TrainingObjective(cfg.loss, tuple(cfg.model.input_size), map_sizes.get("depth"), cfg.run.steps,
                             torch.device("cpu"), depth_output=depth_output)


def _batches(dataset, batch_size: int, limit: int):
    from hyper_sapiens.data.loader import make_loader

    seen = 0
    for batch in make_loader(dataset, batch_size=batch_size):
        if seen >= limit:
            return
        take = min(limit - seen, batch["image"].shape[0])
        yield {k: v[:take] for k, v in batch.items()}
        seen += take


def _eval_set(data: Path, pipeline, split: str):
    from hyper_sapiens.data.factory import build_eval_dataset

    spec = {"type": "coco", "ann_file": str(data / "syrip" / "annotations" / f"{split}.json"),
            "image_root": str(data / "syrip" / "images" / split), "labelled": "labelled"}
    return build_eval_dataset(spec, pipeline, split)


def _torso_radius(kp: np.ndarray) -> np.ndarray:
    from hyper_sapiens.keypoints.torso import torso_radius

    return np.maximum(torso_radius(kp), 1e-6)


def _true_poses(data: Path) -> tuple[np.ndarray, np.ndarray]:
    ann = json.loads((data / "syrip" / "annotations" / "test_real.json").read_text())
    kp = np.array([a["keypoints"] for a in ann["annotations"] if a.get("num_keypoints", 0) > 0], np.float32)
    kp = kp.reshape(len(kp), 17, 3)
    return kp[..., :2], kp[..., 2] > 0


# ------------------------------------------------------------------------------------------ hooks into the code
def readout(objective, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The coordinates (heatmap pixels) and confidences the SDS term reads from heatmaps."""
    if hasattr(objective, "keypoint_readout"):
        return objective.keypoint_readout(heatmaps)
    return objective._keypoint_coords(heatmaps, objective.cfg.sds.beta)   # before the argmax-local read-out


def sds_on_coords(objective, coords, confidence, map_size, generator=None) -> torch.Tensor:
    """The SDS term on read-out coordinates as the objective computes it."""
    if hasattr(objective, "sds_loss"):
        return objective.sds_loss(coords, confidence, map_size, generator=generator)
    return objective.sds(coords, confidence, generator=generator)


def geo_term(objective, depth, normal, batch, mode: str, region, anchored: bool) -> torch.Tensor:
    """The depth-normal term on ``region``, with the depth target as the depth branch when the code anchors the
    term to it (``anchored`` and ``loss.geo.anchor``)."""
    from hyper_sapiens.losses import geo_loss

    kw: dict[str, Any] = {}
    if anchored and getattr(objective.cfg.geo, "anchor", False):
        kw = {"depth_target": batch["depth"], "depth_target_mask": batch["depth_mask"]}
    return geo_loss(depth, normal, region, mode=mode, detach=objective.cfg.geo.detach, camera=batch["camera"],
                    has_camera=batch["has_camera"], input_size=objective.input_size, **kw)


# ------------------------------------------------------------------------------------------ SDS, expected step
def probe_sds_steps(env, args) -> dict[str, Any]:
    from hyper_sapiens.data.loader import normalize_images

    model, pipeline = env["model"], env["pipeline"]
    ds = _eval_set(Path(args.data), pipeline, "train_real")
    w_map, h_map = env["map_sizes"]["heatmap"]
    w_in, h_in = pipeline.input_size
    to_map = torch.tensor([(w_map - 1) / (w_in - 1), (h_map - 1) / (h_in - 1)])
    cached = []
    model.eval()
    for batch in _batches(ds, 16, args.crops):
        with torch.no_grad():
            heat = model(normalize_images(batch["image"]))["heatmaps"]
        cached.append((heat, batch["keypoints"].float() * to_map, batch["keypoints_visible"] > 0))
    variants = {"config": []}
    variants.update({v: shlex.split(v) for v in args.sds_variants})
    out: dict[str, Any] = {}
    for name, extra in variants.items():
        objective = env["objective"] if not extra else objective_for(args, stage_config(args, extra), env["map_sizes"])
        out[name] = _sds_steps(objective, cached, (w_map, h_map), args)
    return out


def _sds_steps(objective, cached, map_size, args) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    cos_sample, cos_joint, torso_share = [], [], []
    weak_off, weak_err, argmax_err_weak, strong_err = [], [], [], []
    w_map = map_size[0]
    tmask = torch.zeros(17, dtype=torch.bool)
    tmask[list(TORSO)] = True
    for heat, truth, vis in cached:
        coords, conf = readout(objective, heat)
        coords = coords.detach()
        radius = torch.as_tensor(_torso_radius(truth.numpy()))[:, None].expand(vis.shape)
        flat = heat.flatten(2).argmax(-1)
        amax = torch.stack([flat % w_map, flat // w_map], -1).float()
        peak = heat.flatten(2).amax(-1)
        weak, strong = (peak < 0.2) & vis, (peak >= 0.2) & vis
        weak_off += (coords - amax).norm(dim=-1)[weak].tolist()
        weak_err += (coords - truth).norm(dim=-1)[weak].tolist()
        argmax_err_weak += (amax - truth).norm(dim=-1)[weak].tolist()
        strong_err += ((coords - truth).norm(dim=-1) / radius)[strong].tolist()
        leaf = coords.clone().requires_grad_(True)
        total = torch.zeros_like(coords)
        for _ in range(args.draws):
            loss = sds_on_coords(objective, leaf, conf.detach(), map_size, generator=gen)
            (g,) = torch.autograd.grad(loss, leaf, allow_unused=True)
            if g is not None:
                total += g
        step = -total / args.draws
        err = truth - coords
        for b in range(coords.shape[0]):
            m = vis[b]
            s, e = step[b][m], err[b][m]
            if s.norm() > 0 and e.norm() > 0:
                cos_sample.append(float((s * e).sum() / (s.norm() * e.norm())))
            sn, en = s.norm(dim=-1), e.norm(dim=-1)
            ok = (sn > 0) & (en > 0)
            cos_joint += ((s * e).sum(-1)[ok] / (sn * en)[ok]).tolist()
            mag = step[b].norm(dim=-1)
            other = mag[~tmask & m]
            if other.numel() and float(other.mean()) > 0:
                torso_share.append(float(mag[tmask & m].mean() / other.mean()))
    return {
        "crops": len(cos_sample),
        "draws": args.draws,
        "cos_step_vs_error_per_sample": _mean(cos_sample),
        "share_samples_cos_positive": _r(np.mean(np.asarray(cos_sample) > 0)) if cos_sample else None,
        "cos_step_vs_error_per_joint": _mean(cos_joint),
        "torso_vs_other_joint_step_ratio": _mean(torso_share),
        "weak_maps_peak_lt_0.2": {
            "joints": len(weak_off),
            "readout_minus_argmax_px": _mean(weak_off, 2),
            "readout_error_px": _mean(weak_err, 2),
            "argmax_error_px": _mean(argmax_err_weak, 2),
        },
        "strong_maps_readout_error_torso_radii": _mean(strong_err),
    }


# ------------------------------------------------------------------------------------------ SDS, flow from the truth
def _expected_g(prior, weight_fn, x, mask, t_range, draws, gen, clip=1.0) -> torch.Tensor:
    b = x.shape[0]
    total = torch.zeros_like(x)
    with torch.no_grad():
        for _ in range(draws):
            t = torch.randint(t_range[0], t_range[1] + 1, (b,), generator=gen)
            eps = torch.randn(x.shape, generator=gen)
            eps_hat = prior.predict_eps(prior.schedule.q_sample(x, t, eps), t, mask)
            total += (weight_fn(t).reshape(b, 1, 1) * (eps_hat - eps)).clamp(-clip, clip) * mask[..., None]
    return total / draws


def probe_flow(args, prior) -> dict[str, Any]:
    from hyper_sapiens.prior import SDSLoss

    pts, vis = _true_poses(Path(args.data))
    norm = prior.normalize(torch.as_tensor(pts), torch.as_tensor(vis))
    ok = norm.valid
    x0, mask = norm.x[ok], norm.mask[ok]
    factor = float(prior.normalizer.config.scale_factor)   # a normalised unit is `factor` torso radii
    noisy0 = x0 + args.flow_noise * torch.randn(x0.shape, generator=torch.Generator().manual_seed(1)) * mask[..., None]

    def dist(a: torch.Tensor) -> float:  # mean per joint, torso radii, both re-normalised
        d = (prior.normalize(a, mask).x - x0).norm(dim=-1)
        return float((d * mask).sum() / mask.sum()) * factor

    rows = []
    for weighting in args.weightings:
        for t_min, t_max in args.t_ranges:
            weight_fn = SDSLoss(prior, t_range=(t_min, t_max), weighting=weighting).weight
            gen = torch.Generator().manual_seed(0)
            band = (t_min, t_max)
            g0 = _expected_g(prior, weight_fn, x0, mask, band, args.draws, gen)
            step0 = float((g0.norm(dim=-1) * mask).sum() / mask.sum()) * factor
            x, y = x0.clone(), noisy0.clone()
            for _ in range(args.flow_steps):
                x = x - args.flow_lr * _expected_g(prior, weight_fn, x, mask, band, args.draws, gen)
                y = y - args.flow_lr * _expected_g(prior, weight_fn, y, mask, band, args.draws, gen)
            before, after, drift = dist(noisy0), dist(y), dist(x)
            pull = before - after
            rows.append({
                "weighting": weighting, "t_range": [t_min, t_max],
                "expected_step_at_truth_torso_radii": _r(step0),
                "drift_from_truth_torso_radii": _r(drift),
                "noisy_to_truth_before": _r(before), "noisy_to_truth_after": _r(after), "pull": _r(pull),
                "drift_over_pull": _r(drift / pull) if pull > 0 else None,
            })
    return {"poses": int(ok.sum()), "flow_steps": args.flow_steps, "flow_lr": args.flow_lr,
            "noise_normalised_units": args.flow_noise, "draws": args.draws, "rows": rows}


# ------------------------------------------------------------------------------------------ gradients on the backbone
def probe_gradients(env, args) -> dict[str, Any]:
    from hyper_sapiens.data.factory import build_training_data
    from hyper_sapiens.data.loader import make_loader, normalize_images

    cfg, model, objective = env["cfg"], env["model"], env["objective"]
    dataset, sampler = build_training_data(cfg.data, env["pipeline"], seed=args.seed)
    loader = iter(make_loader(dataset, sampler, workers=0))
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    terms = ["pose", "depth", "normal", "geo", "bone", "sds", "sds_expected"]
    refs = ("pose", "depth", "normal")
    rec: dict[str, dict[str, list[float]]] = {t: {"norm": [], **{f"cos_{r}": [] for r in refs}} for t in terms}
    original = objective.weights_at
    model.train()
    try:
        for i in range(args.batches):
            batch = next(loader)
            torch.manual_seed(1000 + i)
            outputs = model(normalize_images(batch["image"]))
            grads: dict[str, torch.Tensor] = {}
            for term in terms:
                name = "sds" if term == "sds_expected" else term
                keys = ("pose_syn", "pose_real") if name == "pose" else (name,)
                w = {k: (1.0 if k in keys else 0.0) for k in original(0)}
                objective.weights_at = lambda step, w=w: w
                reps = args.draws if term == "sds_expected" else 1
                total = sum(objective(outputs, batch, 0)[0] for _ in range(reps)) / reps
                g = torch.autograd.grad(total, params, retain_graph=True, allow_unused=True)
                grads[term] = torch.cat([(x if x is not None else torch.zeros_like(p)).flatten()
                                         for x, p in zip(g, params, strict=True)])
            for term, g in grads.items():
                rec[term]["norm"].append(float(g.norm()))
                for r in refs:
                    denom = float(g.norm() * grads[r].norm())
                    rec[term][f"cos_{r}"].append(float(g @ grads[r]) / denom if denom > 0 else float("nan"))
    finally:
        objective.weights_at = original
    nominal = {t: float(getattr(cfg.loss, "sds" if t == "sds_expected" else t).weight) for t in terms[1:]}
    spec = dict(nominal, geo=0.1, sds=0.01, sds_expected=0.01)
    pose_norm = float(np.mean(rec["pose"]["norm"]))
    out: dict[str, Any] = {"batches": args.batches, "pose_grad_norm": _r(pose_norm, 6), "terms": {}}
    for term in terms[1:]:
        n = float(np.mean(rec[term]["norm"]))
        row: dict[str, Any] = {"grad_norm": _r(n, 6)}
        for r in refs:
            vals = [v for v in rec[term][f"cos_{r}"] if math.isfinite(v)]
            row[f"cos_with_{r}"] = _mean(vals)
            if r == "pose":
                row["cos_with_pose_per_batch"] = [_r(v, 3) for v in rec[term]["cos_pose"]]
        row.update({
            "weight_config": nominal[term], "ratio_to_pose_at_config_weight": _r(nominal[term] * n / pose_norm),
            "weight_spec": spec[term], "ratio_to_pose_at_spec_weight": _r(spec[term] * n / pose_norm),
        })
        out["terms"][term] = row
    return out


# ------------------------------------------------------------------------------------------ depth-normal consistency
def probe_geometry(env, args) -> dict[str, Any]:
    from hyper_sapiens.data.factory import build_training_data
    from hyper_sapiens.data.loader import make_loader, normalize_images

    objective, model, pipeline = env["objective"], env["model"], env["pipeline"]
    ds = _eval_set(Path(args.data), pipeline, "train_syn")
    vals: dict[str, list[float]] = {}
    kept = []

    def add(key: str, v: torch.Tensor) -> None:
        vals.setdefault(key, []).append(math.degrees(float(v)))

    model.eval()
    for batch in _batches(ds, 16, args.geo_crops):
        depth_t, normal_t = batch["depth"], batch["normal"]
        valid = batch["depth_mask"] & batch["normal_mask"]
        regions = {"body": valid & batch["body_mask"], "whole_crop": valid}
        log_d = torch.log(depth_t.clamp_min(1e-6))
        with torch.no_grad():
            pred = model(normalize_images(batch["image"]))
        flat = torch.zeros_like(log_d)
        facing = torch.zeros_like(normal_t)
        facing[:, 2] = -1.0
        for rname, region in regions.items():
            for mode, truth_depth in (("log_depth", log_d), ("tilt", depth_t)):
                add(f"truth_{mode}_{rname}", geo_term(objective, truth_depth, normal_t, batch, mode, region, False))
                add(f"flat_facing_{mode}_{rname}", geo_term(objective, flat, facing, batch, mode, region, True))
                if "depth" in pred and "normal" in pred:
                    add(f"pred_{mode}_{rname}",
                        geo_term(objective, pred["depth"], pred["normal"], batch, mode, region, False))
        kept.append(batch)
    out: dict[str, Any] = {"crops": args.geo_crops, "units": "degrees (the term's value, radians, as degrees; "
                           "before the rewrite the tilt form's value was a |n_xy|-weighted 1 - cos, shown x 180/pi)"}
    out.update({k: _mean(v, 2) for k, v in vals.items()})
    # normals following the term's gradient against the exact depth (plain gradient descent, depth branch fixed)
    drift = {}
    for mode in ("log_depth", "tilt"):
        res = []
        for batch in kept[:2]:
            region = batch["depth_mask"] & batch["normal_mask"] & batch["body_mask"]
            dref = torch.log(batch["depth"].clamp_min(1e-6)) if mode == "log_depth" else batch["depth"]
            n = batch["normal"].clone().requires_grad_(True)
            opt = torch.optim.SGD([n], lr=args.geo_lr * float(region.sum()))
            for _ in range(args.geo_steps):
                opt.zero_grad()
                geo_term(objective, dref, n, batch, mode, region, False).backward()
                opt.step()
            cos = torch.nn.functional.cosine_similarity(n.detach(), batch["normal"], dim=1).clamp(-1, 1)
            res.append(float(torch.rad2deg(cos.acos())[region[:, 0]].mean()))
        drift[mode] = _mean(res, 2)
    out["normals_drift_deg_following_the_gradient_with_exact_depth"] = drift
    out["drift_steps"], out["drift_lr_per_pixel"] = args.geo_steps, args.geo_lr
    # black padding in real training crops (the term's region on real samples, which have no body mask)
    dataset, sampler = build_training_data(env["cfg"].data, pipeline, seed=args.seed)
    loader = iter(make_loader(dataset, sampler, workers=0))
    shares = []
    for _ in range(args.batches):
        batch = next(loader)
        black = (batch["image"][batch["domain"] == 1] == 0).all(1).float()
        shares.append(float(black.mean()))
    out["black_padding_share_of_real_training_crops"] = _mean(shares)
    return out


# ------------------------------------------------------------------------------------------ bone term
def probe_bone(env, args) -> dict[str, Any]:
    from hyper_sapiens.keypoints import COCO17_SYMMETRIC_LIMBS
    from hyper_sapiens.losses import bone_ratio_loss, limb_log_ratios

    objective = env["objective"]
    pts, vis = _true_poses(Path(args.data))
    pts, w = torch.as_tensor(pts), torch.as_tensor(vis.astype(np.float32))
    ref = objective.bone_reference.float()
    bone = objective.cfg.bone
    kw = {k: getattr(bone, k) for k in ("tolerance", "symmetry_weight") if hasattr(bone, k)}
    total = bone_ratio_loss(pts, w, ref, **kw)
    ratio_only = bone_ratio_loss(pts, w, ref, **{**kw, "symmetry_weight": 0.0})
    lr, lw = limb_log_ratios(pts, w)
    pairs = torch.as_tensor(COCO17_SYMMETRIC_LIMBS)
    asym = (lr[:, pairs[:, 0]] - lr[:, pairs[:, 1]]).abs()
    both = (lw[:, pairs[:, 0]] * lw[:, pairs[:, 1]]) > 0
    per_pair = [float(asym[both[:, i], i].median()) for i in range(pairs.shape[0])]
    return {"poses": len(pts), "loss_on_truth": _r(total, 5), "ratio_part_on_truth": _r(ratio_only, 5),
            "settings": {k: _r(v) for k, v in kw.items()},
            "median_abs_log_left_right_per_pair": [_r(v, 3) for v in per_pair]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a `hyper-sapiens synth --preset demo` folder")
    parser.add_argument("--prior", required=True, help="prior.safetensors (hyper-sapiens train-prior)")
    parser.add_argument("--model", required=True, help="model weights (Sapiens layout or our own)")
    parser.add_argument("--config", default="stage2_mixed_demo", help="the stage config whose loss terms are probed")
    parser.add_argument("--set", nargs="*", default=[], help="more config overrides key=value")
    parser.add_argument("--sds-variants", nargs="*", default=[],
                        help="more SDS settings for the expected-step probe, each one quoted string of overrides")
    parser.add_argument("--crops", type=int, default=64, help="labelled real crops of the SDS probe")
    parser.add_argument("--geo-crops", type=int, default=32, help="rendered crops of the geometry probe")
    parser.add_argument("--draws", type=int, default=16, help="noise draws averaged for expected SDS steps")
    parser.add_argument("--batches", type=int, default=3, help="training batches of the gradient probe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flow-steps", type=int, default=40)
    parser.add_argument("--flow-lr", type=float, default=0.2)
    parser.add_argument("--flow-noise", type=float, default=0.1, help="noise of the noisy copies, normalised units")
    parser.add_argument("--geo-steps", type=int, default=100)
    parser.add_argument("--geo-lr", type=float, default=0.5, help="gradient step per pixel (radians per radian)")
    parser.add_argument("--weightings", nargs="*", default=["x0", "sds"])
    parser.add_argument("--t-ranges", nargs="*", default=["2:20", "5:50", "10:100", "20:200"])
    parser.add_argument("--only", nargs="*", default=["sds", "flow", "gradients", "geometry", "bone"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    args.t_ranges = [tuple(int(v) for v in s.split(":")) for s in args.t_ranges]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    start = time.perf_counter()
    env = build(args)
    result: dict[str, Any] = {"config": args.config, "overrides": args.set, "data": args.data,
                              "prior": args.prior, "model": args.model}
    if "sds" in args.only:
        result["sds_expected_step"] = probe_sds_steps(env, args)
    if "flow" in args.only:
        result["sds_flow_from_truth"] = probe_flow(args, env["objective"].sds.prior)
    if "gradients" in args.only:
        result["backbone_gradients"] = probe_gradients(env, args)
    if "geometry" in args.only:
        result["geometry"] = probe_geometry(env, args)
    if "bone" in args.only:
        result["bone"] = probe_bone(env, args)
    result["time_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
