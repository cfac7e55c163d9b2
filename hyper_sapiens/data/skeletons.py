"""Skeleton sequences (keypoints only, no images): the pose prior's training data.

Files, one sequence each:

* ``.npz`` (as ``hyper-sapiens synth`` writes them): ``keypoints`` ``(T, K, D)`` float, ``layout`` (str),
  optional ``visible`` ``(T, K)`` (COCO visibility 0/1/2 or 0/1; all ones when absent), ``fps``, ``subject``,
  ``image_size`` ``(w, h)``.
* ``.json``: the same keys as an object::

      {"layout": "coco17", "fps": 30,
       "keypoints": [[[x, y], ...K joints], ...T frames],      # [x, y, z] for 3D
       "visible": [[2, 2, 0, ...], ...]}                       # optional

Units: pixels for 2D (pixel centres at integers), any consistent unit (metres) for 3D; the prior's
normaliser removes position and size. Files of any known layout are converted to the dataset's layout with
:class:`hyper_sapiens.keypoints.KeypointConverter` (joints without a counterpart get visibility 0).
A joint with visibility 0 may hold NaN coordinates (read as 0); NaN or inf anywhere else is an error.

Every problem (missing file, no match for a pattern, missing key, unknown layout, wrong joint count for
the declared layout, wrong dimension, bad visibility shape, NaN) raises ``SkeletonFileError`` naming the file.
Windows failing ``min_visible`` are counted in :attr:`SkeletonSequenceDataset.dropped`, never silently lost.
"""

from __future__ import annotations

import glob
import json
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..keypoints import KeypointConverter, get_layout

__all__ = ["SkeletonFileError", "SkeletonSequence", "SkeletonSequenceDataset", "load_skeleton_file",
           "resolve_skeleton_paths"]

SUFFIXES = (".npz", ".json")


class SkeletonFileError(ValueError):
    """A skeleton file is missing or malformed; the message names the file."""


@dataclass
class SkeletonSequence:
    """One sequence after conversion: ``keypoints (T, K, D)`` float32, ``visible (T, K)`` float32."""

    path: Path
    keypoints: np.ndarray
    visible: np.ndarray
    source_layout: str
    fps: float | None
    subject: int | None


def resolve_skeleton_paths(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike],
                           root: str | os.PathLike | None = None) -> list[Path]:
    """Expand files, folders (their ``*.npz`` / ``*.json``) and glob patterns into a sorted, de-duplicated list.

    Relative entries are taken relative to ``root`` when given. Raises ``FileNotFoundError`` naming the entry
    that matches nothing.
    """
    if isinstance(paths_or_glob, (str, os.PathLike)):
        entries: Sequence = [paths_or_glob]
    else:
        entries = list(paths_or_glob)
    if not entries:
        raise FileNotFoundError("no skeleton paths given")
    found: list[Path] = []
    for entry in entries:
        path = Path(os.path.expanduser(str(entry)))
        if root is not None and not path.is_absolute():
            path = Path(root) / path
        text = str(path)
        if glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).suffix in SUFFIXES)
            if not matches:
                raise FileNotFoundError(f"{text}: no skeleton files (.npz, .json) match this pattern")
            found.extend(matches)
        elif path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not matches:
                raise FileNotFoundError(f"{text}: folder holds no skeleton files (.npz, .json)")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{text}: no such skeleton file or folder")
    unique = sorted(dict.fromkeys(p.resolve() for p in found))
    return unique


def _read_raw(path: Path) -> dict:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise SkeletonFileError(f"{path}: cannot read npz file ({exc})") from None
    if path.suffix == ".json":
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SkeletonFileError(f"{path}: cannot read JSON file ({exc})") from None
        if not isinstance(data, dict):
            raise SkeletonFileError(f"{path}: JSON skeleton file must hold an object, got {type(data).__name__}")
        return data
    raise SkeletonFileError(f"{path}: unknown skeleton file type {path.suffix!r}; expected .npz or .json")


def load_skeleton_file(path: str | os.PathLike, layout: str = "coco17", dims: int = 2) -> SkeletonSequence:
    """Read, check and convert one sequence file to ``layout``; see the module docstring for the format."""
    path = Path(path)
    if not path.is_file():
        raise SkeletonFileError(f"{path}: no such skeleton file")
    raw = _read_raw(path)
    for key in ("keypoints", "layout"):
        if key not in raw:
            raise SkeletonFileError(f"{path}: missing key {key!r} (has {sorted(raw)})")
    name = raw["layout"] if isinstance(raw["layout"], str) else np.asarray(raw["layout"]).reshape(-1)[:1].tolist()
    name = name[0] if isinstance(name, list) and name else name
    if not isinstance(name, str):
        raise SkeletonFileError(f"{path}: layout must be a string, got {raw['layout']!r}")
    try:
        src = get_layout(name)
    except KeyError as exc:
        raise SkeletonFileError(f"{path}: {exc.args[0]}") from None
    try:
        kpts = np.asarray(raw["keypoints"], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SkeletonFileError(f"{path}: keypoints are not a numeric (T, K, D) array ({exc})") from None
    if kpts.ndim != 3:
        raise SkeletonFileError(f"{path}: keypoints must be (T, K, D), got shape {kpts.shape}")
    t, k, d = kpts.shape
    if t == 0:
        raise SkeletonFileError(f"{path}: sequence has no frames")
    if k != src.num_keypoints:
        raise SkeletonFileError(f"{path}: layout {src.name!r} has {src.num_keypoints} joints, file has {k}")
    if d != dims:
        raise SkeletonFileError(f"{path}: keypoints are {d}D, the dataset reads {dims}D")
    if "visible" in raw:
        try:
            vis = np.asarray(raw["visible"], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise SkeletonFileError(f"{path}: visible is not a numeric (T, K) array ({exc})") from None
        if vis.shape != (t, k):
            raise SkeletonFileError(f"{path}: visible must be ({t}, {k}), got {vis.shape}")
        if not np.isfinite(vis).all():
            raise SkeletonFileError(f"{path}: visible holds NaN or inf")
    else:
        vis = np.ones((t, k))
    bad = ~np.isfinite(kpts).all(-1) & (vis > 0)
    if bad.any():
        f, j = np.argwhere(bad)[0]
        raise SkeletonFileError(f"{path}: {int(bad.sum())} visible joint(s) have NaN/inf coordinates "
                                f"(first: frame {f}, joint {src.names[j]!r})")
    kpts = np.where(np.isfinite(kpts), kpts, 0.0)
    out, out_vis = KeypointConverter(src, layout)(kpts.astype(np.float32), vis.astype(np.float32))
    fps = float(np.asarray(raw["fps"]).item()) if "fps" in raw else None
    subject = int(np.asarray(raw["subject"]).item()) if "subject" in raw else None
    return SkeletonSequence(path, out, out_vis, src.name, fps, subject)


class SkeletonSequenceDataset:
    """Windows of ``window`` frames from skeleton sequences, converted to ``layout``.

    Args:
        paths_or_glob: file(s), folder(s) or glob pattern(s) (see :func:`resolve_skeleton_paths`).
        layout: output layout (default COCO17).
        dims: 2 or 3; every file must have this dimension.
        window: frames per item (1 = single frames).
        stride: frames between window starts.
        min_visible: a window is kept only if every frame has at least this many joints with visibility > 0
            (after conversion); the others are counted in :attr:`dropped`.
        root: base folder for relative paths.
        sequences: sequences read elsewhere (e.g. OpenPose folders, :mod:`hyper_sapiens.data.openpose`), already in
            ``layout`` and ``dims``, added after the files; ``paths_or_glob`` may then be empty.

    Items are dicts of numpy arrays: ``keypoints`` ``(K, D)`` (``(window, K, D)`` when window > 1) float32,
    ``visible`` ``(K,)`` / ``(window, K)`` float32, ``sequence`` (index into :attr:`sequences`) and ``start``
    (first frame) as int64 scalars.
    """

    def __init__(
        self,
        paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike],
        layout: str = "coco17",
        dims: int = 2,
        window: int = 1,
        stride: int = 1,
        min_visible: int = 1,
        root: str | os.PathLike | None = None,
        sequences: Sequence[SkeletonSequence] = (),
    ) -> None:
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims}")
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
        self.layout = get_layout(layout)
        self.dims = int(dims)
        self.window = int(window)
        self.stride = int(stride)
        self.min_visible = int(min_visible)
        given = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
        self.paths = resolve_skeleton_paths(given, root) if given or not sequences else []
        self.sequences = [load_skeleton_file(p, self.layout.name, self.dims) for p in self.paths]
        for seq in sequences:
            want = (self.layout.num_keypoints, self.dims)
            shape = seq.keypoints.shape
            if len(shape) != 3 or shape[1:] != want or seq.visible.shape != shape[:2]:
                raise SkeletonFileError(f"{seq.path}: sequence of shape {shape}; the dataset reads "
                                        f"(T, {want[0]}, {want[1]}) ({self.layout.name}, {self.dims}D)")
            self.sequences.append(seq)
            self.paths.append(Path(seq.path))
        index: list[tuple[int, int]] = []
        self.dropped = 0
        self.too_short = 0
        for s, seq in enumerate(self.sequences):
            n = seq.keypoints.shape[0]
            if n < self.window:
                self.too_short += 1
                continue
            ok_frame = (seq.visible > 0).sum(1) >= self.min_visible
            for start in range(0, n - self.window + 1, self.stride):
                if ok_frame[start:start + self.window].all():
                    index.append((s, start))
                else:
                    self.dropped += 1
        self.index = np.asarray(index, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        s, start = (int(v) for v in self.index[i])
        seq = self.sequences[s]
        sl = slice(start, start + self.window)
        kpts, vis = seq.keypoints[sl], seq.visible[sl]
        if self.window == 1:
            kpts, vis = kpts[0], vis[0]
        return {"keypoints": kpts.copy(), "visible": vis.copy(),
                "sequence": np.int64(s), "start": np.int64(start)}

    def arrays(self, sequences: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """All items stacked: ``keypoints (N, [window,] K, D)``, ``visible (N, [window,] K)``; optionally only
        those of the given sequence indices."""
        rows = self.index
        if sequences is not None:
            rows = rows[np.isin(rows[:, 0], np.asarray(list(sequences), dtype=np.int64))]
        k, d = self.layout.num_keypoints, self.dims
        kp = np.empty((len(rows), self.window, k, d), np.float32)
        vi = np.empty((len(rows), self.window, k), np.float32)
        for n, (s, start) in enumerate(rows):
            seq = self.sequences[s]
            kp[n] = seq.keypoints[start:start + self.window]
            vi[n] = seq.visible[start:start + self.window]
        if self.window == 1:
            return kp[:, 0], vi[:, 0]
        return kp, vi

    def summary(self) -> dict:
        """Counts for logs: files, frames, items, dropped windows, source layouts."""
        return {
            "files": len(self.paths),
            "frames": int(sum(s.keypoints.shape[0] for s in self.sequences)),
            "items": len(self),
            "dropped_min_visible": self.dropped,
            "sequences_shorter_than_window": self.too_short,
            "source_layouts": sorted({s.source_layout for s in self.sequences}),
            "layout": self.layout.name,
            "dims": self.dims,
            "window": self.window,
        }
