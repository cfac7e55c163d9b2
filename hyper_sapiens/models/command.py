"""``hyper-sapiens convert-checkpoint IN OUT.safetensors [--part ...]``.

Reads a Sapiens checkpoint (mmengine ``.pth`` through the restricted unpickler, or safetensors; TorchScript
and torch.export ``.pt2`` only with ``--trust``, since loading them runs code from the file) and writes its
tensors, with Sapiens key names, to a safetensors file that :func:`load_sapiens_checkpoint` and
:func:`load_state_file` read without any unpickling.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from ..io_atomic import atomic_write
from .restricted_unpickler import PickledObject, UnsafeCheckpointError
from .sapiens_format import SAPIENS_PARTS, infer_sapiens_arch, is_pretrain_state, part_prefixes, read_sapiens_state_dict

_DTYPES = {"keep": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def select_part(state: dict[str, torch.Tensor], part: str) -> dict[str, torch.Tensor]:
    """Keep the tensors of ``part`` (``auto``: all). A flat pretrain dict counts as the backbone."""
    if part == "auto":
        return dict(state)
    prefixes = part_prefixes(part)
    if is_pretrain_state(state):
        if part != "backbone":
            raise ValueError(f"a backbone-only (pretrain) checkpoint has no {part} head")
        return dict(state)
    picked = {k: v for k, v in state.items() if k.startswith(prefixes)}
    if part != "backbone" and not any(k.startswith(prefixes[1]) for k in picked):
        raise ValueError(f"no '{prefixes[1]}*' keys: this is not a {part} checkpoint")
    return picked


def convert_checkpoint(
    src: str | os.PathLike, dst: str | os.PathLike, part: str = "auto", dtype: str = "keep", trust_code: bool = False
) -> dict:
    """Convert ``src`` to safetensors at ``dst``; returns a summary dict (tensors, arch, bytes, format).

    ``trust_code``: also read TorchScript / torch.export archives, whose loaders run code from the file.
    """
    from safetensors.torch import save_file

    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise ValueError(f"output {dst} must end in .safetensors")
    state, info = read_sapiens_state_dict(src, trust_code=trust_code)
    state = select_part(state, part)
    cast = _DTYPES[dtype]
    tensors = {}
    for key, value in state.items():
        value = value.detach().to("cpu")
        if cast is not None and value.is_floating_point():
            value = value.to(cast)
        tensors[key] = value.contiguous().clone()
    arch = infer_sapiens_arch(tensors) or ""
    metadata = {
        "format": "sapiens",
        "source": Path(src).name,
        "source_format": str(info.get("format")),
        "part": part,
        "arch": arch,
    }
    meta = info.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("cfg"), str):
        metadata["sapiens_cfg"] = meta["cfg"]
    if isinstance(meta, dict):
        metadata["meta_keys"] = ",".join(
            f"{k}:{'object' if isinstance(v, PickledObject) else type(v).__name__}" for k, v in meta.items()
        )
    atomic_write(dst, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return {
        "tensors": len(tensors),
        "parameters": sum(v.numel() for v in tensors.values()),
        "arch": arch or None,
        "source_format": metadata["source_format"],
        "bytes": dst.stat().st_size,
        "out": str(dst),
    }


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-checkpoint",
        help="convert a Sapiens checkpoint (.pth / .pt2) to safetensors",
        description="Read a Sapiens checkpoint without executing code from it (mmengine .pth via a restricted "
        "unpickler that checks globals and storage sizes) and write its tensors, with Sapiens key names, "
        "to a safetensors file. TorchScript and torch.export .pt2 files run code when loaded: they are "
        "refused unless --trust is given.",
    )
    parser.add_argument(
        "input", help="Sapiens checkpoint: .pth, .safetensors, or (with --trust) *_torchscript.pt2 / *.pt2"
    )
    parser.add_argument("output", help="output .safetensors file")
    parser.add_argument(
        "--part",
        choices=("auto", *SAPIENS_PARTS),
        default="auto",
        help="keep only this part: backbone (backbone.*), pose (+head.*), depth/normal (+decode_head.*); "
        "auto keeps every tensor",
    )
    parser.add_argument("--dtype", choices=tuple(_DTYPES), default="keep", help="cast floating tensors")
    parser.add_argument(
        "--trust",
        "--trust-torchscript",
        dest="trust",
        action="store_true",
        help="also read TorchScript (torch.jit.load runs code from the archive) and torch.export archives "
        "(unpickled without restriction); only for files from a source you trust",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        summary = convert_checkpoint(args.input, args.output, part=args.part, dtype=args.dtype, trust_code=args.trust)
    except (OSError, ValueError, UnsafeCheckpointError) as exc:
        print(f"convert-checkpoint: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {summary['out']}: {summary['tensors']} tensors, {summary['parameters']:,} values, "
        f"arch={summary['arch'] or 'unknown'} (from {summary['source_format']})"
    )
    return 0
