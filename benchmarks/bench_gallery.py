"""Gallery search at scale: query latency, recall@1 against exact search, and memory.

Templates are synthetic but shaped like the real ones: GaitBase's 16 parts x 256 = 4096-d,
flattened exactly as the gallery does (per-part L2, / sqrt(P)), grouped 4 per identity around
identity centres that share a common component (genuine cosine ~0.76, impostor ~0.38, like
trained gait features; pure noise would put impostors at ~0 and make every index look perfect).
A query is a new walk of an enrolled identity (its centre + fresh noise), so its 4 genuine
templates are near-ties: template-level recall@1 against exact search is a strict measure; the
identity-level recall (what the gallery reports) is the one that matters.

Rows are generated in seeded chunks and streamed into the indexes, so the raw 1M x 4096 float32
matrix (16 GB) is never held in memory. Exact ground truth is a streamed numpy matmul over the
same chunks. Flat fp32 storage above ``--flat-max`` rows is skipped (it would not fit next to
other processes in this machine's RAM); at 1M the approximate indexes store compressed codes
(IVF + 8-bit scalar quantisation: 4 kB per template).

    python benchmarks/bench_gallery.py                         # 10k, 100k, 1M
    python benchmarks/bench_gallery.py --sizes 10000 --queries 100
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from gaitpipe.gallery.index import HNSW_EF_CONSTRUCTION, HNSW_M, flatten_parts

PARTS, DIM = 16, 256
PER_ID = 4
#: template = centre + NOISE * N(0, 1); centre = common + N(0, 1): genuine cosine ~0.76, impostor ~0.38
NOISE = 0.8
CHUNK = 25_000


def chunk_rows(seed: int, c: int, n: int, common: np.ndarray, dim: int, centres_too: bool = False):
    """Raw [rows, P, D] templates of chunk ``c`` (rows c*CHUNK .. ), deterministic (+ their centres)."""
    a, b = c * CHUNK, min(n, (c + 1) * CHUNK)
    rng = np.random.default_rng([seed, c])
    ids = (b - a + PER_ID - 1) // PER_ID
    centres = common + rng.standard_normal((ids, PARTS, dim // PARTS), dtype=np.float32)
    rows = np.repeat(centres, PER_ID, axis=0)[: b - a]
    rows += _noise(rng, rows.shape)
    return (rows, centres) if centres_too else rows


def _noise(rng: np.random.Generator, shape) -> np.ndarray:
    """NOISE x unit-variance noise, drawn as uniform int8 (several times cheaper than Gaussian
    draws, which dominate the 1M run; at 4096-d the cosine geometry is the same)."""
    return rng.integers(-128, 128, size=shape, dtype=np.int8).astype(np.float32) * np.float32(NOISE / 73.9)


def make_queries(seed: int, n: int, nq: int, common: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """New walks of enrolled identities: an identity centre + fresh noise (not a copy of a template)."""
    rng = np.random.default_rng([seed, 10**6])
    chunks = math.ceil(n / CHUNK)
    picked = rng.choice(chunks, size=min(4, chunks), replace=False)
    qs, who = [], []
    per = math.ceil(nq / len(picked))
    for c in picked:
        _, centres = chunk_rows(seed, int(c), n, common, dim, centres_too=True)
        idx = rng.choice(len(centres), size=min(per, len(centres)), replace=False)
        qs.append(centres[idx] + _noise(rng, centres[idx].shape))
        who.append(idx + int(c) * CHUNK // PER_ID)
    return flatten_parts(np.concatenate(qs)[:nq]), np.concatenate(who)[:nq]


def build_specs(n: int, dim: int, flat_max: int, quantizer) -> dict:
    """Indexes to compare at size ``n``; IVF variants share one k-means quantizer (trained once)."""
    import faiss

    specs = {}
    if n <= flat_max:
        specs["flat (exact)"] = (lambda: faiss.IndexFlatIP(dim), {})
        specs["hnsw32"] = (lambda: _hnsw(dim), {"efSearch": [128, 512, 2048]})
    if quantizer is None:
        return specs
    nlist = quantizer.ntotal
    if n <= flat_max:
        specs[f"ivf{nlist},flat"] = (
            lambda: faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT),
            {"nprobe": 32},
        )
    specs[f"ivf{nlist},sq8"] = (
        lambda: faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        ),
        {"nprobe": 32 if n <= flat_max else 8},
    )
    return specs


def train_quantizer(train: np.ndarray, nlist: int, seed: int):
    """Spherical k-means centroids in an IndexFlatIP (IVF indexes then skip their own k-means)."""
    import faiss

    km = faiss.Kmeans(
        train.shape[1],
        nlist,
        niter=10,
        spherical=True,
        seed=seed,
        min_points_per_centroid=1,
        max_points_per_centroid=10**9,
    )
    km.train(train)
    q = faiss.IndexFlatIP(train.shape[1])
    q.add(km.centroids)
    return q


def _hnsw(dim: int):
    import faiss

    idx = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    return idx


def _sweep(params: dict) -> list[dict]:
    """{"efSearch": [64, 128]} -> [{"efSearch": 64}, {"efSearch": 128}] (one list-valued key at most)."""
    for k, v in params.items():
        if isinstance(v, (list, tuple)):
            return [{**params, k: x} for x in v]
    return [params]


def _measure(n, name, idx, params, queries, who, best_i, build_s, dim) -> dict:
    if "efSearch" in params:
        idx.hnsw.efSearch = params["efSearch"]
    if "nprobe" in params:
        idx.nprobe = params["nprobe"]
    nq = len(queries)
    lat = []
    top = np.zeros(nq, np.int64)
    for q in range(nq):
        t = time.perf_counter()
        _, ids = idx.search(queries[q : q + 1], 1)
        lat.append(time.perf_counter() - t)
        top[q] = ids[0, 0]
    if hasattr(idx, "invlists") and idx.invlists is not None:
        print(
            f"  {name}: inverted-list imbalance factor {idx.invlists.imbalance_factor():.2f}",
            file=sys.stderr,
            flush=True,
        )
    mem = idx.sa_code_size() * n if "ivf" in name else n * dim * 4 + (n * HNSW_M * 2 * 4 if "hnsw" in name else 0)
    label = (
        name
        + (f" nprobe={params['nprobe']}" if "nprobe" in params else "")
        + (f" ef={params['efSearch']}" if "efSearch" in params else "")
    )
    return {
        "n": n,
        "index": label,
        "build_s": build_s,
        "p50_ms": 1000 * float(np.median(lat)),
        "p95_ms": 1000 * float(np.percentile(lat, 95)),
        "recall1": float(np.mean(top == best_i)),
        "id_recall1": float(np.mean(top // PER_ID == best_i // PER_ID)),
        "acc1": float(np.mean(top // PER_ID == who)),
        "mem_gb": mem / 1e9,
    }


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def run_size(
    n: int,
    dim: int,
    nq: int,
    seed: int,
    flat_max: int,
    train_n: int,
    skip_hnsw_above: int,
    kinds: list[str] | None = None,
) -> list[dict]:

    common = np.random.default_rng([seed, 7]).standard_normal((PARTS, dim // PARTS), dtype=np.float32)
    queries, who = make_queries(seed, n, nq, common, dim)
    chunks = math.ceil(n / CHUNK)
    # train what needs training on the first chunks (40 points per list: k-means' own minimum is 39)
    # 4 sqrt(n) lists, at most 1024; 256 above --flat-max so that assigning 1M 4096-d vectors
    # (n x nlist x d multiply-adds) fits this shared 2-core machine's time.
    nlist = int(min(1024, max(16, 4 * math.sqrt(n)))) if n <= flat_max else 256
    train_n = min(n, train_n, 40 * nlist)
    train = np.concatenate(
        [flatten_parts(chunk_rows(seed, c, n, common, dim)) for c in range(min(chunks, math.ceil(train_n / CHUNK)))]
    )[:train_n]
    t = time.perf_counter()
    quantizer = train_quantizer(train, nlist, seed) if not kinds or any("ivf" in k for k in kinds) else None
    kmeans_s = time.perf_counter() - t
    specs = build_specs(n, dim, flat_max, quantizer)
    if n > skip_hnsw_above:
        specs.pop("hnsw32", None)
    if kinds:
        specs = {k: v for k, v in specs.items() if any(word in k for word in kinds)}
    indexes, build_s = {}, {}
    for name, (make, _) in specs.items():
        t = time.perf_counter() - (kmeans_s if "ivf" in name else 0.0)
        idx = make()
        if not idx.is_trained:
            idx.train(train)
        indexes[name], build_s[name] = idx, time.perf_counter() - t
    del train
    # stream rows: exact top-1 by brute force + add to every index
    best_s = np.full(nq, -np.inf, np.float32)
    best_i = np.full(nq, -1, np.int64)
    exact_s = 0.0
    for c in range(chunks):
        x = flatten_parts(chunk_rows(seed, c, n, common, dim))
        t = time.perf_counter()
        sims = queries @ x.T
        j = sims.argmax(1)
        s = sims[np.arange(nq), j]
        better = s > best_s
        best_s[better], best_i[better] = s[better], j[better] + c * CHUNK
        exact_s += time.perf_counter() - t
        for name, idx in indexes.items():
            t = time.perf_counter()
            idx.add(x)
            build_s[name] += time.perf_counter() - t
        del x, sims
        print(f"  n={n}: chunk {c + 1}/{chunks}, rss {rss_gb():.1f} GB", file=sys.stderr, flush=True)
    rows = [
        {
            "n": n,
            "index": "exact (streamed numpy, batched)",
            "build_s": 0.0,
            "p50_ms": 1000 * exact_s / nq,
            "p95_ms": float("nan"),
            "recall1": 1.0,
            "id_recall1": 1.0,
            "acc1": float(np.mean(best_i // PER_ID == who)),
            "mem_gb": n * dim * 4 / 1e9,
        }
    ]
    for name, idx in indexes.items():
        _, params = specs[name]
        for p in _sweep(params):
            rows.append(_measure(n, name, idx, p, queries, who, best_i, build_s[name], dim))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    del indexes
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=PARTS * DIM, help="template dimension (GaitBase: 16 x 256 = 4096)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flat-max", type=int, default=200_000, help="largest n stored as fp32 (flat/HNSW/IVF-flat)")
    ap.add_argument("--hnsw-max", type=int, default=10_000, help="largest n an HNSW graph is built for (build time)")
    ap.add_argument("--train", type=int, default=50_000, help="vectors used to train IVF")
    ap.add_argument(
        "--kinds", nargs="*", default=None, help="only indexes whose name contains one of these (e.g. hnsw ivf)"
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="FAISS threads (0: library default; 1 by default: the cores are shared, "
        "and OpenMP spinning on a busy machine makes batch-1 queries slower)",
    )
    args = ap.parse_args()
    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    print(
        f"# gallery search benchmark: dim {args.dim} ({PARTS} parts), {args.queries} queries, batch 1, "
        f"{os.cpu_count()} CPU cores, faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads"
    )
    rows = []
    for n in args.sizes:
        rows += run_size(n, args.dim, args.queries, args.seed, args.flat_max, args.train, args.hnsw_max, args.kinds)
    print(
        f"| {'templates':>9} | {'index':<36} | {'build s':>8} | {'p50 ms':>8} | {'p95 ms':>8} | {'recall@1':>8} | "
        f"{'id rec@1':>8} | {'top-1 id':>8} | {'memory GB':>9} |"
    )
    print(f"|{'-' * 11}|{'-' * 38}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 11}|")
    for r in rows:
        print(
            f"| {r['n']:>9,} | {r['index']:<36} | {r['build_s']:>8.1f} | {r['p50_ms']:>8.2f} | {r['p95_ms']:>8.2f} | "
            f"{r['recall1']:>8.3f} | {r['id_recall1']:>8.3f} | {r['acc1']:>8.3f} | {r['mem_gb']:>9.2f} |"
        )
    print(
        f"# peak RSS {rss_gb():.1f} GB. 'exact (streamed numpy)' = per-query share of a batched brute-force pass "
        "(the ground truth); recall@1 = same top-1 template as exact search, id rec@1 = same top-1 identity, "
        "top-1 id = top-1 template belongs to the query's identity; memory column = vectors/codes the index holds; "
        "IVF build includes the shared k-means."
    )


if __name__ == "__main__":
    main()
