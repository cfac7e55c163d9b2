"""Peer pose models beside this project's weights, scored by the project's evaluation. Prints one JSON object.

Rows (each optional; at least one):

- ``fidip``: FiDIP's published predictions on SyRIP validate (Huang et al., FG 2021; a COCO keypoint results file
  from ``github.com/ostadabbas/Infant-Postural-Symmetry``, ``--fidip``). It has no predictions on the demo's
  ``test_real``: that cell stays blank.
- ``movenet``: Google's MoveNet SinglePose (a ``.tflite`` file, ``--movenet``; run with ``ai-edge-litert``,
  ``pip install -e ".[peers]"``) on the same crops as the project's models: a square of 1.25 × the labelled box's
  longer side around the box's centre (aspect kept, black where it leaves the image), warped to MoveNet's input
  (192 × 192 for Lightning) with the UDP affine and bilinear sampling of the project's top-down pipeline
  (:mod:`hyper_sapiens.data.pipeline`). MoveNet's output ``[1, 1, 17, 3]``
  (y, x, score per COCO17 keypoint, y and x fractions of the crop) is mapped back to image pixels with the crop's
  affine (fraction 0 ↦ the square's first pixel centre, 1 ↦ its last), written as a COCO keypoint results file
  and scored by ``evaluate --predictions`` (:func:`hyper_sapiens.evaluation.report.evaluate_results_file`).
- every shipped weight file (``--packaged NAME``, repeatable; default: all of
  :data:`hyper_sapiens.models.pretrained.PACKAGED_WEIGHTS`) and any checkpoint (``--checkpoint NAME=PATH``,
  repeatable), run as ``evaluate --checkpoint`` runs them (crops of the model's input size, flip test).

Sets: SyRIP's real validate images in FiDIP's layout (``--syrip``; PCK@0.05 of the longer box side overall and per
posture, COCO AP with the published areas and with box areas) and the demo's rendered ``test_real`` (``--demo-data``,
a ``hyper-sapiens synth --preset demo`` folder). Both are read through the packaged ``eval_syrip_real`` config, so
every row sees the same instances, boxes and metrics. The JSON has the machine, the commit and each model's wall
time per set (inference and scoring); ``--markdown FILE`` also writes the table.

    python benchmarks/peers.py --syrip SYRIP --fidip SYRIP/fidip_predictions_validate_infant.json \\
        --movenet movenet_singlepose_lightning_int8_4.tflite --packaged tiny_adult_pose \\
        [--checkpoint mine=runs/me/stage3/best.safetensors] [--demo-data data/demo] [--markdown peers.md]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from hyper_sapiens.data.io import DataFileError, read_image
from hyper_sapiens.data.transforms import (
    bbox_xyxy2cs,
    fix_aspect_ratio,
    get_udp_warp_matrix,
    invert_affine,
    warp_image,
    warp_keypoints,
)
from hyper_sapiens.evaluation.coco import rescore
from hyper_sapiens.keypoints import COCO17

#: A MoveNet-like model: an RGB uint8 crop ``(S, S, 3)`` → ``(17, 3)`` float (y, x, score), y and x fractions of
#: the crop (0 at its first pixel centre, 1 at its last).
PosePredictor = Callable[[np.ndarray], np.ndarray]

#: Crops are this many times the labelled box's longer side (the project's top-down padding).
PADDING = 1.25
#: The evaluation sets, as the JSON names them.
SETS = ("syrip_validate", "demo_test_real")
#: SyRIP's postures, in the table's column order.
POSTURES = ("Prone", "Sitting", "Standing", "Supine")


class MissingExtraError(RuntimeError):
    """An optional dependency of the benchmark is not installed."""


class MoveNet:
    """A MoveNet SinglePose ``.tflite`` file run with ``ai-edge-litert``, as a :data:`PosePredictor`.

    The input is checked from the file's input details: ``[1, S, S, 3]`` of uint8 (the int8 files: RGB 0–255, no
    normalisation), int32 or float32 (the same 0–255 values cast); the output must be ``[1, 1, 17, 3]``."""

    def __init__(self, path: str | os.PathLike, threads: int = 1) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as err:
            raise MissingExtraError(
                "MoveNet runs with ai-edge-litert, which is not installed: pip install -e \".[peers]\" "
                "(or pip install ai-edge-litert)"
            ) from err
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"MoveNet file not found: {path}")
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"{path}: not a TFLite model ai-edge-litert can load ({err})") from err
        (inp,) = self.interpreter.get_input_details()
        (out,) = self.interpreter.get_output_details()
        shape = tuple(int(v) for v in inp["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or shape[1] != shape[2]:
            raise ValueError(f"{path}: input shape {list(shape)}; a MoveNet SinglePose file takes [1, S, S, 3]")
        if inp["dtype"] not in (np.uint8, np.int32, np.float32):
            raise ValueError(f"{path}: input type {np.dtype(inp['dtype']).name}; expected uint8, int32 or float32")
        if tuple(int(v) for v in out["shape"]) != (1, 1, COCO17.num_keypoints, 3):
            raise ValueError(f"{path}: output shape {list(out['shape'])}; MoveNet SinglePose gives [1, 1, 17, 3]")
        self.path, self.size, self.dtype = path, shape[1], inp["dtype"]
        self._input, self._output = inp["index"], out["index"]

    def __call__(self, crop: np.ndarray) -> np.ndarray:
        """``crop (S, S, 3)`` uint8 RGB → ``(17, 3)`` float (y, x, score), y and x fractions of the crop."""
        if crop.shape != (self.size, self.size, 3):
            raise ValueError(f"MoveNet {self.path.name} takes ({self.size}, {self.size}, 3) crops, got {crop.shape}")
        self.interpreter.set_tensor(self._input, crop[None].astype(self.dtype))
        self.interpreter.invoke()
        return np.asarray(self.interpreter.get_tensor(self._output), np.float32).reshape(COCO17.num_keypoints, 3)


def square_crop(image: np.ndarray, bbox: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The square of :data:`PADDING` × the box's longer side around the centre of ``bbox`` (xyxy, image pixels) from
    an RGB ``(H, W, 3)`` image, warped to ``(size, size, 3)`` uint8 as the project's top-down pipeline warps its
    crops (the UDP affine, bilinear, black outside the image). Returns ``(crop, matrix (2, 3))``, the affine from
    image pixels to crop pixels: the square's edges land on the first and last pixel centres."""
    center, scale = bbox_xyxy2cs(np.asarray(bbox, np.float32), PADDING)
    scale = fix_aspect_ratio(scale, 1.0)
    matrix = get_udp_warp_matrix(center, scale, 0.0, (size, size))
    return warp_image(image, matrix, (size, size)), matrix


def crop_fractions_to_image(yxs: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """MoveNet's ``(K, 3)`` (y, x, score), y and x fractions of a ``size``-pixel crop made by :func:`square_crop`
    with ``matrix``, → ``(K, 3)`` (x, y, score) in image pixels."""
    yxs = np.asarray(yxs, np.float64)
    crop_xy = yxs[:, [1, 0]] * (size - 1)
    image_xy = warp_keypoints(crop_xy, invert_affine(matrix).astype(np.float64))
    return np.concatenate([image_xy, yxs[:, 2:3]], axis=1)


def peer_results(records: Sequence[Any], predict: PosePredictor, size: int) -> list[dict[str, Any]]:
    """COCO keypoint results of ``predict`` on the square crop of every labelled record's box.

    Each result: ``image_id``, ``category_id`` 1, 51 keypoint values (x, y in image pixels, score), ``score`` =
    the record's box score × the mean of keypoint scores above 0.2 (mmpose's ``bbox_keypoint`` rescoring, as for
    the project's models). A prediction of the wrong shape or with non-finite numbers is a ``ValueError`` naming
    the image."""
    results = []
    cached: tuple[str, np.ndarray] | None = None
    for rec in records:
        if not rec.has_keypoints:
            continue
        if cached is None or cached[0] != rec.image_path:
            cached = (rec.image_path, read_image(rec.image_path))
        crop, matrix = square_crop(cached[1], rec.bbox, size)
        out = np.asarray(predict(crop), np.float64)
        if out.shape != (COCO17.num_keypoints, 3) or not np.isfinite(out).all():
            raise ValueError(f"{rec.image_path}: the model gave {out.shape} values (finite: {np.isfinite(out).all()}); "
                             f"expected ({COCO17.num_keypoints}, 3) finite (y, x, score)")
        kp = crop_fractions_to_image(out, matrix, size)
        score = float(rescore(kp[None, :, 2], np.array([rec.bbox_score]))[0])
        results.append({"image_id": int(rec.image_id), "category_id": 1,
                        "keypoints": [float(v) for v in kp.reshape(-1)], "score": score})
    return results


def eval_config(set_name: str, path: str | os.PathLike, workers: int = 0) -> DictConfig:
    """The packaged ``eval_syrip_real`` config pointed at one set: SyRIP validate (a FiDIP-layout folder) or the
    demo's ``test_real`` (a ``synth --preset demo`` folder)."""
    from hyper_sapiens.config import load_config

    root = Path(path)
    if set_name == "syrip_validate":
        overrides = [f"data.syrip={root}", "data.syrip_layout=fidip"]
    elif set_name == "demo_test_real":
        ann = root / "syrip" / "annotations" / "test_real.json"
        if not ann.is_file():
            raise FileNotFoundError(f"{root}: no syrip/annotations/test_real.json; render the demo data with "
                                    "hyper-sapiens synth --preset demo --out DIR")
        overrides = [f"data.test_ann_file={ann}", f"data.test_images={root / 'syrip' / 'images' / 'test_real'}"]
    else:
        raise ValueError(f"unknown set {set_name!r}; known: {list(SETS)}")
    return load_config("eval_syrip_real", [*overrides, f"data.workers={workers}"])


def set_records(cfg: DictConfig) -> list[Any]:
    """The records of ``cfg``'s test set (``eval.dataset``), read as ``evaluate`` reads them (clipped boxes)."""
    from hyper_sapiens.config_schema import plain_container
    from hyper_sapiens.data.factory import build_eval_dataset, pipeline_config

    return build_eval_dataset(plain_container(cfg.eval.dataset), pipeline_config(cfg.data), name="test").records


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The table's numbers from an ``evaluate`` ``metrics.json`` dict."""
    groups = (metrics.get("groups") or {}).get("posture") or {}
    return {
        "pck@0.05": metrics["pck@0.05"],
        "pck_per_posture": {name: g["pck@0.05"] for name, g in sorted(groups.items())},
        "coco_ap": metrics.get("coco_ap"),
        "coco_ap_box_area": metrics.get("coco_ap_box_area"),
        "pck_auc": metrics.get("pck_auc"),
        "epe": metrics.get("epe"),
        "num_instances": metrics["num_instances"],
    }


def score_results(results: list[dict[str, Any]] | str | os.PathLike, cfg: DictConfig, out: Path) -> dict[str, Any]:
    """Score a COCO keypoint results list (written to ``out/results.json``) or file with ``evaluate --predictions``;
    the report goes to ``out``."""
    from hyper_sapiens.evaluation.report import evaluate_results_file

    out.mkdir(parents=True, exist_ok=True)
    if isinstance(results, list):
        path = out / "results.json"
        path.write_text(json.dumps(results), encoding="utf-8")
        results = path
    with contextlib.redirect_stdout(sys.stderr):
        return evaluate_results_file(results, cfg, out)


def score_weights(path: str | os.PathLike, cfg: DictConfig, out: Path, device: str) -> dict[str, Any]:
    """Run a weight file on ``cfg``'s test set as ``evaluate --checkpoint`` does; the report goes to ``out``."""
    from hyper_sapiens.devices import pick_device
    from hyper_sapiens.evaluation.report import evaluate_checkpoint
    from hyper_sapiens.models import load_model

    with contextlib.redirect_stdout(sys.stderr):
        return evaluate_checkpoint(load_model(path), cfg, out, pick_device(device), progress=False,
                                   title=f"evaluation of {Path(path).name}")


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    import torch

    from hyper_sapiens.devices import cpu_name

    return {"cpu": cpu_name(), "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()], "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform()}


def _cell(value: float | None, fmt: str = ".3f") -> str:
    return "" if value is None else format(value, fmt)


def markdown_table(report: dict[str, Any]) -> str:
    """The benchmark's table: SyRIP validate PCK@0.05 overall and per posture, both APs; ``test_real`` PCK and AP."""
    head = ["model", "SyRIP PCK@0.05", *POSTURES, "AP (published areas)", "AP (box areas)",
            "test_real PCK@0.05", "test_real AP (file's areas)", "test_real AP (box areas)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in report["models"].items():
        s, d = row.get("syrip_validate") or {}, row.get("demo_test_real") or {}
        posture = s.get("pck_per_posture") or {}
        cells = [name, _cell(s.get("pck@0.05")), *(_cell(posture.get(p)) for p in POSTURES),
                 _cell(s.get("coco_ap")), _cell(s.get("coco_ap_box_area")), _cell(d.get("pck@0.05")),
                 _cell(d.get("coco_ap")), _cell(d.get("coco_ap_box_area"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _named_path(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"--checkpoint takes NAME=PATH, got {text!r}")
    return name, path


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every requested model on every given set; returns the JSON report."""
    from hyper_sapiens.models.pretrained import PACKAGED_WEIGHTS, packaged_weights_path
    from hyper_sapiens.pretrain import git_commit

    sets = {name: path for name, path in zip(SETS, (args.syrip, args.demo_data)) if path}
    if not sets:
        raise SystemExit("peers: error: give --syrip and/or --demo-data (the sets to score on)")
    configs = {name: eval_config(name, path, args.workers) for name, path in sets.items()}
    models: list[tuple[str, str, str]] = []  # (name, kind, path)
    if args.fidip:
        models.append(("FiDIP (published predictions)", "results", args.fidip))
    movenet = None
    if args.movenet:
        movenet = MoveNet(args.movenet, threads=args.threads)
        models.append((f"MoveNet ({Path(args.movenet).stem})", "movenet", args.movenet))
    for name in args.packaged if args.packaged is not None else PACKAGED_WEIGHTS:
        models.append((name, "weights", str(packaged_weights_path(name))))
    for name, path in args.checkpoint or []:
        models.append((name, "weights", path))

    report: dict[str, Any] = {"benchmark": "peers", "commit": git_commit(), "machine": machine(),
                              "sets": {}, "models": {}}
    records = {name: set_records(cfg) for name, cfg in configs.items()}
    for name, recs in records.items():
        report["sets"][name] = {"path": str(sets[name]), "instances": sum(r.has_keypoints for r in recs)}
    with tempfile.TemporaryDirectory() as tmp:
        out_root = Path(args.out) if args.out else Path(tmp)
        for index, (name, kind, path) in enumerate(models):
            row: dict[str, Any] = {"kind": kind, "path": path}
            for set_name, cfg in configs.items():
                out = out_root / f"{index:02d}_{kind}" / set_name
                start = time.perf_counter()
                if kind == "results":
                    if set_name != "syrip_validate":
                        row[set_name] = None  # FiDIP's predictions exist for SyRIP validate only
                        continue
                    metrics = score_results(path, cfg, out)
                elif kind == "movenet":
                    assert movenet is not None
                    t = time.perf_counter()
                    results = peer_results(records[set_name], movenet, movenet.size)
                    infer = time.perf_counter() - t
                    metrics = score_results(results, cfg, out)
                    metrics["inference_s"] = infer
                    metrics["crops_per_s"] = len(results) / infer if infer > 0 else None
                else:
                    metrics = score_weights(path, cfg, out, args.device)
                entry = summary(metrics)
                entry["wall_s"] = round(time.perf_counter() - start, 2)
                for key in ("inference_s", "crops_per_s"):
                    if key in metrics:
                        entry[key] = round(metrics[key], 3)
                row[set_name] = entry
                print(f"peers: {name} on {set_name}: PCK@0.05 {entry['pck@0.05']:.4f} ({entry['wall_s']} s)",
                      file=sys.stderr)
            report["models"][name] = row
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(report), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syrip", default=None, metavar="DIR", help="SyRIP in FiDIP's layout (validate split)")
    parser.add_argument("--demo-data", default=None, metavar="DIR",
                        help="a `hyper-sapiens synth --preset demo` folder: its test_real split")
    parser.add_argument("--fidip", default=None, metavar="RESULTS.json", help="FiDIP's predictions on SyRIP validate")
    parser.add_argument("--movenet", default=None, metavar="FILE.tflite", help="a MoveNet SinglePose TFLite file")
    parser.add_argument("--packaged", action="append", default=None, metavar="NAME",
                        help="a shipped weight file (repeatable; default: every shipped one)")
    parser.add_argument("--checkpoint", action="append", type=_named_path, metavar="NAME=PATH",
                        help="a weight file to add under NAME (repeatable)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="keep each model's results.json and evaluate report here (default: a temporary folder)")
    parser.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as Markdown")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--workers", type=int, default=0, help="data loader workers of the project's models")
    parser.add_argument("--threads", type=int, default=1, help="MoveNet interpreter threads")
    args = parser.parse_args(argv)
    try:
        report = run(args)
    except (MissingExtraError, FileNotFoundError, DataFileError, ValueError) as err:
        print(f"peers: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
