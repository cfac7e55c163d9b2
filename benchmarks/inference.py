"""CPU inference speed of the pose model: torch eager, torch.compile and ONNX Runtime, with ONNX parity.

For each case (arch, input size): the exported graph (:class:`hyper_sapiens.models.export.DeployModel`: uint8 crops
in, normalisation inside, heatmaps out; no flip test) is timed on random crops at batch 1 and batch 8 with

- ``torch_eager``: the module under ``torch.no_grad()``;
- ``torch_compile``: ``torch.compile`` of it (inductor; the first call, which compiles, is not timed: its time is
  ``compile_s``); a failure is reported with its message;
- ``onnxruntime``: the ONNX file written by :func:`hyper_sapiens.models.export.export_model` (dynamic batch), in an
  ONNX Runtime CPU session with as many intra-op threads as torch uses (``export_s`` is the export time).

Each figure is the median of ``reps`` timed calls after one untimed call (none for eager and ONNX Runtime calls
estimated above ``--no-warmup-above-s``): ``latency_ms`` per call,
``ms_per_image``, ``images_per_s``, and ``gflops_per_s`` from the analytic forward FLOPs
(:func:`hyper_sapiens.models.flops.model_flops`). ``parity`` compares ONNX Runtime with torch eager on the batch-8
crops: max |Δ heatmap|, the heatmaps' max |value|, and the max distance between the DARK-UDP decoded keypoints
in crop pixels. A (backend, batch) whose estimated time (batch-1 latency × batch × (reps + 1)) exceeds
``--budget-s`` is skipped and says so. ``tiny`` runs the shipped pretrained weights; the Sapiens archs random
weights (seed 0). Prints one JSON object with the machine (CPU model, cores, threads, load average).

On a machine shared with other jobs, run it with one thread (``OMP_NUM_THREADS=1``): with more threads than
free cores every parallel region waits for a descheduled thread (tiny model, 2 threads on a loaded 2-core
machine: 930 ms per crop, against 20 ms with one thread).

    python benchmarks/inference.py --quick      # tiny and sapiens_0.3b at 256x192
    python benchmarks/inference.py              # + sapiens_0.3b at 512x384 and 1024x768
    python benchmarks/inference.py --cases sapiens_0.3b@1024x768 --batches 1 --backends torch_eager onnxruntime
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from hyper_sapiens.data.factory import inference_pipeline
from hyper_sapiens.data.pipeline import codec_from_pipeline
from hyper_sapiens.devices import cpu_name
from hyper_sapiens.models import build_model, load_model, model_flops
from hyper_sapiens.models.export import DeployModel, export_model
from hyper_sapiens.models.pretrained import packaged_weights_path

QUICK_CASES = ("tiny@256x192", "sapiens_0.3b@256x192")
FULL_CASES = QUICK_CASES + ("sapiens_0.3b@512x384", "sapiens_0.3b@1024x768")
BACKENDS = ("torch_eager", "torch_compile", "onnxruntime")



def machine() -> dict:
    import onnxruntime

    return {
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def parse_case(text: str) -> tuple[str, int, int]:
    """``arch@HxW`` → ``(arch, h, w)``."""
    arch, size = text.split("@")
    h, w = (int(v) for v in size.lower().split("x"))
    return arch, h, w


def reps_for(gflops_per_image: float, batch: int, quick: bool) -> int:
    work = gflops_per_image * batch
    reps = 20 if work < 50 else 5 if work < 500 else 2 if work < 3000 else 1
    return max(1, reps // 2) if quick else reps


def time_calls(fn, images: torch.Tensor, reps: int, warmup: bool = True) -> tuple[list[float], object]:
    out = fn(images) if warmup else None  # untimed: warm-up (and compilation)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        out = fn(images)
        times.append(time.perf_counter() - start)
    return times, out


def build_case(arch: str, h: int, w: int):
    if arch == "tiny":
        model = load_model(packaged_weights_path("tiny_adult_pose"))
        if tuple(model.config["input_size"]) != (w, h):
            raise ValueError("the shipped tiny weights are 192x256 (w x h)")
        return model.eval(), "shipped tiny_adult_pose weights"
    torch.manual_seed(0)
    return build_model({"arch": arch, "input_size": [w, h], "heads": {"pose": {}}}).eval(), "random weights, seed 0"


def bench_case(text: str, args, workdir: Path) -> dict:
    arch, h, w = parse_case(text)
    model, weights = build_case(arch, h, w)
    deploy = DeployModel(model, ["pose"]).eval()
    pipe = inference_pipeline((w, h), model.output_strides)
    codec = codec_from_pipeline(pipe)
    gflops = model_flops(model, (h, w), 1)["forward"] / 1e9
    gen = torch.Generator().manual_seed(1)
    crops = {b: torch.randint(0, 256, (b, 3, h, w), generator=gen, dtype=torch.uint8) for b in args.batches}
    result: dict = {"case": text, "arch": arch, "input_hw": [h, w], "weights": weights,
                    "params": sum(p.numel() for p in model.parameters()), "forward_gflops_per_image": round(gflops, 2),
                    "backends": {}}
    outputs: dict[str, torch.Tensor] = {}
    batch1_ms: dict[str, float] = {}
    for backend in args.backends:
        entry: dict = {}
        result["backends"][backend] = entry
        try:
            if backend == "torch_eager":
                def fn(x, _m=deploy):
                    with torch.no_grad():
                        return _m(x)[0]
            elif backend == "torch_compile":
                compiled = torch.compile(deploy, dynamic=False)

                def fn(x, _m=compiled):
                    with torch.no_grad():
                        return _m(x)[0]
            else:
                from hyper_sapiens.evaluation.exported import OnnxRuntimeModel

                path = workdir / f"{arch}_{h}x{w}.onnx"
                start = time.perf_counter()
                export_model(model, path, "onnx", codec, pipe.padding, dynamic_batch=True)
                entry["export_s"] = round(time.perf_counter() - start, 1)
                runner = OnnxRuntimeModel(path)

                def fn(x, _r=runner):
                    return _r(x)["heatmaps"]
        except Exception as exc:  # noqa: BLE001 - report any set-up failure and go on
            entry["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            continue
        for b in args.batches:
            reps = args.reps or reps_for(gflops, b, args.quick)
            key = f"batch{b}"
            per_image = batch1_ms.get(backend, batch1_ms.get("torch_eager"))
            call_s = None if per_image is None else per_image / 1e3 * b
            # a warm-up call is worth little next to calls of many seconds, except where it compiles
            warmup = backend == "torch_compile" or call_s is None or call_s < args.no_warmup_above_s
            if call_s is not None and call_s * (reps + int(warmup)) > args.budget_s:
                entry[key] = {"skipped": f"estimated {call_s * (reps + int(warmup)):.0f} s > --budget-s"}
                continue
            try:
                start = time.perf_counter()
                times, out = time_calls(fn, crops[b], reps, warmup)
                total = time.perf_counter() - start
            except Exception as exc:  # noqa: BLE001 - torch.compile may fail on some set-ups: report it
                entry[key] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
                break
            med = statistics.median(times)
            entry[key] = {
                "reps": reps,
                "warmup": warmup,
                "latency_ms": round(med * 1e3, 2),
                "ms_per_image": round(med * 1e3 / b, 2),
                "images_per_s": round(b / med, 3),
                "gflops_per_s": round(gflops * b / med, 1),
            }
            if backend == "torch_compile":
                entry[key]["compile_s"] = round(total - sum(times) - med, 1)
            if b == 1:
                batch1_ms[backend] = med * 1e3
            outputs[f"{backend}@{b}"] = out
        print(f"{text} {backend}: {json.dumps(entry)}", file=sys.stderr, flush=True)
    b = max(args.batches)
    ref, got = outputs.get(f"torch_eager@{b}"), outputs.get(f"onnxruntime@{b}")
    if ref is not None and got is not None:
        (k_ref, _), (k_got, _) = codec.batch_decode(ref), codec.batch_decode(got)
        result["parity"] = {
            "batch": b,
            "max_abs_heatmap_diff": float((got - ref).abs().max()),
            "max_abs_heatmap": float(ref.abs().max()),
            "max_keypoint_diff_px": float((k_got - k_ref).norm(dim=-1).max()),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny and sapiens_0.3b at 256x192, half the repetitions")
    parser.add_argument("--cases", nargs="+", default=None, help="arch@HxW, e.g. sapiens_0.3b@512x384")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--reps", type=int, default=0, help="timed calls per figure (default: by cost)")
    parser.add_argument("--budget-s", type=float, default=600.0, help="skip a figure estimated to take longer")
    parser.add_argument("--no-warmup-above-s", type=float, default=20.0,
                        help="no untimed warm-up call (eager, ONNX Runtime) when a call takes longer than this")
    parser.add_argument("--workdir", default=None, help="where the ONNX files go (default: a temporary folder)")
    args = parser.parse_args()
    args.batches = sorted(set(args.batches))
    cases = args.cases or (QUICK_CASES if args.quick else FULL_CASES)
    report = {"benchmark": "inference", "machine": machine(), "flip_test": False, "precision": "fp32", "cases": []}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hs_bench_") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for case in cases:
            report["cases"].append(bench_case(case, args, workdir))
    report["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    report["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
