"""CPU thread count for training, chosen by timing steps rather than assumed.

One thread per core is fastest on an idle CPU, but a CPU shared with other jobs turns the
OpenMP barriers of every convolution into waits for a descheduled thread: on this project's
2-core development machine, with two other jobs running, a GaitBase step took 2.5 s on 2
threads and 1.3 s on 1 (docs/training.md). :class:`ThreadTuner` times a few steps with each
candidate count, keeps the fastest, and probes again every few minutes, as the load changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch


class ThreadTuner:
    """Probe ``candidates`` thread counts for ``probe_steps`` timed steps each (after one untimed
    step per switch), keep the fastest (median seconds per step), and probe again after
    ``every_s`` seconds, twice as long after each probe that confirms the choice (up to
    ``max_every_s``). A candidate whose step already takes ``give_up`` times the best median so far
    is dropped from the probe at once (a shared CPU can make the wrong count 8x slower), and
    ``slow_steps`` steps in a row ``give_up`` times slower than the choice's median start a probe at
    once (the load changed).
    Call :meth:`before_step` and :meth:`after_step` around each step."""

    def __init__(
        self,
        candidates: Sequence[int],
        *,
        probe_steps: int = 3,
        every_s: float = 300.0,
        max_every_s: float = 2400.0,
        give_up: float = 1.5,
        slow_steps: int = 3,
        clock: Callable[[], float] = time.perf_counter,
        set_threads: Callable[[int], None] = torch.set_num_threads,
    ) -> None:
        self.candidates = sorted({int(c) for c in candidates if int(c) >= 1})
        if not self.candidates:
            raise ValueError("no thread count to try")
        self.probe_steps, self.base_every_s, self.max_every_s = probe_steps, every_s, max_every_s
        self.every_s, self.give_up, self.slow_steps = every_s, give_up, slow_steps
        self._reference: float | None = None  # the choice's median step time at its last probe
        self._slow = 0
        self.clock, self.set_threads = clock, set_threads
        self.choice = self.candidates[-1]
        self.current = 0
        self._plan: list[tuple[int, bool]] = []  # (threads, timed) for the coming steps
        self._times: dict[int, list[float]] = {}
        self._next_probe = 0.0
        self._step: tuple[int, bool] | None = None
        self._probed = False

    def _use(self, threads: int) -> None:
        if threads != self.current:
            self.set_threads(threads)
            self.current = threads

    def before_step(self) -> None:
        if not self._plan and len(self.candidates) > 1 and self.clock() >= self._next_probe:
            self._times = {c: [] for c in self.candidates}
            # the current count first (no warm-up step needed, and it sets the bar for the others),
            # then the others from the fewest threads up: on a busy CPU more threads are the slow ones
            order = sorted(self.candidates, key=lambda c: (c != self.current, c))
            for c in order:
                self._plan += [(c, c == self.current)] + [(c, True)] * self.probe_steps
        self._step = self._plan.pop(0) if self._plan else None
        self._use(self._step[0] if self._step else self.choice)

    def _best_other(self, threads: int) -> float | None:
        medians = [sorted(t)[len(t) // 2] for c, t in self._times.items() if t and c != threads]
        return min(medians) if medians else None

    def after_step(self, seconds: float) -> dict[str, Any] | None:
        """Record a step's duration; returns the probe's result when a probe just ended."""
        step, self._step = self._step, None
        if step is None:
            if self._reference is not None and seconds > self.give_up * self._reference:
                self._slow += 1
                if self._slow >= self.slow_steps:  # the machine's load changed: probe again now
                    self._next_probe, self.every_s, self._slow = 0.0, self.base_every_s, 0
            else:
                self._slow = 0
            return None
        threads, timed = step
        if timed:
            self._times[threads].append(seconds)
        best = self._best_other(threads)
        if best is not None and seconds > self.give_up * best * (1 if timed else 2):
            if not timed:  # a warm-up step this slow is enough to know
                self._times[threads].append(seconds)
            self._plan = [s for s in self._plan if s[0] != threads]  # skip its other probe steps
        if self._plan:
            return None
        medians = {c: sorted(t)[len(t) // 2] for c, t in self._times.items() if t}
        choice = min(medians, key=lambda c: medians[c])
        same = self._probed and choice == self.choice
        self.choice, self._probed = choice, True
        self._reference, self._slow = medians[choice], 0
        self._use(choice)
        self.every_s = min(self.max_every_s, self.every_s * 2) if same else self.base_every_s
        self._next_probe = self.clock() + self.every_s
        return {"threads": choice, "seconds_per_step": {str(c): round(s, 4) for c, s in medians.items()}}


__all__ = ["ThreadTuner"]
