"""Hysteresis: a track keeps the decision it shows until the evidence has really turned.

Each completed window gives a fresh open-set decision (:class:`~gaitpipe.gallery.Identification`:
a name, ``unknown`` or ``uncertain``). Shown as they come, these flicker: a walker seen from a
worse angle for one window drops to ``unknown`` and comes back. The rules, per track:

1. the first decision is shown at once (the first answer should not wait);
2. ``uncertain`` (the window was too poorly seen to judge) is no evidence: it never replaces
   a name or ``unknown``; it is only shown until a real decision comes, which replaces it at once;
3. while a name is shown, a window whose best identity is still that name and scores at least
   ``threshold - band`` supports it (a score dipping just under the threshold, or a runner-up
   coming within the margin, has not turned the evidence);
4. any other decision must come ``hold`` windows in a row (the same one each time) before it
   replaces what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from gaitpipe.errors import SettingError
from gaitpipe.gallery.results import UNCERTAIN, UNKNOWN, Identification

#: Windows in a row a new decision needs before it replaces the one shown.
DEFAULT_HOLD = 2
#: How far under the threshold a shown name's score may dip and still support it.
DEFAULT_BAND = 0.03


def is_name(decision: str | None) -> bool:
    return decision is not None and decision not in (UNKNOWN, UNCERTAIN)


@dataclass
class Hysteresis:
    """One track's shown decision; :meth:`update` with each window's :class:`Identification`."""

    hold: int = DEFAULT_HOLD
    band: float = DEFAULT_BAND
    shown: str | None = None
    _challenger: str | None = None
    _count: int = 0

    def __post_init__(self) -> None:
        if int(self.hold) < 1:
            raise SettingError(f"hold must be at least 1 window, got {self.hold}", "hold")
        if not 0.0 <= float(self.band) <= 2.0:
            raise SettingError(f"band must be a score difference between 0 and 2, got {self.band}", "band")

    def update(self, result: Identification) -> bool:
        """Take one window's decision; True when the shown decision changed."""
        raw = result.decision
        if self.shown is None or (self.shown == UNCERTAIN and raw != UNCERTAIN):
            return self._show(raw)
        if raw == UNCERTAIN:  # no evidence either way: a challenger's run is not broken either
            return False
        if raw == self.shown or self._supports_shown(result):
            self._challenger, self._count = None, 0
            return False
        if raw == self._challenger:
            self._count += 1
        else:
            self._challenger, self._count = raw, 1
        if self._count >= self.hold:
            return self._show(raw)
        return False

    def _supports_shown(self, result: Identification) -> bool:
        best = result.best
        return (
            is_name(self.shown)
            and best is not None
            and best.identity == self.shown
            and best.score >= result.threshold - self.band
        )

    def _show(self, decision: str) -> bool:
        changed = decision != self.shown
        self.shown, self._challenger, self._count = decision, None, 0
        return changed


__all__ = ["DEFAULT_BAND", "DEFAULT_HOLD", "Hysteresis", "is_name"]
