"""Open-set calibration: the similarity threshold below which a walker is "unknown".

Scores are the part-averaged cosine similarities that the gallery's inner-product search returns
(``flatten_for_search``), so a threshold calibrated here applies to ``identify`` unchanged.
Genuine pairs are two sequences of the same subject, impostor pairs of different subjects; the
threshold for a target false-accept rate (FAR) is the impostor-score quantile, and the true-accept
rate (TAR) is the share of genuine scores at or above it.

The margin (how far the best identity must score above the next one to be named) is calibrated
identity by identity, as ``identify`` decides: every sequence in turn is a probe against all the
others (an identity's score = its best sequence's), and the margin is the smallest one that lets
at most ``target_far`` of the probes be named as the wrong identity although their best score
cleared the threshold (:func:`margin_at_far`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class OpenSetCalibration:
    threshold: float  #: similarity threshold at the chosen FAR (the default for identify)
    target_far: float  #: FAR the threshold was chosen for
    tar_at_far: dict[str, float]  #: e.g. {"0.01": 0.97, "0.001": 0.91}
    thresholds_at_far: dict[str, float]
    genuine_pairs: int
    impostor_pairs: int
    subjects: int
    #: best-minus-second identity score needed for a name (see :func:`margin_at_far`)
    margin: float | None = None
    #: what the margin does on the calibration probes (:func:`margin_at_far`)
    margin_effect: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _similarities(vectors: np.ndarray, sims: np.ndarray | None) -> np.ndarray:
    """``sims`` when given (e.g. normalised scores, :mod:`gaitpipe.metrics.asnorm`), else the inner products."""
    if sims is not None:
        return np.array(sims, np.float64)
    v = np.asarray(vectors, np.float32)
    return v @ v.T


def pair_scores(
    vectors: np.ndarray, labels: np.ndarray, *, sims: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs' similarities, split into (genuine, impostor). ``vectors`` [n, d] flattened;
    ``sims`` [n, n]: the pairs' scores when they are not the inner products (normalised scores)."""
    labels = np.asarray(labels)
    sims = _similarities(vectors, sims)
    iu = np.triu_indices(len(labels), k=1)
    same = labels[iu[0]] == labels[iu[1]]
    scores = sims[iu]
    return scores[same], scores[~same]


def threshold_at_far(impostor: np.ndarray, far: float) -> float:
    """Smallest threshold t with mean(impostor >= t) <= far (accept means score >= t)."""
    if impostor.size == 0:
        raise ValueError("no impostor pairs: need sequences of at least two subjects")
    ordered = np.sort(impostor)[::-1]
    allowed = int(np.floor(far * impostor.size))  # impostors that may score at or above t
    if allowed >= ordered.size:
        return float(ordered[-1])
    # Just above the (allowed+1)-th highest impostor score, so at most `allowed` pass.
    return float(np.nextafter(ordered[allowed], np.float32(np.inf)))


def identity_scores(
    vectors: np.ndarray, labels: np.ndarray, *, sims: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out identity scores: ``[n, identities]`` (max similarity over each identity's
    *other* sequences; -inf when it has none) and the identity labels of the columns."""
    labels = np.asarray(labels)
    sims = _similarities(vectors, sims).copy()
    np.fill_diagonal(sims, -np.inf)
    names = np.unique(labels)
    scores = np.stack([sims[:, labels == u].max(axis=1) for u in names], axis=1)
    return scores, names


def margin_at_far(
    vectors: np.ndarray, labels: np.ndarray, threshold: float, far: float = 0.01, *, sims: np.ndarray | None = None
) -> tuple[float, dict]:
    """The smallest margin with at most ``far`` of the probes named wrongly, and its effect.

    Each sequence is a probe against all the others. A probe is *named wrongly* when its best
    identity is not its own, scores at least ``threshold`` and beats the next identity by at
    least the margin. Returns ``(margin, effect)``: ``effect`` says how many probes the threshold
    alone names wrongly, how many the margin still lets through, and the share of rightly named
    probes that the margin turns into ``unknown`` (the price).
    """
    scores, names = identity_scores(vectors, labels, sims=sims)
    labels = np.asarray(labels)
    n = len(labels)
    if scores.shape[1] < 2:
        raise ValueError("need sequences of at least two subjects to calibrate a margin")
    order = np.argsort(-scores, axis=1)
    rows = np.arange(n)
    best, second = scores[rows, order[:, 0]], scores[rows, order[:, 1]]
    gap = np.where(np.isfinite(second), best - second, np.inf)
    accepted = best >= threshold
    wrong = accepted & (names[order[:, 0]] != labels)
    right = accepted & ~wrong
    allowed = int(np.floor(far * n))
    wrong_gaps = np.sort(gap[wrong])[::-1]
    margin = 0.0 if allowed >= wrong_gaps.size else float(np.nextafter(wrong_gaps[allowed], np.float32(np.inf)))
    margin = max(0.0, margin)
    effect = {
        "target_far": far,
        "probes": int(n),
        "wrong_above_threshold": int(wrong.sum()),
        "wrong_named": int(np.sum(wrong & (gap >= margin))),
        "right_lost": float(np.mean(gap[right] < margin)) if right.any() else 0.0,
    }
    return margin, effect


def calibrate(
    vectors: np.ndarray, labels: np.ndarray, fars=(0.01, 0.001), target_far: float = 0.01
) -> OpenSetCalibration:
    genuine, impostor = pair_scores(vectors, labels)
    if genuine.size == 0:
        raise ValueError("no genuine pairs: need at least two sequences of one subject")
    thresholds = {f"{far:g}": threshold_at_far(impostor, far) for far in fars}
    tar = {key: float(np.mean(genuine >= t)) for key, t in thresholds.items()}
    threshold = threshold_at_far(impostor, target_far)
    margin, effect = margin_at_far(vectors, labels, threshold, target_far)
    return OpenSetCalibration(
        threshold=threshold,
        target_far=target_far,
        tar_at_far=tar,
        thresholds_at_far=thresholds,
        genuine_pairs=int(genuine.size),
        impostor_pairs=int(impostor.size),
        subjects=len(np.unique(labels)),
        margin=margin,
        margin_effect=effect,
    )
