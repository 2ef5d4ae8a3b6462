"""Is a track good enough to name somebody from? One job: judge a track, ok or a list of reasons.

A gait template is only as good as the silhouettes behind it. A track that is too short (less
than a gait cycle), mostly cut by the image border, fragmented (the walker lost for long
stretches), or whose silhouettes are inconsistent (the mask area jumping from frame to frame,
as when two people merge into one blob or a shadow joins in) gives a template that can sit close
to the wrong identity. ``identify`` answers ``uncertain`` (with the reasons) for such a track,
never a name; ``enroll`` refuses it unless forced.

Every limit is declared once, here. They were set on the shipped example clips (clean
synthetic walkers: continuity 1.0, no border cuts, at most 13 % of frames with a mask area more
than 1.5x away from the track's median, at most 9 % of frame-to-frame area changes above
1.4x) with room to spare, so a clean walk passes.

The measurements (:class:`TrackStats`) are taken while the track is embedded, from its kept
silhouettes, their source frame indices and the per-reason counts of dropped frames
(:mod:`gaitpipe.silhouette.tracks`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Fewest usable silhouettes for a name (about one gait cycle at 25 fps); enrolment needs as many.
MIN_FRAMES = 20
#: Largest share of the track's detected frames dropped because the walker was cut by the border.
MAX_BORDER_CUT = 0.5
#: Largest share of detected frames dropped for any other reason (partial masks, too small, empty).
MAX_OTHER_DROPPED = 0.5
#: Smallest share of the track's time span (first to last kept frame) covered by kept silhouettes.
MIN_CONTINUITY = 0.6
#: A silhouette whose foreground area is this many times larger or smaller than the track's
#: median, or than the previous silhouette's, is an outlier / a jump (merged people, shadows, a
#: half mask) ...
AREA_OUTLIER_RATIO = 1.6
#: ... and a track with more than this share of outliers, or of jumps, is inconsistent.
MAX_AREA_OUTLIERS = 0.25

#: The reason codes, in the order they are reported.
TOO_SHORT = "too short"
BORDER_CUT = "border cut"
MASKS_DROPPED = "masks dropped"
FRAGMENTED = "fragmented"
INCONSISTENT = "inconsistent silhouettes"


@dataclass(frozen=True)
class TrackStats:
    """What :func:`judge` looks at, measured once per track."""

    frames: int  #: kept silhouettes
    detected: int  #: kept + dropped frames of the track
    border_cut: int  #: frames dropped as cut by the image border
    other_dropped: int  #: frames dropped for any other reason
    continuity: float  #: kept frames / frames spanned (at the track's frame step), 0..1
    area_outliers: float  #: share of silhouettes whose area is an outlier (see AREA_OUTLIER_RATIO)
    area_jumps: float = 0.0  #: share of consecutive silhouettes whose areas differ by over AREA_OUTLIER_RATIO

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["continuity"] = round(self.continuity, 3)
        d["area_outliers"] = round(self.area_outliers, 3)
        d["area_jumps"] = round(self.area_jumps, 3)
        return d


@dataclass(frozen=True)
class TrackQuality:
    """The verdict: ``ok`` when no reason was found; ``reasons`` are one line each, code first."""

    reasons: list[str] = field(default_factory=list)
    stats: TrackStats | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reasons": list(self.reasons),
            "stats": self.stats.to_dict() if self.stats is not None else None,
        }


def measure(frame_indices: np.ndarray, dropped: dict[str, int], silhouettes: np.ndarray | None = None) -> TrackStats:
    """:class:`TrackStats` of a track: its kept frames' source indices, drop counts and silhouettes [T, H, W]."""
    from gaitpipe.silhouette.tracks import DROP_BORDER

    fi = np.sort(np.asarray(frame_indices, np.int64))
    n = len(fi)
    border = int(dropped.get(DROP_BORDER, 0))
    other = sum(int(v) for k, v in dropped.items() if k != DROP_BORDER)
    continuity = 1.0
    if n >= 2:
        steps = np.diff(fi)
        step = max(1, int(np.min(steps[steps > 0]))) if np.any(steps > 0) else 1  # the stride
        continuity = min(1.0, n / ((int(fi[-1] - fi[0]) // step) + 1))
    outliers = jumps = 0.0
    if silhouettes is not None and len(silhouettes):
        order = np.argsort(np.asarray(frame_indices, np.int64), kind="stable")
        areas = (np.asarray(silhouettes)[order].reshape(len(order), -1) > 127).sum(1).astype(np.float64)
        areas = np.maximum(areas, 1.0)
        med = float(np.median(areas))
        outliers = float(np.mean(np.maximum(areas / med, med / areas) > AREA_OUTLIER_RATIO))
        if len(areas) >= 2:
            step = areas[1:] / areas[:-1]
            jumps = float(np.mean(np.maximum(step, 1.0 / step) > AREA_OUTLIER_RATIO))
    return TrackStats(n, n + border + other, border, other, float(continuity), outliers, jumps)


def judge(stats: TrackStats, *, min_frames: int = MIN_FRAMES) -> TrackQuality:
    """Ok, or why a name must not be given from this track (every reason found, code first)."""
    reasons = []
    if stats.frames < min_frames:
        reasons.append(f"{TOO_SHORT}: {stats.frames} usable silhouettes, at least {min_frames} needed")
    detected = max(1, stats.detected)
    if stats.border_cut / detected > MAX_BORDER_CUT:
        reasons.append(
            f"{BORDER_CUT}: {stats.border_cut} of {stats.detected} frames cut by the image border "
            f"(at most {MAX_BORDER_CUT:.0%})"
        )
    if stats.other_dropped / detected > MAX_OTHER_DROPPED:
        reasons.append(
            f"{MASKS_DROPPED}: {stats.other_dropped} of {stats.detected} masks unusable "
            f"(at most {MAX_OTHER_DROPPED:.0%})"
        )
    if stats.continuity < MIN_CONTINUITY:
        reasons.append(
            f"{FRAGMENTED}: silhouettes cover {stats.continuity:.0%} of the track's time span "
            f"(at least {MIN_CONTINUITY:.0%})"
        )
    if stats.area_outliers > MAX_AREA_OUTLIERS:
        reasons.append(
            f"{INCONSISTENT}: {stats.area_outliers:.0%} of silhouettes have a mask area over "
            f"{AREA_OUTLIER_RATIO}x away from the track's median (merged people or broken masks; at most "
            f"{MAX_AREA_OUTLIERS:.0%})"
        )
    elif stats.area_jumps > MAX_AREA_OUTLIERS:
        reasons.append(
            f"{INCONSISTENT}: the mask area jumps by over {AREA_OUTLIER_RATIO}x between {stats.area_jumps:.0%} of "
            f"consecutive silhouettes (merged people or broken masks; at most {MAX_AREA_OUTLIERS:.0%})"
        )
    return TrackQuality(reasons, stats)


__all__ = [
    "AREA_OUTLIER_RATIO",
    "BORDER_CUT",
    "FRAGMENTED",
    "INCONSISTENT",
    "MASKS_DROPPED",
    "MAX_AREA_OUTLIERS",
    "MAX_BORDER_CUT",
    "MAX_OTHER_DROPPED",
    "MIN_CONTINUITY",
    "MIN_FRAMES",
    "TOO_SHORT",
    "TrackQuality",
    "TrackStats",
    "judge",
    "measure",
]
