"""Gallery search at scale: latency of one query, recall@1 against exact search, memory, build time.

Measures the gallery itself (:class:`gaitpipe.gallery.Gallery`: SQLite rows + the FAISS cache),
not bare FAISS indexes: for each size a real gallery directory is filled with synthetic
templates, then for each index kind one process runs ``Gallery.rebuild(kind)`` (build time, its
peak RSS) and a fresh read-only process runs ``Gallery.search`` one probe at a time, on one
thread (latency of the whole call, p50 / p99 over the probes' first searches, then again over a
second pass, when the templates they re-rank are in the OS page cache; recall@1 = its top-1
enrolment is the exact top-1 template; peak RSS). ``peak_rss_mb`` is the larger of the two
processes' peaks.

Templates look like real ones: they are drawn from a model fitted to real CASIA-B embeddings
(``gallery_templates.npz``, written by ``fit_gallery_templates.py``, which says how): a shared
mean component, one offset per identity (the real between-identity covariance, every part
together), one per walk condition (view x normal/bag/coat) and per walk (the real within-identity
covariance and spread), each part L2-normalised as the gallery does. Genuine pairs have a cosine of
~0.61 and impostors ~0.34, as for strangers to the shipped recipe. The fitted encoder is 16 x 128 =
2,048-d (the default weights); ``--dim 4096`` (full-width GaitBase / DeepGaitV2, 16 x 256) puts two
independent draws of the fitted structure side by side in every part, which keeps the genuine and
impostor cosines and doubles the intrinsic dimension (the harder case for a compressed index).
Each identity has ``--per-id`` enrolments; a probe is a new walk of an enrolled identity.

The gallery is generated in chunks and written straight into SQLite; the exact top-1 of every
probe is a streamed matrix product over the same chunks, so nothing of size n x dim is held in
memory. Galleries are kept under ``--workdir`` and reused by later runs with the same settings
(``--fresh`` rebuilds them); a 1M x 4096 gallery takes 16.4 GB of disk.

    python benchmarks/bench_gallery.py --sizes 10000,100000,1000000 --dim 4096 --json
    python benchmarks/bench_gallery.py --sizes 10000 --kinds flat,pq-rerank,hnsw
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gaitpipe.gallery.index import flatten_parts

MODEL = Path(__file__).with_name("gallery_templates.npz")
ENCODER = "bench/synthetic-casiab-fit"
CHUNK_IDS = 5_000  #: identities generated (and written in one transaction) per chunk


# -- the template model ---------------------------------------------------------------------------
def _factor(vecs: np.ndarray, vals: np.ndarray, rng: np.random.Generator, frac: float) -> tuple[np.ndarray, float]:
    """A [base, r] square-root factor of a covariance with eigenvalues ``vals``: the stored
    eigenvectors ``vecs`` first, then random orthonormal directions for the rest of the spectrum up
    to ``frac`` of its trace; the remainder is returned as an isotropic variance per dimension."""
    base = vecs.shape[0]
    total = float(vals.sum())
    r = int(min(len(vals), np.searchsorted(np.cumsum(vals) / total, frac) + 1))
    k = min(vecs.shape[1], r)
    v, _ = np.linalg.qr(vecs[:, :k].astype(np.float64))
    if r > k:
        g = rng.standard_normal((base, r - k))
        g -= v @ (v.T @ g)
        q, _ = np.linalg.qr(g)
        v = np.concatenate([v, q], axis=1)
    return (v * np.sqrt(vals[:r])).astype(np.float32), float(vals[r:].sum()) / base


class TemplateModel:
    """Draws synthetic templates from the fitted parameters (see ``fit_gallery_templates.py``)."""

    def __init__(self, params: Any, dim: int, seed: int = 0, frac: float = 0.99) -> None:
        self.parts = int(params["parts"])
        mean = np.asarray(params["mean"], np.float32)
        self.base = mean.size
        if dim % self.base:
            raise SystemExit(f"--dim must be a multiple of the fitted model's {self.base} dimensions")
        self.copies, self.dim = dim // self.base, dim
        sb, sw = (float(s) for s in params["scales"])
        rng = np.random.default_rng([seed, 4242])
        self.mean = mean
        self.cond = np.asarray(params["cond_offsets"], np.float32) * sw
        weights = np.asarray(params["cond_weights"], np.float64)
        self.cond_p = weights / weights.sum()
        self.lb, iso_b = _factor(params["between_vecs"], np.asarray(params["between_vals"]) * sb**2, rng, 1.0)
        self.lw, self.iso_w = _factor(params["within_vecs"], np.asarray(params["within_vals"]) * sw**2, rng, frac)
        self.iso_w += iso_b
        self.sig_walk, self.sig_id = (float(v) for v in params["log_sigmas"])

    def centres(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Raw identity centres ``[n, copies, base]``: mean + a scaled between-identity offset."""
        z = rng.standard_normal((n * self.copies, self.lb.shape[1]), dtype=np.float32)
        u = np.exp(self.sig_id * rng.standard_normal((n, 1)) - self.sig_id**2).astype(np.float32)
        off = (z @ self.lb.T) * np.repeat(u, self.copies, axis=0)
        return (self.mean + off).reshape(n, self.copies, self.base)

    def walks(self, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
        """One walk per centre: flattened search vectors ``[n, dim]`` (float32, unit norm)."""
        n = len(centres)
        z = rng.standard_normal((n * self.copies, self.lw.shape[1]), dtype=np.float32)
        w = z @ self.lw.T
        if self.iso_w > 0:
            w += np.float32(math.sqrt(self.iso_w)) * rng.standard_normal(w.shape, dtype=np.float32)
        t = np.exp(self.sig_walk * rng.standard_normal((n, 1)) - self.sig_walk**2).astype(np.float32)
        kind = rng.choice(len(self.cond), size=n, p=self.cond_p)
        x = centres.reshape(n * self.copies, self.base) + np.repeat(t, self.copies, axis=0) * w
        x += np.repeat(self.cond[kind], self.copies, axis=0)
        x = x.reshape(n, self.copies, self.parts, -1).transpose(0, 2, 1, 3).reshape(n, self.parts, -1)
        return flatten_parts(x)


def load_model(path: Path, dim: int, seed: int) -> tuple[TemplateModel, str]:
    with np.load(path, allow_pickle=False) as z:
        params = {k: z[k] for k in z.files}
    return TemplateModel(params, dim, seed), hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# -- building a gallery ---------------------------------------------------------------------------
def _chunk(model: TemplateModel, seed: int, c: int, n_ids: int, per_id: int, n: int) -> tuple[np.ndarray, int]:
    """Templates of identity chunk ``c`` (rows from ``c * CHUNK_IDS * per_id``), and that first row."""
    rng = np.random.default_rng([seed, 2, c])
    ids = min(CHUNK_IDS, n_ids - c * CHUNK_IDS)
    centres = model.centres(rng, ids)
    x = model.walks(rng, np.repeat(centres, per_id, axis=0))
    first = c * CHUNK_IDS * per_id
    return x[: max(0, min(len(x), n - first))], first


def _query_centres(model: TemplateModel, seed: int, c: int, n_ids: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 2, c])  # the same draws as _chunk's centres
    return model.centres(rng, min(CHUNK_IDS, n_ids - c * CHUNK_IDS))


def build_gallery(root: Path, n: int, dim: int, args: argparse.Namespace) -> dict[str, Any]:
    """Fill a new gallery at ``root`` with ``n`` templates; returns the probes' ground truth."""
    from gaitpipe.gallery import Gallery

    model, model_sha = load_model(args.model, dim, args.seed)
    setting = {
        "n": n,
        "dim": dim,
        "seed": args.seed,
        "per_id": args.per_id,
        "queries": args.queries,
        "model": model_sha,
    }
    done = root / "bench.json"
    if not args.fresh and done.is_file() and json.loads(done.read_text()).get("setting") == setting:
        return json.loads(done.read_text())
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    per = args.per_id
    n_ids = math.ceil(n / per)
    chunks = math.ceil(n_ids / CHUNK_IDS)
    rng = np.random.default_rng([args.seed, 1])
    qid = np.sort(rng.choice(n_ids, size=min(args.queries, n_ids), replace=False))
    probes = np.zeros((len(qid), dim), np.float32)
    for c in range(chunks):  # probes first (new walks of enrolled identities): the truth is streamed
        sel = (qid >= c * CHUNK_IDS) & (qid < (c + 1) * CHUNK_IDS)
        if sel.any():
            centres = _query_centres(model, args.seed, c, n_ids)
            probes[sel] = model.walks(np.random.default_rng([args.seed, 3, c]), centres[qid[sel] - c * CHUNK_IDS])
    best_s = np.full(len(qid), -np.inf, np.float32)
    best_row = np.zeros(len(qid), np.int64)
    g = Gallery.open(root, create=True)
    parts = model.parts
    try:
        for c in range(chunks):
            x, first = _chunk(model, args.seed, c, n_ids, per, n)
            sims = probes @ x.T
            j = sims.argmax(1)
            s = sims[np.arange(len(qid)), j]
            better = s > best_s
            best_s[better], best_row[better] = s[better], j[better] + first
            emb = x.reshape(len(x), parts, -1)
            with g.store.transaction() as cur:
                if c == 0:
                    g.store.bind_encoder(cur, ENCODER, parts, dim // parts)
                for r in range(len(x)):
                    row = first + r
                    g.store.insert(
                        cur,
                        identity=f"id{row // per:07d}",
                        embedding=emb[r],
                        video=f"/synthetic/{row // per:07d}-{row % per}.avi",
                        video_sha256="",
                        track=0,
                        frame_start=0,
                        frame_end=0,
                        frames=0,
                        quality=1.0,
                        encoder=ENCODER,
                    )
            print(
                f"  gallery {n:,} x {dim}: {first + len(x):,} rows, {time.perf_counter() - t0:.0f} s", file=sys.stderr
            )
        assert g.store.count() == n and g.store.state().id_max == n  # enrolment id = row + 1
    finally:
        g.close()
    np.save(root / "probes.npy", probes)
    info = {
        "setting": setting,
        "generate_s": time.perf_counter() - t0,
        "truth_id": (best_row + 1).tolist(),
        "truth_identity": [f"id{r // per:07d}" for r in best_row],
        "truth_score": best_s.tolist(),
        "probe_identity": [f"id{i:07d}" for i in qid],
    }
    done.write_text(json.dumps(info))
    return info


# -- measuring (child processes) ---------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ``ru_maxrss`` would include the parent's peak, which
    Linux carries across ``exec``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_build(root: Path, kind: str) -> dict[str, Any]:
    from gaitpipe.gallery import Gallery

    t = time.perf_counter()
    with Gallery.open(root) as g:
        st = g.rebuild(kind)
    return {
        "build_s": time.perf_counter() - t,
        "rss_mb": peak_rss_mb(),
        "index": st["index"],
        "bytes": st["index_bytes"],
    }


def _probe_all(
    g: Any, probes: np.ndarray, top_k: int, cpu: list[float] | None = None
) -> tuple[list[float], list[int], list[str]]:
    """Search each probe alone: wall-clock seconds per search (and its CPU seconds into ``cpu``)."""
    parts = (g.store.shape() or (16, 0))[0]
    lat, top_id, top_identity = [], [], []
    for p in probes:
        c, t = time.thread_time(), time.perf_counter()
        m = g.search(p.reshape(parts, -1), top_k)[0]
        lat.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(time.thread_time() - c)
        top_id.append(m[0].enrolment_id)
        top_identity.append(m[0].identity)
    return lat, top_id, top_identity


def child_search(root: Path, top_k: int, sweep: bool) -> dict[str, Any]:
    from gaitpipe.gallery import Gallery

    probes = np.load(root / "probes.npy")
    with Gallery.open(root, read_only=True) as g:
        g.search(probes[-1].reshape((g.store.shape() or (16, 0))[0], -1), top_k)  # loads the index
        cpu: list[float] = []
        lat, top_id, top_identity = _probe_all(g, probes, top_k, cpu)
        warm, _, _ = _probe_all(g, probes, top_k)  # the same probes again: their rows are now cached
        out: dict[str, Any] = {"lat": lat, "cpu": cpu, "warm": warm, "top_id": top_id, "top_identity": top_identity}
        params = g.cache.params
        if sweep and params is not None and params.kind == "pq-rerank":
            default = (params.shortlist, params.rerank)
            out["sweep"] = []
            for shortlist in (256, 512, 1024, 2048, 4096):
                for rerank in (16, 32, 64, 128):
                    params.shortlist, params.rerank = shortlist, rerank
                    lat_s, ids_s, _ = _probe_all(g, probes, top_k)
                    out["sweep"].append({"shortlist": shortlist, "rerank": rerank, "lat": lat_s, "top_id": ids_s})
            params.shortlist, params.rerank = default
    out["rss_mb"] = peak_rss_mb()
    return out


def run_child(what: str, root: Path, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", what, "--gallery", str(root), "--kind", kind]
    cmd += ["--top-k", str(args.top_k), "--threads", str(args.threads)] + (["--sweep"] if args.sweep else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=env, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(n: int, dim: int, kind: str, root: Path, info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    built = run_child("build", root, kind, args)
    found = run_child("search", root, kind, args)
    lat = np.array(found["lat"]) * 1000
    warm = np.array(found["warm"]) * 1000
    truth_id, truth_identity = np.array(info["truth_id"]), np.array(info["truth_identity"])
    return {
        "size": n,
        "dim": dim,
        "index": kind,
        "p50_ms": round(float(np.median(lat)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "recall_at_1": float(np.mean(np.array(found["top_id"]) == truth_id)),
        "peak_rss_mb": round(max(built["rss_mb"], found["rss_mb"]), 1),
        "build_s": round(built["build_s"], 1),
        # beyond the required fields
        "p50_cpu_ms": round(float(np.median(found["cpu"])) * 1000, 3),
        "p50_warm_ms": round(float(np.median(warm)), 3),
        "p99_warm_ms": round(float(np.percentile(warm, 99)), 3),
        "identity_recall_at_1": float(np.mean(np.array(found["top_identity"]) == truth_identity)),
        "top1_correct": float(np.mean(np.array(found["top_identity"]) == np.array(info["probe_identity"]))),
        "build_rss_mb": round(built["rss_mb"], 1),
        "search_rss_mb": round(found["rss_mb"], 1),
        "index_mb": round(built["bytes"] / 2**20, 1),
        "queries": len(lat),
        "params": built["index"],
        **({"sweep": _sweep_rows(found["sweep"], truth_id)} if "sweep" in found else {}),
    }


def _sweep_rows(sweep: list[dict[str, Any]], truth_id: np.ndarray) -> list[dict[str, Any]]:
    return [
        {
            "shortlist": s["shortlist"],
            "rerank": s["rerank"],
            "p50_ms": round(float(np.median(s["lat"])) * 1000, 3),
            "p99_ms": round(float(np.percentile(s["lat"], 99)) * 1000, 3),
            "recall_at_1": float(np.mean(np.array(s["top_id"]) == truth_id)),
        }
        for s in sweep
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="gallery sizes, comma-separated")
    ap.add_argument("--dim", type=int, default=4096, help="template dimension: 2048 (the default weights) or 4096")
    ap.add_argument(
        "--kinds", default=None, help="index kinds, comma-separated (default: flat where it fits, pq-rerank)"
    )
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--per-id", type=int, default=4, help="enrolments per identity")
    ap.add_argument("--top-k", type=int, default=5, help="identities asked of each search (identify's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flat-max-gb", type=float, default=4.0, help="skip flat above this many GB of float32 vectors")
    ap.add_argument("--threads", type=int, default=1, help="FAISS / BLAS threads of the measured processes")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/gallery-bench"), help="where the galleries are built")
    ap.add_argument("--fresh", action="store_true", help="regenerate galleries even if a matching one exists")
    ap.add_argument("--model", type=Path, default=MODEL, help="fitted template model (.npz)")
    ap.add_argument(
        "--sweep",
        action="store_true",
        help="also report pq-rerank's recall and latency for other shortlist / rerank sizes (stderr, JSON)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--child", choices=["build", "search"], help=argparse.SUPPRESS)
    ap.add_argument("--gallery", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(max(1, args.threads))
    if args.child:
        if args.child == "build":
            res = child_build(args.gallery, args.kind)
        else:
            res = child_search(args.gallery, args.top_k, args.sweep)
        print(json.dumps(res))
        return
    sizes = [int(s) for s in args.sizes.replace(" ", ",").split(",") if s]
    rows = []
    for n in sizes:
        root = args.workdir / f"gallery-{n}-d{args.dim}-s{args.seed}"
        info = build_gallery(root, n, args.dim, args)
        kinds = args.kinds.split(",") if args.kinds else ["flat", "pq-rerank"]
        for kind in kinds:
            if kind == "flat" and n * args.dim * 4 / 1e9 > args.flat_max_gb:
                print(
                    f"  skipping flat at {n:,} x {args.dim}: {n * args.dim * 4 / 1e9:.1f} GB of vectors",
                    file=sys.stderr,
                )
                continue
            rows.append(measure(n, args.dim, kind, root, info, args))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"results": rows}, indent=1))
        return
    print(
        f"# gallery search: dim {args.dim}, {args.queries} probes, top-{args.top_k}, one query at a time, "
        f"{args.threads} thread(s), {os.cpu_count()} CPU cores, faiss {faiss.__version__}"
    )
    head = (
        "templates",
        "dim",
        "index",
        "p50 ms",
        "p99 ms",
        "p50 warm",
        "p50 CPU",
        "recall@1",
        "id rec@1",
        "peak RSS MB",
        "build s",
    )
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" if h not in ("index",) else "---" for h in head) + "|")
    for r in rows:
        print(
            f"| {r['size']:,} | {r['dim']} | {r['index']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['p50_warm_ms']:.2f} | {r['p50_cpu_ms']:.2f} | "
            f"{r['recall_at_1']:.3f} | {r['identity_recall_at_1']:.3f} | {r['peak_rss_mb']:,.0f} | {r['build_s']:.1f} |"
        )
    print(
        "# p50/p99: first search of each probe after the rebuild (wall clock); p50 warm: the same probes again "
        "(the templates they re-rank are then in the OS page cache); p50 CPU: CPU time of the first searches "
        "(what other jobs on a shared machine do not inflate; disk waits excluded); recall@1: the gallery's "
        "top-1 enrolment is the exact top-1 template (a streamed brute-force pass); id rec@1: same top-1 "
        "identity; peak RSS: the larger of the rebuild and the search process."
    )


if __name__ == "__main__":
    main()
