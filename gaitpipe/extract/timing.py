"""Seconds spent per extraction stage (decode / segment / normalise / write)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from gaitpipe.types import Frame

STAGES = ("decode", "segment", "normalise", "write")
#: Clock for the per-stage timings (wall time). A benchmark on a busy machine may swap in
#: ``time.process_time`` to count only this process's CPU seconds.
CLOCK: Callable[[], float] = time.perf_counter


def clock() -> float:
    """The current reading of :data:`CLOCK` (looked up on each call, so swapping it takes effect)."""
    return CLOCK()


@dataclass
class StageTimes:
    """Seconds spent per stage (decode / segment / normalise / write) and frames handled."""

    decode: float = 0.0
    segment: float = 0.0
    normalise: float = 0.0
    write: float = 0.0
    frames: int = 0

    def add(self, other: StageTimes) -> None:
        self.decode += other.decode
        self.segment += other.segment
        self.normalise += other.normalise
        self.write += other.write
        self.frames += other.frames

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(getattr(self, name)), 4) for name in (*STAGES, "frames")}

    @property
    def total(self) -> float:
        return self.decode + self.segment + self.normalise + self.write


def timed_frames(frames: Iterable[Frame], times: StageTimes) -> Iterator[Frame]:
    """Yield frames, charging the time spent producing each one to ``times.decode``."""
    it = iter(frames)
    while True:
        t0 = clock()
        try:
            frame = next(it)
        except StopIteration:
            times.decode += clock() - t0
            return
        times.decode += clock() - t0
        times.frames += 1
        yield frame


__all__ = ["CLOCK", "STAGES", "StageTimes", "clock", "timed_frames"]
