"""UDP heatmap codec speed per instance (17 keypoints), single and batched, vs mmpose's figures.

mmpose 1.3.2 reference (``UDPHeatmap`` of ``mmpose/codecs/udp_heatmap.py`` timed on a 2-core CPU, per call of
one instance): encode 0.31 ms (48x64) / 0.35 ms (192x256), decode 0.58 ms / 7.3 ms. Prints one JSON object.

    python benchmarks/codec.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from hyper_sapiens.data.codecs import UDPHeatmap

MMPOSE_MS = {"48x64": {"encode": 0.31, "decode": 0.58}, "192x256": {"encode": 0.35, "decode": 7.3}}


def _time(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    out: dict[str, object] = {"threads": torch.get_num_threads(), "unit": "ms per instance", "mmpose": MMPOSE_MS}
    for hm, inp in (((48, 64), (192, 256)), ((192, 256), (768, 1024))):
        codec = UDPHeatmap(input_size=inp, heatmap_size=hm)
        name = f"{hm[0]}x{hm[1]}"
        kp1 = rng.uniform(0, 1, (17, 2)) * inp
        kp64 = rng.uniform(0, 1, (64, 17, 2)) * inp
        vis1, vis64 = np.ones(17), np.ones((64, 17))
        hm1, _ = codec.encode(kp1, vis1)
        hm64, _ = codec.batch_encode(kp64, vis64)
        hm64_t = torch.from_numpy(hm64)
        row = {
            "encode_single": 1e3 * _time(lambda codec=codec, kp1=kp1, vis1=vis1: codec.encode(kp1, vis1), args.repeats),
            "encode_batch64": 1e3
            * _time(
                lambda codec=codec, kp64=kp64, vis64=vis64: codec.batch_encode(kp64, vis64), max(1, args.repeats // 4)
            )
            / 64,
            "decode_single": 1e3 * _time(lambda codec=codec, hm1=hm1: codec.decode(hm1), args.repeats),
            "decode_batch64_numpy": 1e3
            * _time(lambda codec=codec, hm64=hm64: codec.batch_decode(hm64), max(1, args.repeats // 4))
            / 64,
            "decode_batch64_torch": 1e3
            * _time(lambda codec=codec, t=hm64_t: codec.batch_decode(t), max(1, args.repeats // 4))
            / 64,
        }
        ref = MMPOSE_MS[name]
        row["speedup_encode_batch"] = ref["encode"] / row["encode_batch64"]
        row["speedup_decode_batch"] = ref["decode"] / row["decode_batch64_numpy"]
        out[name] = {k: round(v, 4) for k, v in row.items()}
    out["targets"] = {"speedup_encode_batch": 5.0, "speedup_decode_batch": 3.0}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
