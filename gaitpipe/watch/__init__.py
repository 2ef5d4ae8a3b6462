"""Streaming identification: ``Pipeline.watch(source)`` and ``gaitpipe watch SOURCE``.

:mod:`~gaitpipe.watch.feed` reads the source (dropping the oldest frames when processing falls
behind a live one), :mod:`~gaitpipe.watch.session` runs the pipeline's stages on it in sliding
windows per track, :mod:`~gaitpipe.watch.hysteresis` keeps decisions from flickering,
:mod:`~gaitpipe.watch.events` holds what is yielded and :mod:`~gaitpipe.watch.render` writes the
annotated stream.
"""

from gaitpipe.watch.events import LEFT, WINDOW, WatchDecision, WatchStats
from gaitpipe.watch.feed import DEFAULT_QUEUE, FrameFeed
from gaitpipe.watch.hysteresis import DEFAULT_BAND, DEFAULT_HOLD, Hysteresis
from gaitpipe.watch.session import (
    DEFAULT_LOST_AFTER,
    DEFAULT_MEMORY,
    DEFAULT_WINDOW,
    DEFAULT_WINDOW_STRIDE,
    WatchSession,
)

__all__ = [
    "DEFAULT_BAND",
    "DEFAULT_HOLD",
    "DEFAULT_LOST_AFTER",
    "DEFAULT_MEMORY",
    "DEFAULT_QUEUE",
    "DEFAULT_WINDOW",
    "DEFAULT_WINDOW_STRIDE",
    "LEFT",
    "WINDOW",
    "FrameFeed",
    "Hysteresis",
    "WatchDecision",
    "WatchSession",
    "WatchStats",
]
