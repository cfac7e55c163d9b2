"""Training-step throughput and model FLOP utilisation (MFU) of the Sapiens model.

For each arch: time of one training step (forward, heatmap MSE loss, backward, AdamW step) on random
inputs, the analytic FLOP count (``hyper_sapiens.models.flops``: matmuls + convolutions, train step =
3 × forward), the achieved FLOP/s, and its ratio to a measured dense matmul rate on the same device
(fp32 on CPU, bf16 on CUDA). Prints one JSON object.

    python benchmarks/model_step.py                      # CPU: tiny and small at 256x192
    python benchmarks/model_step.py --archs small --batch 16 --steps 10
    python benchmarks/model_step.py --device cuda        # adds sapiens_0.3b at 1024x768, bf16 autocast
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from hyper_sapiens.devices import cpu_name
from hyper_sapiens.models import autocast_for, build_model, model_flops


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, n: int, repeats: int) -> dict:
    """Best-of-``repeats`` FLOP/s of an ``n × n`` matmul (fp32 on CPU, bf16 on CUDA)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    inner = 20 if device.type == "cuda" else 1
    torch.matmul(a, b, out=out)
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            torch.matmul(a, b, out=out)
        sync(device)
        times.append((time.perf_counter() - start) / inner)
    best = min(times)
    return {"dtype": str(dtype).replace("torch.", ""), "n": n, "flops_per_s": 2 * n**3 / best, "seconds": best}


def bench_arch(
    arch: str, input_hw: tuple[int, int], batch: int, steps: int, warmup: int, device: torch.device, args
) -> dict:
    torch.manual_seed(0)
    heads = {name: {} for name in args.heads.split(",") if name}
    cfg = {"arch": arch, "input_size": [input_hw[1], input_hw[0]], "heads": heads}
    if args.grad_checkpointing:
        cfg["grad_checkpointing"] = True
    model = build_model(cfg).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    model.train()
    step_model = torch.compile(model) if args.compile_on else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    images = torch.randn(batch, 3, *input_hw, device=device)

    def train_step() -> None:
        with autocast_for(device):
            out = step_model(images)
            loss = sum(v.float().square().mean() for v in out.values())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        train_step()
    sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train_step()
        sync(device)
        times.append(time.perf_counter() - start)

    model.eval()
    fwd_times = []
    with torch.no_grad():
        with autocast_for(device):
            step_model(images)  # warm-up (and recompilation for eval/no-grad when compiled)
        for _ in range(max(2, steps // 2)):
            start = time.perf_counter()
            with autocast_for(device):
                step_model(images)
            sync(device)
            fwd_times.append(time.perf_counter() - start)

    flops = model_flops(model, input_hw, batch)
    median = statistics.median(times)
    result = {
        "arch": arch,
        "input_hw": list(input_hw),
        "batch": batch,
        "heads": sorted(heads),
        "precision": "bf16-autocast" if device.type == "cuda" else "fp32",
        "compiled": bool(args.compile_on),
        "params": sum(p.numel() for p in model.parameters()),
        "forward_flops": flops["forward"],
        "train_step_flops": flops["train_step"],
        "step_s_median": median,
        "step_s_min": min(times),
        "step_s_all": [round(t, 4) for t in times],
        "forward_s_median": statistics.median(fwd_times),
        "train_flops_per_s": flops["train_step"] / median,
        "forward_flops_per_s": flops["forward"] / statistics.median(fwd_times),
        "images_per_s": batch / median,
    }
    if device.type == "cuda":
        result["max_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--archs", default=None, help="comma list; default tiny,small (+sapiens_0.3b on CUDA)")
    parser.add_argument("--input-hw", default=None, help="H,W; default 256,192 on CPU, 1024,768 for sapiens_*")
    parser.add_argument("--batch", type=int, default=None, help="default: tiny 32, small 16, sapiens_0.3b 8")
    parser.add_argument("--heads", default="pose", help="comma list of heads (pose,depth,normal)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--compile", choices=("auto", "on", "off"), default="auto", help="torch.compile the model (auto: on for CUDA)"
    )
    parser.add_argument("--grad-checkpointing", action="store_true")
    parser.add_argument("--matmul-n", type=int, default=None, help="matmul size (default 2048 CPU, 8192 CUDA)")
    args = parser.parse_args(argv)

    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    args.compile_on = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    archs = (
        args.archs.split(",") if args.archs else ["tiny", "small"] + (["sapiens_0.3b"] if device.type == "cuda" else [])
    )
    default_batch = {"tiny": 32, "small": 16, "sapiens_0.3b": 8, "sapiens_0.6b": 4, "sapiens_1b": 2, "sapiens_2b": 1}

    matmul = matmul_rate(device, args.matmul_n or (8192 if device.type == "cuda" else 2048), repeats=5)
    results = []
    for arch in archs:
        if args.input_hw:
            hw = tuple(int(v) for v in args.input_hw.split(","))
        else:
            hw = (1024, 768) if arch.startswith("sapiens") else (256, 192)
        batch = args.batch or default_batch.get(arch, 8)
        while True:
            try:
                res = bench_arch(arch, hw, batch, args.steps, args.warmup, device, args)
                break
            except torch.OutOfMemoryError:
                if batch == 1:
                    raise
                batch //= 2  # retry smaller rather than fail the whole report
                torch.cuda.empty_cache()
        res["mfu"] = res["train_flops_per_s"] / matmul["flops_per_s"]
        results.append(res)
    matmul_after = matmul_rate(device, matmul["n"], repeats=3)  # the CPU is shared: report drift
    report = {
        "benchmark": "model_step",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "matmul": matmul,
        "matmul_after_flops_per_s": matmul_after["flops_per_s"],
        "flop_convention": "2*MAC of matmuls and convolutions; train step = 3 x forward",
        "mfu_definition": "train_step_flops / step_s_median / matmul.flops_per_s",
        "results": results,
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
