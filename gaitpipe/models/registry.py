"""Model registry in the timm style: presets are functions registered by name.

    @register_model
    def gaitbase_casiab(**overrides) -> GaitEncoder: ...

registers ``gaitbase-casiab`` (underscores become hyphens). ``create_model(name, **config)``
builds a preset, overriding any field of its config dataclass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from gaitpipe.errors import WeightsError
from gaitpipe.models.base import GaitEncoder

PresetFn = Callable[..., GaitEncoder]
_F = TypeVar("_F", bound=PresetFn)

_PRESETS: dict[str, PresetFn] = {}


def register_model(fn: _F) -> _F:
    name = fn.__name__.replace("_", "-")
    if name in _PRESETS:
        raise RuntimeError(f"model preset {name!r} registered twice")
    _PRESETS[name] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_PRESETS)


def create_model(name: str, **config: Any) -> GaitEncoder:
    """Build the preset ``name`` (e.g. ``gaitbase-casiab``); keyword arguments override its config."""
    key = name.replace("_", "-")
    if key not in _PRESETS:
        raise WeightsError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    model = _PRESETS[key](**config)
    model.preset = key
    return model
