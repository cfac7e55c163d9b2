"""The ``hyper-sapiens`` command: one verb per job, each with ``--help``.

Each verb lives beside the code it drives and exposes ``add_parser(subparsers)``, which
registers an ``argparse`` sub-parser whose ``func(args) -> int`` runs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

# Modules that provide verbs, in the order ``--help`` lists them.
VERB_MODULES: tuple[str, ...] = (
    "hyper_sapiens.synth.command",
    "hyper_sapiens.prior.command",
    "hyper_sapiens.engine.command",
    "hyper_sapiens.evaluation.command",
    "hyper_sapiens.evaluation.predict",
    "hyper_sapiens.video.command",
    "hyper_sapiens.video.frames_command",
    "hyper_sapiens.review.command",
    "hyper_sapiens.pretrain",
    "hyper_sapiens.demo",
    "hyper_sapiens.ablation",
    "hyper_sapiens.models.command",
    "hyper_sapiens.models.export_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyper-sapiens",
        description="Infant 2D pose estimation (COCO17) on Sapiens ViTs with a diffusion pose prior "
        "and depth/normal geometric consistency.",
    )
    parser.add_argument("--version", action="version", version=f"hyper-sapiens {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="<verb>")
    for module_name in VERB_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.verb is None else 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
