"""Settings declared once: a dataclass is the only list of a command's settings.

Each field is declared with :func:`setting` (default + one line of help). From that one
declaration come the Python API (build the dataclass directly), YAML recipe files and
``key=value`` overrides (:func:`build_config`, in the spirit of ultralytics' ``get_cfg``), and
the CLI's options (:mod:`gaitpipe.cli.settings`). Unknown keys and values of the wrong type are
rejected with one :class:`~gaitpipe.errors.ConfigError` line naming the key (and, for unknown
keys, the known ones), so a typo never passes silently.

Precedence, lowest first: the dataclass defaults, the recipe file, ``key=value`` assignments,
then explicitly given ``values`` (a front end's own options).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

from gaitpipe.errors import ConfigError, SettingError

T = TypeVar("T")

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null", "~"}


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    flag: str | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with its help text; ``flag`` overrides the CLI option name (``--time-limit``)."""
    metadata = {"help": help, **({"flag": flag} if flag else {})}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class SettingInfo:
    """One declared setting, as front ends need it."""

    name: str
    type: Any  #: the resolved annotation, e.g. ``int`` or ``str | None``
    default: Any  #: ``dataclasses.MISSING`` for a required setting
    help: str
    flag: str  #: CLI option name, ``--`` + the name with hyphens unless declared otherwise

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def settings_of(cls: type) -> list[SettingInfo]:
    """The settings of dataclass ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        out.append(SettingInfo(f.name, hints[f.name], default, f.metadata.get("help", ""), flag))
    return out


def read_recipe(path: str | Path) -> dict[str, Any]:
    """A YAML recipe file: one mapping of setting names to values."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ConfigError(f"recipe {path} must be a mapping of setting names to values")
    return data


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["iters=100", "lr=0.01"]`` -> ``{"iters": "100", "lr": "0.01"}`` (values converted later,
    by the setting's type); hyphens in names are read as underscores."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"expected key=value, got {item!r}")
        out[key] = value.strip()
    return out


def build_config(
    cls: type[T],
    *,
    recipe: str | Path | Mapping[str, Any] | None = None,
    assignments: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
) -> T:
    """Dataclass ``cls`` from its defaults, a recipe (YAML file or mapping), ``key=value``
    assignments and explicit ``values``, each overriding the previous; every key and value is checked."""
    infos = {info.name: info for info in settings_of(cls)}
    layers: list[Mapping[str, Any]] = []
    if recipe is not None:
        layers.append(read_recipe(recipe) if isinstance(recipe, (str, Path)) else recipe)
    layers.append(parse_assignments(assignments))
    layers.append(values or {})
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            info = infos.get(key)
            if info is None:
                raise ConfigError(_unknown(key, infos))
            merged[key] = coerce(info.name, info.type, value)
    missing = [name for name, info in infos.items() if info.required and name not in merged]
    if missing:
        raise SettingError(f"missing required setting(s): {', '.join(missing)}", *missing)
    return cls(**merged)


def _unknown(key: str, infos: Mapping[str, SettingInfo]) -> str:
    close = difflib.get_close_matches(key, list(infos), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown setting {key!r}{hint}; known settings: {', '.join(infos)}"


def coerce(key: str, tp: Any, value: Any) -> Any:
    """``value`` as type ``tp``; strings are parsed (``"100"`` -> 100 for an ``int``), other values
    must already have the type (YAML ``100`` for an ``int``, not ``"abc"``)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        none_ok = len(args) < len(typing.get_args(tp))
        if value is None or (none_ok and isinstance(value, str) and value.strip().lower() in _NONE):
            if none_ok:
                return None
            raise SettingError(f"{key} needs a value", key)
        if len(args) == 1:
            return coerce(key, args[0], value)
        return value
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise SettingError(f"{key} must be true or false, got {value!r}", key)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise SettingError(f"{key} must be an integer, got {value!r}", key)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise SettingError(f"{key} must be a number, got {value!r}", key)
    if tp is str:
        if isinstance(value, str):
            return value
        raise SettingError(f"{key} must be a string, got {value!r} (quote it in YAML)", key)
    if origin is list:
        (item_type,) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            text = value.strip()
            value = _yaml_value(key, text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise SettingError(f"{key} must be a list (a,b,c), got {value!r}", key)
        try:
            return [coerce(key, item_type, v) for v in value]
        except SettingError:
            raise SettingError(f"{key} must be a list of {_type_name(item_type)} (a,b,c), got {value!r}", key) from None
    if origin is dict:
        if isinstance(value, str):
            value = _yaml_value(key, value)
        if not isinstance(value, Mapping):
            raise SettingError(f"{key} must be a mapping ({{name: value}}), got {value!r}", key)
        return dict(value)
    return value


def _yaml_value(key: str, text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise SettingError(f"{key}: cannot read {text!r}", key) from None


def _type_name(tp: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}.get(tp, str(tp))


__all__ = [
    "SettingError",
    "SettingInfo",
    "build_config",
    "coerce",
    "parse_assignments",
    "read_recipe",
    "setting",
    "settings_of",
]
