"""gaitpipe: recognise people by the way they walk, straight from raw video.

Library first; the ``gaitpipe`` command is a thin layer over it::

    from gaitpipe import Pipeline
"""
__version__ = "0.1.0"

from gaitpipe.errors import GaitpipeError  # noqa: E402
from gaitpipe.types import Frame, PersonDetections, SilhouetteSequence, VideoInfo  # noqa: E402

__all__ = ["Frame", "GaitpipeError", "PersonDetections", "SilhouetteSequence", "VideoInfo", "__version__"]
