"""Every repository path that the code and the docs mention exists.

Scanned: the ``.py`` files under ``hyper_sapiens/``, ``benchmarks/`` and ``tests/``, the ``.md`` files under
``docs/`` and ``README.md``. Checked:

* paths whose first component is one of this repository's top-level folders (``docs/training.md``,
  ``hyper_sapiens/configs/*.yaml``, ``benchmarks/``; a glob must match something), written where a path
  starts: not after ``/``, ``.``, a letter or ``-``, so upstream paths such as ``mmpose/codecs/udp_heatmap.py``
  or ``facebookresearch/sapiens/...`` are not taken for ours. A path that is upstream but reads like ours
  (``tests/...`` of mmpose) must be written with its repository in front (``mmpose/tests/...``);
* top-level Markdown files named in capitals (``README.md``);
* relative links of the Markdown files (``[x](pretrained.md)``, ``[x](../README.md#anchor)``), resolved
  from the linking file, anchors stripped;
* that no file points at a folder of notes or a shared folder beside the repository, which users do not
  have (sources are cited as papers and public repository paths instead).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The repository's top-level folders (a fixed list: run outputs such as ``demo_run/`` may sit beside them).
TOP_FOLDERS = ("benchmarks", "docs", "hyper_sapiens", "tests")


def _scanned_files() -> list[Path]:
    files = [p for folder in ("hyper_sapiens", "benchmarks", "tests") for p in (ROOT / folder).rglob("*.py")]
    files += list((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
    return sorted(p for p in files if "__pycache__" not in p.parts)


FILES = _scanned_files()
# A repository path: a top-level folder, then path characters (``*`` for globs); it starts after
# whitespace, a quote, a bracket or a backquote, not inside a longer path or word.
_START = r"(?<![\w./-])(?:\./)?"
REPO_PATH = re.compile(_START + r"((?:" + "|".join(map(re.escape, TOP_FOLDERS)) + r")/[\w./*-]*)")
TOP_MD = re.compile(r"(?<![\w./-])([A-Z][A-Z0-9_-]*\.md)\b")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
# Built so that this file's own text does not match them.
FORBIDDEN = {
    "a notes folder": re.compile(r"(?<![\w./-])notes[/]"),
    "a shared folder beside the repository": re.compile(r"\.\.[/\\]shared\b"),
}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _exists(ref: str) -> bool:
    ref = ref.rstrip(".,:;")
    if any(c in ref for c in "*?["):
        return any(ROOT.glob(ref))
    return (ROOT / ref).exists()


def _repo_paths(text: str) -> list[str]:
    return [m.group(1).rstrip(".,:;") for m in REPO_PATH.finditer(text)]


def _md_links(text: str) -> list[str]:
    out = []
    for m in MD_LINK.finditer(text):
        target = m.group(1).split("#", 1)[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):   # anchor only, or http:, mailto:, ...
            continue
        out.append(target)
    return out


def test_the_scan_sees_the_repository():
    assert all((ROOT / folder).is_dir() for folder in TOP_FOLDERS)
    assert ROOT / "README.md" in FILES and ROOT / "tests" / "test_doc_references.py" in FILES
    assert len(FILES) > 50


def test_the_patterns_tell_ours_from_upstream():
    text = (
        "see `docs/training.md`, (hyper_sapiens/models/vit.py), benchmarks/model_step.py. "
        "mmpose/codecs/udp_heatmap.py facebookresearch/sapiens/pose/tools/x.py dinov2/layers/ my-docs/x.md"
    )
    assert _repo_paths(text) == ["docs/training.md", "hyper_sapiens/models/vit.py", "benchmarks/model_step.py"]
    md = "[a](pretrained.md) [b](../README.md#set-up) [c](#local) [d](https://github.com/x/y.md)"
    assert _md_links(md) == ["pretrained.md", "../README.md"]
    assert TOP_MD.findall("README.md, x/CHANGES.md") == ["README.md"]
    assert FORBIDDEN["a notes folder"].search("see " + "notes" + "/x.md")
    assert not FORBIDDEN["a notes folder"].search("release_" + "notes" + "/x.md")
    assert FORBIDDEN["a shared folder beside the repository"].search(".." + "/shared/x")


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_references_resolve(path: Path):
    text = path.read_text(encoding="utf-8")
    missing = sorted({ref for ref in _repo_paths(text) if not _exists(ref)})
    missing += sorted({name for name in TOP_MD.findall(text) if not (ROOT / name).is_file()})
    if path.suffix == ".md":
        missing += sorted({t for t in _md_links(text) if not (path.parent / t).exists()})
    assert not missing, f"{_rel(path)} refers to paths that do not exist: {missing}"


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_no_private_folders(path: Path):
    text = path.read_text(encoding="utf-8")
    found = [what for what, pattern in FORBIDDEN.items() if pattern.search(text)]
    assert not found, f"{_rel(path)} refers to {', '.join(found)}"
