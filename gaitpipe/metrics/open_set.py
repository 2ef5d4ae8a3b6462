"""Open-set calibration: the similarity threshold below which a walker is "unknown".

Scores are the part-averaged cosine similarities that the gallery's inner-product search returns
(``flatten_for_search``), so a threshold calibrated here applies to ``identify`` unchanged.
Genuine pairs are two sequences of the same subject, impostor pairs of different subjects; the
threshold for a target false-accept rate (FAR) is the impostor-score quantile, and the true-accept
rate (TAR) is the share of genuine scores at or above it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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

    def to_dict(self) -> dict:
        return asdict(self)


def pair_scores(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs' similarities, split into (genuine, impostor). ``vectors`` [n, d] flattened."""
    v = np.asarray(vectors, np.float32)
    labels = np.asarray(labels)
    sims = v @ v.T
    iu = np.triu_indices(len(v), k=1)
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


def calibrate(
    vectors: np.ndarray, labels: np.ndarray, fars=(0.01, 0.001), target_far: float = 0.01
) -> OpenSetCalibration:
    genuine, impostor = pair_scores(vectors, labels)
    if genuine.size == 0:
        raise ValueError("no genuine pairs: need at least two sequences of one subject")
    thresholds = {f"{far:g}": threshold_at_far(impostor, far) for far in fars}
    tar = {key: float(np.mean(genuine >= t)) for key, t in thresholds.items()}
    return OpenSetCalibration(
        threshold=threshold_at_far(impostor, target_far),
        target_far=target_far,
        tar_at_far=tar,
        thresholds_at_far=thresholds,
        genuine_pairs=int(genuine.size),
        impostor_pairs=int(impostor.size),
        subjects=len(np.unique(labels)),
    )
