"""Per-pixel ray casting of capsules, ellipsoids and boxes (numpy, vectorised over pixels x volumes).

All rays start at the camera centre ``ro`` and go along unit directions ``rd`` [N,3]; each
function returns the nearest hit distance ``t`` [N] (``inf`` where missed), the index of the
volume hit [N], and the unit surface normal [N,3] (for shading). Exact masks follow from the
z-buffer: a pixel belongs to a person when that person's nearest hit is nearer than everything else.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9


def _finish(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest positive hit over volumes: t [N,K] -> (t_min [N], index [N])."""
    t = np.where(t > 1e-6, t, np.inf)
    idx = np.argmin(t, axis=1)
    return t[np.arange(t.shape[0]), idx], idx


def capsules(ro: np.ndarray, rd: np.ndarray, a: np.ndarray, b: np.ndarray, r: np.ndarray):
    """Ray vs capsules (segment a-b, radius r): union of a finite cylinder and two end spheres."""
    n = rd.shape[0]
    if len(a) == 0:
        return np.full(n, np.inf), np.zeros(n, int), np.zeros((n, 3))
    ba = b - a  # [K,3]
    oa = ro[None] - a  # [K,3]
    baba = np.einsum("kd,kd->k", ba, ba)
    baoa = np.einsum("kd,kd->k", ba, oa)
    oaoa = np.einsum("kd,kd->k", oa, oa)
    bard = rd @ ba.T  # [N,K]
    rdoa = rd @ oa.T
    r2 = r * r
    A = baba - bard * bard
    B = baba * rdoa - baoa * bard
    C = baba * oaoa - baoa * baoa - r2 * baba
    h = B * B - A * C
    with np.errstate(invalid="ignore", divide="ignore"):
        t_cyl = (-B - np.sqrt(h)) / A
        y = baoa + t_cyl * bard
        t_cyl = np.where((h >= 0) & (A > _EPS) & (y > 0) & (y < baba), t_cyl, np.inf)
        # End spheres.
        hb = rdoa * rdoa - (oaoa - r2)
        t_a = np.where(hb >= 0, -rdoa - np.sqrt(hb), np.inf)
        ob = ro[None] - b
        rdob = rd @ ob.T
        obob = np.einsum("kd,kd->k", ob, ob)
        hb2 = rdob * rdob - (obob - r2)
        t_b = np.where(hb2 >= 0, -rdob - np.sqrt(hb2), np.inf)
    t = np.minimum(np.minimum(t_cyl, t_a), t_b)
    t_min, idx = _finish(t)
    hit = np.isfinite(t_min)
    normal = np.zeros((n, 3))
    if hit.any():
        p = ro[None] + rd[hit] * t_min[hit, None]
        ai, bai = a[idx[hit]], ba[idx[hit]]
        u = np.clip(np.einsum("nd,nd->n", p - ai, bai) / np.maximum(baba[idx[hit]], _EPS), 0, 1)
        nv = p - (ai + bai * u[:, None])
        normal[hit] = nv / np.maximum(np.linalg.norm(nv, axis=1, keepdims=True), _EPS)
    return t_min, idx, normal


def ellipsoids(ro: np.ndarray, rd: np.ndarray, c: np.ndarray, rot: np.ndarray, axes: np.ndarray):
    """Ray vs ellipsoids (centre c, rotation columns = local axes, semi-axes)."""
    n = rd.shape[0]
    if len(c) == 0:
        return np.full(n, np.inf), np.zeros(n, int), np.zeros((n, 3))
    ro_l = np.einsum("kdj,kd->kj", rot, ro[None] - c) / axes  # [K,3]
    rd_l = np.einsum("kdj,nd->nkj", rot, rd) / axes[None]  # [N,K,3]
    A = np.einsum("nkj,nkj->nk", rd_l, rd_l)
    B = np.einsum("nkj,kj->nk", rd_l, ro_l)
    C = np.einsum("kj,kj->k", ro_l, ro_l) - 1.0
    h = B * B - A * C
    with np.errstate(invalid="ignore"):
        t = np.where(h >= 0, (-B - np.sqrt(h)) / A, np.inf)
    t_min, idx = _finish(t)
    hit = np.isfinite(t_min)
    normal = np.zeros((n, 3))
    if hit.any():
        hi = np.flatnonzero(hit)
        k = idx[hi]
        pl = ro_l[k] + rd_l[hi, k] * t_min[hi, None]  # unit-sphere coordinates
        nl = pl / axes[k]
        nv = np.einsum("ndj,nj->nd", rot[k], nl)
        normal[hi] = nv / np.maximum(np.linalg.norm(nv, axis=1, keepdims=True), _EPS)
    return t_min, idx, normal


def boxes(ro: np.ndarray, rd: np.ndarray, c: np.ndarray, rot: np.ndarray, half: np.ndarray):
    """Ray vs oriented boxes (slab method)."""
    n = rd.shape[0]
    if len(c) == 0:
        return np.full(n, np.inf), np.zeros(n, int), np.zeros((n, 3))
    ro_l = np.einsum("kdj,kd->kj", rot, ro[None] - c)  # [K,3]
    rd_l = np.einsum("kdj,nd->nkj", rot, rd)  # [N,K,3]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(rd_l) < _EPS, _EPS, rd_l)
        t1 = (-half[None] - ro_l[None]) * inv
        t2 = (half[None] - ro_l[None]) * inv
    tn = np.minimum(t1, t2)
    tf = np.maximum(t1, t2)
    t_near = tn.max(axis=2)
    t_far = tf.min(axis=2)
    t = np.where((t_near <= t_far) & (t_far > 0), np.where(t_near > 0, t_near, np.inf), np.inf)
    t_min, idx = _finish(t)
    hit = np.isfinite(t_min)
    normal = np.zeros((n, 3))
    if hit.any():
        hi = np.flatnonzero(hit)
        k = idx[hi]
        axis = np.argmax(tn[hi, k], axis=1)
        nl = np.zeros((hi.size, 3))
        nl[np.arange(hi.size), axis] = -np.sign(rd_l[hi, k, axis])
        normal[hi] = np.einsum("ndj,nj->nd", rot[k], nl)
    return t_min, idx, normal


def _capsule1(ro, rd, a, b, r):
    """Fast path of :func:`capsules` for one capsule (avoids [N,K] temporaries)."""
    ba = b - a
    oa = ro - a
    baba, baoa, oaoa = ba @ ba, ba @ oa, oa @ oa
    bard = rd @ ba
    rdoa = rd @ oa
    r2 = r * r
    A = baba - bard * bard
    B = baba * rdoa - baoa * bard
    C = baba * oaoa - baoa * baoa - r2 * baba
    h = B * B - A * C
    t = np.full(rd.shape[0], np.inf)
    ok = h >= 0
    if ok.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            tc = (-B[ok] - np.sqrt(h[ok])) / A[ok]
            y = baoa + tc * bard[ok]
            tc = np.where((A[ok] > _EPS) & (y > 0) & (y < baba), tc, np.inf)
        t[ok] = tc
    # End spheres (a ray that misses the infinite cylinder can still hit a cap only if it is
    # near the axis direction; test the caps everywhere, cheaply).
    for oc_dot, occ in ((rdoa, oaoa), (rd @ (ro - b), (ro - b) @ (ro - b))):
        hb = oc_dot * oc_dot - (occ - r2)
        m = hb >= 0
        if m.any():
            ts = -oc_dot[m] - np.sqrt(hb[m])
            t[m] = np.minimum(t[m], np.where(ts > 1e-6, ts, np.inf))
    t = np.where(t > 1e-6, t, np.inf)
    normal = np.zeros((rd.shape[0], 3))
    hit = np.isfinite(t)
    if hit.any():
        p = ro + rd[hit] * t[hit, None]
        u = np.clip(((p - a) @ ba) / max(baba, _EPS), 0, 1)
        nv = p - (a + u[:, None] * ba)
        normal[hit] = nv / np.maximum(np.linalg.norm(nv, axis=1, keepdims=True), _EPS)
    return t, normal


def _ellipsoid1(ro, rd, c, rot, ax):
    """Fast path of :func:`ellipsoids` for one ellipsoid."""
    ro_l = (rot.T @ (ro - c)) / ax
    rd_l = (rd @ rot) / ax
    A = np.einsum("nj,nj->n", rd_l, rd_l)
    B = rd_l @ ro_l
    C = ro_l @ ro_l - 1.0
    h = B * B - A * C
    t = np.full(rd.shape[0], np.inf)
    ok = h >= 0
    if ok.any():
        tt = (-B[ok] - np.sqrt(h[ok])) / A[ok]
        t[ok] = np.where(tt > 1e-6, tt, np.inf)
    normal = np.zeros((rd.shape[0], 3))
    hit = np.isfinite(t)
    if hit.any():
        pl = ro_l + rd_l[hit] * t[hit, None]
        nv = (pl / ax) @ rot.T
        normal[hit] = nv / np.maximum(np.linalg.norm(nv, axis=1, keepdims=True), _EPS)
    return t, normal


def _single(kind: str, ro: np.ndarray, rd: np.ndarray, params: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One volume vs rays [M,3]: (t [M] with inf for misses, normals [M,3])."""
    if kind == "cap":
        a, b, r = params
        return _capsule1(ro, rd, a, b, r)
    if kind == "ell":
        c, rot, ax = params
        return _ellipsoid1(ro, rd, c, rot, ax)
    c, rot, half = params
    t, _, nrm = boxes(ro, rd, c[None], rot[None], half[None])
    return t, nrm


def cast(ro: np.ndarray, rays: np.ndarray, prims, box_of=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hit over all volumes of ``prims`` for a grid of rays.

    ``rays``: [h, w, 3] (or [N, 3]); ``box_of(list of centre points [M,3], list of radii [M])``
    maps each volume's bounding spheres to the pixel rectangle (x0, y0, x1, y1) of ``rays`` it can
    cover (or None), so each
    volume is only intersected with the rays that can hit it (the main speed-up). Returns
    (t [...], colour [..., 3], normal [..., 3]) in the shape of ``rays``.
    """
    flat = rays.ndim == 2
    grid = rays[None] if flat else rays
    h, w = grid.shape[:2]
    t_best = np.full((h, w), np.inf)
    col = np.zeros((h, w, 3))
    nrm = np.zeros((h, w, 3))
    vols = [
        ("cap", (a, b, r), c, np.array([a, b]), np.array([r, r]))
        for a, b, r, c in zip(prims.cap_a, prims.cap_b, prims.cap_r, prims.cap_col)
    ]
    vols += [
        ("ell", (c, rot, ax), col_, c[None], np.array([ax.max()]))
        for c, rot, ax, col_ in zip(prims.ell_c, prims.ell_rot, prims.ell_ax, prims.ell_col)
    ]
    vols += [
        ("box", (c, rot, hf), col_, c[None], np.array([np.linalg.norm(hf)]))
        for c, rot, hf, col_ in zip(prims.box_c, prims.box_rot, prims.box_half, prims.box_col)
    ]
    boxes_px = box_of([v[3] for v in vols], [v[4] for v in vols]) if (box_of is not None and not flat) else None
    for i, (kind, params, colour, _centres, _radii) in enumerate(vols):
        if boxes_px is None:
            x0, y0, x1, y1 = 0, 0, w, h
        else:
            if boxes_px[i] is None:
                continue
            x0, y0, x1, y1 = boxes_px[i]
        sub = grid[y0:y1, x0:x1].reshape(-1, 3)
        if sub.size == 0:
            continue
        t, nv = _single(kind, ro, sub, params)
        t = t.reshape(y1 - y0, x1 - x0)
        better = t < t_best[y0:y1, x0:x1]
        if not better.any():
            continue
        t_best[y0:y1, x0:x1][better] = t[better]
        col[y0:y1, x0:x1][better] = colour
        nrm[y0:y1, x0:x1][better] = nv.reshape(y1 - y0, x1 - x0, 3)[better]
    if flat:
        return t_best[0], col[0], nrm[0]
    return t_best, col, nrm
