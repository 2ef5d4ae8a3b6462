"""Command-line options derived from a settings dataclass (:mod:`gaitpipe.config`).

:func:`settings_command` turns a dataclass into a Typer command: one ``--option`` per setting
(name, type and help from the field), ``--config recipe.yaml``, and ``KEY=VALUE`` arguments.
An option left out takes the recipe's value, else the dataclass default, so the settings are
declared once, in the dataclass. Setting errors come back with the flags' spelling.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer

from gaitpipe.config import SettingError, SettingInfo, build_config, settings_of
from gaitpipe.errors import ConfigError, InputError

T = TypeVar("T")

_RESERVED = ("config", "overrides")


def settings_command(cls: type[T], run: Callable[[T], None], *, doc: str) -> Callable[..., None]:
    """A Typer command function building ``cls`` from the command line and calling ``run`` with it."""
    infos = settings_of(cls)
    clash = [i.name for i in infos if i.name in _RESERVED]
    if clash:
        raise RuntimeError(f"{cls.__name__} settings {clash} clash with the command's own parameters")
    params = [
        inspect.Parameter(
            "overrides",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Optional[list[str]],
            default=typer.Argument(
                None,
                metavar="[KEY=VALUE]...",
                show_default=False,
                help="Settings as key=value (any setting below, by its name).",
            ),
        ),
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Optional[Path],
            default=typer.Option(
                None, "--config", help="YAML recipe: setting names to values (options and KEY=VALUE override it)."
            ),
        ),
    ]
    params += [
        inspect.Parameter(i.name, inspect.Parameter.KEYWORD_ONLY, annotation=_cli_type(i), default=_option(i))
        for i in infos
    ]

    def command(**kwargs: Any) -> None:
        given = {i.name: _from_cli(i, kwargs[i.name]) for i in infos if kwargs.get(i.name) not in (None, [])}
        with flag_errors(cls):
            config = build_config(cls, recipe=kwargs["config"], assignments=kwargs["overrides"] or (), values=given)
            run(config)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = doc
    command.__annotations__ = {}
    return command


@contextmanager
def flag_errors(cls: type) -> Iterator[None]:
    """Re-raise :class:`~gaitpipe.config.SettingError` with each setting written as its CLI flag."""
    try:
        yield
    except SettingError as exc:
        flags = {i.name: i.flag for i in settings_of(cls)}
        message = str(exc)
        for key in exc.settings:
            if key in flags:
                message = re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", flags[key], message, count=1)
        raise ConfigError(message) from None


def _base_type(info: SettingInfo) -> Any:
    args = [a for a in typing.get_args(info.type) if a is not type(None)]
    return args[0] if len(args) == 1 else info.type


def _cli_type(info: SettingInfo) -> Any:
    base = _base_type(info)
    origin = typing.get_origin(base)
    if origin is dict:
        return list[str]  # repeatable KEY=VALUE
    if origin is list:
        return Optional[str]  # comma-separated, read by the setting's type
    return Optional[base]


def _option(info: SettingInfo) -> Any:
    help_text = info.help
    if not info.required and info.default not in (None, {}, []):
        help_text += f" (default: {_show(info.default)})"
    elif info.required:
        help_text += " (required, here or in --config)"
    base = _base_type(info)
    decls = [f"{info.flag}/--no-{info.flag[2:]}"] if base is bool else [info.flag]
    if typing.get_origin(base) is dict:
        return typer.Option([], *decls, help=help_text, show_default=False)
    return typer.Option(None, *decls, help=help_text, show_default=False)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _from_cli(info: SettingInfo, value: Any) -> Any:
    if typing.get_origin(_base_type(info)) is dict:
        return parse_json_pairs(value, info.flag)
    return value


def parse_json_pairs(items: list[str], flag: str) -> dict[str, Any]:
    """``["channels=[16,32]", "embed_dim=8"]`` -> ``{"channels": (16, 32), "embed_dim": 8}``: values
    are JSON (lists become tuples), anything that is not JSON stays a string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{flag} expects KEY=VALUE (JSON value), got {item!r}")
        try:
            v = json.loads(value)
        except ValueError:
            v = value
        out[key.strip()] = tuple(v) if isinstance(v, list) else v
    return out


__all__ = ["flag_errors", "parse_json_pairs", "settings_command"]
