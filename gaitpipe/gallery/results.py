"""What a gallery search answers: ranked matches, the open-set decision, an identity's enrolments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gaitpipe.gallery.store import Enrolment

#: Used when the weights carry no calibrated ``open_set.threshold``: part-averaged cosine
#: similarity below which a walker is reported as ``unknown``; calibrated weights carry their own.
DEFAULT_THRESHOLD = 0.5
#: Used when the weights carry no calibrated ``open_set.margin``: how far the best identity must
#: score above the next one to be named. Two identities within this of each other are both
#: plausible, and naming either would be a coin toss (``unknown``, both listed as candidates).
DEFAULT_MARGIN = 0.05
#: The decision for a walker whose track is not good enough to name anyone from (see
#: :mod:`gaitpipe.quality`); ``unknown`` means a good track that matches nobody (well enough).
UNCERTAIN = "uncertain"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Match:
    """One identity in a ranked list: its best (max) similarity over its enrolments."""

    identity: str
    #: what decisions use: the part-averaged cosine similarity in [-1, 1], or its AS-norm score
    #: when the search normalised scores (then ``raw`` holds the cosine)
    score: float
    enrolment_id: int  #: the enrolment that gave the score
    raw: float | None = None  #: the raw cosine when ``score`` is normalised (:mod:`gaitpipe.metrics.asnorm`)

    @property
    def raw_score(self) -> float:
        """The part-averaged cosine similarity, normalised or not."""
        return float(self.score if self.raw is None else self.raw)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.identity, "score": round(float(self.score), 6)}
        if self.raw is not None:
            d["raw"] = round(float(self.raw), 6)
        return d


@dataclass
class Identification:
    """Open-set answer for one probe: ranked matches and the decision (a name, ``unknown`` or ``uncertain``).

    The rules, in order:

    1. ``uncertain`` when ``reasons`` (the track's quality problems) is not empty: never a name;
    2. ``unknown`` when the best identity scores below ``threshold``;
    3. ``unknown`` when the next identity scores within ``margin`` of the best (``candidates``
       lists every identity within ``margin`` of the best);
    4. otherwise the best identity's name.

    ``second`` is the runner-up identity even when ``matches`` was cut to fewer entries.
    """

    matches: list[Match]
    threshold: float
    decision: str = UNKNOWN
    margin: float = 0.0
    reasons: list[str] = field(default_factory=list)
    second: Match | None = None
    #: identities the decision hesitated between (rule 3), best first; empty otherwise
    candidates: list[str] = field(default_factory=list)
    #: one line: why this decision
    why: str = ""

    def __post_init__(self) -> None:
        if self.second is None and len(self.matches) > 1:
            self.second = self.matches[1]
        best = self.matches[0] if self.matches else None
        self.candidates = []
        if self.reasons:
            self.decision = UNCERTAIN
            self.why = "track quality: " + "; ".join(self.reasons)
        elif best is None:
            self.decision, self.why = UNKNOWN, "the gallery is empty"
        elif best.score < self.threshold:
            self.decision = UNKNOWN
            self.why = f"best score {best.score:.3f} ({best.identity}) is below the threshold {self.threshold:.3f}"
        elif self.second is not None and best.score - self.second.score < self.margin:
            self.decision = UNKNOWN
            near = [m for m in (*self.matches, self.second) if best.score - m.score < self.margin]
            self.candidates = list(dict.fromkeys(m.identity for m in near))
            self.why = (
                f"{best.identity} {best.score:.3f} and {self.second.identity} {self.second.score:.3f} are within "
                f"the margin {self.margin:.3f} of each other"
            )
        else:
            self.decision = best.identity
            gap = "" if self.second is None else f", {best.score - self.second.score:.3f} above {self.second.identity}"
            self.why = f"score {best.score:.3f} clears the threshold {self.threshold:.3f}{gap}"
            self.why += f" (margin {self.margin:.3f})"
        if best is not None and best.raw is not None and not self.reasons:
            self.why += f"; scores are AS-norm normalised (raw cosine of {best.identity}: {best.raw:.3f})"

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


@dataclass
class IdentitySummary:
    identity: str
    enrolments: list[Enrolment] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.identity, "enrolments": [e.to_dict() for e in self.enrolments]}
