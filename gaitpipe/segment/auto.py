"""``auto``: YOLO-seg when its weights can be had, else background subtraction.

YOLO-seg is the segmenter gaitpipe is built around, so ``auto`` uses it whenever it can: local
weights (the ``weights`` option, or the default weights in one of the folders of
:func:`gaitpipe.hub.segmenter_search_dirs`), else ultralytics' download of its default model
(progress shown). Only when that fails (offline, ``$GAITPIPE_OFFLINE``) or the weights found are
refused as unsafe does it fall back to ``bgsub``. Weights the user named are never replaced
silently: a missing or unsafe named file is an error. One log line (logger ``gaitpipe``) says
which backend was chosen and why.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gaitpipe.errors import SegmenterWeightsError
from gaitpipe.hub.pickle_guard import UnsafePickleError
from gaitpipe.segment.base import Segmenter

log = logging.getLogger("gaitpipe")


def create_auto_segmenter(**options: Any) -> Segmenter:
    """Pick ``yolo`` or ``bgsub`` (see the module docstring) and build it with the options it takes."""
    from gaitpipe.hub.segmenter import find_segmenter_weights, resolve_segmenter_weights
    from gaitpipe.segment.bgsub import BgSubSegmenter
    from gaitpipe.segment.yolo import YoloSegmenter

    weights = options.get("weights")
    yolo_options = {k: v for k, v in options.items() if k in YoloSegmenter.option_names()}
    local = find_segmenter_weights(weights)
    if local is None and weights is not None:
        # The user asked for these weights: silently falling back would hide their mistake.
        raise SegmenterWeightsError(
            f"segmentation weights not found: {weights} (give an existing file, or use the bgsub segmenter, "
            "which needs no weights)"
        )
    why_not_yolo = ""
    if local is not None:
        log.info("segmenter: yolo (weights found at %s)", local)
        found: Path | None = local
    else:
        try:  # nothing local: ultralytics downloads its default model (with its progress bar)
            found = resolve_segmenter_weights(None)
            log.info("segmenter: yolo (weights downloaded to %s)", found)
        except SegmenterWeightsError as exc:
            found, why_not_yolo = None, exc.reason
    if found is not None:
        try:
            return YoloSegmenter(**{**yolo_options, "weights": str(found)})
        except UnsafePickleError as exc:
            if weights is not None:
                raise  # named by the user: refuse loudly
            # found on its own in a weights folder: never run it, and say so
            why_not_yolo = str(exc)
            log.warning("segmenter: %s", exc, extra={"setting": "trust"})
    log.info(
        "segmenter: bgsub (background subtraction; YOLO-seg weights unavailable: %s)",
        why_not_yolo,
        extra={"setting": "segmenter_weights"},
    )
    return BgSubSegmenter(**{k: v for k, v in options.items() if k in BgSubSegmenter.option_names()})
