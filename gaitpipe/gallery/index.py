"""FAISS search over gallery templates: a rebuildable cache of the SQLite rows.

Vectors are :func:`flatten_parts` of the encoder's ``[P, D]`` part features: each part
L2-normalised and scaled by ``1/sqrt(P)``, so the inner product of two vectors is the
part-averaged cosine similarity (``models.base.flatten_for_search``, reimplemented in numpy here
so that the gallery never imports torch). FAISS ids are the SQLite enrolment ids.

Index kinds (``KINDS``):

* ``flat``: exact inner-product search (``IndexFlatIP``). The default, and the reference every
  approximate index is measured against (``benchmarks/bench_gallery.py``).
* ``hnsw``: graph search (``IndexHNSWFlat``, M=32, efSearch=2048): no training, incremental adds.
  efSearch is high on purpose: on 100k synthetic 4096-d templates (benchmarks/bench_gallery.py)
  efSearch 128 / 512 / 2048 gave identity-level recall@1 0.82 / 0.97 / 1.00 against exact
  search at 9 / 26 / 79 ms per query, exact search taking ~320 ms on the same (busy) CPU.
* ``ivf``: inverted lists (``IndexIVFFlat``, nlist ~ 4 sqrt(n), nprobe 32): trained on the rows
  at (re)build time. Caution: templates that share a common component (as gait features do)
  make inner-product k-means put most vectors in a few lists (benchmarks/bench_gallery.py
  measured an imbalance factor of ~120 at 100k synthetic templates), so IVF then scans most
  of the gallery anyway; that is why ``auto`` picks HNSW.
* ``auto``: ``flat`` up to :data:`APPROX_THRESHOLD` templates, ``hnsw`` above (exact search of
  4096-d vectors costs ~16 kB of memory traffic per template per query).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import faiss

KINDS = ("auto", "flat", "hnsw", "ivf")
#: Above this many templates ``auto`` switches from exact to approximate (HNSW) search.
APPROX_THRESHOLD = 200_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 2048
IVF_NPROBE = 32


def flatten_parts(embeddings: np.ndarray) -> np.ndarray:
    """``[n, P, D]`` (or ``[P, D]``) -> ``[n, P*D]`` float32 search vectors.

    Same maths as ``gaitpipe.models.flatten_for_search``: per-part L2 normalisation, scaled by
    ``1/sqrt(P)``, so ``<a, b> = mean_p cos(a_p, b_p)`` and lies in [-1, 1].
    """
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"embeddings must be [n, P, D] or [P, D], got shape {x.shape}")
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    x = x / np.maximum(norms, 1e-12) / math.sqrt(x.shape[1])
    return np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32)


def resolve_kind(kind: str, n: int) -> str:
    """Turn ``auto`` into the concrete kind for a gallery of ``n`` templates."""
    if kind not in KINDS:
        raise ValueError(f"index kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "auto":
        return "hnsw" if n > APPROX_THRESHOLD else "flat"
    return kind


def ivf_nlist(n: int) -> int:
    """Number of IVF lists: ~4 sqrt(n), at least 1, and at most n/39 so k-means has data."""
    return int(max(1, min(4 * math.sqrt(max(n, 1)), max(1, n // 39))))


@dataclass
class IndexParams:
    kind: str  #: concrete kind: flat, hnsw or ivf
    dim: int
    nlist: int = 0  #: IVF lists (ivf only)
    nprobe: int = IVF_NPROBE
    ef_search: int = HNSW_EF_SEARCH

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "dim": self.dim,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
        }

    @classmethod
    def from_dict(cls, d: dict) -> IndexParams:
        return cls(
            str(d["kind"]),
            int(d["dim"]),
            int(d.get("nlist", 0)),
            int(d.get("nprobe", IVF_NPROBE)),
            int(d.get("ef_search", HNSW_EF_SEARCH)),
        )


def new_index(params: IndexParams, train_vectors: np.ndarray | None = None) -> faiss.Index:
    """An empty index of ``params.kind`` (IVF trained on ``train_vectors``), ids = enrolment ids."""
    import faiss

    d = params.dim
    if params.kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(d))
    if params.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = params.ef_search
        return faiss.IndexIDMap2(inner)
    if params.kind == "ivf":
        if train_vectors is None or len(train_vectors) == 0:
            raise ValueError("an IVF index needs vectors to train on")
        params.nlist = params.nlist or ivf_nlist(len(train_vectors))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, params.nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.min_points_per_centroid = 1  # small galleries: few points per list is expected
        index.train(np.ascontiguousarray(train_vectors, dtype=np.float32))
        index.nprobe = min(params.nprobe, params.nlist)
        return index
    raise ValueError(f"unknown index kind {params.kind!r}")


def configure(index: faiss.Index, params: IndexParams) -> None:
    """Re-apply search-time parameters after loading (they are not all serialised)."""
    import faiss

    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = params.ef_search
    elif isinstance(inner, faiss.IndexIVF):
        inner.nprobe = min(params.nprobe, inner.nlist)


def add(index: faiss.Index, vectors: np.ndarray, ids: np.ndarray) -> None:
    if len(ids) == 0:
        return
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))


def search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) per query, best first; id -1 where fewer than ``k`` exist."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    k = max(1, min(int(k), max(1, index.ntotal)))
    return index.search(q, k)


def write(index: faiss.Index, path: str) -> None:
    import faiss

    faiss.write_index(index, path)


def read(path: str) -> faiss.Index:
    import faiss

    return faiss.read_index(path)
