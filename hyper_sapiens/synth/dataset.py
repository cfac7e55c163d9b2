"""Write the synthetic infant data set: SyRIP-style COCO splits, MINI-RGBD-style sequences,
skeleton sequences for the prior, detection boxes, metadata and a preview contact sheet.

Layout (``DIR`` = the output folder; formats in ``docs/synth.md``)::

    DIR/syrip/images/{train_syn,train_real,test_real}/...      PNG (syn) / JPEG (real)
    DIR/syrip/annotations/{train_syn,train_real,test_real}.json COCO keypoints
    DIR/syrip/{depth,normals,masks}/train_syn/syn_%05d.png      uint16 mm / uint16 normals / uint8 parts
    DIR/minirgbd/intrinsics.json
    DIR/minirgbd/<seq>/{rgb/syn_%05d.png, depth/syn_%05d_depth.png, fg_mask/mask_%05d.png,
                       joints_2Ddep/syn_joints_2Ddep_%05d.txt, joints_3D/syn_joints_3D_%05d.txt}
    DIR/skeletons/seq_%05d_{coco17,minirgbd25}_{2d,3d}.npz
    DIR/detections/{train_real,test_real}.json
    DIR/videos/minirgbd_<seq>.mp4                               the rgb frames as a video (``videos=True``)
    DIR/meta.json, DIR/README.txt, DIR/preview.png

MINI-RGBD format sources (Hesse et al. 2018; the data set itself needs a licence, so the format
was read from public loaders found with a code search of GitHub, not from the data): folders
``rgb``, ``depth``, ``fg_mask``, ``joints_2Ddep``, ``joints_3D`` (plus ``smil_params``, not written
here); file names ``rgb/syn_%05d.png``, ``depth/syn_%05d_depth.png`` (note the ``_depth`` suffix of the real
files), ``fg_mask/mask_%05d.png``,
``joints_2Ddep/syn_joints_2Ddep_%05d.txt``, ``joints_3D/syn_joints_3D_%05d.txt``; sequences
``01``..``12``. Joint files hold 25 rows ``x y z id`` with ``id`` equal to the row index (one
loader asserts exactly this); loaders take ``[:, :2]`` of joints_2Ddep as pixel coordinates and
multiply joints_3D by 1000 to get millimetres, i.e. joints_3D is in metres (camera frame; a
loader back-projects the depth PNG / 1000 with the published intrinsics into the same frame).
The unit of the third joints_2Ddep column is not stated by any source found: this writer uses
millimetres, like the depth PNGs. The fg_mask values are written as 0 / 255. Intrinsics: the
values quoted from the data set's ``depth_to_3D.py`` in those loaders (see camera.py).

Determinism: every item (image, video frame, skeleton sequence) draws its random numbers from
``SeedSequence([seed, stream, index])``; which worker renders it never matters, so the files are
byte-identical for any number of workers.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .. import __version__
from ..keypoints import COCO17, COCO17_SKELETON_1BASED, MINIRGBD25
from .appearance import _SYN_SKIN, _skin_real, sample_look
from .body import PART_NAMES, InfantShape, sample_shape
from .camera import Camera, look_from_above, sample_camera, sample_view, scaled_minirgbd_intrinsics
from .files import depth_to_png16, normals_to_png16, save_npz, write_bytes, write_joint_rows, write_json, write_png
from .motion import pose_body, sample_motion
from .pool import default_workers, map_items
from .postures import LYING, posture_kind, sample_from_mix, syrip_posture
from .presets import Preset, get_preset
from .sample import body_bounds, face_direction, render_body, render_sample, sample_heading, sequence_keypoints

SPLITS: dict[str, tuple[str, str]] = {
    # split: (domain, file name pattern); indices start at 1
    "train_syn": ("syn", "syn_{:05d}.png"),
    "train_real": ("real", "real_{:05d}.jpg"),
    "test_real": ("real", "test_{:05d}.jpg"),
}
_STREAM = {"train_syn": 1, "train_real": 2, "test_real": 3, "minirgbd": 4, "skeleton": 5, "subject": 6,
           "labels": 7, "detections": 8}
_SUBJECT_BASE = {"train_syn": 0, "train_real": 100_000, "test_real": 200_000, "minirgbd": 300_000,
                 "skeleton": 400_000}
_OUTPUTS = ("syrip", "minirgbd", "skeletons", "detections", "videos", "meta.json", "README.txt", "preview.png")
VIDEO_CODEC = "mp4v"
"""FourCC of the sequence videos (MPEG-4 Part 2, which OpenCV's pip wheels encode and decode)."""
FALSE_POSITIVE_RATE = 0.05
"""Probability that a real image's detection list also holds one low-score (0.05-0.3) false box."""


def item_rng(seed: int, *keys: int) -> np.random.Generator:
    """The generator of one work item: ``SeedSequence([seed, *keys])``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), *(int(k) for k in keys)])))


def subject_identity(seed: int, subject: int, domain: str,
                     population: str = "infant") -> tuple[InfantShape, np.ndarray]:
    """Body shape and skin tone of subject ``subject`` (the same in every image it appears in)."""
    rng = item_rng(seed, _STREAM["subject"], subject)
    shape = sample_shape(rng, population)
    real_skin = _skin_real(rng)
    syn_skin = _SYN_SKIN[int(rng.integers(len(_SYN_SKIN)))]
    return shape, (real_skin if domain == "real" else syn_skin)


# --- worker side -------------------------------------------------------------------------------
_CFG: dict[str, Any] = {}


def _init_worker(cfg: dict[str, Any]) -> None:
    _CFG.clear()
    _CFG.update(cfg)
    cv2.setNumThreads(1)


def acceptable(s: dict[str, Any], width: int, height: int) -> bool:
    """A usable training image: the body covers 3 % of it, 10 keypoints inside, 5 of them visible."""
    v = s["keypoints_coco"][:, 2]
    return s["area"] >= 0.03 * width * height and int((v > 0).sum()) >= 10 and int((v == 2).sum()) >= 5


def _render_syrip(split: str, index: int) -> tuple[dict, dict]:
    cfg = _CFG
    preset: Preset = cfg["preset"]
    seed, out = cfg["seed"], Path(cfg["out"])
    domain, pattern = SPLITS[split]
    width, height = preset.image_size
    rng = item_rng(seed, _STREAM[split], index)
    pool = {"train_syn": preset.syn_subjects, "train_real": preset.real_subjects, "test_real": preset.test_subjects}
    subject = _SUBJECT_BASE[split] + int(rng.integers(pool[split]))
    shape, skin = subject_identity(seed, subject, domain)
    posture, view = draw_posture_and_view(rng, preset)
    for _ in range(50):
        s = render_sample(rng, domain, (width, height), shape=shape, skin_tone=skin, posture=posture, view=view,
                          scenery=preset.scenery)
        if acceptable(s, width, height):
            break
    name = pattern.format(index)
    write_bytes(out / "syrip" / "images" / split / name, s["encoded"])
    image = {"id": index, "file_name": name, "width": width, "height": height,
             "camera": {k: round(v, 6) for k, v in s["camera"].items()},
             "domain": domain, "subject": subject, "posture": s["posture"], "posture_detail": s["posture_detail"],
             "view": s["view"], "scene": s["scene"]}
    if split == "train_syn":
        stem = Path(name).stem + ".png"
        valid = s["depth"] > 0
        for key, folder, arr in (("depth_file", "depth", depth_to_png16(s["depth"])),
                                 ("normal_file", "normals", normals_to_png16(s["normal"], valid)),
                                 ("mask_file", "masks", s["parts"])):
            rel = f"{folder}/{split}/{stem}"
            write_png(out / "syrip" / rel, arr)
            image[key] = rel
    return image, coco_annotation(index, s)


def draw_posture_and_view(rng: np.random.Generator, preset: Preset) -> tuple[str, str]:
    """A fine posture from ``preset.posture_mix`` and a camera view for it: from ``camera.VIEW_MIX`` (its
    :func:`postures.posture_kind`: ``lying``, ``upright`` or ``held``) when ``preset.views == "mixed"``, else
    ``"above"``."""
    posture = sample_from_mix(rng, preset.posture_mix)
    if preset.views == "above":
        return posture, "above"
    return posture, sample_view(rng, posture_kind(posture))


def coco_annotation(index: int, s: dict[str, Any]) -> dict:
    """The COCO keypoint annotation of rendered sample ``s`` (image and annotation id ``index``); keypoints
    outside the image are written ``0, 0, 0``, as COCO does."""
    kp = s["keypoints_coco"]
    keypoints: list[float | int] = []
    for x, y, v in kp:
        keypoints += [round(float(x), 2), round(float(y), 2), int(v)] if v > 0 else [0, 0, 0]
    return {"id": index, "image_id": index, "category_id": 1, "bbox": s["bbox_xywh"], "area": float(s["area"]),
            "iscrowd": 0, "num_keypoints": int((kp[:, 2] > 0).sum()), "keypoints": keypoints}


@functools.lru_cache(maxsize=2)
def minirgbd_sequence(seed: int, seq: int, frames: int, size: tuple[int, int], fps: float):
    """Subject, posed body (all frames), fixed camera and look of MINI-RGBD-style sequence ``seq``."""
    rng = item_rng(seed, _STREAM["minirgbd"], seq)
    subject = _SUBJECT_BASE["minirgbd"] + seq
    shape, skin = subject_identity(seed, subject, "syn")
    angles = sample_motion(rng, frames, fps, "supine")
    heading = float(rng.normal(0.0, np.radians(20.0)))
    body = pose_body(shape, angles, "supine", heading, rng.normal(0.0, np.radians(3.0), 3))
    centre, radius = body_bounds(body)
    w, h = size
    intr = scaled_minirgbd_intrinsics(w, h)
    distance = radius * intr["fy"] / (rng.uniform(0.7, 0.9) * 0.5 * h)
    rot, t = look_from_above(centre, distance, abs(rng.normal(0.0, np.radians(5.0))), rng.uniform(0, 2 * np.pi),
                             rng.normal(0.0, np.radians(3.0)))
    camera = Camera(width=w, height=h, R=rot, t=t, **intr)
    look = sample_look(rng, "syn", skin)
    return subject, shape, body, camera, look


def _render_minirgbd(seq: int, frame: int) -> None:
    cfg = _CFG
    preset: Preset = cfg["preset"]
    seed, out = cfg["seed"], Path(cfg["out"])
    _, shape, body, camera, look = minirgbd_sequence(seed, seq, preset.minirgbd_frames, preset.minirgbd_size,
                                                     preset.fps)
    rng = item_rng(seed, _STREAM["minirgbd"], seq, frame + 1)
    s = render_body(body, shape, camera, look, rng, frame=frame)
    root = out / "minirgbd" / f"{seq:02d}"
    write_bytes(root / "rgb" / f"syn_{frame:05d}.png", s["encoded"])
    write_png(root / "depth" / f"syn_{frame:05d}_depth.png", depth_to_png16(s["depth"]))
    write_png(root / "fg_mask" / f"mask_{frame:05d}.png", np.where(s["parts"] > 0, 255, 0).astype(np.uint8))
    kp, j3 = s["keypoints_25"], s["joints3d_25"].astype(np.float64)
    # joints_2Ddep rows: x y (pixels) and the joint's depth in millimetres; joints_3D rows: x y z metres
    write_joint_rows(root / "joints_2Ddep" / f"syn_joints_2Ddep_{frame:05d}.txt",
                     np.stack([kp[:, 0], kp[:, 1], j3[:, 2] * 1000.0], axis=1), decimals=4)
    write_joint_rows(root / "joints_3D" / f"syn_joints_3D_{frame:05d}.txt", j3, decimals=6)


def _render_skeleton(seq: int) -> int:
    cfg = _CFG
    preset: Preset = cfg["preset"]
    seed, out = cfg["seed"], Path(cfg["out"])
    rng = item_rng(seed, _STREAM["skeleton"], seq)
    subject = _SUBJECT_BASE["skeleton"] + int(rng.integers(max(2, preset.skeleton_sequences // 4)))
    shape, _ = subject_identity(seed, subject, "syn")
    posture, view = draw_posture_and_view(rng, preset)
    t = preset.skeleton_frames
    angles = sample_motion(rng, t, preset.fps, posture)
    drift = np.cumsum(rng.normal(0.0, 0.0004, (t, 2)), axis=0)  # slow wriggling across the mattress
    body = pose_body(shape, angles, posture, sample_heading(rng), rng.normal(0.0, np.radians(4.0), 3), drift)
    centre, radius = body_bounds(body)
    w, h = preset.image_size
    camera = sample_camera(rng, w, h, centre, radius, "syn", view, None if posture in LYING else face_direction(body))
    kp = sequence_keypoints(body, camera, shape)
    common = {"fps": np.float64(preset.fps), "subject": np.int64(subject), "posture": np.str_(syrip_posture(posture)),
              "posture_detail": np.str_(posture), "view": np.str_(view)}
    base = out / "skeletons" / f"seq_{seq:05d}"
    for layout, key in (("coco17", "coco"), ("minirgbd25", "smil")):
        k = kp[f"{key}_3d"].shape[1]
        save_npz(Path(f"{base}_{layout}_3d.npz"), keypoints=kp[f"{key}_3d"].astype(np.float32),
                 visible=np.ones((t, k), np.float32), layout=np.str_(layout), **common)
        save_npz(Path(f"{base}_{layout}_2d.npz"), keypoints=kp[f"{key}_uv"].astype(np.float32),
                 visible=kp[f"{key}_vis"].astype(np.float32), layout=np.str_(layout),
                 image_size=np.asarray([w, h], np.int64), **common)
    return t


def _run_item(item: tuple) -> tuple:
    kind = item[0]
    if kind == "syrip":
        return (kind, item[1], item[2], *_render_syrip(item[1], item[2]))
    if kind == "minirgbd":
        _render_minirgbd(item[1], item[2])
        return item
    if kind == "skeleton":
        return (kind, item[1], _render_skeleton(item[1]))
    raise ValueError(f"unknown work item {item!r}")


# --- parent side -------------------------------------------------------------------------------
def _prepare_out(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    present = [name for name in _OUTPUTS if (out / name).exists()]
    if present and not (out / "meta.json").exists():
        raise FileExistsError(
            f"{out}: holds {present} but no meta.json; refusing to overwrite files synth did not write"
        )
    for name in present:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _detections(seed: int, split: str, annotations: list[dict], width: int, height: int) -> list[dict]:
    dets = []
    for ann in annotations:
        rng = item_rng(seed, _STREAM["detections"], _STREAM[split], ann["image_id"])
        x, y, w, h = ann["bbox"]
        size = float(np.sqrt(max(w * h, 1.0)))
        x0, y0, x1, y1 = np.array([x, y, x + w, y + h]) + rng.normal(0.0, 0.03 * size, 4)
        x0, x1 = np.clip(sorted((x0, x1)), -0.5, width - 0.5)
        y0, y1 = np.clip(sorted((y0, y1)), -0.5, height - 0.5)
        dets.append({"image_id": ann["image_id"], "category_id": 1,
                     "bbox": [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2),
                              round(float(y1 - y0), 2)],
                     "score": round(float(rng.uniform(0.85, 0.999)), 4)})
        if rng.random() < FALSE_POSITIVE_RATE:
            fw, fh = rng.uniform(0.1, 0.3) * width, rng.uniform(0.1, 0.3) * height
            fx, fy = rng.uniform(0, width - fw), rng.uniform(0, height - fh)
            dets.append({"image_id": ann["image_id"], "category_id": 1,
                         "bbox": [round(float(fx), 2), round(float(fy), 2), round(float(fw), 2), round(float(fh), 2)],
                         "score": round(float(rng.uniform(0.05, 0.3)), 4)})
    return dets


def coco_category() -> dict:
    """The COCO ``person`` category with the 17 keypoint names and the 1-based skeleton."""
    return {"supercategory": "person", "id": 1, "name": "person", "keypoints": list(COCO17.names),
            "skeleton": [list(p) for p in COCO17_SKELETON_1BASED]}


def _work_items(preset: Preset) -> list[tuple]:
    items: list[tuple] = []
    # expensive items first so that the pool finishes evenly
    for seq in range(1, preset.minirgbd_sequences + 1):
        items += [("minirgbd", seq, f) for f in range(preset.minirgbd_frames)]
    items += [("skeleton", s) for s in range(1, preset.skeleton_sequences + 1)]
    for split, n in (("train_syn", preset.train_syn), ("train_real", preset.train_real),
                     ("test_real", preset.test_real)):
        items += [("syrip", split, i) for i in range(1, n + 1)]
    return items


def generate_dataset(out: str | os.PathLike, preset: str = "tiny", seed: int = 0, workers: int | None = None,
                     image_size: tuple[int, int] | None = None, progress: bool = True, *,
                     labelled_fraction: float | None = None, syrip_layout: str = "project",
                     videos: bool = False) -> dict:
    """Render the synthetic infant data set into ``out`` and return its metadata (also ``out/meta.json``).

    Args:
        out: output folder (created; earlier synth output in it is replaced).
        preset: "tiny", "demo" or "bench" (see :data:`hyper_sapiens.synth.PRESETS`).
        seed: non-negative int; the same seed and preset give byte-identical files.
        workers: processes to render with (default: all usable cores; 1 renders in this process).
            Several workers use a ``spawn`` process pool: scripts must call this under
            ``if __name__ == "__main__":``, as usual with multiprocessing.
        image_size: (width, height) of the SyRIP-style images and skeleton projections (default: the preset's).
        progress: show a tqdm progress bar.
        labelled_fraction: share of ``train_real`` images that keep their keypoints (default: the
            preset's, 0.25 for demo); the others get ``num_keypoints: 0`` and all-zero keypoints.
        syrip_layout: ``project`` (the three splits above), or ``release`` / ``fidip``: the SyRIP download's
            own layout, one mixed training file with ``is_synthetic`` (:mod:`hyper_sapiens.synth.syrip_release`).
        videos: also encode each MINI-RGBD-style sequence's ``rgb/`` frames as ``videos/minirgbd_<seq>.mp4``
            (:func:`write_sequence_videos`), the input ``hyper-sapiens video`` reads on a fresh machine.

    Raises:
        OSError: ``videos`` is set and OpenCV cannot open an ``mp4v`` video writer.
    """
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if syrip_layout not in ("project", "release", "fidip"):
        raise ValueError(f"syrip_layout must be project, release or fidip, got {syrip_layout!r}")
    cfg_preset = get_preset(preset, image_size)
    if labelled_fraction is not None:
        if not 0.0 <= float(labelled_fraction) <= 1.0:
            raise ValueError(f"labelled_fraction must be in [0, 1], got {labelled_fraction}")
        cfg_preset = replace(cfg_preset, labelled_fraction=float(labelled_fraction))
    out = Path(out)
    _prepare_out(out)
    cfg = {"preset": cfg_preset, "seed": int(seed), "out": str(out)}
    items = _work_items(cfg_preset)
    workers = min(default_workers() if workers is None else max(1, int(workers)), len(items))
    if workers == 1:
        previous = dict(_CFG)
        try:
            results = map_items(items, _run_item, _init_worker_inline, cfg, 1, progress, f"synth {cfg_preset.name}")
        finally:
            _CFG.clear()
            _CFG.update(previous)
    else:
        results = map_items(items, _run_item, _init_worker, cfg, workers, progress, f"synth {cfg_preset.name}")
    meta = _write_indexes(out, cfg_preset, int(seed), results, videos)
    if videos:
        write_sequence_videos(out, meta)
    from .preview import write_preview

    write_preview(out, meta)
    if syrip_layout != "project":
        from .syrip_release import write_syrip_layout

        meta["syrip"] = write_syrip_layout(out, syrip_layout)
        write_json(out / "meta.json", meta, indent=2)
    return meta


def generate_skeletons(out: str | os.PathLike, preset: str = "tiny", seed: int = 0, *,
                       sequences: int | None = None, frames: int | None = None,
                       image_size: tuple[int, int] | None = None) -> dict:
    """Render only the skeleton sequences of a data set into ``out/skeletons/`` (the prior's training input).

    The files are byte-identical to the ``skeletons/`` folder :func:`generate_dataset` writes for the same
    ``seed`` and a preset with ``skeleton_sequences=sequences`` and ``skeleton_frames=frames`` (the subject pool
    depends on the number of sequences, so ``sequences`` is part of what makes a sequence). Nothing else is
    rendered: no images, no ``meta.json``; files of earlier runs in ``out/skeletons/`` with the same names are
    replaced. Runs in this process.

    Args:
        out: output folder (created); the files go to ``out/skeletons/seq_%05d_{coco17,minirgbd25}_{2d,3d}.npz``.
        preset: the preset whose frame rate, image size and skeleton counts are the defaults.
        seed: non-negative int.
        sequences: number of sequences (default: the preset's ``skeleton_sequences``); >= 1.
        frames: frames per sequence (default: the preset's ``skeleton_frames``); >= 2.
        image_size: (width, height) in pixels of the 2-D projections (default: the preset's).

    Returns:
        ``{"sequences": int, "frames": int (total), "folder": str}``.
    """
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    cfg_preset = get_preset(preset, image_size)
    n = cfg_preset.skeleton_sequences if sequences is None else int(sequences)
    t = cfg_preset.skeleton_frames if frames is None else int(frames)
    if n < 1 or t < 2:
        raise ValueError(f"need at least 1 sequence of 2 frames, got {n} of {t}")
    cfg_preset = replace(cfg_preset, skeleton_sequences=n, skeleton_frames=t)
    out = Path(out)
    (out / "skeletons").mkdir(parents=True, exist_ok=True)
    previous = dict(_CFG)
    try:
        _init_worker_inline({"preset": cfg_preset, "seed": int(seed), "out": str(out)})
        total = sum(_render_skeleton(seq) for seq in range(1, n + 1))
    finally:
        _CFG.clear()
        _CFG.update(previous)
    return {"sequences": n, "frames": int(total), "folder": str(out / "skeletons")}


def _init_worker_inline(cfg: dict[str, Any]) -> None:
    _CFG.clear()
    _CFG.update(cfg)


def write_sequence_videos(out: str | os.PathLike, meta: dict) -> list[Path]:
    """Encode the ``rgb/`` frames of every MINI-RGBD-style sequence of a data set as a video.

    Writes ``out/videos/minirgbd_<seq>.mp4`` (``meta["videos"]["files"]``): OpenCV's ``mp4v`` (MPEG-4 Part 2,
    lossy; the PNGs stay the exact frames), the sequence's frame rate and frame size, frames in order.

    Args:
        out: a data set folder written by :func:`generate_dataset`.
        meta: its metadata, with ``videos`` set (``generate_dataset(..., videos=True)``).

    Returns:
        The video paths, in sequence order.

    Raises:
        OSError: OpenCV cannot open the writer (a build without the ``mp4v`` encoder) or cannot read a frame.
    """
    out = Path(out)
    info = meta["videos"]
    fps, size = float(info["fps"]), tuple(int(v) for v in info["frame_size"])
    written = []
    for seq, rel in info["files"].items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        frames = sorted((out / "minirgbd" / seq / "rgb").glob("syn_*.png"))
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*VIDEO_CODEC), fps, size)
        if not writer.isOpened():
            raise OSError(f"cannot write video {path}: OpenCV ({cv2.__version__}) could not open a "
                          f"{VIDEO_CODEC} writer at {size[0]}x{size[1]}, {fps:g} frames/s; render without videos, "
                          "or install an OpenCV build with FFmpeg (opencv-python)")
        try:
            for frame_path in frames:
                frame = cv2.imread(str(frame_path), cv2.IMREAD_COLOR)
                if frame is None or (frame.shape[1], frame.shape[0]) != size:
                    raise OSError(f"{frame_path}: unreadable, or not {size[0]}x{size[1]}")
                writer.write(frame)
        finally:
            writer.release()
        written.append(path)
    return written


def _write_indexes(out: Path, preset: Preset, seed: int, results: list[tuple], videos: bool = False) -> dict:
    width, height = preset.image_size
    per_split: dict[str, dict[int, tuple[dict, dict]]] = {s: {} for s in SPLITS}
    skeleton_frames = 0
    for res in results:
        if res[0] == "syrip":
            per_split[res[1]][res[2]] = (res[3], res[4])
        elif res[0] == "skeleton":
            skeleton_frames += int(res[2])
    n_real = preset.train_real
    n_lab = int(round(preset.labelled_fraction * n_real))
    labelled = set((item_rng(seed, _STREAM["labels"]).permutation(n_real)[:n_lab] + 1).tolist())
    counts: dict[str, Any] = {}
    for split, entries in per_split.items():
        images, anns = [], []
        for idx in sorted(entries):
            image, ann = entries[idx]
            if split == "train_real" and idx not in labelled:
                ann = dict(ann, num_keypoints=0, keypoints=[0] * 51)
            image = dict(image, labelled=bool(ann["num_keypoints"] > 0 or split != "train_real"))
            images.append(image)
            anns.append(ann)
        coco = {
            "info": {"description": f"hyper-sapiens synthetic infants, split {split}", "version": __version__,
                     "preset": preset.name, "seed": seed},
            "licenses": [],
            "categories": [coco_category()],
            "images": images,
            "annotations": anns,
        }
        write_json(out / "syrip" / "annotations" / f"{split}.json", coco)
        counts[split] = len(images)
        if split != "train_syn":
            write_json(out / "detections" / f"{split}.json", _detections(seed, split, anns, width, height), indent=None)
    counts["train_real_labelled"] = n_lab
    counts["minirgbd_sequences"] = preset.minirgbd_sequences
    counts["minirgbd_frames"] = preset.minirgbd_sequences * preset.minirgbd_frames
    counts["skeleton_sequences"] = preset.skeleton_sequences
    counts["skeleton_frames"] = skeleton_frames
    mw, mh = preset.minirgbd_size
    intr = scaled_minirgbd_intrinsics(mw, mh)
    write_json(out / "minirgbd" / "intrinsics.json", {**intr, "width": mw, "height": mh}, indent=2)
    counts["videos"] = preset.minirgbd_sequences if videos else 0
    meta = _meta(preset, seed, counts, intr, videos)
    write_json(out / "meta.json", meta, indent=2)
    write_bytes(out / "README.txt", _readme(meta).encode("utf-8"))
    return meta


def _meta(preset: Preset, seed: int, counts: dict, intr: dict, videos: bool = False) -> dict:
    mw, mh = preset.minirgbd_size
    seqs = [f"{s:02d}" for s in range(1, preset.minirgbd_sequences + 1)]
    return {
        "generator": "hyper_sapiens.synth",
        "version": __version__,
        "preset": preset.name,
        "seed": seed,
        "image_size": list(preset.image_size),
        "counts": counts,
        "preset_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in preset.as_dict().items()},
        "syrip": {
            "splits": {s: {"domain": d, "images": f"syrip/images/{s}/{p.replace('{:05d}', '%05d')}",
                           "annotations": f"syrip/annotations/{s}.json"} for s, (d, p) in SPLITS.items()},
            "labelled_fraction_train_real": preset.labelled_fraction,
            "train_syn_extras": {"depth_file": "depth/train_syn/syn_%05d.png (uint16 millimetres, 0 = invalid)",
                                 "normal_file": "normals/train_syn/syn_%05d.png (uint16, (n + 1) / 2 * 65535, "
                                                "channels x, y, z as cv2 reads them, 0 = invalid)",
                                 "mask_file": "masks/train_syn/syn_%05d.png (uint8 part ids, see parts)"},
            "image_keys": ["camera {fx, fy, cx, cy} (pixels)", "domain", "subject",
                           "posture (SyRIP's name: Supine, Prone, Sitting, Standing)",
                           "posture_detail (the fine posture, see docs/synth.md)",
                           "view (above, oblique, eye_level, floor)",
                           "scene (setting bed or floor, then the scenery elements: rug, sofa, cot, blanket, hand, "
                           "holding (the hands of the adult holding a held_upright infant); joined by +, e.g. "
                           "floor+rug+sofa)", "labelled"],
        },
        "minirgbd": {
            "sequences": seqs,
            "frames_per_sequence": preset.minirgbd_frames,
            "image_size": [mw, mh],
            "intrinsics": intr,
            "intrinsics_file": "minirgbd/intrinsics.json",
            "fps": preset.fps,
            "files": {"rgb": "rgb/syn_%05d.png", "depth": "depth/syn_%05d_depth.png (uint16 millimetres)",
                      "fg_mask": "fg_mask/mask_%05d.png (uint8, 255 = infant)",
                      "joints_2Ddep": "joints_2Ddep/syn_joints_2Ddep_%05d.txt (25 rows: x y depth_mm id)",
                      "joints_3D": "joints_3D/syn_joints_3D_%05d.txt (25 rows: x y z id, metres, camera frame)"},
            "joint_order": list(MINIRGBD25.names),
        },
        "skeletons": {
            "files": "skeletons/seq_%05d_<coco17|minirgbd25>_<2d|3d>.npz",
            "keys": {"keypoints": "(T, K, 2|3) float32: pixels (2d) or metres, camera frame (3d)",
                     "visible": "(T, K) float32: COCO visibility 0/1/2 (2d), ones (3d)",
                     "layout": "str", "fps": "float", "subject": "int", "image_size": "(w, h), 2d only",
                     "posture": "str, SyRIP's name", "posture_detail": "str, the fine posture",
                     "view": "str, the camera view"},
            "note": "2d keypoints keep their projected coordinates even where visible == 0",
        },
        "videos": None if not videos else {
            "files": {seq: f"videos/minirgbd_{seq}.mp4" for seq in seqs},
            "source": "minirgbd/<seq>/rgb/syn_%05d.png, every frame in order",
            "codec": VIDEO_CODEC,
            "fps": preset.fps,
            "frame_size": [mw, mh],
            "frames_per_video": preset.minirgbd_frames,
            "note": "lossy (MPEG-4 Part 2): the PNG frames are the exact images; joints_2Ddep is the truth",
        },
        "detections": {"format": "COCO detection results [{image_id, category_id, bbox xywh, score}]",
                       "box_noise": "each box edge moved by N(0, 0.03 * sqrt(w * h)) pixels; score U(0.85, 0.999)",
                       "false_positive_rate": FALSE_POSITIVE_RATE,
                       "false_positive_score": [0.05, 0.3]},
        "parts": {str(i): n for i, n in enumerate(PART_NAMES)},
        "keypoints": {"coco17": list(COCO17.names), "minirgbd25": list(MINIRGBD25.names)},
        "conventions": {
            "pixels": "pixel centres at integer coordinates",
            "camera_frame": "x right, y down, z forward (away from the camera); metres",
            "depth": "z-depth in metres in memory, uint16 millimetres on disk, 0 = invalid; the mattress is included",
            "normals": "unit, camera frame, facing the camera = (0, 0, -1)",
            "visibility": "2 visible, 1 occluded (depth test / other part in front), 0 outside the image",
            "left_right": "left/right are the infant's own; a supine infant seen from above with the head at "
                          "the top of the image has its left hand on the image's right",
            "bbox": "tight box of the silhouette, [x, y, w, h] as pycocotools toBbox (w = x_max - x_min + 1)",
        },
    }


def _readme(meta: dict) -> str:
    c = meta["counts"]
    w, h = meta["image_size"]
    intr = meta["minirgbd"]["intrinsics"]
    lines = [
        "Hyper-Sapiens synthetic infant data set",
        "=======================================",
        f"generator hyper_sapiens.synth {meta['version']}, preset {meta['preset']}, seed {meta['seed']}",
        "",
        f"syrip/       SyRIP-style COCO keypoint splits at {w}x{h}: train_syn {c['train_syn']} "
        f"(PNG, with depth, normal and part maps), train_real {c['train_real']} "
        f"(JPEG, {c['train_real_labelled']} labelled, the rest num_keypoints 0), "
        f"test_real {c['test_real']} (JPEG, all labelled)",
        f"minirgbd/    {c['minirgbd_sequences']} MINI-RGBD-style sequences x {meta['minirgbd']['frames_per_sequence']} "
        f"frames at {meta['minirgbd']['image_size'][0]}x{meta['minirgbd']['image_size'][1]}; intrinsics "
        f"fx={intr['fx']:.4f} fy={intr['fy']:.4f} cx={intr['cx']:.4f} cy={intr['cy']:.4f} (minirgbd/intrinsics.json)",
        f"skeletons/   {c['skeleton_sequences']} skeleton sequences, {c['skeleton_frames']} frames, "
        "COCO17 and MINI-RGBD 25 joints, 2D (pixels) and 3D (metres, camera frame)",
        "detections/  detection boxes for the real splits (COCO results format)",
        *([f"videos/      the {c['videos']} MINI-RGBD-style sequences' rgb frames as videos minirgbd_<seq>.mp4 "
           f"(mp4v, {meta['videos']['fps']:g} frames/s)"] if meta.get("videos") else []),
        "preview.png  contact sheet of samples from both domains with keypoints",
        "meta.json    everything above in machine-readable form, with the conventions and part ids",
        "",
        "Postures: every SyRIP-style image entry and skeleton file carries posture (SyRIP's names: Supine, Prone,",
        "Sitting, Standing), posture_detail (supine, prone_forearms, crawling, sitting_tripod, standing_free, ...)",
        "and view (above, oblique, eye_level, floor); the mix is preset_config.posture_mix in meta.json.",
        "Scenes: each image entry's scene names the setting (bed or floor) and the scenery around the infant",
        "(rug, sofa, cot, blanket over the legs, an adult's hand, the hands holding a held_upright infant), e.g.",
        "floor+rug+sofa; scenery is part id 0 in the masks and hides the keypoints behind it (v = 1); the rates",
        "are preset_config.scenery in meta.json.",
        "",
        "Conventions: pixel centres at integers; camera frame x right, y down, z forward; depth uint16 mm on disk;",
        "normals uint16 (n + 1) / 2 * 65535, channels x, y, z; left/right are the infant's own.",
        "Details: docs/synth.md in the hyper-sapiens repository.",
        "",
    ]
    return "\n".join(lines)
