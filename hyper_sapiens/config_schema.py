"""Strict, typed config sections: dataclasses read from plain mappings.

Every config section of the package (the stage configs' ``run``, ``optim``, ``loss.<term>``, ``eval`` ...,
the prior configs, the data pipeline, the prior's denoiser and normaliser) is a dataclass whose fields are
the allowed keys, whose defaults are the defaults, and whose type hints are checked. Reading one is strict:

* a key that is not a field is an error naming its dotted path, the closest allowed key and all allowed keys
  (``optim.lrr: unknown key; did you mean optim.lr? allowed: ...``);
* a value of the wrong type is an error naming the path, the expected type and the value;
* missing keys take the field defaults, so code reads ``cfg.optim.lr`` with no inline default.

Supported field types: ``bool``, ``int``, ``float`` (an int is accepted), ``str``, ``Any``, ``Literal[...]``,
``X | None``, unions of those, ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[K, V]`` and nested
dataclasses. :func:`plain_container` is the one OmegaConf → plain containers conversion. This module imports
nothing else from the package: every layer may use it.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar, Union

__all__ = [
    "ConfigError",
    "check_known_keys",
    "closest_key",
    "from_mapping",
    "plain_container",
    "section_defaults",
    "validate_section",
]

T = TypeVar("T")


def plain_container(cfg: Any) -> Any:
    """``cfg`` as plain Python containers: OmegaConf nodes resolved (interpolations replaced by their values),
    mappings as dicts, lists and tuples as lists; other values unchanged."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(cfg, (DictConfig, ListConfig)):
        return OmegaConf.to_container(cfg, resolve=True)
    if isinstance(cfg, Mapping):
        return {k: plain_container(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [plain_container(v) for v in cfg]
    return cfg


class ConfigError(ValueError):
    """A config key or value that the schema does not allow."""


def closest_key(name: str, allowed: Iterable[str]) -> str | None:
    """The allowed key most similar to ``name`` (``difflib`` ratio ≥ 0.6), or ``None``."""
    allowed = [str(a) for a in allowed]
    lowered = {a.lower(): a for a in allowed}
    if str(name).lower() in lowered:  # a case slip
        return lowered[str(name).lower()]
    match = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
    return match[0] if match else None


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def check_known_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str = "") -> None:
    """Raise :class:`ConfigError` for the first key of ``data`` not in ``allowed``, with the closest match."""
    allowed = sorted(str(a) for a in allowed)
    for key in data:
        if str(key) in allowed:
            continue
        guess = closest_key(str(key), allowed)
        hint = f"; did you mean {_join(where, guess)}?" if guess else ""
        raise ConfigError(f"{_join(where, key)}: unknown key{hint} (allowed in {where or 'the top level'}: "
                          f"{', '.join(allowed)})")


def _describe(tp: Any) -> str:
    if tp is Any:
        return "anything"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _check(tp: Any, value: Any, where: str) -> Any:
    """``value`` checked against the type hint ``tp``; returns it as plain containers (tuples become lists)."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # X | None: X's own message
            return _check(options[0], value, where)
        for option in options:
            try:
                return _check(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {list(args)}, got {value!r}")
        return value
    if _is_dataclass_type(tp):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} keys, got {value!r}")
        return validate_section(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list ({_describe(tp)}), got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values ({_describe(tp)}), got {value!r}")
            return [_check(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))]
        item = args[0] if args else Any
        return [_check(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping ({_describe(tp)}), got {value!r}")
        key_tp, value_tp = args if args else (Any, Any)
        out = {}
        for k, v in value.items():
            if key_tp is int and isinstance(k, str) and k.lstrip("-").isdigit():
                k = int(k)
            out[_check(key_tp, k, where)] = _check(value_tp, v, _join(where, k))
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"config_schema: unsupported field type {tp!r} at {where}")


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def validate_section(cls: type, data: Mapping[str, Any] | None, where: str = "") -> dict[str, Any]:
    """``data`` checked against the dataclass ``cls``: unknown keys and wrong types raise
    :class:`ConfigError`; missing keys take the defaults. Returns plain containers (nested dicts and lists)."""
    data = dict(data or {})
    check_known_keys(data, [f.name for f in dataclasses.fields(cls)], where)
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        path = _join(where, f.name)
        if f.name in data:
            value = data[f.name]
        else:
            value = _field_default(f)
            if value is dataclasses.MISSING:
                raise ConfigError(f"{path}: required key missing")
        out[f.name] = _check(hints[f.name], value, path)
    return out


def section_defaults(cls: type) -> dict[str, Any]:
    """The defaults of every key of ``cls`` as plain containers."""
    return validate_section(cls, {}, cls.__name__)


def _build(tp: Any, value: Any) -> Any:
    """Turn checked plain values into the hinted Python types (nested dataclasses, tuples)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        for option in (a for a in args if a is not type(None)):
            try:
                _check(option, value, "")
            except ConfigError:
                continue
            return _build(option, value)
        return value
    if _is_dataclass_type(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{k: _build(hints[k], v) for k, v in value.items()})
    if origin is tuple:
        if args and args[-1] is not Ellipsis:
            return tuple(_build(a, v) for a, v in zip(args, value, strict=True))
        return tuple(_build(args[0] if args else Any, v) for v in value)
    if origin is list:
        return [_build(args[0] if args else Any, v) for v in value]
    if origin is dict:
        return {k: _build(args[1] if args else Any, v) for k, v in value.items()}
    return value


def from_mapping(cls: type[T], data: Mapping[str, Any] | T | None, where: str = "") -> T:
    """An instance of the dataclass ``cls`` read strictly from ``data`` (see :func:`validate_section`);
    an instance of ``cls`` is returned as is."""
    if isinstance(data, cls):
        return data
    return _build(cls, validate_section(cls, data, where or cls.__name__))
