"""Paths in files that travel (a shipped manifest, a report): named anchors instead of the absolute paths
of the machine that wrote them.

A manifest written on one machine and read on another must not record ``/home/alice/runs/pretrain/data``:
it means nothing elsewhere and leaks the writer's layout. :func:`portable` rewrites every absolute path in
a JSON-like value as ``ANCHOR/relative/part`` against named folders (``OUT`` for the recipe's output folder,
``REAL_ADULTS`` for a data set given by path, ...); a path under none of them keeps only its last component,
behind ``<elsewhere>/``.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

__all__ = ["ELSEWHERE", "absolute_paths_in", "is_absolute_path", "portable"]

ELSEWHERE = "<elsewhere>"
"""Prefix of a path that lies under none of the anchors (only its last component is kept)."""


def is_absolute_path(text: str) -> bool:
    """True for a POSIX absolute path, a home-relative ``~`` path, or a Windows drive or UNC path."""
    if not text:
        return False
    return text.startswith(("/", "~")) or PureWindowsPath(text).drive != ""


def _portable_string(text: str, anchors: list[tuple[str, PurePosixPath]]) -> str:
    if not is_absolute_path(text):
        return text
    path = PurePosixPath(os.path.normpath(os.path.expanduser(text)))
    for name, root in anchors:  # the deepest anchor first: a data folder inside OUT is named by its own anchor
        if path == root or root in path.parents:
            rel = path.relative_to(root)
            return name if str(rel) == "." else f"{name}/{rel.as_posix()}"
    return f"{ELSEWHERE}/{path.name}"


def portable(value: Any, anchors: dict[str, str | os.PathLike]) -> Any:
    """``value`` (dicts, lists, strings, numbers) with every absolute path rewritten against ``anchors``.

    ``anchors`` maps a name (``"OUT"``) to a folder; a string that is that folder or lies under it becomes
    ``"OUT"`` or ``"OUT/data/adults"``. Strings that are not absolute paths are kept as they are.
    """
    ordered = sorted(
        ((name, PurePosixPath(os.path.normpath(os.path.abspath(os.path.expanduser(os.fspath(p))))))
         for name, p in anchors.items()),
        key=lambda item: len(item[1].parts), reverse=True,
    )
    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return _portable_string(v, ordered)
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        return v
    return walk(value)


def absolute_paths_in(value: Any, where: str = "") -> list[str]:
    """Every string in a JSON-like value that is an absolute path, as ``"key.path: value"`` lines."""
    found: list[str] = []
    if isinstance(value, str):
        if is_absolute_path(value):
            found.append(f"{where or '<root>'}: {value}")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += absolute_paths_in(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found += absolute_paths_in(v, f"{where}[{i}]")
    return found
