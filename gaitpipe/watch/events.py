"""What watching a stream yields: one decision per completed window per track, and run statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: ``WatchDecision.event``: a window of the track was decided ...
WINDOW = "window"
#: ... or the track ended (not seen for a while, or the stream ended); its last decision is repeated.
LEFT = "left"


@dataclass(frozen=True)
class WatchDecision:
    """One track's decision after one of its windows (``event="window"``) or when it ends (``"left"``).

    ``decision`` is what the track shows after hysteresis (:mod:`gaitpipe.watch.hysteresis`);
    ``raw`` is this window's own decision. ``score``: the shown name's score (else the best
    identity's), part-averaged cosine of the track's recent windows against the gallery.
    """

    t: float  #: stream time (seconds) of the frame the decision was made on (where the window completed)
    frame: int  #: source index of that frame
    track: int  #: tracker id
    decision: str  #: a name, ``unknown`` or ``uncertain`` (after hysteresis)
    score: float | None
    windows: int  #: windows decided for this track so far
    event: str = WINDOW
    changed: bool = False  #: whether ``decision`` changed with this window
    raw: str = ""  #: this window's own decision, before hysteresis
    best: str | None = None  #: best identity of this window's evidence
    why: str = ""  #: one line: why the raw decision
    first_frame: int = 0  #: the track's first frame
    latency_s: float | None = None  #: wall seconds from reading the track's first frame to this decision
    wall: float = 0.0  #: wall seconds since watching began
    dropped: int = 0  #: frames dropped so far because processing fell behind the source

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` line: ``t, frame, track, decision, score, windows`` (the issue's fields), then the rest."""
        return {
            "t": round(self.t, 3),
            "frame": self.frame,
            "track": self.track,
            "decision": self.decision,
            "score": None if self.score is None else round(self.score, 4),
            "windows": self.windows,
            "event": self.event,
            "changed": self.changed,
            "raw": self.raw,
            "best": self.best,
            "why": self.why,
            "first_frame": self.first_frame,
            "latency_s": None if self.latency_s is None else round(self.latency_s, 3),
            "wall": round(self.wall, 3),
            "dropped": self.dropped,
        }


@dataclass
class WatchStats:
    """How a watch kept up with its source (updated as it runs)."""

    source_fps: float
    live: bool  #: a camera or stream (else a file)
    realtime: bool  #: frames arrive at the source's pace (live sources, or files with ``realtime``)
    frames_read: int = 0  #: taken from the source
    frames_dropped: int = 0  #: of those, skipped because processing fell behind
    frames_processed: int = 0  #: segmented, tracked and assembled
    windows: int = 0  #: windows embedded and decided
    tracks: int = 0  #: tracks that got at least one decision
    wall_s: float = 0.0  #: since watching began

    @property
    def processing_fps(self) -> float:
        return self.frames_processed / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_fps": round(self.source_fps, 3),
            "live": self.live,
            "realtime": self.realtime,
            "frames_read": self.frames_read,
            "frames_dropped": self.frames_dropped,
            "frames_processed": self.frames_processed,
            "windows": self.windows,
            "tracks": self.tracks,
            "wall_s": round(self.wall_s, 3),
            "processing_fps": round(self.processing_fps, 2),
        }


__all__ = ["LEFT", "WINDOW", "WatchDecision", "WatchStats"]
