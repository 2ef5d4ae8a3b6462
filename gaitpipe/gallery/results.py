"""What a gallery search answers: ranked matches, the open-set decision, an identity's enrolments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gaitpipe.gallery.store import Enrolment

#: Used when the weights carry no calibrated ``open_set.threshold``: part-averaged cosine
#: similarity below which a walker is reported as ``unknown``; calibrated weights carry their own.
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Match:
    """One identity in a ranked list: its best (max) similarity over its enrolments."""

    identity: str
    score: float  #: part-averaged cosine similarity in [-1, 1]
    enrolment_id: int  #: the enrolment that gave the score

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.identity, "score": round(float(self.score), 6)}


@dataclass
class Identification:
    """Open-set answer for one probe: ranked matches and the decision (a name or ``unknown``)."""

    matches: list[Match]
    threshold: float
    decision: str = "unknown"

    def __post_init__(self) -> None:
        if self.matches and self.matches[0].score >= self.threshold:
            self.decision = self.matches[0].identity


@dataclass
class IdentitySummary:
    identity: str
    enrolments: list[Enrolment] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.identity, "enrolments": [e.to_dict() for e in self.enrolments]}
