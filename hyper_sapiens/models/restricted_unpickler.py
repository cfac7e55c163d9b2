"""Reading ``torch.save`` zip files without running any code from them (a restricted unpickler).

Original Sapiens checkpoints were written by mmengine (``Runner.save_checkpoint`` in open-mmlab/mmengine,
``mmengine/runner/runner.py``) with ``torch.save`` as ``{"meta": {...}, "state_dict": {...}[,
"message_hub", "optimizer", ...]}``; ``meta`` holds Python objects (numpy arrays, mmengine classes), so
``torch.load(weights_only=True)`` refuses them and a plain ``torch.load`` would run whatever the pickle
names. :func:`read_torch_checkpoint` reads the zip archive itself (layout: ``<prefix>/data.pkl``,
``<prefix>/byteorder``, one ``<prefix>/data/<key>`` record per storage, as written by ``_save`` in
pytorch/pytorch ``torch/serialization.py``) with an unpickler that:

- materialises tensors from the storage records (memory-mapped copy-on-write) through our own versions of
  the ``torch._utils._rebuild_tensor_v2`` family (pytorch/pytorch ``torch/_utils.py``), and plain
  containers, numbers, strings and torch dtypes as themselves;
- maps every other class to an inert :class:`PickledObject` placeholder that records its pickled
  arguments and state and never runs any code of the original class;
- refuses outright (:class:`UnsafeCheckpointError`) globals that could run code: ``os``/``posix``/
  ``subprocess``, ``builtins.eval``/``exec``/``getattr``/``__import__``, ``torch.load`` and friends, etc.;
- checks every storage record before mapping or decompressing it: its size must equal the byte size the
  pickle declares for it (``numel`` × element size of the persistent id), a missing record is an error,
  a deflated record may not claim more than deflate can produce from its compressed bytes and is never
  inflated past the declared size, and ``data.pkl`` is capped; a tensor view may not have more elements
  than its storage.

What the tensors mean (Sapiens key names) is :mod:`hyper_sapiens.models.sapiens_format`'s business.
"""

from __future__ import annotations

import collections
import io
import math
import mmap
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["UnsafeCheckpointError", "PickledObject", "read_torch_checkpoint", "check_uncompressed_zip"]


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint needs code execution (or an unsupported construct) to be read."""


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
    if math.prod(int(n) for n in size) > max(storage.numel(), 1):
        # a view with more elements than its storage (zero strides) would be materialised at full size later
        raise UnsafeCheckpointError(
            f"tensor of shape {list(size)} has more elements than its storage ({storage.numel()})"
        )
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
        if not isinstance(numel, int) or isinstance(numel, bool):
            raise UnsafeCheckpointError(f"{self._source}: storage {key!r} declares a non-integer size {numel!r}")
        return self._storages.get(str(key), storage_type.dtype, numel)


# ``torch.save`` writes every record uncompressed (ZIP_STORED). A deflated record is accepted only when its
# uncompressed size is exactly what the pickle declares and deflate could produce it from its compressed
# bytes (deflate expands at most ~1032:1); other compression methods are refused.
_MAX_DEFLATE_RATIO = 1100
# data.pkl holds the object tree, not the tensor data: real checkpoints have a few MB at most.
_MAX_PICKLE_BYTES = 256 << 20


def _check_record_sizes(path: Path, info: zipfile.ZipInfo, expected: int, what: str) -> None:
    """Refuse a record whose sizes disagree with ``expected`` bytes or could not come from its compressed data."""
    name = info.filename
    if info.file_size != expected:
        raise UnsafeCheckpointError(f"{path}: record {name} holds {info.file_size} bytes, but {what}")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise UnsafeCheckpointError(
                f"{path}: stored record {name} has {info.compress_size} bytes on disk and claims {info.file_size}"
            )
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 1024:
            raise UnsafeCheckpointError(
                f"{path}: compressed record {name} claims {info.file_size} bytes from {info.compress_size} "
                "compressed bytes, more than deflate can produce (a decompression bomb or a corrupt file)"
            )
    else:
        raise UnsafeCheckpointError(
            f"{path}: record {name} uses zip compression method {info.compress_type}; torch.save writes "
            "uncompressed records (deflated ones are accepted, no other method)"
        )


def check_uncompressed_zip(path: str | os.PathLike) -> None:
    """Refuse a zip whose records are not all stored uncompressed, as ``torch.save`` writes them.

    For files handed to ``torch.load(weights_only=True)``, which inflates a compressed record in full before
    comparing its size with the size the pickle declares: a 400 KB file could take 400 MB of memory. With
    stored records nothing is read beyond the file's own bytes.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise UnsafeCheckpointError(f"{path}: corrupt zip archive ({exc})") from exc
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise UnsafeCheckpointError(
                f"{path}: record {info.filename} is compressed ({info.compress_size} bytes claiming "
                f"{info.file_size}); torch.save writes uncompressed records, and a compressed one is not "
                "inflated (possible decompression bomb)"
            )


def _read_bounded(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, nbytes: int) -> bytes:
    """Exactly ``nbytes`` bytes of a record, decompressing no more than that (CRC checked at the end)."""
    try:
        with archive.open(info) as fh:
            data = fh.read(nbytes)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise UnsafeCheckpointError(f"{path}: record {info.filename} is corrupt ({exc})") from exc
    if len(data) != nbytes:
        raise UnsafeCheckpointError(f"{path}: record {info.filename} ends after {len(data)} of {nbytes} bytes")
    return data


class _StorageReader:
    """Storage records of a torch zip archive, memory-mapped copy-on-write (never modifies the file).

    Before a record is mapped or decompressed, its size is checked against the byte size the pickle
    declares for that storage (``numel`` × element size from the persistent id): a missing record, or
    one larger or smaller than declared, is refused (:func:`_check_record_sizes`).
    """

    def __init__(self, path: Path, archive: zipfile.ZipFile, prefix: str) -> None:
        self._path = path
        self._archive = archive
        self._prefix = prefix
        self._cache: dict[str, torch.Tensor] = {}
        with open(path, "rb") as fh:  # the mapping keeps its own handle; tensors keep the mapping alive
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        header = self._map[info.header_offset : info.header_offset + 30]
        if len(header) != 30:
            raise UnsafeCheckpointError(f"{self._path}: corrupt zip entry {info.filename}")
        signature, *_, name_len, extra_len = struct.unpack("<IHHHHHIIIHH", header)
        if signature != 0x04034B50:
            raise UnsafeCheckpointError(f"{self._path}: corrupt zip entry {info.filename}")
        offset = info.header_offset + 30 + name_len + extra_len
        if offset + info.file_size > len(self._map):
            raise UnsafeCheckpointError(f"{self._path}: record {info.filename} runs past the end of the file")
        return offset

    def _record(self, key: str) -> zipfile.ZipInfo:
        name = f"{self._prefix}data/{key}"
        try:
            return self._archive.getinfo(name)
        except KeyError:
            raise UnsafeCheckpointError(f"{self._path}: storage record {name} is missing") from None

    def get(self, key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        """The storage ``key`` as a 1-D tensor of ``numel`` elements of ``dtype``, after the size checks."""
        itemsize = torch.empty((), dtype=dtype).element_size()
        if numel < 0:
            raise UnsafeCheckpointError(f"{self._path}: storage {key} declares {numel} elements")
        declared = numel * itemsize
        info = self._record(key)
        _check_record_sizes(
            self._path, info, declared, f"the pickle declares {numel} × {str(dtype).removeprefix('torch.')} "
            f"= {declared} bytes for storage {key}"
        )
        if key in self._cache:
            cached = self._cache[key]
            return cached.view(dtype) if cached.dtype != dtype else cached
        if declared == 0:
            tensor = torch.empty(0, dtype=dtype)
        elif info.compress_type == zipfile.ZIP_STORED:
            tensor = torch.frombuffer(self._map, dtype=torch.uint8, count=declared, offset=self._data_offset(info))
            tensor = tensor.view(dtype) if dtype != torch.uint8 else tensor
        else:
            raw = bytearray(_read_bounded(self._path, self._archive, info, declared))
            tensor = torch.frombuffer(raw, dtype=torch.uint8)
            tensor = tensor.view(dtype) if dtype != torch.uint8 else tensor
        self._cache[key] = tensor
        return tensor


def _zip_prefix(archive: zipfile.ZipFile, record: str) -> str | None:
    for name in archive.namelist():
        if name.endswith("/" + record) and name.count("/") == 1:
            return name[: -len(record)]
    return None


def _read_pickle_record(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The ``data.pkl`` record, refused when larger than :data:`_MAX_PICKLE_BYTES` or inflated past deflate's ratio."""
    if info.file_size > _MAX_PICKLE_BYTES:
        raise UnsafeCheckpointError(
            f"{path}: {info.filename} claims {info.file_size} bytes; a checkpoint's pickle is at most "
            f"{_MAX_PICKLE_BYTES >> 20} MiB (the tensors live in the data/ records)"
        )
    _check_record_sizes(path, info, info.file_size, "")
    return _read_bounded(path, archive, info, info.file_size)


def read_torch_checkpoint(path: str | os.PathLike) -> Any:
    """Read a ``torch.save`` zip file without running any code from it.

    Returns the unpickled object: tensors (CPU, backed by a private memory map of the file), dicts,
    lists, tuples, numbers and strings as themselves; objects of other classes as :class:`PickledObject`
    placeholders. Raises :class:`UnsafeCheckpointError` (naming the file) for globals that could run
    code, for storage records whose size differs from the size the pickle declares (checked before any
    record is mapped or decompressed), for compressed records that would inflate past what they can hold,
    and for the pre-1.6 legacy torch format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise UnsafeCheckpointError(
            f"{path}: not a torch zip archive (legacy pre-1.6 torch files and raw pickles are not read); "
            "re-save it with a recent torch, or convert it where you trust it"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_archive(path, archive)
    except zipfile.BadZipFile as exc:
        raise UnsafeCheckpointError(f"{path}: corrupt zip archive ({exc})") from exc


def _read_archive(path: Path, archive: zipfile.ZipFile) -> Any:
    """Check the records of an open torch archive and unpickle its ``data.pkl`` with the restricted unpickler."""
    prefix = _zip_prefix(archive, "data.pkl")
    if prefix is None:
        raise UnsafeCheckpointError(f"{path}: zip archive without a data.pkl record (not a torch.save file)")
    byteorder_name = prefix + "byteorder"
    if byteorder_name in archive.namelist():
        info = archive.getinfo(byteorder_name)
        if info.file_size > 16:
            raise UnsafeCheckpointError(f"{path}: {byteorder_name} claims {info.file_size} bytes")
        _check_record_sizes(path, info, info.file_size, "")
        if _read_bounded(path, archive, info, info.file_size).strip() != b"little":
            raise UnsafeCheckpointError(f"{path}: big-endian checkpoints are not supported")
    storages = _StorageReader(path, archive, prefix)
    data = _read_pickle_record(path, archive, archive.getinfo(prefix + "data.pkl"))
    try:
        return _RestrictedUnpickler(io.BytesIO(data), storages, str(path)).load()
    except UnsafeCheckpointError as exc:
        if str(exc).startswith(f"{path}: "):
            raise
        raise UnsafeCheckpointError(f"{path}: {exc}") from exc  # from a tensor rebuild: name the file
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise UnsafeCheckpointError(f"{path}: cannot unpickle checkpoint safely: {exc}") from exc
