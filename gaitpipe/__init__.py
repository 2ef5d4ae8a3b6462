"""gaitpipe: recognise people by the way they walk, straight from raw video.

Library first; the ``gaitpipe`` command is a thin layer over it::

    from gaitpipe import Pipeline
"""

__version__ = "0.1.0"

from gaitpipe.errors import GaitpipeError
from gaitpipe.types import Frame, PersonDetections, SilhouetteSequence, VideoInfo

__all__ = ["Frame", "GaitpipeError", "PersonDetections", "Pipeline", "SilhouetteSequence", "VideoInfo", "__version__"]

# Heavy parts load on first use, so `import gaitpipe` (and `gaitpipe --help`) stays light.
_LAZY = {"Pipeline": "gaitpipe.pipeline", "Gallery": "gaitpipe.gallery"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gaitpipe' has no attribute {name!r}")
