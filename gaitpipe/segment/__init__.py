"""Person segmentation with tracking: frames in, tracked soft person masks out.

Backends: ``yolo`` (ultralytics YOLO-seg + ByteTrack/BoT-SORT), ``bgsub`` (weights-free
background subtraction for fixed cameras + ultralytics' trackers) and ``auto`` (``yolo`` when
its weights are on this machine, else ``bgsub``). Heavy libraries load only when a backend is built.

Each backend declares its options (its constructor's keyword-only parameters,
:meth:`Segmenter.option_names`); an option a backend does not take is an error, so a typo never
goes unnoticed. Callers holding one set of settings for whichever backend is chosen (a device, a
tracker, YOLO weights) pass them through :func:`select_options` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gaitpipe.errors import ConfigError, InputError
from gaitpipe.segment.base import TRACKERS, BoxTracker, Segmenter, check_options

SEGMENTERS = ("auto", "yolo", "bgsub")


def segmenter_class(name: str) -> type[Segmenter]:
    """The class of the concrete backend ``name`` (``yolo`` or ``bgsub``)."""
    key = str(name).lower()
    if key == "yolo":
        from gaitpipe.segment.yolo import YoloSegmenter

        return YoloSegmenter
    if key == "bgsub":
        from gaitpipe.segment.bgsub import BgSubSegmenter

        return BgSubSegmenter
    raise InputError(f"unknown segmenter {name!r}: choose one of {', '.join(SEGMENTERS)}")


def segmenter_options(name: str) -> frozenset[str]:
    """The options segmenter ``name`` takes (``auto``: those of either backend it may pick)."""
    if str(name).lower() == "auto":
        return segmenter_options("yolo") | segmenter_options("bgsub")
    return segmenter_class(name).option_names()


def select_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The given (not ``None``) ``options`` that segmenter ``name`` takes.

    Options that only another backend takes are left out (a device means nothing to ``bgsub``),
    so one set of settings serves every backend; a name no backend takes is a ``ConfigError``.
    """
    every = segmenter_options("auto")
    unknown = sorted(set(options) - every)
    if unknown:
        raise ConfigError(f"no segmenter has an option {unknown[0]!r}; the options are: {', '.join(sorted(every))}")
    own = segmenter_options(name)
    return {k: v for k, v in options.items() if v is not None and k in own}


def create_segmenter(name: str = "auto", **options: Any) -> Segmenter:
    """Build a segmenter by name.

    Common options: ``weights`` (yolo: weights path or name), ``tracker`` ("bytetrack" |
    "botsort"), ``conf``, ``device`` (yolo), ``background`` (bgsub: an image or clip of the
    empty scene), plus backend-specific ones (see their classes). ``None`` values mean "default".
    An option the backend does not take raises :class:`~gaitpipe.errors.ConfigError`.
    """
    options = {k: v for k, v in options.items() if v is not None}
    key = str(name).lower()
    if key == "auto":
        check_options("auto", options, segmenter_options("auto"))
        from gaitpipe.segment.auto import create_auto_segmenter

        return create_auto_segmenter(**options)
    cls = segmenter_class(key)
    check_options(key, options, cls.option_names())
    return cls(**options)


__all__ = [
    "SEGMENTERS",
    "TRACKERS",
    "BoxTracker",
    "Segmenter",
    "create_segmenter",
    "segmenter_class",
    "segmenter_options",
    "select_options",
]
