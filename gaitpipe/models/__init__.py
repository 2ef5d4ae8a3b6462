"""Gait encoders: one file per architecture, shared layers in ``layers``, presets in a registry."""

# Architecture modules register their presets on import (add new ones here).
from gaitpipe.models import (
    deepgaitv2,  # noqa: F401
    dygait,  # noqa: F401
    gaitbase,  # noqa: F401
    gaitnet,  # noqa: F401
    hstl,  # noqa: F401
)
from gaitpipe.models.base import ArchSpec, EncoderOutput, GaitEncoder, InputKind, flatten_for_search
from gaitpipe.models.registry import create_model, list_models, register_model

__all__ = [
    "ArchSpec",
    "EncoderOutput",
    "GaitEncoder",
    "InputKind",
    "create_model",
    "flatten_for_search",
    "list_models",
    "register_model",
]
