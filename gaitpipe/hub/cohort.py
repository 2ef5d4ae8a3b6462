"""Score-normalisation cohort files: impostor templates of one weights file, stored beside it.

A cohort (:mod:`gaitpipe.metrics.asnorm`) is a few hundred search vectors of people who are
nobody in particular, embedded once by the weights they belong to. The file is a compressed
``.npz`` of plain arrays (float16 vectors and a JSON header), read with ``allow_pickle=False``,
so opening one can never run code.

**Fingerprint.** Templates of one encoder mean nothing to another, so the header carries the
encoder fingerprint of the weights (``<arch>/<preset>/<sha256 of the weights' tensors>``, see
:mod:`gaitpipe.models.checkpoint`). That, not the sha256 of the whole weights file, is what is
checked: calibrating writes new metadata into the weights file (changing its bytes) without
changing a single embedding. A cohort made for other weights is never used.

**Where.** ``<weights stem>.cohort.npz`` beside the weights file (the shipped weights ship
theirs), else ``<user cache>/cohorts/<stem>-<fingerprint hash>.cohort.npz`` (computed on first
use for imported or fetched weights, see :func:`gaitpipe.engine.cohort.ensure_cohort`).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaitpipe.errors import WeightsError
from gaitpipe.hub.locations import user_cache_dir
from gaitpipe.metrics.asnorm import DEFAULT_TOP_N, ScoreNormaliser
from gaitpipe.utils.files import atomic_write_npz

COHORT_SUFFIX = ".cohort.npz"
#: Version of the file layout.
FORMAT = 1


@dataclass
class Cohort:
    """Impostor search vectors of one encoder, and where they come from."""

    vectors: np.ndarray  #: [m, parts * dim] float32 search vectors (``flatten_for_search``)
    encoder: str  #: fingerprint of the weights that embedded them
    top_n: int = DEFAULT_TOP_N
    #: what the templates are: counts per source, e.g. ``{"casiab": 186, "synthetic": 96}``
    sources: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def normaliser(self) -> ScoreNormaliser:
        return ScoreNormaliser(self.vectors, self.top_n, str(self.path or "memory"))

    def summary(self) -> dict[str, Any]:
        return {"size": len(self.vectors), "top_n": self.top_n, "sources": dict(self.sources), "file": str(self.path)}


def save_cohort(cohort: Cohort, path: str | Path) -> Path:
    """Write ``cohort`` atomically (a crash never leaves a half-written file under its name)."""
    v = np.asarray(cohort.vectors, np.float32)
    if v.ndim != 2 or len(v) < 2 or not np.isfinite(v).all():
        raise WeightsError(f"a cohort needs at least two finite [m, d] vectors, got {v.shape}")
    header = {"format": FORMAT, "encoder": cohort.encoder, "top_n": int(cohort.top_n), "sources": cohort.sources}
    out = atomic_write_npz(path, {"vectors": v.astype(np.float16), "header": np.array(json.dumps(header))})
    cohort.path = Path(path)
    return out


def load_cohort(path: str | Path, *, encoder: str | None = None) -> Cohort:
    """Read a cohort file; :class:`WeightsError` (one line) when it is damaged or, with
    ``encoder``, made for other weights."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            vectors = np.asarray(z["vectors"], np.float32)
            header = json.loads(str(z["header"]))
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"unknown cohort format {header.get('format') if isinstance(header, dict) else header!r}")
        if vectors.ndim != 2 or len(vectors) < 2 or not np.isfinite(vectors).all():
            raise ValueError(f"bad vectors {vectors.shape}")
        top_n = int(header["top_n"])
        found = str(header["encoder"])
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise WeightsError(
            f"cohort file {p} is damaged ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            "delete it, and it is computed again on next use (or run `gaitpipe weights cohort`)"
        ) from None
    if encoder is not None and found != encoder:
        raise WeightsError(f"cohort file {p} was made for other weights ({found}), not {encoder}")
    return Cohort(vectors, found, top_n, dict(header.get("sources") or {}), p)


def beside_weights(weights_path: str | Path) -> Path:
    """``<weights stem>.cohort.npz`` in the weights file's folder (where shipped cohorts live)."""
    p = Path(weights_path)
    return p.with_name(p.stem + COHORT_SUFFIX)


def cached_path(weights_path: str | Path, encoder: str) -> Path:
    """The user-cache location of a weights file's cohort (the fingerprint keeps two files apart)."""
    import hashlib

    tag = hashlib.sha256(encoder.encode()).hexdigest()[:12]
    return user_cache_dir() / "cohorts" / f"{Path(weights_path).stem}-{tag}{COHORT_SUFFIX}"


def find_cohort(weights_path: str | Path, encoder: str) -> Cohort | None:
    """The cohort of these weights: beside them, else in the user cache; None when there is none.

    A file made for other weights (e.g. weights retrained in place) is passed over, so a fresh
    one gets computed; a damaged file raises :class:`WeightsError`, saying what to do.
    """
    for path in (beside_weights(weights_path), cached_path(weights_path, encoder)):
        if not path.is_file():
            continue
        try:
            return load_cohort(path, encoder=encoder)
        except WeightsError as exc:
            if "made for other weights" in str(exc):
                continue
            raise
    return None


__all__ = [
    "COHORT_SUFFIX",
    "FORMAT",
    "Cohort",
    "beside_weights",
    "cached_path",
    "find_cohort",
    "load_cohort",
    "save_cohort",
]
