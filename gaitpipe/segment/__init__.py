"""Person segmentation with tracking: frames in, tracked soft person masks out.

Backends: ``yolo`` (ultralytics YOLO-seg + ByteTrack/BoT-SORT), ``bgsub`` (weights-free
background subtraction for fixed cameras + ultralytics' trackers) and ``auto`` (``yolo`` when
its weights are on this machine, else ``bgsub``). Heavy libraries load only when a backend is built.
"""
from __future__ import annotations

from typing import Any

from gaitpipe.errors import InputError
from gaitpipe.segment.base import TRACKERS, BoxTracker, Segmenter

SEGMENTERS = ("auto", "yolo", "bgsub")


def create_segmenter(name: str = "auto", **options: Any) -> Segmenter:
    """Build a segmenter by name.

    Options (each backend ignores those it does not use): ``weights`` (YOLO weights path or
    name), ``tracker`` ("bytetrack" | "botsort"), ``conf``, ``device``, ``background`` (bgsub:
    an image or clip of the empty scene), plus backend-specific ones (see their classes).
    ``None`` values mean "default".
    """
    options = {k: v for k, v in options.items() if v is not None}
    key = str(name).lower()
    if key == "auto":
        from gaitpipe.segment.auto import create_auto_segmenter

        return create_auto_segmenter(**options)
    if key == "yolo":
        from gaitpipe.segment.yolo import YoloSegmenter

        return YoloSegmenter(**options)
    if key == "bgsub":
        from gaitpipe.segment.bgsub import BgSubSegmenter

        return BgSubSegmenter(**options)
    raise InputError(f"unknown segmenter {name!r}: choose one of {', '.join(SEGMENTERS)}")


__all__ = ["SEGMENTERS", "TRACKERS", "BoxTracker", "Segmenter", "create_segmenter"]
