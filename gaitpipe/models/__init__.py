"""Gait encoders: one file per architecture, shared layers in ``layers``, presets in a registry."""
from gaitpipe.models.base import ArchSpec, EncoderOutput, GaitEncoder, InputKind, flatten_for_search
from gaitpipe.models.registry import create_model, list_models, register_model

# Architecture modules register their presets on import (add new ones here).
from gaitpipe.models import gaitbase  # noqa: E402,F401
from gaitpipe.models import hstl  # noqa: E402,F401
from gaitpipe.models import dygait  # noqa: E402,F401
from gaitpipe.models import gaitnet  # noqa: E402,F401

__all__ = ["ArchSpec", "EncoderOutput", "GaitEncoder", "InputKind", "create_model", "flatten_for_search", "list_models",
           "register_model"]
