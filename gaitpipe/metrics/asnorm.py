"""Adaptive symmetric score normalisation (AS-norm) against a cohort of impostor templates.

A raw similarity means different things in different places: two walkers filmed by the same
camera share its height, distance, view and segmentation quirks, so even different people score
high; a genuine pair filmed in two places scores lower. AS-norm (as in speaker and face
verification) asks how unusual a score is *for these two templates*: each side is compared with
a cohort of impostors (people who are neither), and the score is standardised by the mean and
spread of that side's ``top_n`` highest cohort scores (the impostors most like it)::

    s_norm = ((s - mean_e) / std_e + (s - mean_p) / std_p) / 2

with ``e`` the enrolment and ``p`` the probe. A probe that resembles everybody (same scene as
the enrolment, a generic silhouette) has a high ``mean_p``, and its scores are pulled down.
The top-N statistics are the "adaptive" part: only the closest impostors, which are the ones a
false accept would come from, set the scale.

Vectors are the gallery's search vectors (``flatten_for_search``: inner product = part-averaged
cosine), so raw scores here are exactly the gallery's scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Cohort scores kept per template (the closest impostors). Papers use 100-400 of a few thousand;
#: our cohorts hold a few hundred templates, so 100 is most of the close ones without the far tail.
DEFAULT_TOP_N = 100
#: Used on normalised scores when the weights carry no ``open_set.normalised`` calibration
#: (e.g. imported or fetched weights): AS-norm scores are in standard deviations of each side's
#: closest impostors, so one default fits many models far better than a raw cosine default.
#: Measured: the shipped GaitBase pair calibrate to 2.92 and 3.00 (docs/open-set.md).
DEFAULT_NORM_THRESHOLD = 3.0
#: The margin on normalised scores when the weights carry none (the calibrated ones: 0.25-0.27).
DEFAULT_NORM_MARGIN = 0.25
#: Smallest spread used, so that a template whose top cohort scores are all equal cannot blow up.
MIN_STD = 1e-3


@dataclass(frozen=True)
class CohortStats:
    """Mean and spread of each template's ``top_n`` highest scores against the cohort."""

    mean: np.ndarray  #: [n]
    std: np.ndarray  #: [n] (population SD, at least :data:`MIN_STD`)


def cohort_stats(vectors: np.ndarray, cohort: np.ndarray, top_n: int = DEFAULT_TOP_N) -> CohortStats:
    """Top-``top_n`` cohort statistics of ``vectors`` ``[n, d]`` against ``cohort`` ``[m, d]``
    (all of the cohort when it holds fewer than ``top_n``)."""
    v = np.asarray(vectors, np.float32)
    c = np.asarray(cohort, np.float32)
    if v.ndim != 2 or c.ndim != 2 or v.shape[1] != c.shape[1]:
        raise ValueError(f"vectors {v.shape} and cohort {c.shape} must be [n, d] and [m, d] with the same d")
    if len(c) < 2:
        raise ValueError("a cohort needs at least two templates")
    k = max(2, min(int(top_n), len(c)))
    scores = v @ c.T  # [n, m]
    top = -np.partition(-scores, k - 1, axis=1)[:, :k] if k < len(c) else scores
    top = top.astype(np.float64)
    return CohortStats(top.mean(axis=1), np.maximum(top.std(axis=1), MIN_STD))


def normalise(raw: np.ndarray, probe: CohortStats, enrol: CohortStats) -> np.ndarray:
    """AS-norm of raw scores ``[n_probe, n_enrol]`` given both sides' cohort statistics."""
    s = np.asarray(raw, np.float64)
    zp = (s - probe.mean[:, None]) / probe.std[:, None]
    ze = (s - enrol.mean[None, :]) / enrol.std[None, :]
    return 0.5 * (zp + ze)


@dataclass(frozen=True)
class ScoreNormaliser:
    """A cohort and its ``top_n``: turns raw probe-vs-enrolment scores into AS-norm scores."""

    cohort: np.ndarray  #: [m, d] float32 search vectors of impostor templates
    top_n: int = DEFAULT_TOP_N
    #: where the cohort comes from (shown in results), e.g. its file
    source: str = ""

    def stats(self, vectors: np.ndarray) -> CohortStats:
        return cohort_stats(vectors, self.cohort, self.top_n)

    def pairs(self, probes: np.ndarray, enrols: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        """AS-norm scores ``[n_probe, n_enrol]`` (``raw`` None: the inner products)."""
        p = np.asarray(probes, np.float32)
        e = np.asarray(enrols, np.float32)
        scores = p @ e.T if raw is None else np.asarray(raw)
        return normalise(scores, self.stats(p), self.stats(e))

    def all_pairs(self, vectors: np.ndarray) -> np.ndarray:
        """AS-norm scores of every pair of ``vectors`` ``[n, n]`` (symmetric), the stats computed once."""
        v = np.asarray(vectors, np.float32)
        st = self.stats(v)
        return normalise(v @ v.T, st, st)


__all__ = [
    "DEFAULT_NORM_MARGIN",
    "DEFAULT_NORM_THRESHOLD",
    "DEFAULT_TOP_N",
    "MIN_STD",
    "CohortStats",
    "ScoreNormaliser",
    "cohort_stats",
    "normalise",
]
