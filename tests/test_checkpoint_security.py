"""Hostile checkpoint files: each payload is refused with a named error, and its canary proves nothing ran.

Every payload is written here, byte by byte, in the ``torch.save`` zip layout (``<prefix>/data.pkl``,
``<prefix>/data/<key>``, ``<prefix>/byteorder``, ``<prefix>/version``; pytorch ``torch/serialization.py``),
with hand-written pickle opcodes that name the dangerous global. A payload that ran would create its
canary file (``tmp_path/canary``); ``test_code_payloads_are_live_under_plain_pickle`` shows that they do
under an unrestricted unpickler.
"""

from __future__ import annotations

import pickle
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from engine_helpers import tiny_stage_config
from omegaconf import OmegaConf
from safetensors.torch import load_file

from hyper_sapiens.cli import main as cli_main
from hyper_sapiens.models import (
    UnsafeCheckpointError,
    load_state_file,
    read_sapiens_state_dict,
    read_torch_checkpoint,
)
from hyper_sapiens.models.sapiens_format import file_kind

# ----------------------------------------------------------------------------------------- pickle opcodes


def op_global(module: str, name: str) -> bytes:
    """GLOBAL: push ``module.name`` (what ``find_class`` is asked for)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text: str) -> bytes:
    """BINUNICODE."""
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def op_int(value: int) -> bytes:
    """LONG1 (any size, little-endian two's complement)."""
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def op_tuple(*items: bytes) -> bytes:
    """MARK ... TUPLE."""
    return b"(" + b"".join(items) + b"t"


def op_call(func: bytes, *args: bytes) -> bytes:
    """``func(*args)``: push func, the argument tuple, REDUCE."""
    return func + op_tuple(*args) + b"R"


def op_dict(items: dict[str, bytes]) -> bytes:
    """EMPTY_DICT MARK key value ... SETITEMS."""
    return b"}(" + b"".join(op_str(k) + v for k, v in items.items()) + b"u"


def program(body: bytes) -> bytes:
    """A protocol-2 pickle whose result is ``body``'s object."""
    return b"\x80\x02" + body + b"."


def op_tensor(key: str, declared_numel: int, shape: tuple[int, ...], storage: str = "FloatStorage") -> bytes:
    """``torch._utils._rebuild_tensor_v2(<storage key>, 0, shape, contiguous stride, False, OrderedDict())``,
    the storage a persistent id ``('storage', torch.<storage>, key, 'cpu', declared_numel)``."""
    stride = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        stride[i] = stride[i + 1] * shape[i + 1]
    pid = op_tuple(op_str("storage"), op_global("torch", storage), op_str(key), op_str("cpu"), op_int(declared_numel))
    return op_call(
        op_global("torch._utils", "_rebuild_tensor_v2"),
        pid + b"Q",  # BINPERSID
        op_int(0),
        op_tuple(*(op_int(n) for n in shape)),
        op_tuple(*(op_int(n) for n in stride)),
        b"\x89",  # NEWFALSE
        op_call(op_global("collections", "OrderedDict")),
    )


def state_dict_pickle(meta: bytes | None = None, numel: int = 4, key: str = "0") -> bytes:
    """``{"state_dict": {"backbone.ln1.weight": <float32 tensor [numel] of storage key>}[, "meta": meta]}``."""
    items = {"state_dict": op_dict({"backbone.ln1.weight": op_tensor(key, numel, (numel,))})}
    if meta is not None:
        items["meta"] = meta
    return program(op_dict(items))


# --------------------------------------------------------------------------------------------- archives

ONES = struct.pack("<4f", 1.0, 1.0, 1.0, 1.0)  # the 16-byte record of a float32 tensor of 4 elements


def write_archive(
    path: Path,
    data_pkl: bytes,
    records: dict[str, bytes] | None = None,
    deflated: tuple[str, ...] = (),
    extra: dict[str, bytes] | None = None,
    prefix: str = "archive",
) -> Path:
    """A torch zip archive: ``data.pkl``, ``data/<key>`` records (deflated when named), byteorder, version."""
    records = {"0": ONES} if records is None else records
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{prefix}/data.pkl", data_pkl)
        zf.writestr(f"{prefix}/byteorder", "little")
        for key, data in records.items():
            method = zipfile.ZIP_DEFLATED if key in deflated else zipfile.ZIP_STORED
            zf.writestr(f"{prefix}/data/{key}", data, compress_type=method)
        for name, data in (extra or {}).items():
            zf.writestr(f"{prefix}/{name}", data)
        zf.writestr(f"{prefix}/version", "3\n")
    return path


def set_claimed_size(path: Path, name: str, size: int) -> None:
    """Make the zip headers (local and central) of record ``name`` claim ``size`` uncompressed bytes."""
    data = bytearray(path.read_bytes())
    # (signature, offset of the name length, offset of the name, offset of the uncompressed size)
    for signature, len_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        at = data.find(signature)
        while at != -1:
            name_len = struct.unpack_from("<H", data, at + len_at)[0]
            if data[at + name_at : at + name_at + name_len] == name.encode():
                struct.pack_into("<I", data, at + size_at, size)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------------------ payloads


def _touch(canary: Path) -> str:
    return f"open({str(canary)!r}, 'w').close()"


def payload_eval(canary: Path) -> bytes:
    return op_call(op_global("builtins", "eval"), op_str(_touch(canary)))


def payload_exec(canary: Path) -> bytes:
    return op_call(op_global("builtins", "exec"), op_str(_touch(canary)))


def payload_os_system(canary: Path) -> bytes:
    return op_call(op_global("os", "system"), op_str(f"touch '{canary}'"))


def payload_posix_system(canary: Path) -> bytes:  # what pickling os.system writes on Linux
    return op_call(op_global("posix", "system"), op_str(f"touch '{canary}'"))


def payload_subprocess_popen(canary: Path) -> bytes:
    return op_call(op_global("subprocess", "Popen"), op_tuple(op_str("touch"), op_str(str(canary))))


def payload_subprocess_check_output(canary: Path) -> bytes:
    return op_call(op_global("subprocess", "check_output"), op_tuple(op_str("touch"), op_str(str(canary))))


def payload_getattr_chain(canary: Path) -> bytes:
    """``getattr(__import__('os'), 'system')('touch canary')``."""
    system = op_call(
        op_global("builtins", "getattr"), op_call(op_global("builtins", "__import__"), op_str("os")), op_str("system")
    )
    return op_call(system, op_str(f"touch '{canary}'"))


def payload_functools_partial(canary: Path) -> bytes:
    """``functools.partial(os.system, 'touch canary')()``."""
    partial = op_call(op_global("functools", "partial"), op_global("os", "system"), op_str(f"touch '{canary}'"))
    return op_call(partial)


def payload_nested_torch_load(canary: Path) -> bytes:
    """``torch.load('<inner pickle that writes the canary>')``: a second unpickling of another file."""
    inner = canary.with_name("inner.pkl")
    inner.write_bytes(program(payload_exec(canary)))
    return op_call(op_global("torch", "load"), op_str(str(inner)))


def payload_nested_serialization_load(canary: Path) -> bytes:
    inner = canary.with_name("inner.pkl")
    inner.write_bytes(program(payload_exec(canary)))
    return op_call(op_global("torch.serialization", "load"), op_str(str(inner)))


def payload_pickle_loads(canary: Path) -> bytes:
    """``pickle.loads(b'<canary-writing pickle>')``: a nested unrestricted unpickling."""
    inner = program(payload_exec(canary))
    return op_call(op_global("pickle", "loads"), b"B" + struct.pack("<I", len(inner)) + inner)  # BINBYTES


CODE_PAYLOADS: dict[str, Callable[[Path], bytes]] = {
    "builtins.eval": payload_eval,
    "builtins.exec": payload_exec,
    "os.system": payload_os_system,
    "posix.system": payload_posix_system,
    "subprocess.Popen": payload_subprocess_popen,
    "subprocess.check_output": payload_subprocess_check_output,
    "builtins.getattr": payload_getattr_chain,
    "functools.partial": payload_functools_partial,
    "torch.load": payload_nested_torch_load,
    "torch.serialization.load": payload_nested_serialization_load,
    "pickle.loads": payload_pickle_loads,
}


def code_archive(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A checkpoint with a valid tensor whose ``meta`` runs payload ``kind``; returns (file, canary)."""
    canary = tmp_path / "canary"
    name = f"evil_{kind.replace('.', '_')}.pth"
    path = write_archive(tmp_path / name, state_dict_pickle(CODE_PAYLOADS[kind](canary)))
    return path, canary


# ------------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("kind", list(CODE_PAYLOADS))
def test_code_payload_is_refused_and_nothing_runs(tmp_path, kind):
    path, canary = code_archive(tmp_path, kind)
    module, name = kind.rsplit(".", 1)
    for read in (read_torch_checkpoint, read_sapiens_state_dict):
        with pytest.raises(UnsafeCheckpointError, match=rf"{path.name}: refusing to unpickle global '{module}.{name}'"):
            read(path)
    assert not canary.exists()


@pytest.mark.parametrize(
    "kind", ["builtins.eval", "builtins.exec", "os.system", "subprocess.check_output", "builtins.getattr",
             "functools.partial", "pickle.loads"]
)  # fmt: skip
def test_code_payloads_are_live_under_plain_pickle(tmp_path, kind):
    """The canary works: the payload's pickle, loaded by plain ``pickle.loads``, creates it."""
    canary = tmp_path / "canary"
    pickle.loads(program(CODE_PAYLOADS[kind](canary)))  # noqa: S301 - the point of this test
    assert canary.exists()


def test_huge_declared_storage_is_refused_before_any_allocation(tmp_path):
    path = write_archive(tmp_path / "huge.pth", state_dict_pickle(numel=10**12))
    with pytest.raises(UnsafeCheckpointError, match=r"huge.pth: record archive/data/0 holds 16 bytes, but the pickle "
                       r"declares 1000000000000 × float32 = 4000000000000 bytes"):
        read_torch_checkpoint(path)


@pytest.mark.parametrize("records", [{"0": ONES + ONES}, {"0": ONES[:8]}], ids=["larger", "smaller"])
def test_record_of_another_size_than_declared_is_refused(tmp_path, records):
    path = write_archive(tmp_path / "sized.pth", state_dict_pickle(), records=records)
    with pytest.raises(UnsafeCheckpointError, match=r"sized.pth: record archive/data/0 holds \d+ bytes, but the pickle "
                       r"declares 4 × float32 = 16 bytes for storage 0"):
        read_torch_checkpoint(path)


def test_missing_storage_record_is_refused(tmp_path):
    path = write_archive(tmp_path / "missing.pth", state_dict_pickle(), records={})
    with pytest.raises(UnsafeCheckpointError, match="missing.pth: storage record archive/data/0 is missing"):
        read_torch_checkpoint(path)


BOMB_BYTES = 16 << 20  # 16 MiB of zeros deflate to ~16 KiB


def assert_refused_in_little_memory(load, path: Path, error: type[Exception], match: str) -> None:
    """``load(path)`` raises ``error`` matching ``match``, and Python's peak allocation meanwhile stays under 4 MiB
    (a bomb inflated in full would take its 16 MiB)."""
    tracemalloc.start()
    try:
        with pytest.raises(error, match=match):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_decompression_bomb_is_refused_without_inflating_it(tmp_path):
    """A deflated record expanding far beyond the 16 declared bytes: refused from the zip header sizes."""
    path = write_archive(tmp_path / "bomb.pth", state_dict_pickle(), records={"0": bytes(BOMB_BYTES)}, deflated=("0",))
    assert path.stat().st_size < BOMB_BYTES // 500
    assert_refused_in_little_memory(
        read_torch_checkpoint, path, UnsafeCheckpointError, f"bomb.pth: record archive/data/0 holds {BOMB_BYTES} bytes"
    )


def test_decompression_bomb_with_lying_header_is_never_inflated_past_the_declared_size(tmp_path):
    """The headers claim the declared 16 bytes; the deflate stream holds 16 MiB: at most 16 bytes are inflated,
    then the CRC (of the whole stream) does not match."""
    path = write_archive(tmp_path / "liar.pth", state_dict_pickle(), records={"0": bytes(BOMB_BYTES)}, deflated=("0",))
    set_claimed_size(path, "archive/data/0", 16)
    assert_refused_in_little_memory(
        read_torch_checkpoint, path, UnsafeCheckpointError, "liar.pth: record archive/data/0 is corrupt"
    )


def test_compressed_record_claiming_more_than_deflate_can_hold_is_refused(tmp_path):
    """Declared and claimed sizes agree (4 GB) but ~16 KiB of deflate data cannot hold them."""
    path = write_archive(tmp_path / "claim.pth", state_dict_pickle(numel=10**9), records={"0": bytes(BOMB_BYTES)},
                         deflated=("0",))  # fmt: skip
    set_claimed_size(path, "archive/data/0", 4 * 10**9)
    with pytest.raises(UnsafeCheckpointError, match="claim.pth: compressed record archive/data/0 claims 4000000000 "
                       "bytes .* more than deflate can produce"):
        read_torch_checkpoint(path)


def test_data_pkl_claiming_more_than_the_cap_is_refused(tmp_path):
    path = write_archive(tmp_path / "pkl.pth", state_dict_pickle())
    set_claimed_size(path, "archive/data.pkl", 300 << 20)
    with pytest.raises(UnsafeCheckpointError, match=f"pkl.pth: archive/data.pkl claims {300 << 20} bytes"):
        read_torch_checkpoint(path)


@pytest.mark.parametrize(
    ("offset", "shape", "stride", "message"),
    [
        (0, (10**6, 10**6), (0, 0), r"shape \[1000000, 1000000\] has more elements than its storage \(4\)"),
        (3, (2,), (1,), "out of bounds for storage of size 16"),
    ],
    ids=["zero-strides", "past-the-end"],
)
def test_a_view_beyond_its_storage_is_refused(tmp_path, offset, shape, stride, message):
    """Zero strides over a 4-element storage (conversion would materialise 10^12 elements), or an offset
    past its end."""
    pid = op_tuple(op_str("storage"), op_global("torch", "FloatStorage"), op_str("0"), op_str("cpu"), op_int(4))
    view = op_call(op_global("torch._utils", "_rebuild_tensor_v2"), pid + b"Q", op_int(offset),
                   op_tuple(*map(op_int, shape)), op_tuple(*map(op_int, stride)), b"\x89",
                   op_call(op_global("collections", "OrderedDict")))  # fmt: skip
    path = write_archive(tmp_path / "view.pth", program(op_dict({"state_dict": op_dict({"w": view})})))
    with pytest.raises(UnsafeCheckpointError, match=f"view.pth: .*{message}"):
        read_torch_checkpoint(path)


def torchscript_lookalike(tmp_path: Path) -> Path:
    """An archive laid out as TorchScript (``constants.pkl``, ``code/``): would go to ``torch.jit.load``."""
    return write_archive(
        tmp_path / "model_torchscript.pt2",
        state_dict_pickle(),
        extra={"constants.pkl": program(b")"), "code/__torch__.py": b"def forward(self): ...\n"},
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_is_refused_without_trust(tmp_path):
    path = torchscript_lookalike(tmp_path)
    assert file_kind(path) == "torchscript"
    with pytest.raises(UnsafeCheckpointError, match=r"model_torchscript.pt2: refused: a TorchScript archive .*"
                       r"torch.jit.load runs the TorchScript code .*convert-checkpoint --trust"):
        read_sapiens_state_dict(path)
    # trusted, it reaches torch.jit.load, whose failure on this fake names the file
    with pytest.raises(UnsafeCheckpointError, match="model_torchscript.pt2: torch.jit.load failed"):
        read_sapiens_state_dict(path, trust_code=True)


# ------------------------------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize("kind", ["os.system", "builtins.getattr", "torch.load"])
def test_cli_convert_refuses_code_payloads(tmp_path, capsys, kind):
    path, canary = code_archive(tmp_path, kind)
    out = tmp_path / "out.safetensors"
    assert cli_main(["convert-checkpoint", str(path), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"convert-checkpoint: error: {path}: refusing to unpickle global '{kind}'")
    assert "Traceback" not in err and not out.exists() and not canary.exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: write_archive(p / "huge.pth", state_dict_pickle(numel=10**12)), "holds 16 bytes, but the pickle"),
        (lambda p: write_archive(p / "bomb.pth", state_dict_pickle(), records={"0": bytes(BOMB_BYTES)},
                                 deflated=("0",)), f"holds {BOMB_BYTES} bytes"),  # fmt: skip
        (lambda p: write_archive(p / "missing.pth", state_dict_pickle(), records={}), "is missing"),
        (torchscript_lookalike, "refused: a TorchScript archive"),
    ],
    ids=["huge", "bomb", "missing", "torchscript"],
)
def test_cli_convert_refuses_malformed_archives(tmp_path, capsys, make, message):
    path = make(tmp_path)
    out = tmp_path / "out.safetensors"
    assert cli_main(["convert-checkpoint", str(path), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"convert-checkpoint: error: {path}: ") and message in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_cli_convert_trust_reaches_torch_jit_load_with_a_named_error(tmp_path, capsys):
    path = torchscript_lookalike(tmp_path)
    assert cli_main(["convert-checkpoint", "--trust", str(path), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"convert-checkpoint: error: {path}: torch.jit.load failed")


def test_legitimate_checkpoints_still_convert(tmp_path, capsys):
    """Regression: a torch.save'd state dict (and the hand-written archive) convert exactly."""
    state = {"backbone.ln1.weight": torch.randn(8), "backbone.pos_embed": torch.randn(1, 12, 8).to(torch.bfloat16),
             "head.final_layer.bias": torch.arange(17, dtype=torch.int64)[::2]}  # fmt: skip
    saved = tmp_path / "saved.pth"
    torch.save({"state_dict": state, "meta": {"epoch": 3}}, saved)
    out = tmp_path / "saved.safetensors"
    assert cli_main(["convert-checkpoint", str(saved), str(out)]) == 0
    converted = load_file(str(out))
    assert set(converted) == set(state)
    for key, value in state.items():
        assert torch.equal(converted[key], value) and converted[key].dtype == value.dtype
    hand = write_archive(tmp_path / "hand.pth", state_dict_pickle())
    assert torch.equal(read_sapiens_state_dict(hand)[0]["backbone.ln1.weight"], torch.ones(4))
    capsys.readouterr()


# ------------------------------------------------------------------- weights_only loads and the train verb


def test_load_state_file_refuses_compressed_records_without_inflating_them(tmp_path):
    """``init_from`` files go to torch.load(weights_only=True), which would inflate the record in full."""
    path = write_archive(tmp_path / "bomb.pt", state_dict_pickle(), records={"0": bytes(BOMB_BYTES)}, deflated=("0",))
    assert_refused_in_little_memory(
        load_state_file, path, UnsafeCheckpointError, "bomb.pt: record archive/data/0 is compressed"
    )
    with pytest.raises(UnsafeCheckpointError, match="model_torchscript.pt2: refused: a TorchScript archive"):
        load_state_file(torchscript_lookalike(tmp_path))
    plain = write_archive(tmp_path / "plain.pt", state_dict_pickle())
    assert torch.equal(load_state_file(plain)["backbone.ln1.weight"], torch.ones(4))


def test_resume_state_with_a_compressed_record_is_refused_without_inflating_it(tmp_path):
    """``--resume`` reads ``last.ckpt`` with torch.load(weights_only=True) too: the same zip check runs first."""
    from hyper_sapiens.engine.checkpointing import load_trainer_state

    path = write_archive(tmp_path / "last.ckpt", state_dict_pickle(), records={"0": bytes(BOMB_BYTES)}, deflated=("0",))
    assert_refused_in_little_memory(
        load_trainer_state, path, ValueError, "last.ckpt: record archive/data/0 is compressed"
    )


def _train(tiny_dataset: Path, tmp_path: Path, capsys, **overrides: str) -> tuple[int, str]:
    cfg = tiny_stage_config(tiny_dataset, tmp_path / "run", **{"run.steps": 1})
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value)
    OmegaConf.save(cfg, tmp_path / "stage.yaml")
    rc = cli_main(["train", "--config", str(tmp_path / "stage.yaml"), "--no-progress"])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("key", ["sapiens_checkpoints.pose", "sapiens_checkpoints.backbone", "init_from"])
def test_train_names_an_unsafe_checkpoint_and_exits_2(tiny_dataset, tmp_path, capsys, key):
    path, canary = code_archive(tmp_path, "os.system")
    rc, err = _train(tiny_dataset, tmp_path, capsys, **{key: str(path)})
    assert rc == 2 and "Traceback" not in err
    assert f"train: error: {path}: " in err and "os.system" in err
    assert not canary.exists() and not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_train_refuses_torchscript_and_says_to_convert_it_with_trust(tiny_dataset, tmp_path, capsys):
    path = torchscript_lookalike(tmp_path)
    rc, err = _train(tiny_dataset, tmp_path, capsys, **{"sapiens_checkpoints.pose": str(path)})
    assert rc == 2 and "Traceback" not in err
    assert f"train: error: {path}: refused: a TorchScript archive" in err
    assert "convert-checkpoint --trust" in err
