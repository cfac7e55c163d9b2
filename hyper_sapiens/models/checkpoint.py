"""Reading released Sapiens checkpoints safely, and saving/loading our own weights as safetensors.

Sapiens ``.pth`` files were written by mmengine (``torch.save`` zip format) as
``{"meta": {...}, "state_dict": {...}[, "message_hub", "optimizer", ...]}``; ``meta`` holds Python objects
(numpy arrays, mmengine classes). They are read here by :func:`read_torch_checkpoint`, our own zip reader
with a restricted unpickler that:

- materialises tensors (from the archive's raw storage records, memory-mapped) and plain containers,
- maps every other class to an inert :class:`PickledObject` placeholder that records its pickled
  arguments and state and never runs any code of the original class,
- refuses outright (``UnsafeCheckpointError``) globals that could run code: ``os``/``posix``/``subprocess``,
  ``builtins.eval``/``exec``/``getattr``/``__import__``, ``torch.load`` and friends, etc.

:func:`load_sapiens_checkpoint` maps Sapiens keys onto a :class:`HyperPoseModel` (or a bare
:class:`SapiensViT`): ``backbone.*`` -> ``backbone``, ``head.*`` (pose) -> ``pose_head``,
``decode_head.*`` (depth/normal) -> ``depth_head``/``normal_head``; strips ``module.``; accepts the flat
pretrain ``*_clean.pth`` (drops ``cls_token`` and the class entry of ``pos_embed``, resizes 64×64 to
the model grid) and resizes ``pos_embed`` bicubically whenever grids differ. Other accepted inputs:
a TorchScript export (``*_torchscript.pt2``, via ``torch.jit.load``), a ``torch.export`` archive
(``*_bfloat16.pt2``, via ``torch.export.load``; best effort) and a ``.safetensors`` file holding
Sapiens key names (what ``hyper-sapiens convert-checkpoint`` writes).
"""

from __future__ import annotations

import collections
import io
import json
import math
import mmap
import os
import pickle
import struct
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .vit import ARCHS, SapiensViT, resize_pos_embed

__all__ = [
    "UnsafeCheckpointError",
    "CheckpointMismatchError",
    "PickledObject",
    "LoadReport",
    "read_torch_checkpoint",
    "read_sapiens_state_dict",
    "load_sapiens_checkpoint",
    "load_sapiens_parts",
    "infer_sapiens_arch",
    "save_weights",
    "load_weights",
    "read_weights_metadata",
    "load_model",
    "load_state_file",
    "SAPIENS_PARTS",
]

SAPIENS_PARTS = ("backbone", "pose", "depth", "normal")
# Which checkpoint prefix feeds which of our head attributes.
_HEAD_PREFIX = {"pose": "head.", "depth": "decode_head.", "normal": "decode_head."}
_HEAD_ATTR = {"pose": "pose_head", "depth": "depth_head", "normal": "normal_head"}
# Keys of other parts of a Sapiens checkpoint; never "unexpected", reported as ignored.
_KNOWN_PREFIXES = ("backbone.", "head.", "decode_head.", "auxiliary_head.", "data_preprocessor.")


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs code execution (or an unsupported construct) to be read."""


class CheckpointMismatchError(RuntimeError):
    """Checkpoint keys/shapes do not match the model (strict loading)."""


# --------------------------------------------------------------------------------------------------
# Restricted unpickling
# --------------------------------------------------------------------------------------------------


class PickledObject:
    """Inert stand-in for an object of a class we do not import.

    Records ``module``/``name`` of the original class (class attributes ``_module``, ``_qualname``)
    and what the pickle tried to do with it: constructor arguments (``args``, ``kwargs``), ``state``
    (from ``BUILD``), dict items and list items. None of the original class's code ever runs.
    """

    _module = "?"
    _qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> PickledObject:
        obj = object.__new__(cls)
        object.__setattr__(obj, "args", args)
        object.__setattr__(obj, "kwargs", kwargs)
        object.__setattr__(obj, "state", None)
        object.__setattr__(obj, "items", {})
        object.__setattr__(obj, "listitems", [])
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # never forwards anywhere
        pass

    def __setstate__(self, state: Any) -> None:
        object.__setattr__(self, "state", state)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.listitems.append(value)

    def extend(self, values: Sequence[Any]) -> None:
        self.listitems.extend(values)

    def __repr__(self) -> str:
        return f"<PickledObject {self._module}.{self._qualname}>"


_PLACEHOLDER_CLASSES: dict[tuple[str, str], type] = {}


def _placeholder_class(module: str, name: str) -> type:
    key = (module, name)
    if key not in _PLACEHOLDER_CLASSES:
        safe_name = "".join(ch if ch.isalnum() else "_" for ch in name) or "Unknown"
        _PLACEHOLDER_CLASSES[key] = type(safe_name, (PickledObject,), {"_module": module, "_qualname": name})
    return _PLACEHOLDER_CLASSES[key]


# Modules whose globals can run code, touch the system or load further pickles: refused with an error.
_DENY_MODULE_ROOTS = {
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pickle", "_pickle",
    "marshal", "ctypes", "code", "codeop", "pty", "webbrowser", "multiprocessing", "signal", "io", "_io",
    "tempfile", "pathlib", "glob", "urllib", "http", "ftplib", "smtplib", "telnetlib", "asyncio", "threading",
    "_thread", "functools", "operator", "types", "inspect", "pdb", "timeit", "platform", "commands", "dill",
    "cloudpickle", "joblib", "shelve", "dbm", "sqlite3", "zipimport", "pkgutil", "site", "distutils",
    "setuptools", "pip", "yaml", "jinja2",
}  # fmt: skip
_DENY_TORCH = ("torch.load", "torch.hub", "torch.jit", "torch.serialization", "torch.storage._load_from_bytes",
               "torch.ops", "torch._ops", "torch.utils.cpp_extension", "torch.package", "torch.export",
               "torch._C", "torch.compile", "torch._dynamo", "torch._inductor", "torch.distributed",
               "torch.multiprocessing", "torch.cuda", "torch.backends", "torch.library")  # fmt: skip
_SAFE_BUILTINS = {
    "set": set, "frozenset": frozenset, "slice": slice, "complex": complex, "bytearray": bytearray,
    "bytes": bytes, "range": range, "int": int, "float": float, "str": str, "bool": bool, "list": list,
    "dict": dict, "tuple": tuple,
}  # fmt: skip

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}  # fmt: skip


@dataclass(frozen=True)
class _StorageType:
    dtype: torch.dtype


class _TensorMarker:
    """Stands for ``torch.Tensor`` / ``torch.nn.Parameter`` as arguments of ``_rebuild_from_type_v2``."""


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: Sequence[int], stride: Sequence[int], *_: Any):
    if not isinstance(storage, torch.Tensor):
        raise UnsafeCheckpointError("tensor record without a storage")
    if len(size) == 0 and storage.numel() == 0:
        raise UnsafeCheckpointError("scalar tensor with an empty storage")
    return torch.as_strided(storage, tuple(size), tuple(stride), int(offset))


def _rebuild_tensor_v1(storage: torch.Tensor, offset: int, size: Sequence[int], stride: Sequence[int]):
    return _rebuild_tensor(storage, offset, size, stride)


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Sequence[Any], state: Any) -> Any:
    if func not in (_rebuild_tensor, _rebuild_tensor_v1, _rebuild_parameter) or new_type is not _TensorMarker:
        raise UnsafeCheckpointError(f"unsupported tensor reconstruction {func!r} / {new_type!r}")
    return func(*args)


def _codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    """Protocol-2 pickles store ``bytes`` as ``_codecs.encode(str, 'latin1')``: a pure conversion."""
    if not isinstance(text, str) or encoding.lower() not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise UnsafeCheckpointError(f"refusing _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode(encoding)


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` for placeholder classes only (protocol 0/1 objects)."""
    if isinstance(cls, type) and issubclass(cls, PickledObject):
        return cls(base, state)
    raise UnsafeCheckpointError(f"refusing copyreg._reconstructor for {cls!r}")


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor_v1,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TensorMarker,
    ("torch.nn.parameter", "Parameter"): _TensorMarker,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _codecs_encode,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
}


def _is_denied(module: str, name: str) -> bool:
    root = module.split(".")[0]
    if root in ("builtins", "__builtin__"):
        return name not in _SAFE_BUILTINS
    if root in _DENY_MODULE_ROOTS or root in ("copyreg", "_codecs"):
        return True
    full = f"{module}.{name}"
    return root == "torch" and any(full == d or full.startswith(d + ".") or module.startswith(d) for d in _DENY_TORCH)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, storages: _StorageReader | None, source: str) -> None:
        super().__init__(file)
        self._storages = storages
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module in ("builtins", "__builtin__") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if _is_denied(module, name):
            raise UnsafeCheckpointError(
                f"{self._source}: refusing to unpickle global '{module}.{name}', which could execute code; "
                "this file is not a plain checkpoint"
            )
        return _placeholder_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if self._storages is None:
            raise UnsafeCheckpointError(f"{self._source}: unexpected persistent id in a plain pickle")
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UnsafeCheckpointError(f"{self._source}: unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        return self._storages.get(str(key), storage_type.dtype, int(numel))


class _StorageReader:
    """Storage records of a torch zip archive, memory-mapped copy-on-write (never modifies the file)."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, prefix: str) -> None:
        self._path = path
        self._archive = archive
        self._prefix = prefix
        self._cache: dict[str, torch.Tensor] = {}
        with open(path, "rb") as fh:  # the mapping keeps its own handle; tensors keep the mapping alive
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        header = self._map[info.header_offset : info.header_offset + 30]
        signature, *_, name_len, extra_len = struct.unpack("<IHHHHHIIIHH", header)
        if signature != 0x04034B50:
            raise UnsafeCheckpointError(f"{self._path}: corrupt zip entry {info.filename}")
        return info.header_offset + 30 + name_len + extra_len

    def get(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        if key in self._cache:
            return self._cache[key].view(dtype) if self._cache[key].dtype != dtype else self._cache[key]
        name = f"{self._prefix}data/{key}"
        try:
            info = self._archive.getinfo(name)
        except KeyError:
            raise UnsafeCheckpointError(f"{self._path}: storage record {name} is missing") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        nbytes = info.file_size
        if numel * itemsize > nbytes and dtype != torch.uint8:
            raise UnsafeCheckpointError(
                f"{self._path}: storage {key} holds {nbytes} bytes, expected {numel * itemsize}"
            )
        if nbytes == 0:
            tensor = torch.empty(0, dtype=dtype)
        elif info.compress_type == zipfile.ZIP_STORED:
            tensor = torch.frombuffer(self._map, dtype=torch.uint8, count=nbytes, offset=self._data_offset(info))
            tensor = tensor.view(dtype) if dtype != torch.uint8 else tensor
        else:
            raw = bytearray(self._archive.read(name))
            tensor = torch.frombuffer(raw, dtype=torch.uint8)
            tensor = tensor.view(dtype) if dtype != torch.uint8 else tensor
        self._cache[key] = tensor
        return tensor


def _zip_prefix(archive: zipfile.ZipFile, record: str) -> str | None:
    for name in archive.namelist():
        if name.endswith("/" + record) and name.count("/") == 1:
            return name[: -len(record)]
    return None


def read_torch_checkpoint(path: str | os.PathLike) -> Any:
    """Read a ``torch.save`` zip file without running any code from it.

    Returns the unpickled object: tensors (CPU, backed by a private memory map of the file), dicts,
    lists, tuples, numbers and strings as themselves; objects of other classes as :class:`PickledObject`
    placeholders. Raises :class:`UnsafeCheckpointError` (naming the file) for globals that could run
    code, and for the pre-1.6 legacy torch format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise UnsafeCheckpointError(
            f"{path}: not a torch zip archive (legacy pre-1.6 torch files and raw pickles are not read); "
            "re-save it with a recent torch, or convert it where you trust it"
        )
    with zipfile.ZipFile(path) as archive:
        prefix = _zip_prefix(archive, "data.pkl")
        if prefix is None:
            raise UnsafeCheckpointError(f"{path}: zip archive without a data.pkl record (not a torch.save file)")
        byteorder_name = prefix + "byteorder"
        if byteorder_name in archive.namelist() and archive.read(byteorder_name).strip() != b"little":
            raise UnsafeCheckpointError(f"{path}: big-endian checkpoints are not supported")
        storages = _StorageReader(path, archive, prefix)
        data = archive.read(prefix + "data.pkl")
        try:
            return _RestrictedUnpickler(io.BytesIO(data), storages, str(path)).load()
        except UnsafeCheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
            raise UnsafeCheckpointError(f"{path}: cannot unpickle checkpoint safely: {exc}") from exc


# --------------------------------------------------------------------------------------------------
# Sapiens state dicts
# --------------------------------------------------------------------------------------------------


def _file_kind(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(16)
    if len(head) >= 9 and head[8:9] == b"{" and not zipfile.is_zipfile(path):
        return "safetensors"
    if not zipfile.is_zipfile(path):
        return "unknown"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("/constants.pkl") for n in names) or any("/code/" in n for n in names):
        return "torchscript"
    if any(n.endswith("serialized_exported_program.json") for n in names) or any(
        "/models/" in n and n.endswith(".json") for n in names
    ):
        return "torch_export"
    if any(n.endswith("/data.pkl") for n in names):
        return "torch_pickle"
    return "unknown"


def _tensor_items(obj: Mapping[str, Any], source: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            out[str(key)] = value
        elif isinstance(value, PickledObject):
            raise UnsafeCheckpointError(f"{source}: state_dict entry {key!r} is a {value!r}, not a tensor")
    return out


def read_sapiens_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors of a Sapiens checkpoint in any supported format, with ``module.`` stripped.

    Returns ``(state_dict, info)`` where ``info`` has ``format`` (``torch_pickle``, ``torchscript``,
    ``torch_export``, ``safetensors``) and, for mmengine files, ``meta`` (the placeholder-laden meta dict).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    kind = _file_kind(path)
    info: dict[str, Any] = {"format": kind, "path": str(path)}
    if kind == "torch_pickle":
        obj = read_torch_checkpoint(path)
        if not isinstance(obj, Mapping):
            raise UnsafeCheckpointError(f"{path}: top-level object is {type(obj).__name__}, not a dict")
        if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
            info["meta"] = obj.get("meta")
            obj = obj["state_dict"]
        elif "model" in obj and isinstance(obj["model"], Mapping):
            obj = obj["model"]
        state = _tensor_items(obj, str(path))
    elif kind == "safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as fh:
            info["metadata"] = fh.metadata() or {}
        state = load_file(str(path))
    elif kind == "torchscript":
        # TorchScript archives hold TorchScript code and tensors, no Python pickles; only load trusted files.
        module = torch.jit.load(str(path), map_location="cpu")
        state = {k: v.detach() for k, v in module.state_dict().items()}
    elif kind == "torch_export":
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise UnsafeCheckpointError(
                f"{path}: torch.export.load failed ({exc}); use the .pth or torchscript file"
            ) from exc
        state = {k: v.detach() for k, v in program.state_dict.items()}
    else:
        raise UnsafeCheckpointError(f"{path}: unrecognised checkpoint format (expected .pth, .pt2 or .safetensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    if not state:
        raise UnsafeCheckpointError(f"{path}: no tensors found")
    return state, info


def infer_sapiens_arch(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """The Sapiens arch name (``sapiens_0.3b`` ...) whose width and depth match a state dict, else ``None``."""
    prefix = "backbone." if any(k.startswith("backbone.") for k in state_dict) else ""
    weight = state_dict.get(prefix + "patch_embed.projection.weight")
    if weight is None:
        return None
    layer_ids = {
        int(k[len(prefix) :].split(".")[1]) for k in state_dict if k.startswith(prefix + "layers.") and k.count(".") > 2
    }
    for name, arch in ARCHS.items():
        if arch.embed_dims == weight.shape[0] and arch.num_layers == len(layer_ids):
            return name
    return None


@dataclass
class LoadReport:
    """What :func:`load_sapiens_checkpoint` / :func:`load_weights` did.

    ``loaded``/``missing``/``unexpected``/``mismatched`` use our model's key names (``unexpected`` the
    file's); ``ignored`` are file keys of other parts (e.g. the pose head when loading only the backbone);
    ``resized`` maps keys to ``(source shape, target shape)`` of interpolated position tables.
    """

    path: str
    part: str
    source_format: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    resized: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        lines = [
            f"{self.path} [{self.source_format}, part={self.part}]: loaded {len(self.loaded)} tensors, "
            f"missing {len(self.missing)}, unexpected {len(self.unexpected)}, mismatched {len(self.mismatched)}, "
            f"ignored {len(self.ignored)}"
        ]
        for title, items in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("mismatched", self.mismatched),
        ):
            if items:
                shown = ", ".join(items[:20]) + (f", ... ({len(items) - 20} more)" if len(items) > 20 else "")
                lines.append(f"  {title}: {shown}")
        for key, (src, dst) in self.resized.items():
            lines.append(f"  resized {key}: {list(src)} -> {list(dst)}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _unwrap(model: nn.Module) -> nn.Module:
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)  # torch.compile wrapper


def _grid_of(num_tokens: int, target_grid: tuple[int, int]) -> tuple[int, int]:
    """Guess the (Gh, Gw) grid of a position table: the target's, square, or Sapiens' 4:3 (64×48 at 1024×768)."""
    if num_tokens == target_grid[0] * target_grid[1]:
        return target_grid
    side = math.isqrt(num_tokens)
    if side * side == num_tokens:
        return side, side
    h = math.isqrt(num_tokens * 4 // 3)
    if h * (h * 3 // 4) == num_tokens and h % 4 == 0:
        return h, h * 3 // 4
    raise CheckpointMismatchError(
        f"cannot tell the grid of a position table with {num_tokens} tokens; pass src_grid=(Gh, Gw)"
    )


def _adapt_pos_embed(
    value: torch.Tensor, backbone: SapiensViT, src_grid: tuple[int, int] | None, report: LoadReport, key: str
) -> torch.Tensor:
    target = backbone.pos_embed
    n_target = target.shape[1]
    original = tuple(value.shape)
    if value.ndim != 3 or value.shape[0] != 1 or value.shape[2] != target.shape[2]:
        return value  # reported as a shape mismatch by the caller
    n = value.shape[1]
    side = math.isqrt(n - 1) if n > 1 else 0
    has_cls = n == n_target + 1 or (side * side == n - 1 and math.isqrt(n) ** 2 != n)
    if src_grid is not None and n == src_grid[0] * src_grid[1] + 1:
        has_cls = True
    if has_cls:
        value = value[:, 1:]
        report.notes.append(f"dropped the class-token entry of {key}")
    grid = tuple(src_grid) if src_grid is not None else _grid_of(value.shape[1], backbone.grid)
    if grid[0] * grid[1] != value.shape[1]:
        raise CheckpointMismatchError(f"{key}: src_grid {grid} does not hold {value.shape[1]} tokens")
    if tuple(grid) != tuple(backbone.grid):
        value = resize_pos_embed(value, grid, backbone.grid)
    if tuple(value.shape) != original:
        report.resized[key] = (original, tuple(value.shape))
    return value


def _copy_into(module: nn.Module, values: Mapping[str, torch.Tensor]) -> None:
    own = module.state_dict(keep_vars=True)
    with torch.no_grad():
        for key, value in values.items():
            own[key].copy_(value.to(device=own[key].device))


def load_sapiens_checkpoint(
    model: nn.Module,
    path: str | os.PathLike,
    part: str = "backbone",
    strict: bool = True,
    load_backbone: bool = True,
    src_grid: tuple[int, int] | None = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
) -> LoadReport:
    """Load a Sapiens checkpoint into ``model`` (a :class:`HyperPoseModel` or a :class:`SapiensViT`).

    Args:
        path: ``.pth`` (finetuned task checkpoint or pretrain ``*_clean.pth``), ``*_torchscript.pt2``,
            ``*.pt2`` (torch.export) or ``.safetensors`` with Sapiens key names.
        part: ``"backbone"`` (only ``backbone.*``, or a flat pretrain dict), ``"pose"`` (``backbone.*`` +
            ``head.*`` -> ``pose_head``), ``"depth"``/``"normal"`` (``backbone.*`` + ``decode_head.*`` ->
            ``depth_head``/``normal_head``).
        strict: raise :class:`CheckpointMismatchError` listing missing/unexpected/mismatched keys.
        load_backbone: with a head part, also load the backbone (False: its keys are ignored, e.g. to add
            a depth head to a pose model without replacing the pose backbone).
        src_grid: token grid ``(Gh, Gw)`` of the file's position table when it cannot be inferred
            (inferred: the model's, square, or 4:3 as Sapiens' 64×48).
        state_dict: use these tensors instead of reading ``path`` (``path`` then only names the source).

    Returns a :class:`LoadReport`. Position tables are bicubically resized to the model grid.
    """
    if part not in SAPIENS_PARTS:
        raise ValueError(f"part must be one of {SAPIENS_PARTS}, got {part!r}")
    model = _unwrap(model)
    if isinstance(model, SapiensViT):
        backbone, heads = model, {}
    elif isinstance(getattr(model, "backbone", None), SapiensViT):
        backbone = model.backbone
        heads = {name: getattr(model, attr, None) for name, attr in _HEAD_ATTR.items()}
    else:
        raise TypeError(f"load_sapiens_checkpoint needs a HyperPoseModel or SapiensViT, got {type(model).__name__}")
    if state_dict is None:
        state, info = read_sapiens_state_dict(path)
    else:
        state, info = dict(state_dict), {"format": "state_dict"}
    report = LoadReport(path=str(path), part=part, source_format=str(info.get("format")))

    flat = not any(k.startswith(_KNOWN_PREFIXES) for k in state)
    if flat:  # pretrain *_clean.pth: backbone keys without prefix, plus cls_token
        if part != "backbone":
            raise CheckpointMismatchError(f"{path}: a backbone-only (pretrain) checkpoint has no {part} head")
        report.source_format += "/pretrain"
        state = {("backbone." + k): v for k, v in state.items()}
        if "backbone.cls_token" in state:
            del state["backbone.cls_token"]
            report.notes.append("dropped cls_token (Sapiens task models have no class token)")

    targets: dict[str, nn.Module] = {}
    if part == "backbone" or load_backbone:
        targets["backbone."] = backbone
    if part != "backbone":
        head = heads.get(part)
        if head is None:
            raise ValueError(f"model has no {part} head to load {path} into")
        targets[_HEAD_PREFIX[part]] = head
        pad = backbone.patch_padding
        if load_backbone and part == "depth" and pad != "corner":
            report.notes.append(
                f"Sapiens depth models use corner patch padding; this backbone uses patch_padding={pad}"
            )
        if load_backbone and part in ("pose", "normal") and pad != 2:
            report.notes.append(f"Sapiens {part} models use patch_padding=2; this backbone uses {pad}")
        if not load_backbone and part == "depth" and pad != "corner":
            report.notes.append(
                "this depth head was trained on a Sapiens depth backbone (corner patch padding); here it runs on "
                f"a backbone with patch_padding={pad}, so its first outputs are only approximate until fine-tuned"
            )

    plan: list[tuple[nn.Module, dict[str, torch.Tensor]]] = []
    for prefix, module in targets.items():
        own = module.state_dict()
        picked: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            if not key.startswith(prefix):
                continue
            name = key[len(prefix) :]
            if name not in own:
                report.unexpected.append(key)
                continue
            if module is backbone and name == "pos_embed":
                value = _adapt_pos_embed(value, backbone, src_grid, report, key)
            if tuple(value.shape) != tuple(own[name].shape):
                report.mismatched.append(f"{key}: file {list(value.shape)} vs model {list(own[name].shape)}")
                continue
            picked[name] = value
        owner = "" if module is model else next(n for n, m in model.named_children() if m is module) + "."
        mismatched = {m.split(":")[0][len(prefix) :] for m in report.mismatched if m.startswith(prefix)}
        report.missing.extend(owner + k for k in own if k not in picked and k not in mismatched)
        report.loaded.extend(owner + k for k in picked)
        plan.append((module, picked))
    for key in state:
        if not any(key.startswith(p) for p in targets):
            (report.ignored if key.startswith(_KNOWN_PREFIXES) else report.unexpected).append(key)
    if strict and not report.ok:
        raise CheckpointMismatchError(
            f"checkpoint does not match the model (nothing loaded):\n{report.summary()}{_mismatch_hint(part, report)}"
        )
    for module, picked in plan:
        _copy_into(module, picked)
    return report


def _mismatch_hint(part: str, report: LoadReport) -> str:
    """A sentence naming the likely cause of a shape mismatch, when it is a known one."""
    for item in report.mismatched:
        key, _, shapes = item.partition(": ")
        if part == "pose" and key.endswith("final_layer.weight"):
            file_k = shapes.split("]")[0].lstrip("file [").split(",")[0]
            if file_k.strip() == "308":
                return (
                    "\n  cause: this is a Sapiens Goliath pose model (308 keypoints, sapiens_*_goliath_best_goliath_AP_"
                    "*.pth); Hyper-Sapiens predicts the 17 COCO keypoints. Use the sapiens-pose-coco release "
                    "(sapiens_{0.3b,0.6b,1b,2b}_coco_best_coco_AP_{796,812,821,822}.pth), or load only this file's "
                    "backbone with sapiens_checkpoints.backbone (part=backbone)."
                )
            return f"\n  cause: the file's pose head predicts {file_k.strip()} keypoints, the model 17 (COCO17)."
    return ""


def load_sapiens_parts(
    model: nn.Module, files: Mapping[str, Any], backbone_from: str | None = None, strict: bool = True
) -> dict[str, LoadReport]:
    """Load several Sapiens checkpoints into one model: **one** file gives the backbone, the others heads only.

    Args:
        files: part -> path for the parts in :data:`SAPIENS_PARTS` (``backbone``, ``pose``, ``depth``,
            ``normal``); empty entries are skipped.
        backbone_from: the part whose file supplies the shared backbone (default: ``backbone`` when that
            file is given, else ``pose``, else ``depth``, else ``normal``). Loading every file with its
            backbone would leave the model with the backbone of whichever came last.

    Returns ``{part: LoadReport}``; the reports of head-only loads list the file's backbone keys as ignored.
    """
    chosen = {str(p): str(v) for p, v in files.items() if v}
    unknown = sorted(set(chosen) - set(SAPIENS_PARTS))
    if unknown:
        raise ValueError(f"sapiens_checkpoints: unknown parts {unknown}; allowed: {list(SAPIENS_PARTS)}")
    if not chosen:
        return {}
    if backbone_from is None:
        backbone_from = next(p for p in SAPIENS_PARTS if p in chosen)
    if backbone_from not in chosen:
        raise ValueError(
            f"sapiens_checkpoints.backbone_from={backbone_from!r}, but no {backbone_from} file is given "
            f"(given: {sorted(chosen)})"
        )
    if "backbone" in chosen and backbone_from != "backbone":
        raise ValueError(
            f"sapiens_checkpoints.backbone ({chosen['backbone']}) would be overwritten: backbone_from is "
            f"{backbone_from!r}; remove one of them"
        )
    reports = {}
    for part in sorted(chosen, key=lambda p: p != backbone_from):  # the backbone's file first
        reports[part] = load_sapiens_checkpoint(
            model, chosen[part], part=part, strict=strict, load_backbone=part == backbone_from
        )
    return reports


# --------------------------------------------------------------------------------------------------
# Our own weights
# --------------------------------------------------------------------------------------------------

WEIGHTS_FORMAT = "hyper-sapiens/weights-v1"


def save_weights(model: nn.Module, path: str | os.PathLike, extra_metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``model``'s state dict to ``path`` (safetensors, atomic rename) with metadata:
    ``format``, ``config`` (JSON of ``model.config`` when present), ``arch``, ``input_size``, ``heads``."""
    from safetensors.torch import save_file

    model = _unwrap(model)
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    config = dict(getattr(model, "config", {}) or {})
    if not config and isinstance(model, SapiensViT):
        config = model.config()
    metadata = {
        "format": WEIGHTS_FORMAT,
        "config": json.dumps(config, sort_keys=True),
        "arch": str(config.get("arch", "")),
        "input_size": json.dumps(config.get("input_size", config.get("img_size"))),
        "heads": json.dumps(sorted(config.get("heads", {}))),
    }
    metadata.update({str(k): str(v) for k, v in (extra_metadata or {}).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def read_weights_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of a safetensors file; ``config`` decoded from JSON when present."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from exc
    if "config" in meta:
        meta["config"] = json.loads(meta["config"])
    return meta


def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> LoadReport:
    """Load weights written by :func:`save_weights` (or any safetensors/torch file with our key names).

    ``strict``: raise :class:`CheckpointMismatchError` on missing, unexpected or mis-shaped keys.
    """
    model = _unwrap(model)
    state = load_state_file(path)
    own = model.state_dict()
    report = LoadReport(path=str(path), part="all", source_format=Path(path).suffix.lstrip(".") or "file")
    picked = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append(f"{key}: file {list(value.shape)} vs model {list(own[key].shape)}")
        else:
            picked[key] = value
    mismatched = {m.split(":")[0] for m in report.mismatched}
    report.missing = [k for k in own if k not in picked and k not in mismatched]
    report.loaded = sorted(picked)
    if strict and not report.ok:
        raise CheckpointMismatchError(f"weights do not match the model (nothing loaded):\n{report.summary()}")
    _copy_into(model, picked)
    return report


def load_model(path: str | os.PathLike) -> nn.Module:
    """Rebuild a :class:`HyperPoseModel` from the config stored by :func:`save_weights` and load its weights."""
    from .hyper_pose import build_model

    meta = read_weights_metadata(path)
    config = meta.get("config")
    if not isinstance(config, Mapping) or "heads" not in config:
        raise ValueError(f"{path}: no model config in the metadata (was it written by save_weights?)")
    model = build_model(config)
    load_weights(model, path, strict=True)
    return model


def load_state_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a torch file loaded with ``weights_only=True``.

    A torch file whose ``state_dict`` key holds the tensors is unwrapped. Files that would need code
    to unpickle (e.g. original Sapiens/mmengine ``.pth``) are refused with :class:`UnsafeCheckpointError`
    pointing to ``hyper-sapiens convert-checkpoint``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if _file_kind(path) == "safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, ValueError, EOFError) as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "Unsupported global" in ln), lines[0] if lines else type(exc).__name__)
        raise UnsafeCheckpointError(
            f"{path}: cannot be loaded with weights_only=True, it needs unpickling of Python objects "
            f"({reason[:300]}). If it is a Sapiens checkpoint, convert it first: "
            f"hyper-sapiens convert-checkpoint {path} {path.with_suffix('.safetensors')}"
        ) from exc
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a mapping of tensor names to tensors")
    return {str(k): v for k, v in obj.items()}
