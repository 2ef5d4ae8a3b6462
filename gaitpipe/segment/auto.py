"""``auto``: YOLO-seg when its weights are on this machine, else background subtraction.

Nothing is downloaded to make this choice: weights count as available when the ``weights``
option names an existing file, or the default (or named) weights sit in one of the folders of
:func:`gaitpipe.hub.segmenter_search_dirs`.
One log line (logger ``gaitpipe``) says which backend was chosen and why.
"""

from __future__ import annotations

import logging
from typing import Any

from gaitpipe.errors import SegmenterWeightsError
from gaitpipe.segment.base import Segmenter

log = logging.getLogger("gaitpipe")


def create_auto_segmenter(**options: Any) -> Segmenter:
    """Pick ``yolo`` or ``bgsub`` (see the module docstring) and build it with the options it takes."""
    from gaitpipe.hub.segmenter import DEFAULT_SEGMENTER_WEIGHTS, find_segmenter_weights, segmenter_search_dirs
    from gaitpipe.segment.bgsub import BgSubSegmenter
    from gaitpipe.segment.yolo import YoloSegmenter

    weights = options.get("weights")
    local = find_segmenter_weights(weights)
    if local is not None:
        log.info("segmenter: yolo (weights found at %s)", local)
        yolo_options = {k: v for k, v in options.items() if k in YoloSegmenter.option_names()}
        return YoloSegmenter(**{**yolo_options, "weights": str(local)})
    if weights is not None:
        # The user asked for these weights: silently falling back would hide their mistake.
        raise SegmenterWeightsError(
            f"segmentation weights not found: {weights} (give an existing file, or use the bgsub segmenter, "
            "which needs no weights)"
        )
    where = ", ".join(str(d) for d in segmenter_search_dirs())
    log.info(
        "segmenter: bgsub (background subtraction; no YOLO-seg weights %s found in %s; give YOLO-seg weights to use YOLO)",
        DEFAULT_SEGMENTER_WEIGHTS,
        where,
        extra={"setting": "segmenter_weights"},
    )
    return BgSubSegmenter(**{k: v for k, v in options.items() if k in BgSubSegmenter.option_names()})
