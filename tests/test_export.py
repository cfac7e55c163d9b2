"""Export (ONNX, torch.export) of the shipped tiny pose model, its metadata, and predict on every backend.

One ONNX export (20-30 s on 2 cores) is shared by the tests that need it, which are marked ``slow``; the
torch.export tests and the argument checks run in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

from hyper_sapiens.cli import main  # noqa: E402
from hyper_sapiens.data.factory import inference_pipeline  # noqa: E402
from hyper_sapiens.data.pipeline import codec_from_pipeline  # noqa: E402
from hyper_sapiens.evaluation import exported as exported_module  # noqa: E402
from hyper_sapiens.evaluation.exported import ExportedProgramModel, OnnxRuntimeModel  # noqa: E402
from hyper_sapiens.evaluation.inference import predict_heatmaps  # noqa: E402
from hyper_sapiens.evaluation.predict import resolve_backend  # noqa: E402
from hyper_sapiens.keypoints import COCO17  # noqa: E402
from hyper_sapiens.models import (
    UnsafeCheckpointError,  # noqa: E402
    load_model,  # noqa: E402
)
from hyper_sapiens.models.export import DeployModel, build_metadata, export_model, read_metadata  # noqa: E402
from hyper_sapiens.models.pretrained import packaged_weights_path  # noqa: E402

WEIGHTS = packaged_weights_path("tiny_adult_pose")
HEATMAP_TOL = 1e-4  # max |ONNX Runtime - PyTorch| on heatmaps whose peaks are about 0.5-1
KEYPOINT_TOL_PX = 0.01  # decoded keypoints, crop pixels


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "tiny.onnx"
    args = ["export", "--checkpoint", str(WEIGHTS), "--format", "onnx", "--out", str(out), "--dynamic-batch"]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def model():
    return load_model(WEIGHTS).eval()


def _crops(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 256, 192), generator=gen, dtype=torch.uint8)


def _figure_image(path: Path) -> None:
    """A stick figure on a grey background: something for the pose model to find."""
    img = np.full((300, 220, 3), 110, np.uint8)
    joints = {"head": (110, 50), "neck": (110, 90), "hip": (110, 170), "lh": (80, 170), "rh": (140, 170),
              "lk": (75, 225), "rk": (145, 225), "la": (70, 280), "ra": (150, 280), "le": (70, 125),
              "re": (150, 125), "lw": (50, 165), "rw": (170, 165)}
    for a, b in (("neck", "hip"), ("lh", "rh"), ("lh", "lk"), ("lk", "la"), ("rh", "rk"), ("rk", "ra"),
                 ("neck", "le"), ("le", "lw"), ("neck", "re"), ("re", "rw")):
        cv2.line(img, joints[a], joints[b], (200, 170, 140), 12)
    cv2.circle(img, joints["head"], 26, (210, 180, 150), -1)
    cv2.imwrite(str(path), cv2.GaussianBlur(img, (5, 5), 0))


@pytest.mark.slow
def test_metadata_round_trip_onnx(onnx_file, model):
    meta = read_metadata(onnx_file)
    pipe = inference_pipeline((192, 256), model.output_strides)
    expected = build_metadata(model, ["pose"], (192, 256), "uint8", True, codec_from_pipeline(pipe), pipe.padding,
                              source=meta["source"])
    assert meta == json.loads(json.dumps(expected))
    assert meta["keypoints"]["names"] == list(COCO17.names)
    assert meta["keypoints"]["flip_indices"] == list(COCO17.flip_indices)
    assert meta["codec"] == {"type": "UDPHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64], "sigma": 2.0,
                             "blur_kernel_size": 11, "decode": "dark-udp"}
    assert meta["input"]["size"] == [192, 256] and meta["input"]["batch"] == "batch"
    assert meta["outputs"]["heatmaps"]["shape"] == ["batch", 17, 64, 48]
    assert meta["source"]["file"] == WEIGHTS.name and len(meta["source"]["sha256"]) == 64
    # ONNX Runtime sees the same document, without this package's reader
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map["hyper_sapiens"]) == meta


@pytest.mark.slow
def test_onnxruntime_heatmaps_and_keypoints_match_torch(onnx_file, model):
    runner = OnnxRuntimeModel(onnx_file)
    images = _crops(3)
    cpu = torch.device("cpu")
    ref = predict_heatmaps(model, images, cpu, flip_test=True, amp=False)["heatmaps"]
    got = predict_heatmaps(runner, images, cpu, flip_test=True, amp=False)["heatmaps"]
    assert got.shape == ref.shape == (3, 17, 64, 48)
    assert (got - ref).abs().max().item() < HEATMAP_TOL
    codec = codec_from_pipeline(inference_pipeline((192, 256), model.output_strides))
    (k_ref, _), (k_got, _) = codec.batch_decode(ref), codec.batch_decode(got)
    assert (k_got - k_ref).abs().max().item() < KEYPOINT_TOL_PX


def test_pt2_export_matches_torch_and_a_fixed_batch_runs_in_chunks(tmp_path, model):
    pipe = inference_pipeline((192, 256), model.output_strides)
    path, meta = export_model(model, tmp_path / "tiny.pt2", "pt2", codec_from_pipeline(pipe), pipe.padding)
    assert meta["input"]["batch"] == 1
    assert read_metadata(path) == json.loads(json.dumps(meta))
    extra = {"hyper_sapiens.json": ""}
    torch.export.load(str(path), extra_files=extra)
    assert json.loads(extra["hyper_sapiens.json"]) == read_metadata(path)
    with pytest.raises(UnsafeCheckpointError, match="tiny.pt2: refused: torch.export.load unpickles"):
        ExportedProgramModel(path)  # torch.export.load runs torch.load(weights_only=False) inside
    runner = ExportedProgramModel(path, trust_code=True)
    images = _crops(3, seed=1)  # three crops through a batch-1 program: chunks of one
    with torch.no_grad():
        ref = DeployModel(model, ["pose"])(images)[0]
    assert (runner(images)["heatmaps"] - ref).abs().max().item() < 1e-5
    # predict refuses the file (rc 2, named) unless --trust is given
    photos = tmp_path / "photos"
    photos.mkdir()
    _figure_image(photos / "1.png")
    args = ["predict", "--checkpoint", str(path), "--images", str(photos), "--out", str(tmp_path / "k.json")]
    assert main(args) == 2
    assert main([*args, "--trust"]) == 0
    assert len(json.loads((tmp_path / "k.json").read_text())) == 1


@pytest.mark.slow
def test_predict_cli_agrees_across_backends(onnx_file, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    _figure_image(images / "1.png")
    results = {}
    cases = (("torch", WEIGHTS, "torch"), ("onnxruntime", onnx_file, "onnxruntime"), ("auto", onnx_file, "auto"),
             ("weights_on_onnxruntime", WEIGHTS, "onnxruntime"))  # the last one exports to a temporary file first
    for name, checkpoint, backend in cases:
        out = tmp_path / f"{name}.json"
        args = ["predict", "--checkpoint", str(checkpoint), "--images", str(images), "--out", str(out),
                "--backend", backend]
        assert main(args) == 0
        results[name] = np.asarray(json.loads(out.read_text())[0]["keypoints"]).reshape(17, 3)
    for name in ("onnxruntime", "auto", "weights_on_onnxruntime"):
        assert np.abs(results[name][:, :2] - results["torch"][:, :2]).max() <= 0.01  # image pixels
        assert np.abs(results[name][:, 2] - results["torch"][:, 2]).max() <= 1e-3  # scores


@pytest.mark.slow
def test_predict_onnxruntime_without_onnxruntime_says_how_to_install(onnx_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(exported_module, "onnxruntime_available", lambda: False)
    images = tmp_path / "images"
    images.mkdir()
    _figure_image(images / "1.png")
    args = ["predict", "--checkpoint", str(onnx_file), "--images", str(images), "--out", str(tmp_path / "o.json")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "predict: error:" in err and 'pip install -e ".[onnx]"' in err


def test_backend_choice_follows_the_file():
    assert resolve_backend("auto", "m.onnx") == "onnxruntime"
    assert resolve_backend("auto", "best.safetensors") == "torch"
    assert resolve_backend("auto", "m.pt2") == "torch"
    assert resolve_backend("onnxruntime", "best.safetensors") == "onnxruntime"
    with pytest.raises(ValueError, match="onnxruntime"):
        resolve_backend("torch", "m.onnx")
    with pytest.raises(ValueError, match="torch"):
        resolve_backend("onnxruntime", "m.pt2")


def test_export_refuses_bad_requests(tmp_path, capsys, model):
    out = tmp_path / "x.onnx"
    assert main(["export", "--checkpoint", str(WEIGHTS), "--format", "pt2", "--out", str(out)]) == 2
    assert main(["export", "--checkpoint", str(WEIGHTS), "--format", "onnx", "--out", str(out),
                 "--heads", "depth"]) == 2
    assert main(["export", "--checkpoint", str(WEIGHTS), "--format", "onnx", "--out", str(out),
                 "--input-size", "200x256"]) == 2
    err = capsys.readouterr().err
    assert "should end in .pt2" in err
    assert "the model has ['pose']" in err and "multiple of the patch size" in err
    assert not out.exists()


@pytest.mark.slow
def test_the_standalone_snippet_in_deploy_md_runs_and_agrees_with_predict(onnx_file, tmp_path):
    """docs/deploy.md's numpy + OpenCV + onnxruntime code, run as written on a drawn figure: its crop, flip test
    and heatmaps are predict's, and its argmax keypoints are the argmax of predict's heatmaps in image pixels."""
    from hyper_sapiens.data.loader import make_loader
    from hyper_sapiens.data.pipeline import TopDownTransform
    from hyper_sapiens.data.transforms import crop_to_image
    from hyper_sapiens.evaluation.inference import run_inference
    from hyper_sapiens.evaluation.predict import load_predictor, whole_image_dataset

    text = (Path(__file__).resolve().parents[1] / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Running with ONNX Runtime alone", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    images = tmp_path / "images"
    images.mkdir()
    _figure_image(images / "1.png")
    code = code.replace('"pose.onnx"', repr(str(onnx_file))).replace('"photo.jpg"', repr(str(images / "1.png")))
    doc: dict = {}
    exec(compile(code, "deploy.md", "exec"), doc)  # noqa: S102 - the documentation's own example

    cpu = torch.device("cpu")
    runner, pipe, codec, _ = load_predictor(onnx_file, "onnxruntime", cpu)
    dataset = whole_image_dataset(images, TopDownTransform(pipe, train=False))
    preds = run_inference(runner, make_loader(dataset, batch_size=1), codec, cpu, amp=False, keep_heatmaps=True)
    assert np.allclose(doc["center"], preds["center"][0]) and np.allclose(doc["scale"], preds["scale"][0])
    assert np.abs(doc["heatmaps"] - preds["heatmaps"]).max() < 1e-3
    hm = preds["heatmaps"][0]
    peak = np.unravel_index(hm.reshape(17, -1).argmax(axis=1), hm.shape[1:])
    crop_px = np.stack([peak[1], peak[0]], axis=1) / (np.array(hm.shape[:0:-1]) - 1) * np.array(pipe.input_size)
    image_px = crop_to_image(crop_px, preds["center"][0], preds["scale"][0], pipe.input_size)
    assert np.abs(doc["keypoints"] - image_px).max() < 1e-3
    assert np.abs(doc["scores"] - preds["scores"][0]).max() < 1e-4


def test_pt2_export_at_another_size_and_with_every_head(tmp_path):
    """A tiny model with the three heads, exported at 160x224 instead of its 192x256 (position table resized), with
    float32 input (the runner casts the uint8 crops)."""
    from hyper_sapiens.models import build_model

    torch.manual_seed(0)
    model = build_model({"arch": "tiny", "input_size": [192, 256], "heads": {"pose": {}, "depth": {}, "normal": {}}})
    model.eval()
    pipe = inference_pipeline((160, 224), model.output_strides)
    path, meta = export_model(model, tmp_path / "all.pt2", "pt2", codec_from_pipeline(pipe), pipe.padding,
                              heads="pose,depth,normal", input_size=(160, 224), dynamic_batch=True,
                              input_dtype="float32")
    assert meta["input"]["dtype"] == "float32"
    assert list(meta["outputs"]) == ["heatmaps", "depth", "normal"]
    assert meta["outputs"]["depth"]["shape"] == ["batch", 1, 56, 40] and meta["codec"]["heatmap_size"] == [40, 56]
    images = _crops(2)[..., :224, :160]
    got = ExportedProgramModel(path, trust_code=True)(images)
    with torch.no_grad():
        ref = model((images.float() - DeployModel(model, ["pose"]).mean) / DeployModel(model, ["pose"]).std)
    for name in ("heatmaps", "depth", "normal"):
        assert got[name].shape == ref[name].shape
        assert (got[name] - ref[name]).abs().max().item() < 1e-5, name
