"""Fit the synthetic-template model of ``bench_gallery.py`` to real CASIA-B embeddings.

Writes ``benchmarks/gallery_templates.npz`` (~0.5 MB): fitted parameters only (a mean vector, 33
condition offsets and a few dozen eigenvectors in float16, eigenvalue spectra, four scalars),
never an embedding of a real walk, so the benchmark runs without ``../shared/data``. Inputs are two ``gaitpipe evaluate
--save-embeddings`` files:

    # the population: the shipped default weights on all 74 CASIA-B subjects of the pack
    gaitpipe evaluate --data ../shared/data/casiab/casiab-train-001-074.npz.xz --subjects 001-074 \\
        --save-embeddings /tmp/emb-default.npz --json > /dev/null
    # strangers: the same recipe trained on 001-062 (gaitbase-quarter-casiab), on unseen 063-074
    gaitpipe evaluate --weights gaitbase-quarter-casiab --data ../shared/data/casiab/casiab-train-001-074.npz.xz \\
        --subjects 063-074 --save-embeddings /tmp/emb-heldout.npz --json > /dev/null
    python benchmarks/fit_gallery_templates.py /tmp/emb-default.npz /tmp/emb-heldout.npz

The model, in the gallery's search space (:func:`gaitpipe.gallery.flatten_parts`: per part
L2-normalised, / sqrt(P)): a template of identity ``i`` is ``normalise_parts(mean + s_b b_i +
s_w w)`` with ``b_i ~ N(0, S_b)`` drawn once per identity and ``w ~ N(0, S_w)`` once per walk.

* ``mean``: the shared component every gait template carries (the mean of the population);
* condition offsets: one per walk condition (11 views x normal / bag / coat), shared by everyone
  walking that way, drawn with their CASIA-B frequencies;
* ``S_w``: the within-identity covariance (walks of one subject around its mean: the 11 views,
  bags, coats), its top eigenvectors kept, the rest of its real spectrum on random directions;
* ``S_b``: the between-identity covariance of the population's subject means (74 subjects: rank
  73), its eigenvectors kept, its spectrum extended by a power law on random directions so that
  a gallery of 250k identities does not live in 73 dimensions;
* per-walk and per-identity length scales (log-normal, fitted to the real spread of residual
  lengths: a coat or a far view moves a walk further than a normal walk at 90 degrees);
* ``s_b, s_w``: scales that make genuine and impostor cosines match those of the held-out run
  (strangers to the network: the population's subjects were trained on and are over-separated).

What it does not reproduce: the real genuine cosines are more spread (std 0.17 against 0.10
drawn; same-view walks of one person reach ~0.88), so real galleries have a clearer best match
than these templates; the drawn ones are the harder case for an approximate index.

Both covariances span all parts (the cross-part structure of real features: the parts of one
walk move together) and the per-part normalisation is applied after drawing, as in the gallery.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gaitpipe.gallery.index import flatten_parts

OUT = Path(__file__).with_name("gallery_templates.npz")


def load(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(search vectors, subject per walk, condition per walk = view x nm/bg/cl, parts)."""
    with np.load(path, allow_pickle=False) as z:
        emb, subj, cond, view = z["embeddings"], z["subject"], z["condition"], z["view"]
    walk = np.array([f"{c[:2]}-{v}" for c, v in zip(cond, view)])
    return flatten_parts(emb).astype(np.float64), subj, walk, int(emb.shape[1])


def pair_stats(x: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean and std of the cosine over genuine and impostor pairs."""
    c = x @ x.T
    iu = np.triu_indices(len(x), 1)
    same = (labels[:, None] == labels[None, :])[iu]
    g, i = c[iu][same], c[iu][~same]
    return {
        "genuine": float(g.mean()),
        "genuine_std": float(g.std()),
        "impostor": float(i.mean()),
        "impostor_std": float(i.std()),
    }


def decompose(x: np.ndarray, labels: np.ndarray, walks: np.ndarray) -> dict[str, np.ndarray]:
    """x = mean + subject offset + walk-condition offset + residual (additive, fitted by alternating means).

    Returns the mean, the condition offsets and their frequencies, the within covariance (of the
    residuals) and the between covariance of the subject offsets, corrected for the noise of a
    mean of ~110 walks.
    """
    subjects = sorted(set(labels.tolist()))
    lab = np.array([subjects.index(s) for s in labels])
    kinds = sorted(set(walks.tolist()))
    kind = np.array([kinds.index(w) for w in walks])
    mean = x.mean(0)
    subj_off = np.zeros((len(subjects), x.shape[1]))
    cond_off = np.zeros((len(kinds), x.shape[1]))
    for _ in range(5):
        r = x - mean - cond_off[kind]
        subj_off = np.stack([r[lab == k].mean(0) for k in range(len(subjects))])
        r = x - mean - subj_off[lab]
        cond_off = np.stack([r[kind == k].mean(0) for k in range(len(kinds))])
        shift = subj_off.mean(0)
        mean, subj_off = mean + shift, subj_off - shift
        shift = np.bincount(kind) @ cond_off / len(x)
        mean, cond_off = mean + shift, cond_off - shift
    resid = x - mean - subj_off[lab] - cond_off[kind]
    within = resid.T @ resid / (len(x) - len(subjects) - len(kinds))
    # walks and subjects are heteroscedastic (a coat, a far view: a longer residual): the log-std
    # of the length of each residual / subject offset, for a per-walk / per-identity scale
    walk_sigma = float(np.std(np.log((resid**2).sum(1)))) / 2
    subj_sigma = float(np.std(np.log((subj_off**2).sum(1)))) / 2
    counts = np.bincount(lab)
    between = subj_off.T @ subj_off / (len(subjects) - 1) - within * float(np.mean(1.0 / counts))
    return {
        "mean": mean,
        "cond_offsets": cond_off,
        "cond_weights": np.bincount(kind) / len(x),
        "within": within,
        "between": between,
        "cond_names": np.array(kinds),
        "walk_sigma": np.float64(walk_sigma),
        "subject_sigma": np.float64(subj_sigma),
    }


def eig_desc(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vals, vecs = np.linalg.eigh(c)
    order = np.argsort(vals)[::-1]
    return np.clip(vals[order], 0.0, None), vecs[:, order]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("population", help="embeddings of the default weights on many subjects (.npz)")
    ap.add_argument("strangers", help="embeddings of held-out subjects by weights that never saw them (.npz)")
    ap.add_argument("--within-vectors", type=int, default=48, help="within-identity eigenvectors stored")
    ap.add_argument("--between-vectors", type=int, default=40, help="between-identity eigenvectors stored")
    ap.add_argument("--between-rank", type=int, default=256, help="between spectrum extended to this rank")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    x, subj, walks, parts = load(args.population)
    xs, subj_s, _, parts_s = load(args.strangers)
    if x.shape[1] != xs.shape[1] or parts != parts_s:
        raise SystemExit("population and strangers must come from the same architecture (same template shape)")
    n_subj = len(set(subj.tolist()))
    fit = decompose(x, subj, walks)
    mean = fit["mean"]
    wv, wvec = eig_desc(fit["within"])
    bv, bvec = eig_desc(fit["between"])
    rank_b = n_subj - 1
    bv, bvec = bv[:rank_b], bvec[:, :rank_b]
    # power-law tail of the between spectrum, fitted on its middle (the first few are view-like
    # outliers, the last ones noise), extended to --between-rank on random directions
    k = np.arange(1, rank_b + 1)
    lo, hi = 4, max(6, int(rank_b * 0.8))
    slope, icpt = np.polyfit(np.log(k[lo:hi]), np.log(np.maximum(bv[lo:hi], 1e-12)), 1)
    k_ext = np.arange(rank_b + 1, args.between_rank + 1)
    tail = np.exp(icpt + slope * np.log(k_ext))
    between_vals = np.concatenate([bv, tail])
    target = pair_stats(xs, subj_s)
    population = pair_stats(x, subj)
    meta = {
        "what": "fitted parameters of synthetic gait templates for benchmarks/bench_gallery.py (no real embeddings)",
        "written": time.strftime("%Y-%m-%d"),
        "parts": parts,
        "dim": int(x.shape[1]),
        "population": {"file": Path(args.population).name, "sequences": len(x), "subjects": n_subj, **population},
        "strangers": {
            "file": Path(args.strangers).name,
            "sequences": len(xs),
            "subjects": len(set(subj_s.tolist())),
            **target,
        },
        "shared_component": {"mean_norm2": float(mean @ mean)},
        "conditions": {
            "names": fit["cond_names"].tolist(),
            "offsets_energy": float(fit["cond_weights"] @ (fit["cond_offsets"] ** 2).sum(1)),
        },
        "within": {
            "trace": float(wv.sum()),
            "components_for_90_99pct": [int(np.searchsorted(np.cumsum(wv) / wv.sum(), f)) + 1 for f in (0.9, 0.99)],
        },
        "between": {
            "trace_measured": float(bv.sum()),
            "trace_extended": float(between_vals.sum()),
            "power_law_slope": float(slope),
        },
    }
    params = {
        "mean": mean.astype(np.float32),
        "cond_offsets": fit["cond_offsets"].astype(np.float16),
        "cond_weights": fit["cond_weights"].astype(np.float32),
        "within_vals": wv.astype(np.float32),
        "within_vecs": wvec[:, : args.within_vectors].astype(np.float16),
        "between_vals": between_vals.astype(np.float32),
        "between_vecs": bvec[:, : args.between_vectors].astype(np.float16),
        "log_sigmas": np.array([fit["walk_sigma"], fit["subject_sigma"]], np.float32),
        "parts": np.int64(parts),
    }
    # calibrate the two scales so that genuine / impostor cosines of generated templates match the strangers'
    import bench_gallery

    sb, sw = 1.0, 1.0
    for it in range(8):
        model = bench_gallery.TemplateModel(
            {**params, "scales": np.array([sb, sw], np.float32)}, int(x.shape[1]), seed=99
        )
        rng = np.random.default_rng(123)
        centres = model.centres(rng, 400)
        walks = model.walks(rng, np.repeat(centres, 4, axis=0))
        got = pair_stats(walks.astype(np.float64), np.repeat(np.arange(400), 4))
        print(f"calibration {it}: s_b {sb:.3f} s_w {sw:.3f} -> {got}", file=sys.stderr)
        # cos_imp ~ m / (m + b + w), cos_gen ~ (m + b) / (m + b + w): solve for the b and w wanted
        m = 1.0
        b_now = m * (got["genuine"] - got["impostor"]) / got["impostor"]
        w_now = m * (1 - got["genuine"]) / got["impostor"]
        b_want = m * (target["genuine"] - target["impostor"]) / target["impostor"]
        w_want = m * (1 - target["genuine"]) / target["impostor"]
        sb *= float(np.sqrt(b_want / b_now))
        sw *= float(np.sqrt(w_want / w_now))
    meta["scales"] = {
        "between": sb,
        "within": sw,
        "achieved": got,
        "target": {k: target[k] for k in ("genuine", "impostor")},
    }
    params["scales"] = np.array([sb, sw], np.float32)
    params["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(args.out, **params)
    print(json.dumps(meta, indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
