"""What the :class:`~gaitpipe.pipeline.Pipeline` returns: walkers' gait templates and their matches.

Quality (0..1) = coverage x length factor: coverage is the fraction of the track's detected
frames that survived the silhouette checks (border cuts, partial masks, OpenGait's drop rules),
and the length factor ``min(1, frames / GOOD_FRAMES)`` says whether at least ~1.5 gait cycles
were seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitpipe.quality import TrackQuality

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.gallery import Enrolment, Identification, Match
    from gaitpipe.io.orientation import Rotation
    from gaitpipe.types import VideoInfo

#: Frames for a quality length factor of 1 (~1.5 gait cycles at 25 fps).
GOOD_FRAMES = 40


def sequence_quality(frames: int, dropped: dict[str, int]) -> float:
    """Coverage (kept / detected frames) x length factor ``min(1, frames / GOOD_FRAMES)``."""
    lost = sum(int(v) for v in dropped.values())
    coverage = frames / max(1, frames + lost)
    return float(coverage * min(1.0, frames / GOOD_FRAMES))


@dataclass
class WalkerEmbedding:
    """One tracked walker of a video and its gait template."""

    track_id: int
    frame_start: int  #: first source frame of the silhouettes used
    frame_end: int  #: last source frame of the silhouettes used
    frames: int  #: silhouettes the embedding was computed from
    quality: float  #: 0..1, see :func:`sequence_quality`
    embedding: np.ndarray  #: [P, D] float32 part features
    vector: np.ndarray  #: [P*D] float32 search vector (per-part L2, / sqrt(P))
    windows: int = 1  #: clips the track was embedded in
    frame_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32), repr=False)
    dropped: dict[str, int] = field(default_factory=dict)
    #: how the video's frames were turned before segmenting; ``boxes`` are in the turned frames
    rotation: Rotation | None = field(default=None, repr=False)
    #: the track's quality checks (:func:`gaitpipe.quality.judge` at its default minimum length)
    checks: TrackQuality = field(default_factory=TrackQuality)

    def summary(self) -> dict[str, Any]:
        return {
            "track": self.track_id,
            "frames": self.frames,
            "frame_range": [self.frame_start, self.frame_end],
            "quality": round(self.quality, 3),
            "windows": self.windows,
            "dropped": dict(self.dropped),
            "checks": self.checks.to_dict(),
        }


@dataclass
class VideoEmbeddings:
    """Everything ``Pipeline.analyse`` learned about one video."""

    video: str
    info: VideoInfo
    walkers: list[WalkerEmbedding]
    manifest: dict[str, Any] = field(default_factory=dict)
    rejected_frames: list[int] = field(default_factory=list)  #: lengths of tracks too short to embed
    rotation: Rotation | None = None  #: how the frames were turned before segmenting, and why


@dataclass
class EnrolResult:
    enrolment: Enrolment
    walker: WalkerEmbedding
    gallery: str
    other_tracks: list[int]  #: usable tracks that were not enrolled
    rotation: Rotation | None = None  #: how the video's frames were turned, and why


def _score(m: Match | None) -> dict[str, Any] | None:
    return None if m is None else m.to_dict()


@dataclass
class WalkerIdentification:
    walker: WalkerEmbedding
    result: Identification

    def to_dict(self) -> dict[str, Any]:
        """``decision`` (a name, ``unknown`` or ``uncertain``), ``why`` (one line), ``best`` and
        ``second`` (``{"id", "score"}`` or None: part-averaged cosine; with score normalisation
        ``score`` is the AS-norm score and ``raw`` the cosine beside it), ``candidates`` (the
        identities within the margin when that made it ``unknown``), ``quality`` (score, reasons,
        measurements) and the ranked ``matches``."""
        r = self.result
        return {
            "track": self.walker.track_id,
            "frames": self.walker.frames,
            "decision": r.decision,
            "why": r.why,
            "best": _score(r.best),
            "second": _score(r.second),
            "candidates": list(r.candidates),
            "quality": {
                "score": round(self.walker.quality, 3),
                "reasons": list(r.reasons),
                "checks": self.walker.checks.to_dict()["stats"],
            },
            "matches": [m.to_dict() for m in r.matches],
        }


@dataclass(frozen=True)
class DecisionMargin:
    """How far the best identity must score above the next one to be named, and where that comes from.

    ``source``: ``given`` (by the caller), ``calibrated`` (``open_set.margin`` in the weights, or
    ``open_set.normalised.margin`` on normalised scores) or ``default``
    (:data:`gaitpipe.gallery.DEFAULT_MARGIN`, :data:`gaitpipe.metrics.asnorm.DEFAULT_NORM_MARGIN`).
    ``scale``: ``raw`` (cosine) or ``as-norm`` (normalised scores, :mod:`gaitpipe.metrics.asnorm`).
    """

    value: float
    source: str
    scale: str = "raw"

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "scale": self.scale}


@dataclass(frozen=True)
class DecisionThreshold:
    """The open-set threshold a decision used, and where it comes from.

    ``source``: ``given`` (by the caller), ``calibrated`` (in the weights, see ``calibrated_on``)
    or ``default`` (the weights carry none). ``own_domain``: whether the calibration data is the
    data set the weights were trained on (None when either is unknown); a threshold calibrated
    on another domain, or none at all, says little about false accepts on the user's footage.
    ``scale``: ``raw`` (cosine similarity) or ``as-norm`` (cohort-normalised scores,
    :mod:`gaitpipe.metrics.asnorm`): the scale of ``value`` and of the scores it is compared with.
    """

    value: float
    source: str
    calibrated_on: str | None = None
    trained_on: str | None = None
    own_domain: bool | None = None
    scale: str = "raw"

    @property
    def note(self) -> str | None:
        """A warning for the user when the threshold is not calibrated for these weights' domain."""
        if self.source == "default" and self.scale != "raw":
            return (
                f"these weights carry no threshold calibrated on normalised scores: {self.value:.3f} is the "
                "generic AS-norm default (calibrate with `gaitpipe weights calibrate`)"
            )
        if self.source == "default":
            return (
                f"these weights carry no calibrated threshold: {self.value:.3f} is a generic default "
                "(calibrate with `gaitpipe weights calibrate`)"
            )
        if self.source == "calibrated" and self.own_domain is False:
            return (
                f"threshold calibrated on {self.calibrated_on}, not on the weights' own training domain "
                f"({self.trained_on}): false-accept rates may differ"
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "source": self.source,
            "calibrated_on": self.calibrated_on,
            "own_domain": self.own_domain,
            "note": self.note,
            "scale": self.scale,
        }


@dataclass
class IdentifyResult:
    video: str
    threshold: float
    walkers: list[WalkerIdentification]
    #: tracks too short to compare at all (below ``Pipeline.identify``'s ``min_frames``): reported
    #: as ``uncertain`` ("too short"), with no matches
    skipped: list[WalkerEmbedding] = field(default_factory=list)
    rendered: str | None = None
    rotation: Rotation | None = None  #: how the clip's frames were turned, and why
    threshold_source: DecisionThreshold | None = None  #: where ``threshold`` comes from
    margin: DecisionMargin | None = None  #: the margin the decisions used, and where it comes from

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"video", "rotation", "threshold", "margin", "walkers": [...]}``.

        ``rotation``: :meth:`Rotation.to_dict <gaitpipe.io.orientation.Rotation.to_dict>` or None;
        ``threshold``: :meth:`DecisionThreshold.to_dict`; ``margin``: :meth:`DecisionMargin.to_dict`;
        each walker: :meth:`WalkerIdentification.to_dict`, the skipped (too short) tracks among
        them as ``uncertain`` with no matches, all in order of appearance.
        """
        from gaitpipe.gallery import Identification

        source = self.threshold_source or DecisionThreshold(self.threshold, "given")
        margin = self.margin or DecisionMargin(0.0, "given")
        everyone = list(self.walkers) + [
            WalkerIdentification(w, Identification([], self.threshold, margin=margin.value, reasons=w.checks.reasons))
            for w in self.skipped
        ]
        everyone.sort(key=lambda w: (w.walker.frame_start, w.walker.track_id))
        return {
            "video": self.video,
            "rotation": self.rotation.to_dict() if self.rotation is not None else None,
            "threshold": source.to_dict(),
            "margin": margin.to_dict(),
            "walkers": [w.to_dict() for w in everyone],
        }


__all__ = [
    "GOOD_FRAMES",
    "DecisionMargin",
    "DecisionThreshold",
    "EnrolResult",
    "IdentifyResult",
    "VideoEmbeddings",
    "WalkerEmbedding",
    "WalkerIdentification",
    "sequence_quality",
]
