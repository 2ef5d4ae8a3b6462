"""Re-join the pieces of one walker's track broken by an occlusion (offline, after tracking).

A walker who passes behind a pillar, or is hidden by another walker for a second, often comes
back under a new track id: the tracker matches boxes frame to frame, and the box of a walker
disappearing behind something shrinks and stops while the walker keeps going. Walkers move
predictably, though: a steady horizontal speed on the image, feet on the same floor line, the
same height. :func:`stitch_tracks` links a track that ends to one that starts later when the new
one appears where the old one, continued at its own speed, would be, at the same height and
floor line. Only tracks that never coexist are linked, so two walkers are never merged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Longest gap (frames) bridged: about three seconds at 25 fps.
MAX_GAP = 75
#: Frames at each end of a track used to measure where and how fast it goes.
END_FRAMES = 15
#: Allowed distance between the predicted and the seen position, in walker heights (plus a
#: small allowance per frame of gap, since a walker's speed drifts).
POSITION_TOLERANCE = 0.5
POSITION_TOLERANCE_PER_FRAME = 0.01
#: Allowed floor-line (box bottom) difference, in walker heights, and height ratio.
FLOOR_TOLERANCE = 0.15
HEIGHT_RATIO = 1.25


@dataclass(frozen=True)
class _Ends:
    first: int
    last: int
    x_first: float  #: box centre x at the start
    x_last: float  #: at the end
    speed: float  #: px per frame along x at the end (fitted)
    speed_first: float  #: at the start
    bottom_first: float
    bottom_last: float
    height_first: float
    height_last: float


def _ends(frames: np.ndarray, boxes: np.ndarray) -> _Ends:
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    h = boxes[:, 3] - boxes[:, 1]
    head, tail = slice(0, END_FRAMES), slice(-END_FRAMES, None)
    t = frames[tail].astype(np.float64)
    line = np.polyfit(t, cx[tail], 1) if np.ptp(t) > 0 else np.array([0.0, cx[-1]])
    t0 = frames[head].astype(np.float64)
    speed_first = float(np.polyfit(t0, cx[head], 1)[0]) if np.ptp(t0) > 0 else 0.0
    return _Ends(
        first=int(frames[0]),
        last=int(frames[-1]),
        x_first=float(np.median(cx[:5])),
        x_last=float(np.polyval(line, t[-1])),
        speed=float(line[0]),
        speed_first=speed_first,
        bottom_first=float(np.median(boxes[head, 3][:5])),
        bottom_last=float(np.median(boxes[tail, 3][-5:])),
        height_first=float(np.median(h[head])),
        height_last=float(np.median(h[tail])),
    )


def stitch_tracks(
    tracks: Mapping[int, tuple[np.ndarray, np.ndarray]], width: int, max_gap: int = MAX_GAP
) -> dict[int, int]:
    """Which tracks continue which: ``{later track id: earlier track id}`` (chains resolved to the first).

    ``tracks``: track id -> (frame indices [T] ascending, xyxy boxes [T, 4]) of frames where the
    walker was whole (occluded and merged frames left out); ``width``: the frame width (a walker
    whose continued path leaves the picture has left, and is not continued by someone entering).
    Tracks with fewer than 3 frames are ignored.
    """
    ends = {tid: _ends(np.asarray(f), np.asarray(b, np.float64)) for tid, (f, b) in tracks.items() if len(f) >= 3}
    pairs = []
    for a, ea in ends.items():
        for b, eb in ends.items():
            gap = eb.first - ea.last
            if a == b or gap <= 0 or gap > max_gap:
                continue
            height = (ea.height_last + eb.height_first) / 2
            ratio = max(ea.height_last, eb.height_first) / max(1.0, min(ea.height_last, eb.height_first))
            if ratio > HEIGHT_RATIO or abs(ea.bottom_last - eb.bottom_first) > FLOOR_TOLERANCE * height:
                continue
            predicted = ea.x_last + ea.speed * gap
            if not 0 <= predicted < width or ea.speed * eb.speed_first < 0:
                continue  # walked out of the picture, or the new track walks the other way
            miss = abs(predicted - eb.x_first) / height
            if miss <= POSITION_TOLERANCE + POSITION_TOLERANCE_PER_FRAME * gap:
                pairs.append((miss, a, b))
    successor: dict[int, int] = {}
    predecessor: dict[int, int] = {}
    for _, a, b in sorted(pairs):  # best matches first, each track continued at most once
        if a not in successor and b not in predecessor:
            successor[a], predecessor[b] = b, a
    aliases = {}
    for b in predecessor:
        root = b
        while root in predecessor:
            root = predecessor[root]
        aliases[b] = root
    return aliases


__all__ = ["MAX_GAP", "stitch_tracks"]
