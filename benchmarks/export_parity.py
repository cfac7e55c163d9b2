"""ONNX Runtime against PyTorch on the pose model, through predict's own flip test and DARK-UDP decoding.

For each case, the model is exported to ONNX (dynamic batch) and both backends run the same random uint8 crops
through :func:`hyper_sapiens.evaluation.inference.predict_heatmaps` (flip test on) and
:class:`hyper_sapiens.data.codecs.UDPHeatmap` decoding. Reported: max |Δ heatmap| and the heatmaps' max |value|;
the decoded keypoints' distance in crop pixels (max, median, share within 0.01 px); and for the keypoints that
moved, whether the argmax pixel changed and, if it did, by how little the two pixels differed in the torch
heatmap (``argmax_margin``: a tie within the heatmap difference), or else the DARK step's sensitivity on a flat
map (``max_diff_same_argmax_px``). ``tiny`` runs the shipped pretrained weights; Sapiens archs random weights
(seed 0), whose heatmaps are flat. Prints one JSON object.

    python benchmarks/export_parity.py                                  # tiny and sapiens_0.3b at 256x192
    python benchmarks/export_parity.py --cases sapiens_0.3b@512x384 --crops 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from hyper_sapiens.data.factory import inference_pipeline
from hyper_sapiens.data.pipeline import codec_from_pipeline
from hyper_sapiens.evaluation.exported import OnnxRuntimeModel
from hyper_sapiens.evaluation.inference import predict_heatmaps
from hyper_sapiens.models import build_model, load_model
from hyper_sapiens.models.export import export_model
from hyper_sapiens.models.pretrained import packaged_weights_path


def build_case(arch: str, h: int, w: int):
    if arch == "tiny":
        return load_model(packaged_weights_path("tiny_adult_pose")).eval(), "shipped tiny_adult_pose weights"
    torch.manual_seed(0)
    return build_model({"arch": arch, "input_size": [w, h], "heads": {"pose": {}}}).eval(), "random weights, seed 0"


def parity_case(text: str, crops: int, workdir: Path) -> dict:
    arch, size = text.split("@")
    h, w = (int(v) for v in size.split("x"))
    model, weights = build_case(arch, h, w)
    pipe = inference_pipeline((w, h), model.output_strides)
    codec = codec_from_pipeline(pipe)
    start = time.perf_counter()
    path, _ = export_model(model, workdir / f"{arch}_{h}x{w}.onnx", "onnx", codec, pipe.padding, dynamic_batch=True)
    export_s = time.perf_counter() - start
    runner = OnnxRuntimeModel(path)
    gen = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (crops, 3, h, w), generator=gen, dtype=torch.uint8)
    cpu = torch.device("cpu")
    ref = predict_heatmaps(model, images, cpu, flip_test=True, amp=False)["heatmaps"]
    got = predict_heatmaps(runner, images, cpu, flip_test=True, amp=False)["heatmaps"]
    (k_ref, _), (k_got, _) = codec.batch_decode(ref), codec.batch_decode(got)
    dist = (k_got - k_ref).norm(dim=-1).flatten()
    flat_ref, flat_got = ref.flatten(2), got.flatten(2)
    arg_ref, arg_got = flat_ref.argmax(-1).flatten(), flat_got.argmax(-1).flatten()
    moved = dist > 0.01
    switched = moved & (arg_ref != arg_got)
    rows = flat_ref.reshape(-1, flat_ref.shape[-1])
    margins = (rows.gather(1, arg_ref[:, None]) - rows.gather(1, arg_got[:, None])).flatten()[switched]
    same = moved & ~switched
    return {
        "case": text,
        "weights": weights,
        "crops": crops,
        "flip_test": True,
        "export_s": round(export_s, 1),
        "max_abs_heatmap_diff": float((got - ref).abs().max()),
        "max_abs_heatmap": float(ref.abs().max()),
        "keypoints": int(dist.numel()),
        "max_keypoint_diff_px": float(dist.max()),
        "median_keypoint_diff_px": float(dist.median()),
        "share_within_0.01px": float((~moved).float().mean()),
        "moved_with_argmax_switch": int(switched.sum()),
        "argmax_margin_max": float(margins.max()) if margins.numel() else None,
        "moved_with_same_argmax": int(same.sum()),
        "max_diff_same_argmax_px": float(dist[same].max()) if bool(same.any()) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["tiny@256x192", "sapiens_0.3b@256x192"], help="arch@HxW")
    parser.add_argument("--crops", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hs_parity_") as tmp:
        report = {
            "benchmark": "export_parity",
            "torch": torch.__version__,
            "cases": [parity_case(case, args.crops, Path(tmp)) for case in args.cases],
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
