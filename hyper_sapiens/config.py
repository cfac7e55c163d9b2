"""YAML configs: packaged names or paths, ``base:`` inheritance, ``key.sub=value`` overrides (OmegaConf), and
validation against the typed sections of :mod:`hyper_sapiens.config_sections`.

:func:`load_config` returns a stage config, :func:`load_tree` any config file unvalidated (the prior's loader
validates it against :class:`~hyper_sapiens.config_sections.PriorConfig`). A validated config holds every key
with its value or default, resolved (no interpolations left); ``config.yaml`` of a run is that config.
"""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .config_schema import ConfigError, plain_container, validate_section
from .config_sections import StageConfig

__all__ = [
    "ConfigError",
    "load_config",
    "load_tree",
    "packaged_config_names",
    "resolve_config_path",
    "resolved_container",
    "save_config",
    "validate_stage_config",
]


def _packaged_weights(name: str) -> str:
    from .models.pretrained import packaged_weights_path

    return str(packaged_weights_path(str(name)))


def _syrip_file(root: str, layout: str, key: str) -> str:
    from .data.syrip_layout import syrip_file

    return syrip_file(str(root), str(layout), str(key))


# `${packaged_weights:tiny_adult_pose}`: the path of a weight file shipped in the package;
# `${syrip_file:${data.syrip},${data.syrip_layout},train_ann}`: a SyRIP file in the chosen layout
for _name, _resolver in (("packaged_weights", _packaged_weights), ("syrip_file", _syrip_file)):
    if not OmegaConf.has_resolver(_name):
        with warnings.catch_warnings():  # newer OmegaConf renames the call; both spellings behave the same here
            warnings.simplefilter("ignore", UserWarning)
            OmegaConf.register_new_resolver(_name, _resolver)


def packaged_config_names() -> list[str]:
    """Names of the YAML configs shipped in ``hyper_sapiens/configs``."""
    root = resources.files("hyper_sapiens").joinpath("configs")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def resolve_config_path(config: str | Path, relative_to: Path | None = None) -> Path:
    """A config file path: an existing path (relative to ``relative_to`` first), or a packaged name
    (``stage1_syn_warmup_demo``, with or without ``.yaml``)."""
    candidates = []
    p = Path(config)
    if relative_to is not None and not p.is_absolute():
        candidates.append(relative_to / p)
    candidates.append(p)
    for c in candidates:
        if c.is_file():
            return c
    name = p.name if p.name.endswith((".yaml", ".yml")) else f"{p.name}.yaml"
    packaged = resources.files("hyper_sapiens").joinpath("configs").joinpath(name)
    if p.parent == Path(".") and packaged.is_file():
        return Path(str(packaged))
    raise FileNotFoundError(
        f"config {config}: no such file, nor a packaged config of that name "
        f"(packaged: {', '.join(packaged_config_names())})"
    )


def _load_tree(path: Path, seen: tuple[Path, ...]) -> DictConfig:
    if path.resolve() in seen:
        raise ValueError(f"config {path}: circular 'base' chain {[str(s) for s in seen]}")
    try:
        node = OmegaConf.load(path)
    except Exception as err:  # noqa: BLE001 - yaml raises several error types
        raise ValueError(f"config {path}: not valid YAML ({err})") from err
    if not isinstance(node, DictConfig):
        raise ValueError(f"config {path}: the top level must be a mapping")
    base = node.pop("base", None)
    if base is None:
        return node
    bases = [base] if isinstance(base, str) else list(base)
    merged = OmegaConf.create()
    for b in bases:
        merged = OmegaConf.merge(merged, _load_tree(resolve_config_path(b, path.parent), seen + (path.resolve(),)))
    return OmegaConf.merge(merged, node)


def load_tree(config: str | Path, overrides: list[str] | None = None) -> DictConfig:
    """A config file with its ``base:`` chain (a name/path or a list; later entries and the file itself win)
    and dotted overrides (``optim.lr=1e-4``) applied; not resolved, not validated."""
    tree = _load_tree(resolve_config_path(config), ())
    bad = [item for item in overrides or [] if "=" not in item]
    if bad:
        raise ValueError(f"overrides must look like key.sub=value, got {bad}")
    if overrides:
        tree = OmegaConf.merge(tree, OmegaConf.from_dotlist(list(overrides)))
    return tree


def resolved_container(cfg: Any, where: str = "config") -> Any:
    """:func:`~hyper_sapiens.config_schema.plain_container` of ``cfg``; a broken interpolation is a
    :class:`ConfigError` naming it."""
    try:
        return plain_container(cfg)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{where}: {str(err).splitlines()[0]}") from err


def validate_stage_config(cfg: Any, where: str = "config") -> DictConfig:
    """A stage config checked against :class:`~hyper_sapiens.config_sections.StageConfig` and returned
    resolved, with every default filled in; idempotent.

    Also checks the sub-trees whose keys their owners define: ``model`` (architecture and head keys),
    ``data.pipeline`` and every data source spec. Raises :class:`ConfigError` (a ``ValueError``) naming
    the dotted key, the closest allowed key and the allowed keys.
    """
    from .data.pipeline import PipelineConfig
    from .data.sources import check_source_spec
    from .models import check_model_config

    defaults = OmegaConf.create(validate_section(StageConfig, {}, ""))
    tree = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    plain = resolved_container(OmegaConf.merge(defaults, tree), where)
    try:
        checked = validate_section(StageConfig, plain, "")
        check_model_config(checked["model"])
        PipelineConfig.from_dict(checked["data"]["pipeline"], where="data.pipeline")
        data = checked["data"]
        specs = {f"data.sources.{n}": s for n, s in data["sources"].items()}
        specs.update({f"data.extra_val.{n}": s for n, s in data["extra_val"].items()})
        specs.update({"data.val": data["val"], "eval.dataset": checked["eval"]["dataset"]})
        for key, spec in specs.items():
            if spec is not None:
                check_source_spec(spec, key)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return OmegaConf.create(checked)


def load_config(config: str | Path, overrides: list[str] | None = None) -> DictConfig:
    """Load a stage config (a packaged name or a path) with its ``base:`` chain and dotted overrides,
    validated and resolved (:func:`validate_stage_config`)."""
    return validate_stage_config(load_tree(config, overrides), where=f"config {config}")


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the (resolved) config as YAML."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(cfg)
    path.write_text(OmegaConf.to_yaml(node, resolve=True), encoding="utf-8")
    return path
