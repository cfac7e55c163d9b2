"""Contact sheet of a rendered data set, drawn from the files on disk (so it also checks them)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..keypoints import COCO17, MINIRGBD25
from .files import read_joint_rows, write_png

TILE = 256
_LEFT = (255, 140, 0)    # BGR: infant's left in blue
_RIGHT = (0, 90, 255)    # infant's right in orange-red
_MID = (60, 220, 60)


def _side_colour(name: str) -> tuple[int, int, int]:
    n = name.lower()
    if n.startswith("left"):
        return _LEFT
    if n.startswith("right"):
        return _RIGHT
    return _MID


def draw_keypoints(image: np.ndarray, kpts: np.ndarray, bones=None, names=COCO17.names, radius: int = 3) -> np.ndarray:
    """Draw ``kpts (K, 3)`` (x, y, v) on a copy of ``image``: filled dots visible, rings occluded."""
    img = image.copy()
    bones = COCO17.bones if bones is None else bones
    for a, b in bones:
        if kpts[a, 2] > 0 and kpts[b, 2] > 0:
            colour = _side_colour(names[b]) if _side_colour(names[a]) == _side_colour(names[b]) else _MID
            cv2.line(img, (int(round(kpts[a, 0])), int(round(kpts[a, 1]))),
                     (int(round(kpts[b, 0])), int(round(kpts[b, 1]))), colour, 1, cv2.LINE_AA)
    for k, (x, y, v) in enumerate(kpts):
        if v <= 0:
            continue
        centre = (int(round(x)), int(round(y)))
        colour = _side_colour(names[k])
        cv2.circle(img, centre, radius, colour, -1 if v == 2 else 1, cv2.LINE_AA)
    return img


def _fit(img: np.ndarray, label: str) -> np.ndarray:
    """Letterbox ``img`` into a TILE x TILE tile with a caption."""
    h, w = img.shape[:2]
    s = TILE / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    tile = np.full((TILE, TILE, 3), 40, np.uint8)
    y0, x0 = (TILE - small.shape[0]) // 2, (TILE - small.shape[1]) // 2
    tile[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    cv2.rectangle(tile, (0, 0), (TILE, 16), (0, 0, 0), -1)
    cv2.putText(tile, label, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _load_split(root: Path, split: str) -> tuple[list[dict], dict[int, dict]]:
    with open(root / "syrip" / "annotations" / f"{split}.json", encoding="utf-8") as f:
        coco = json.load(f)
    return coco["images"], {a["image_id"]: a for a in coco["annotations"]}


def _scale_keypoints(kp: np.ndarray, image: np.ndarray) -> np.ndarray:
    s = TILE / max(image.shape[:2])
    out = kp.copy()
    if s > 1:
        out[:, :2] = (kp[:, :2] + 0.5) * s - 0.5
    return out


def _upscaled(img: np.ndarray) -> np.ndarray:
    s = TILE / max(img.shape[:2])
    if s <= 1:
        return img
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_NEAREST)


def _syrip_tiles(root: Path, split: str, count: int, labelled_only: bool,
                 one_per_posture: set[str] | None = None) -> list[np.ndarray]:
    """Up to ``count`` tiles of ``split``'s images with keypoints and box; with ``one_per_posture`` (a set of the
    fine postures already shown, updated in place) only images of a fine posture not shown yet."""
    images, anns = _load_split(root, split)
    tiles = []
    for image in images:
        ann = anns[image["id"]]
        if labelled_only and ann["num_keypoints"] == 0:
            continue
        detail = image.get("posture_detail")
        if one_per_posture is not None:
            if detail is None or detail in one_per_posture:
                continue
            one_per_posture.add(detail)
        label = f"{split} {image['file_name']}"
        if one_per_posture is not None:
            label = f"{image.get('posture')}: {detail}, {image.get('view', '')}"
        tiles.append(_image_tile(root, split, image, ann, label))
        if len(tiles) == count:
            break
    return tiles


def _image_tile(root: Path, split: str, image: dict, ann: dict, label: str) -> np.ndarray:
    """One captioned tile: the image of a COCO ``image`` entry with its keypoints and box drawn."""
    img = cv2.imread(str(root / "syrip" / "images" / split / image["file_name"]), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read {root / 'syrip' / 'images' / split / image['file_name']}")
    kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
    drawn = draw_keypoints(_upscaled(img), _scale_keypoints(kp, img))
    x, y, w, h = (v * TILE / max(img.shape[:2]) if TILE > max(img.shape[:2]) else v for v in ann["bbox"])
    cv2.rectangle(drawn, (int(x), int(y)), (int(x + w), int(y + h)), (200, 200, 200), 1)
    return _fit(drawn, label)


SCENE_ELEMENTS = ("blanket", "cot", "sofa", "rug", "hand")
"""The scenery elements the preview shows one image of (``scene`` of the image entries, docs/synth.md)."""


def _scene_tiles(root: Path) -> list[np.ndarray]:
    """One tile per scenery element the splits hold (test_real first, then train_real, then train_syn; each image
    at most once), captioned with its ``scene``."""
    used: set[tuple[str, int]] = set()
    tiles = []
    for element in SCENE_ELEMENTS:
        for split in ("test_real", "train_real", "train_syn"):
            images, anns = _load_split(root, split)
            found = next((im for im in images if element in str(im.get("scene", "")).split("+")
                          and (split, im["id"]) not in used), None)
            if found is not None:
                used.add((split, found["id"]))
                tiles.append(_image_tile(root, split, found, anns[found["id"]],
                                         f"{element}: {found['scene']}, {found.get('view', '')}"))
                break
    return tiles


def _geometry_tiles(root: Path, count: int) -> list[np.ndarray]:
    images, _ = _load_split(root, "train_syn")
    tiles = []
    for image in images[:count]:
        depth = cv2.imread(str(root / "syrip" / image["depth_file"]), cv2.IMREAD_UNCHANGED).astype(np.float64)
        normal = cv2.imread(str(root / "syrip" / image["normal_file"]), cv2.IMREAD_UNCHANGED).astype(np.float64)
        valid = depth > 0
        lo, hi = np.percentile(depth[valid], [1, 99]) if valid.any() else (0.0, 1.0)
        d8 = np.clip((depth - lo) / max(hi - lo, 1.0) * 255, 0, 255).astype(np.uint8)
        dcol = cv2.applyColorMap(255 - d8, cv2.COLORMAP_VIRIDIS)
        dcol[~valid] = 0
        n = normal / 65535.0 * 2 - 1
        ncol = np.clip((-n[..., ::-1] + 1) / 2 * 255, 0, 255).astype(np.uint8)  # -n as BGR <- (z, y, x)
        tiles.append(_fit(_upscaled(dcol), f"depth {image['file_name']}"))
        tiles.append(_fit(_upscaled(ncol), f"normals {image['file_name']}"))
        if len(tiles) >= count:
            break
    return tiles[:count]


def _minirgbd_tiles(root: Path, meta: dict, count: int) -> list[np.ndarray]:
    tiles = []
    seqs = meta["minirgbd"]["sequences"]
    for seq in seqs[:count]:
        frame = 0
        img = cv2.imread(str(root / "minirgbd" / seq / "rgb" / f"syn_{frame:05d}.png"), cv2.IMREAD_COLOR)
        j = read_joint_rows(root / "minirgbd" / seq / "joints_2Ddep" / f"syn_joints_2Ddep_{frame:05d}.txt")
        kp25 = np.concatenate([j[:, :2], np.full((25, 1), 2.0)], axis=1)
        big = _upscaled(img)
        drawn = draw_keypoints(big, _scale_keypoints(kp25, img), MINIRGBD25.bones, MINIRGBD25.names, radius=2)
        tiles.append(_fit(drawn, f"minirgbd {seq} frame {frame}"))
    return tiles


def _posture_rows(root: Path) -> list[list[np.ndarray]]:
    """Rows of four tiles: one image of every fine posture the SyRIP-style splits hold (train_syn first, then
    test_real, then labelled train_real), captioned ``Posture: detail, view``."""
    shown: set[str] = set()
    tiles = (_syrip_tiles(root, "train_syn", 99, False, shown) + _syrip_tiles(root, "test_real", 99, False, shown)
             + _syrip_tiles(root, "train_real", 99, True, shown))
    return [tiles[i:i + 4] for i in range(0, len(tiles), 4)]


def write_preview(root: str | Path, meta: dict) -> Path:
    """Write ``root/preview.png``: rows of syn images, their depth/normals, real images, MINI-RGBD frames, then
    one image of every fine posture in the data set (:func:`_posture_rows`), then one image of each scenery element
    (:data:`SCENE_ELEMENTS`) the data set holds."""
    root = Path(root)
    rows = [
        _syrip_tiles(root, "train_syn", 4, labelled_only=False),
        _geometry_tiles(root, 4),
        _syrip_tiles(root, "test_real", 4, labelled_only=False),
        _syrip_tiles(root, "train_real", 2, labelled_only=True) + _minirgbd_tiles(root, meta, 2),
        *_posture_rows(root),
    ]
    scenes = _scene_tiles(root)
    rows += [scenes[i:i + 4] for i in range(0, len(scenes), 4)]
    width = 4 * TILE
    sheet_rows = []
    for row in rows:
        if not row:
            continue
        strip = np.concatenate(row, axis=1)
        if strip.shape[1] < width:
            strip = np.concatenate([strip, np.full((TILE, width - strip.shape[1], 3), 40, np.uint8)], axis=1)
        sheet_rows.append(strip)
    sheet = np.concatenate(sheet_rows, axis=0)
    path = root / "preview.png"
    write_png(path, sheet)
    return path
