"""Occlusion and merge checks for tracked masks: is this frame's mask the whole walker, alone?

A walker who passes behind a pillar, a counter or another walker keeps being tracked, but the
mask then shows part of the body (or, with background subtraction, two bodies in one blob).
Such a frame normalised into a silhouette is a different shape, not a noisier one, so it is
dropped rather than kept. Two cues, both cheap and segmenter-agnostic:

* **Contact** (:func:`touching`): the mask touches another tracked person's mask in the same
  frame, so one of them hides part of the other and the boundary between them is a guess.
* **Size against the track's own trend** (:func:`size_outliers`): under perspective a walker's
  mask height and area change smoothly along the track, and within a gait cycle the area varies
  by about +-15 % and the height by a few per cent. A robust straight-line fit of log height and
  log area over time gives the expected size per frame; a frame much shorter or much smaller than
  expected is partly hidden (``occluded``), one much larger holds someone else too (``merged``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

DROP_OCCLUDED = "occluded"
DROP_MERGED = "merged"

#: Fewer usable frames than this and the trend is not fitted (nothing is dropped by it).
MIN_TREND_FRAMES = 8
#: A frame's mask height below this fraction of the track's trend: part of the walker is hidden.
MIN_HEIGHT_RATIO = 0.85
#: Area below this fraction of the trend: a slice of the walker is hidden (a pillar, a walker in front).
MIN_AREA_RATIO = 0.72
#: Area above this multiple of the trend: the mask holds more than this walker (a merged blob).
MAX_AREA_RATIO = 1.2
#: Pixels of the gap under which two masks count as touching.
CONTACT_GAP = 2


def touching(binaries: Sequence[np.ndarray], gap: int = CONTACT_GAP) -> list[bool]:
    """For each binary mask of one frame, whether it touches (within ``gap`` px) another one."""
    n = len(binaries)
    out = [False] * n
    if n < 2:
        return out
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * gap + 1, 2 * gap + 1))
    grown = [cv2.dilate((b > 0).astype(np.uint8), kernel) > 0 for b in binaries]
    for i in range(n):
        for j in range(i + 1, n):
            if np.logical_and(grown[i], binaries[j] > 0).any():
                out[i] = out[j] = True
    return out


def _robust_trend(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Robust straight-line fit of ``y`` over ``x`` (log size: perspective changes it smoothly).

    A line, not a curve: a block of merged or hidden frames in mid-track would bend a curve
    towards itself. Fitted first on the middle half of the residuals of a plain fit (a block of
    outliers on one side cannot hold that), then twice on the frames within 2.5 robust SDs.
    """
    span = max(float(x.max() - x.min()), 1.0)
    design = np.stack([np.ones_like(x), (x - x.mean()) / span], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    lo, hi = np.percentile(resid, [25, 75])
    keep = (resid >= lo) & (resid <= hi)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(design[keep], y[keep], rcond=None)
        resid = y - design @ coef
        sigma = max(1.4826 * float(np.median(np.abs(resid[keep]))), 0.04)
        new_keep = np.abs(resid) <= 2.5 * sigma
        if new_keep.sum() < MIN_TREND_FRAMES // 2 or (new_keep == keep).all():
            break
        keep = new_keep
    return design @ coef


def size_outliers(frame_indices: Sequence[int], heights: Sequence[int], areas: Sequence[int]) -> list[str | None]:
    """Per frame: ``"occluded"``, ``"merged"`` or None, from the mask size against the track's trend."""
    n = len(frame_indices)
    if n < MIN_TREND_FRAMES:
        return [None] * n
    x = np.asarray(frame_indices, np.float64)
    log_h = np.log(np.maximum(np.asarray(heights, np.float64), 1.0))
    log_a = np.log(np.maximum(np.asarray(areas, np.float64), 1.0))
    h_ratio = np.exp(log_h - _robust_trend(x, log_h))
    a_ratio = np.exp(log_a - _robust_trend(x, log_a))
    out: list[str | None] = []
    for hr, ar in zip(h_ratio, a_ratio):
        if ar > MAX_AREA_RATIO:
            out.append(DROP_MERGED)
        elif hr < MIN_HEIGHT_RATIO or ar < MIN_AREA_RATIO:
            out.append(DROP_OCCLUDED)
        else:
            out.append(None)
    return out


__all__ = ["DROP_MERGED", "DROP_OCCLUDED", "size_outliers", "touching"]
