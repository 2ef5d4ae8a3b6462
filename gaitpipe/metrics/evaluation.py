"""Gallery-vs-probe evaluation, the way the gait field measures (one module, numpy only).

Distances follow OpenGait's evaluator (Fan et al., CVPR 2023): the Euclidean distance is computed *per
horizontal part* and averaged over parts, ``mean_p ||x_p - y_p||``; the cosine variant is
``1 - mean_p cos(x_p, y_p)``. Embeddings are ``[n, P, D]``.

Protocols:

- ``casiab``: gallery nm-01..04; probes NM (nm-05/06), BG (bg-01/02), CL (cl-01/02). Rank-1 for
  every (probe view, gallery view) pair with the gallery restricted to that view; identical
  views excluded; averaged over gallery views per probe view, then over probe views.
- ``oumvlp``: the same cross-view scheme with probe sequence ``00`` and gallery ``01``.
- ``grew``: (local) gallery ``01`` vs probe ``02``: rank-1/5/10/20 over the whole gallery.
- ``gait3d``: probes listed in the split file's PROBE_SET, gallery = every other sequence;
  rank-1/5/10, mAP, mINP.
- ``gallery-probe``: any gallery/probe conditions; rank-1/5/10/20, mAP, mINP.

All accuracies are percentages. Retrieval metrics follow torchreid: queries with no true match
in the gallery are left out of CMC/mAP/mINP (``num_valid_queries`` says how many counted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

CASIAB_GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")
CASIAB_PROBES = {"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")}
OUMVLP_GALLERY = ("01",)
OUMVLP_PROBES = {"NM": ("00",)}
PROTOCOLS = ("casiab", "oumvlp", "grew", "gait3d", "gallery-probe")


def part_distance(query: np.ndarray, gallery: np.ndarray, metric: str = "euc") -> np.ndarray:
    """``[nq, P, D]`` x ``[ng, P, D]`` -> ``[nq, ng]`` part-averaged distance (``euc`` or ``cos``)."""
    q = np.asarray(query, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    if q.ndim == 2:
        q = q[:, None]
    if g.ndim == 2:
        g = g[:, None]
    if q.shape[1:] != g.shape[1:]:
        raise ValueError(f"query {q.shape} and gallery {g.shape} embeddings differ in shape")
    out = np.zeros((q.shape[0], g.shape[0]))
    for p in range(q.shape[1]):
        a, b = q[:, p], g[:, p]
        if metric == "euc":
            d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * a @ b.T
            out += np.sqrt(np.clip(d2, 0.0, None))
        elif metric == "cos":
            an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
            bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
            out += 1.0 - an @ bn.T
        else:
            raise ValueError(f"unknown metric {metric!r} (euc or cos)")
    return out / q.shape[1]


def rank_metrics(
    dist: np.ndarray,
    query_ids: Sequence | np.ndarray,
    gallery_ids: Sequence | np.ndarray,
    *,
    max_rank: int = 20,
    exclude: np.ndarray | None = None,
) -> dict:
    """CMC (percent, ranks 1..max_rank), mAP and mINP (percent) for a distance matrix.

    ``exclude`` ([nq, ng] bool) removes gallery items per query (e.g. the same camera).
    """
    dist = np.asarray(dist, dtype=np.float64)
    qids, gids = np.asarray(query_ids), np.asarray(gallery_ids)
    cmc_sum = np.zeros(max_rank)
    aps, inps = [], []
    for i in range(dist.shape[0]):
        keep = np.ones(dist.shape[1], bool) if exclude is None else ~np.asarray(exclude[i], bool)
        order = np.argsort(dist[i][keep], kind="stable")
        matches = (gids[keep][order] == qids[i]).astype(np.float64)
        if not matches.any():
            continue  # no true match to find: undefined for CMC/AP (torchreid skips it)
        hits = np.cumsum(matches)
        cmc = (hits[:max_rank] >= 1).astype(np.float64)
        if cmc.shape[0] < max_rank:
            cmc = np.concatenate([cmc, np.ones(max_rank - cmc.shape[0])])
        cmc_sum += cmc
        positions = np.flatnonzero(matches)
        aps.append(float(np.mean(hits[positions] / (positions + 1))))
        inps.append(float(matches.sum() / (positions[-1] + 1)))
    n = len(aps)
    if n == 0:
        return {"cmc": [float("nan")] * max_rank, "mAP": float("nan"), "mINP": float("nan"), "num_valid_queries": 0}
    return {
        "cmc": (100.0 * cmc_sum / n).tolist(),
        "mAP": 100.0 * float(np.mean(aps)),
        "mINP": 100.0 * float(np.mean(inps)),
        "num_valid_queries": n,
    }


def _topk_hit(dist: np.ndarray, qids: np.ndarray, gids: np.ndarray, k: int) -> np.ndarray:
    """[nq, k] bool: whether each of the k nearest gallery items (ties: first) is a true match."""
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return gids[order] == qids[:, None]


def cross_view_protocol(
    embeddings: np.ndarray,
    subjects: Sequence[str],
    conditions: Sequence[str],
    views: Sequence[str],
    *,
    gallery_conditions: Sequence[str],
    probe_sets: Mapping[str, Sequence[str]],
    metric: str = "euc",
    max_rank: int = 5,
    name: str = "cross-view",
) -> dict:
    """Rank-k for every (probe view, gallery view) pair, identical views excluded, view-averaged.

    Every probe of a pair counts (a probe whose subject is missing from that gallery view is a
    miss), as in OpenGait's CASIA-B/OU-MVLP evaluation. Pairs with no probe or no gallery
    sequence are NaN and left out of the averages.
    """
    emb = np.asarray(embeddings)
    subj, cond, view = np.asarray(subjects), np.asarray(conditions), np.asarray(views)
    view_list = sorted(set(view.tolist()))
    nv = len(view_list)
    g_mask = np.isin(cond, list(gallery_conditions))
    result: dict = {"protocol": name, "metric": metric, "views": view_list, "conditions": {}}
    # One distance matrix probe-candidates x gallery, sliced per view pair below.
    p_all = np.flatnonzero(np.isin(cond, [c for cs in probe_sets.values() for c in cs]))
    g_all = np.flatnonzero(g_mask)
    if len(p_all) == 0 or len(g_all) == 0:
        raise ValueError(f"{name}: needs gallery conditions {list(gallery_conditions)} and probes {dict(probe_sets)}")
    dist = part_distance(emb[p_all], emb[g_all], metric)
    row_of = {int(j): r for r, j in enumerate(p_all)}
    g_view = view[g_all]
    means = []
    for set_name, conds in probe_sets.items():
        cmc_mat = np.full((nv, nv, max_rank), np.nan)
        for a, pv in enumerate(view_list):
            probes = np.flatnonzero(np.isin(cond, list(conds)) & (view == pv))
            if len(probes) == 0:
                continue
            rows = np.array([row_of[int(j)] for j in probes], dtype=np.intp)
            for b, gv in enumerate(view_list):
                if gv == pv:
                    continue  # identical-view pairs are excluded by the protocol
                cols = np.flatnonzero(g_view == gv)
                if len(cols) == 0:
                    continue
                k = min(max_rank, len(cols))
                hit = _topk_hit(dist[np.ix_(rows, cols)], subj[probes], subj[g_all][cols], k)
                cum = np.cumsum(hit, axis=1) >= 1
                cmc = cum.mean(0) * 100.0
                if k < max_rank:
                    cmc = np.concatenate([cmc, np.full(max_rank - k, cmc[-1])])
                cmc_mat[a, b] = cmc
        with np.errstate(all="ignore"):
            per_view_cmc = (
                np.nanmean(cmc_mat, axis=1) if np.isfinite(cmc_mat).any() else np.full((nv, max_rank), np.nan)
            )
        valid_views = np.isfinite(per_view_cmc[:, 0])
        if not valid_views.any():
            continue
        cmc_set = np.nanmean(per_view_cmc[valid_views], axis=0)
        result["conditions"][set_name] = {
            "rank1": float(cmc_set[0]),
            "cmc": cmc_set.tolist(),
            "per_view": {v: (float(per_view_cmc[i, 0]) if valid_views[i] else None) for i, v in enumerate(view_list)},
            "matrix": [[None if not np.isfinite(x) else float(x) for x in row] for row in cmc_mat[:, :, 0]],
        }
        means.append(cmc_set[0])
    if not means:
        raise ValueError(f"{name}: no probe/gallery view pair to evaluate")
    result["mean_rank1"] = float(np.mean(means))
    return result


def casiab_protocol(embeddings, subjects, conditions, views, *, metric: str = "euc", max_rank: int = 5) -> dict:
    """CASIA-B: gallery nm-01..04 vs NM/BG/CL probes, cross-view rank-1 (identical views excluded)."""
    present = set(np.asarray(conditions).tolist())
    probes = {k: v for k, v in CASIAB_PROBES.items() if present & set(v)}
    return cross_view_protocol(
        embeddings,
        subjects,
        conditions,
        views,
        gallery_conditions=CASIAB_GALLERY,
        probe_sets=probes,
        metric=metric,
        max_rank=max_rank,
        name="casiab",
    )


def oumvlp_protocol(embeddings, subjects, conditions, views, *, metric: str = "euc", max_rank: int = 5) -> dict:
    """OU-MVLP: probe sequence 00 vs gallery 01 per view pair, identical views excluded."""
    return cross_view_protocol(
        embeddings,
        subjects,
        conditions,
        views,
        gallery_conditions=OUMVLP_GALLERY,
        probe_sets=OUMVLP_PROBES,
        metric=metric,
        max_rank=max_rank,
        name="oumvlp",
    )


def gallery_probe(
    embeddings,
    subjects,
    conditions,
    views,
    *,
    gallery_mask: np.ndarray,
    probe_mask: np.ndarray,
    metric: str = "euc",
    ranks: Sequence[int] = (1, 5, 10, 20),
    exclude_same_view: bool = False,
    name: str = "gallery-probe",
) -> dict:
    """Generic retrieval: probes (``probe_mask``) against the gallery (``gallery_mask``)."""
    emb = np.asarray(embeddings)
    subj, view = np.asarray(subjects), np.asarray(views)
    g, p = np.flatnonzero(gallery_mask), np.flatnonzero(probe_mask)
    if len(g) == 0 or len(p) == 0:
        raise ValueError(f"{name}: empty {'gallery' if len(g) == 0 else 'probe set'}")
    dist = part_distance(emb[p], emb[g], metric)
    exclude = (view[p][:, None] == view[g][None]) if exclude_same_view else None
    m = rank_metrics(dist, subj[p], subj[g], max_rank=max(ranks), exclude=exclude)
    out = {"protocol": name, "metric": metric, "num_probes": len(p), "num_gallery": len(g)}
    out.update({f"rank{r}": m["cmc"][r - 1] for r in ranks})
    out.update({"mAP": m["mAP"], "mINP": m["mINP"], "cmc": m["cmc"], "num_valid_queries": m["num_valid_queries"]})
    return out


def grew_protocol(embeddings, subjects, conditions, views, *, metric: str = "euc") -> dict:
    """GREW, local: gallery sequence ``01`` vs probe ``02``; rank-1/5/10/20."""
    cond = np.asarray(conditions)
    return gallery_probe(
        embeddings,
        subjects,
        conditions,
        views,
        gallery_mask=cond == "01",
        probe_mask=cond == "02",
        metric=metric,
        ranks=(1, 5, 10, 20),
        name="grew",
    )


def gait3d_protocol(embeddings, subjects, conditions, views, *, probe_list: Sequence[str], metric: str = "euc") -> dict:
    """Gait3D: the listed probe sequences vs every other sequence; rank-1/5/10, mAP, mINP.

    A probe entry names a sequence by its condition (Gait3D's sequence id), ``subject/cond/view``
    or ``subject-cond-view``.
    """
    wanted = set(map(str, probe_list))
    keys = [(s, c, v) for s, c, v in zip(subjects, conditions, views)]
    probe = np.array([c in wanted or f"{s}/{c}/{v}" in wanted or f"{s}-{c}-{v}" in wanted for s, c, v in keys], bool)
    return gallery_probe(
        embeddings,
        subjects,
        conditions,
        views,
        gallery_mask=~probe,
        probe_mask=probe,
        metric=metric,
        ranks=(1, 5, 10),
        name="gait3d",
    )


def evaluate_protocol(
    protocol: str,
    embeddings,
    subjects,
    conditions,
    views,
    *,
    metric: str = "euc",
    probe_list: Sequence[str] | None = None,
    gallery_conditions: Sequence[str] | None = None,
    probe_conditions: Sequence[str] | None = None,
) -> dict:
    """Dispatch by name (see :data:`PROTOCOLS`)."""
    if protocol == "casiab":
        return casiab_protocol(embeddings, subjects, conditions, views, metric=metric)
    if protocol == "oumvlp":
        return oumvlp_protocol(embeddings, subjects, conditions, views, metric=metric)
    if protocol == "grew":
        return grew_protocol(embeddings, subjects, conditions, views, metric=metric)
    if protocol == "gait3d":
        if not probe_list:
            raise ValueError("gait3d needs the probe list (PROBE_SET of the split file)")
        return gait3d_protocol(embeddings, subjects, conditions, views, probe_list=probe_list, metric=metric)
    if protocol == "gallery-probe":
        cond = np.asarray(conditions)
        if gallery_conditions is None:
            gallery_conditions = [sorted(set(cond.tolist()))[0]]
        if probe_conditions is None:
            probe_conditions = sorted(set(cond.tolist()) - set(gallery_conditions))
        return gallery_probe(
            embeddings,
            subjects,
            conditions,
            views,
            gallery_mask=np.isin(cond, list(gallery_conditions)),
            probe_mask=np.isin(cond, list(probe_conditions)),
            metric=metric,
        )
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def headline(result: dict) -> dict[str, float]:
    """The few numbers worth logging: cross-view rank-1 per condition + mean, or rank/mAP/mINP."""
    if "conditions" in result:
        out = {k: v["rank1"] for k, v in result["conditions"].items()}
        out["mean"] = result["mean_rank1"]
        return out
    return {k: v for k, v in result.items() if k.startswith("rank") or k in ("mAP", "mINP")}


def format_result(result: dict) -> str:
    """A plain-text table: views x conditions for cross-view protocols, one row otherwise."""

    def fmt(x):
        return "  -  " if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:5.1f}"

    if "conditions" in result:
        views = result["views"]
        lines = [
            f"{result['protocol']} rank-1 (%), identical views excluded, metric {result['metric']}",
            "probe " + " ".join(f"{v:>5}" for v in views) + "   mean",
        ]
        for name, r in result["conditions"].items():
            lines.append(f"{name:<5} " + " ".join(fmt(r["per_view"][v]) for v in views) + f"  {fmt(r['rank1'])}")
        lines.append(f"mean of {'/'.join(result['conditions'])}: {result['mean_rank1']:.1f}")
        return "\n".join(lines)
    keys = [k for k in result if k.startswith("rank")] + ["mAP", "mINP"]
    head = " ".join(f"{k:>7}" for k in keys)
    row = " ".join(f"{result[k]:7.1f}" for k in keys)
    return (
        f"{result['protocol']} ({result['num_probes']} probes, {result['num_gallery']} gallery, "
        f"metric {result['metric']})\n"
        f"{head}\n{row}"
    )
