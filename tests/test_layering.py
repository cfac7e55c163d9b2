"""The package's import graph respects its layers.

data / models / keypoints / losses / prior / synth (lower) → evaluation → engine → the CLI verbs. A module
may import its own layer or a lower one, never a higher one; the top-level utilities (``config.py``,
``config_schema.py``, ``config_sections.py``, ``devices.py``, ``io_atomic.py``, ``json_safe.py``) sit outside
the layers and import no higher layer either. Every ``import`` statement counts, at module level or inside a function,
absolute or relative.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hyper_sapiens

PACKAGE = "hyper_sapiens"
ROOT = Path(hyper_sapiens.__file__).resolve().parent

LOWER = ("data", "models", "keypoints", "losses", "prior", "synth")
VERB_MODULES = {"cli", "demo", "ablation", "pretrain"}
# top-level utilities anyone may import (config's resolvers and validation reach models and data, lazily)
LEAVES = {"config", "config_schema", "config_sections", "devices", "io_atomic", "json_safe"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _registered_verbs() -> set[str]:
    """Modules named in ``cli.VERB_MODULES`` (read from the source: the test imports nothing it checks)."""
    tree = ast.parse((ROOT / "cli.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "VERB_MODULES" and node.value is not None:
            return set(ast.literal_eval(node.value))
    raise AssertionError("cli.py defines no VERB_MODULES")


VERBS = _registered_verbs()


def _is_verb(module: str) -> bool:
    parts = module.split(".")
    return module in VERBS or (len(parts) == 2 and parts[1] in VERB_MODULES) or parts[-1] == "command"


def _imports(path: Path, module: str) -> list[tuple[int, str, list[str]]]:
    """``(line, statement, modules)`` of every package-internal import in a file, ``modules`` absolute;
    ``from x import y`` names both ``x`` and ``x.y``, since ``y`` may be a submodule."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, f"import {alias.name}", [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = package.split(".")
                source = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
            names = [alias.name for alias in node.names]
            statement = f"from {'.' * node.level}{node.module or ''} import {', '.join(names)}"
            out.append((node.lineno, statement, [source] + [f"{source}.{n}" for n in names if n != "*"]))
    return [
        (line, statement, [m for m in modules if m == PACKAGE or m.startswith(PACKAGE + ".")])
        for line, statement, modules in out
    ]


def _package_layer(module: str) -> str | None:
    """``lower``, ``evaluation`` or ``engine`` by the sub-package a module is in, ``leaf`` for the top-level
    utilities; None for the other top-level modules (the verbs, the package root)."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    if len(parts) == 2 and parts[1] in LEAVES:
        return "leaf"
    if parts[1] in LOWER:
        return "lower"
    return parts[1] if parts[1] in ("evaluation", "engine", "video", "review") else None


def _target_layer(module: str) -> str | None:
    """What an imported module is: ``verb`` for a CLI verb wherever it lives, else its package's layer."""
    return "verb" if _is_verb(module) else _package_layer(module)


# config.py, devices.py and every module of a lower package (its ``command`` verb included) import no
# evaluation, engine or verb module; evaluation/ (its ``command`` verb included) no engine or verb module;
# engine/ no verb module.
FORBIDDEN = {
    "leaf": {"evaluation", "engine", "video", "review", "verb"},
    "lower": {"evaluation", "engine", "video", "review", "verb"},
    "evaluation": {"engine", "video", "review", "verb"},
    "video": {"engine", "review", "verb"},
    "engine": {"video", "review", "verb"},
    "review": {"engine", "verb"},   # the review page sits above video/
}


def _violations() -> list[str]:
    """``file:line: statement (module in layer → imported module in layer)`` for each upward import."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        layer = _package_layer(module)
        if layer is None:
            continue
        for line, statement, targets in _imports(path, module):
            bad = [t for t in targets if _target_layer(t) in FORBIDDEN[layer]]
            if bad:
                found.append(
                    f"{path.relative_to(ROOT.parent)}:{line}: {statement}  "
                    f"({module}, {layer} -> {bad[0]}, {_target_layer(bad[0])})"
                )
    return found


def test_the_verbs_are_known():
    assert "hyper_sapiens.evaluation.command" in VERBS and _is_verb("hyper_sapiens.demo")
    assert not _is_verb("hyper_sapiens.evaluation.report")


def test_the_import_scan_sees_local_and_relative_imports(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text("from ..engine import trainer\n\ndef f():\n    import hyper_sapiens.demo\n    from . import x\n")
    found = {(line, m) for line, _, modules in _imports(src, "hyper_sapiens.losses.mod") for m in modules}
    assert (1, "hyper_sapiens.engine") in found and (1, "hyper_sapiens.engine.trainer") in found
    assert (4, "hyper_sapiens.demo") in found and (5, "hyper_sapiens.losses.x") in found


def test_lower_layers_never_import_higher_ones():
    violations = _violations()
    assert not violations, "imports across layers, upwards:\n" + "\n".join(violations)
