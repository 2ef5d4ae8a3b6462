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
  of the gallery anyway.
* ``pq-rerank``: compressed search with exact re-ranking, for large galleries. Each vector is
  projected by PCA to :data:`PCA_DIM` dimensions (fitted on a sample of the gallery) and held
  twice in memory: as a 4-bit product-quantisation code (:data:`PCA_DIM`/2 sub-quantisers, 64
  bytes, scanned for *every* template with FAISS's SIMD "fast scan") and as an 8-bit scalar code
  (:data:`PCA_DIM` bytes). A query scans all PQ codes, re-scores the best ``shortlist``
  (:data:`PQ_SHORTLIST`) with the 8-bit codes, and the best ``rerank`` (:data:`PQ_RERANK_EXACT`,
  or the k asked for if more) of those are scored exactly from the full templates read from
  SQLite (:func:`search` with ``fetch``; their checksums are checked), so every score it returns
  is the exact inner product that ``flat`` would return. Memory: ~330 bytes per template (0.33 GB
  per million) whatever the template dimension; the full templates stay on disk, and a query reads
  ``rerank`` of them (from the OS page cache when they are there). No inverted file: gait
  templates are high-dimensional and the nearest one is barely closer than the rest (genuine
  cosine ~0.6, impostors ~0.34), so IVF has to probe most lists to find it (on 100k templates
  fitted to CASIA-B, nprobe 64 of 1,264 lists found the exact top-1 for 86% of the queries),
  while one pass of fast scan over 1M codes costs ~2.5 ms. Measured in docs/benchmarks.md.
* ``auto``: ``flat`` up to the gallery's auto threshold (:data:`APPROX_THRESHOLD` templates unless
  ``gallery rebuild --auto-threshold`` set another), ``pq-rerank`` above (exact search of 4096-d
  vectors costs ~16 kB of memory traffic per template per query, and 16 GB of memory at 1M).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import faiss

PQ_RERANK = "pq-rerank"
KINDS = ("auto", "flat", "hnsw", "ivf", PQ_RERANK)
#: Kinds trained on the gallery's own vectors (rebuilt rather than extended once it has grown).
TRAINED_KINDS = ("ivf", PQ_RERANK)
#: Above this many templates ``auto`` switches from exact to compressed search (``pq-rerank``).
APPROX_THRESHOLD = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 2048
IVF_NPROBE = 32
#: Rows sampled to train an IVF index.
IVF_TRAIN_SAMPLE = 100_000
#: pq-rerank: PCA output dimension (at most the template dimension).
PCA_DIM = 256
#: pq-rerank: candidates of the PQ scan re-scored with the 8-bit codes.
PQ_SHORTLIST = 2048
#: pq-rerank: candidates of the 8-bit re-scoring scored exactly from the stored templates.
PQ_RERANK_EXACT = 32
#: pq-rerank: FAISS fast-scan kernel without query blocks, results in a reservoir (one query at a
#: time with a k of hundreds: 2.4 ms instead of 5.1 ms over 1M codes, same results).
FAST_SCAN_IMPLEM = 15
#: pq-rerank: templates sampled to fit the PCA and train the quantisers.
PQ_TRAIN_SAMPLE = 50_000
#: A trained index is rebuilt (retrained), not extended, once the gallery holds this many times
#: the templates it was trained on (and it was trained on fewer than the full sample).
RETRAIN_GROWTH = 2.0

#: ``fetch(ids) -> (ids found, [m, dim] float32 search vectors)``: full templates by enrolment id.
Fetch = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]


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
    scale = np.sqrt(np.einsum("npd,npd->np", x, x))[..., None]
    np.maximum(scale, 1e-12, out=scale)
    scale *= math.sqrt(x.shape[1])
    return np.ascontiguousarray((x / scale).reshape(x.shape[0], -1), dtype=np.float32)


def resolve_kind(kind: str, n: int, threshold: int | None = None) -> str:
    """Turn ``auto`` into the concrete kind for a gallery of ``n`` templates.

    ``threshold``: the most templates ``auto`` searches exactly (default :data:`APPROX_THRESHOLD`).
    """
    if kind not in KINDS:
        raise ValueError(f"index kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "auto":
        limit = APPROX_THRESHOLD if threshold is None else int(threshold)
        return PQ_RERANK if n > limit else "flat"
    return kind


def pq_dims(dim: int) -> tuple[int, int]:
    """(PCA output dimension, PQ sub-quantisers) of a pq-rerank index of ``dim``-d vectors."""
    d = min(PCA_DIM, int(dim))
    if d >= 2:
        d -= d % 2  # two dimensions per 4-bit sub-quantiser
    return d, max(1, d // 2)


def ivf_nlist(n: int) -> int:
    """Number of IVF lists: ~4 sqrt(n), at least 1, and at most n/39 so k-means has data."""
    return int(max(1, min(4 * math.sqrt(max(n, 1)), max(1, n // 39))))


@dataclass
class IndexParams:
    kind: str  #: concrete kind: flat, hnsw, ivf or pq-rerank
    dim: int
    nlist: int = 0  #: IVF lists (ivf only)
    nprobe: int = IVF_NPROBE
    ef_search: int = HNSW_EF_SEARCH
    shortlist: int = PQ_SHORTLIST  #: pq-rerank: PQ candidates re-scored with the 8-bit codes
    rerank: int = PQ_RERANK_EXACT  #: pq-rerank: candidates scored exactly from the templates
    trained: int = 0  #: templates the index was trained on (ivf, pq-rerank)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "dim": self.dim,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
            "shortlist": self.shortlist,
            "rerank": self.rerank,
            "trained": self.trained,
        }

    @classmethod
    def from_dict(cls, d: dict) -> IndexParams:
        return cls(
            str(d["kind"]),
            int(d["dim"]),
            int(d.get("nlist", 0)),
            int(d.get("nprobe", IVF_NPROBE)),
            int(d.get("ef_search", HNSW_EF_SEARCH)),
            int(d.get("shortlist", PQ_SHORTLIST)),
            int(d.get("rerank", PQ_RERANK_EXACT)),
            int(d.get("trained", 0)),
        )

    def outgrown(self, n: int) -> bool:
        """Whether a trained index should be retrained for a gallery of ``n`` templates."""
        if self.kind not in TRAINED_KINDS or self.trained <= 0:
            return False
        full = IVF_TRAIN_SAMPLE if self.kind == "ivf" else PQ_TRAIN_SAMPLE
        return self.trained < full and n > RETRAIN_GROWTH * self.trained


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
        params.trained = len(train_vectors)
        return index
    if params.kind == PQ_RERANK:
        raise ValueError("a pq-rerank index is made by new_pq_rerank (it trains on batches of vectors)")
    raise ValueError(f"unknown index kind {params.kind!r}")


def top_eigenvectors(cov: np.ndarray, k: int, iterations: int = 8) -> np.ndarray:
    """``[dim, k]``: the top-``k`` eigenvectors of the symmetric ``cov``, by subspace iteration.

    A full ``eigh`` of a 4096 x 4096 matrix takes ~30 s and ~0.7 GB of workspace; a few products
    with a ``[dim, k + 32]`` block find the same principal subspace (to what PCA for search needs)
    in a second. Deterministic (fixed starting block).
    """
    dim = cov.shape[0]
    if dim <= k + 32:
        vals, vecs = np.linalg.eigh(cov)
        return vecs[:, np.argsort(vals)[::-1][:k]]
    q = np.random.default_rng(0).standard_normal((dim, k + 32))
    for _ in range(iterations):
        q, _ = np.linalg.qr(cov @ q)
    vals, vecs = np.linalg.eigh(q.T @ cov @ q)
    return q @ vecs[:, np.argsort(vals)[::-1][:k]]


def new_pq_rerank(params: IndexParams, sample: Callable[[], Iterable[np.ndarray]]) -> faiss.Index:
    """An empty pq-rerank index trained on ``sample()`` (called twice: it must yield the same
    ``[m, dim]`` float32 batches each time; a few tens of thousands of vectors in all).

    Pass 1 accumulates the mean and covariance (float64, ``dim**2`` doubles: 134 MB at 4096-d, so
    the sample itself is never held whole); the PCA basis is their top eigenvectors. Pass 2 keeps
    the projected sample (``PCA_DIM`` floats per vector) to train the PQ and 8-bit quantisers.
    Search in PCA space is by L2 distance, which ranks unit vectors as their inner product does.
    """
    import faiss

    dim = params.dim
    total = 0
    s1 = np.zeros(dim, np.float64)
    s2 = np.zeros((dim, dim), np.float64)
    for batch in sample():
        x = np.ascontiguousarray(batch, dtype=np.float32)
        total += len(x)
        s1 += x.sum(0, dtype=np.float64)
        s2 += x.T @ x  # float32 products of one batch, summed in float64
    if total == 0:
        raise ValueError("a pq-rerank index needs vectors to train on")
    mean = s1 / total
    s2 /= total
    s2 -= np.outer(mean, mean)  # the covariance, in place
    d_out, m = pq_dims(dim)
    basis = np.ascontiguousarray(top_eigenvectors(s2, d_out).T, dtype=np.float32)  # [d_out, dim]
    del s2
    pca = faiss.LinearTransform(dim, d_out, True)
    faiss.copy_array_to_vector(basis.ravel(), pca.A)
    faiss.copy_array_to_vector((-(basis @ mean.astype(np.float32))).astype(np.float32), pca.b)
    pca.is_trained = True
    projected = np.concatenate([pca.apply(np.ascontiguousarray(b, dtype=np.float32)) for b in sample()])
    if len(projected) < 16:  # 4-bit PQ needs 16 training points per sub-quantiser: repeat a tiny sample
        projected = np.tile(projected, (-(-16 // len(projected)), 1))
    coarse = faiss.IndexPQFastScan(d_out, m, 4, faiss.METRIC_L2)
    coarse.pq.cp.min_points_per_centroid = 1  # small galleries: few points per centroid is expected
    coarse.implem = FAST_SCAN_IMPLEM
    fine = faiss.IndexScalarQuantizer(d_out, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
    refine = faiss.IndexRefine(coarse, fine)
    refine.train(np.ascontiguousarray(projected))
    params.trained = total
    return faiss.IndexIDMap(faiss.IndexPreTransform(pca, refine))


def configure(index: faiss.Index, params: IndexParams) -> None:
    """Re-apply search-time parameters after loading (they are not all serialised)."""
    import faiss

    inner = faiss.downcast_index(index.index) if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)) else index
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = params.ef_search
    elif isinstance(inner, faiss.IndexIVF):
        inner.nprobe = min(params.nprobe, inner.nlist)
    elif isinstance(inner, faiss.IndexPreTransform):
        refine = faiss.downcast_index(inner.index)
        if isinstance(refine, faiss.IndexRefine):
            coarse = faiss.downcast_index(refine.base_index)
            if isinstance(coarse, faiss.IndexFastScan):
                coarse.implem = FAST_SCAN_IMPLEM


def add(index: faiss.Index, vectors: np.ndarray, ids: np.ndarray) -> None:
    if len(ids) == 0:
        return
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))


def search(
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    params: IndexParams | None = None,
    fetch: Fetch | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) per query, best first; id -1 (score -inf) where fewer than ``k`` exist.

    A pq-rerank index (``params.kind``) needs ``fetch``: its candidates are scored exactly from the
    full vectors ``fetch`` returns, so every score is an exact inner product (never a compressed
    estimate) and candidates ``fetch`` no longer finds are dropped.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    k = max(1, min(int(k), max(1, index.ntotal)))
    if params is None or params.kind != PQ_RERANK:
        return index.search(q, k)
    if fetch is None:
        raise ValueError("a pq-rerank search needs the full templates (fetch)")
    import faiss

    m = min(max(k, params.rerank), max(1, index.ntotal))
    sp = faiss.IndexRefineSearchParameters()
    sp.k_factor = max(1.0, params.shortlist / m)
    _, cand = index.search(q, m, params=sp)
    found, vectors = fetch(np.unique(cand[cand >= 0]))
    row = {int(i): j for j, i in enumerate(found.tolist())}
    scores = np.full((len(q), k), -np.inf, np.float32)
    ids = np.full((len(q), k), -1, np.int64)
    for qi in range(len(q)):
        keep = [int(i) for i in cand[qi] if i >= 0 and int(i) in row]
        if not keep:
            continue
        exact = vectors[[row[i] for i in keep]] @ q[qi]
        order = np.argsort(-exact, kind="stable")[:k]
        scores[qi, : len(order)] = exact[order]
        ids[qi, : len(order)] = np.asarray(keep, np.int64)[order]
    return scores, ids


def write(index: faiss.Index, path: str) -> None:
    import faiss

    faiss.write_index(index, path)


def read(path: str) -> faiss.Index:
    import faiss

    return faiss.read_index(path)
