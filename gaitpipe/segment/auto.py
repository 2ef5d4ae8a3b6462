"""``auto``: YOLO-seg when its weights are on this machine, else background subtraction.

Nothing is downloaded to make this choice: weights count as available when the ``weights``
option names an existing file, or the default (or named) weights sit in the repository's
``weights/`` folder, ``./weights``, the working directory or ultralytics' weights folder.
One log line (logger ``gaitpipe``) says which backend was chosen and why.
"""
from __future__ import annotations

import logging
from typing import Any

from gaitpipe.errors import WeightsError
from gaitpipe.segment.base import Segmenter

log = logging.getLogger("gaitpipe")


def create_auto_segmenter(**options: Any) -> Segmenter:
    """Pick ``yolo`` or ``bgsub`` (see the module docstring) and build it with ``options``."""
    from gaitpipe.segment.yolo import DEFAULT_WEIGHTS, YoloSegmenter, find_local_weights, weights_search_dirs

    weights = options.get("weights")
    local = find_local_weights(weights)
    if local is not None:
        log.info("segmenter: yolo (weights found at %s)", local)
        return YoloSegmenter(**{**options, "weights": str(local)})
    if weights is not None:
        # The user asked for these weights: silently falling back would hide their mistake.
        raise WeightsError(
            f"segmentation weights not found: {weights} (give an existing file, or use --segmenter bgsub, which needs no weights)"
        )
    from gaitpipe.segment.bgsub import BgSubSegmenter

    where = ", ".join(str(d) for d in weights_search_dirs())
    log.info(
        "segmenter: bgsub (background subtraction; no YOLO-seg weights %s found in %s; pass --seg-weights PATH to use YOLO)",
        DEFAULT_WEIGHTS, where,
    )
    return BgSubSegmenter(**options)
