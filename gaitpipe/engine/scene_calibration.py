"""Open-set calibration across scenes and conditions, before and after score normalisation.

A threshold calibrated on CASIA-B's single room does not hold elsewhere: walkers filmed in the
same place as an enrolment score high although they are other people. This module measures that
and calibrates against it, on three labelled sets:

* ``casiab``: held-out CASIA-B subjects (063-074 by default) across views and clothing;
* ``synthetic-calibration`` and ``synthetic-test``: two independent cross-scene sets
  (:func:`gaitpipe.synth.cross_scene.render_cross_scene`: other people *and* other scenes),
  each person filmed in two different scenes, each scene holding several people.

For raw cosine scores and for AS-norm scores (:mod:`gaitpipe.metrics.asnorm`, with the weights'
cohort) it reports TAR at FAR 1 % and 0.1 % on each set, cross-scene rank-1, and the **operating
point**: the threshold that keeps the false-accept rate at most ``target_far`` on *every*
calibration population (CASIA-B impostor pairs, synthetic impostor pairs, and synthetic
same-scene impostor pairs, the hardest), with its margin. That operating point is then applied,
unchanged, to the synthetic *test* set, whose people and scenes it has never seen: its
same-scene-impostor false-accept rate and its cross-scene true-accept rate are the figures that
say whether the decision transfers.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaitpipe.errors import InputError
from gaitpipe.metrics.asnorm import ScoreNormaliser
from gaitpipe.metrics.open_set import margin_at_far, threshold_at_far
from gaitpipe.synth.cross_scene import CROSS_SCENE_VIEWS

#: Views of the held-out CASIA-B sequences used (front-ish, side, back-ish: every angle class, a quarter of the time).
CASIAB_VIEWS = ("018", "090", "162")
#: Frames per CASIA-B sequence (over a gait cycle; the first 30, as a short real clip gives).
CASIAB_FRAMES = 30
#: The two synthetic sets: calibration and test draw different people and different scenes.
SYNTH_SEEDS = {"synthetic-calibration": 0, "synthetic-test": 1}
FARS = (0.01, 0.001)
#: The paths of the first measured sets, whose cached embeddings carry no path parameters in their key.
_OLD_KEY_PATHS = {"views": (45.0, 135.0), "both_directions": True}


@dataclass
class LabelledSet:
    """Search vectors of labelled sequences: who (``labels``), where (``scenes``) and how (``conditions``)."""

    name: str
    vectors: np.ndarray  #: [n, d]
    labels: np.ndarray  #: [n] person
    scenes: np.ndarray  #: [n] scene (CASIA-B: its one room)
    conditions: np.ndarray  #: [n] CASIA-B condition (nm-01 ...), or "" for synthetic walks
    views: np.ndarray  #: [n] view


def _cached_vectors(cache_dir: Path | None, key: str, compute: Any) -> np.ndarray:
    """Embeddings are deterministic per weights fingerprint and data: reuse them between runs."""
    if cache_dir is None:
        return np.asarray(compute(), np.float32)
    from gaitpipe.utils.files import atomic_write_npz

    path = cache_dir / f"vectors-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return np.asarray(z["vectors"], np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # damaged: computed again
    vectors = np.asarray(compute(), np.float32)
    atomic_write_npz(path, {"vectors": vectors}, sync=False)
    return vectors


def casiab_set(
    model: Any,
    fingerprint: str,
    pack: str | Path,
    subjects: str = "063-074",
    *,
    views: tuple[str, ...] = CASIAB_VIEWS,
    device: str | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> LabelledSet:
    """Every condition of ``subjects`` at ``views``, first :data:`CASIAB_FRAMES` frames each."""
    from gaitpipe.data.packed import read_pack_sequences
    from gaitpipe.data.splits import parse_id_range
    from gaitpipe.engine.cohort import embed_arrays

    seqs = read_pack_sequences(pack, subjects=parse_id_range(subjects), views=views)
    if not seqs:
        raise InputError(f"no sequences of subjects {subjects} at views {', '.join(views)} in {pack}")
    keys = sorted(seqs)
    key = f"casiab|{fingerprint}|{Path(pack).name}|{subjects}|{','.join(views)}|{CASIAB_FRAMES}"
    vectors = _cached_vectors(
        cache_dir,
        key,
        lambda: embed_arrays(
            model, [seqs[k] for k in keys], device=device, max_frames=CASIAB_FRAMES, progress=progress
        ),
    )
    return LabelledSet(
        "casiab",
        vectors,
        np.array([k[0] for k in keys]),
        np.array(["casiab"] * len(keys)),
        np.array([k[1] for k in keys]),
        np.array([k[2] for k in keys]),
    )


def synthetic_set(
    model: Any,
    fingerprint: str,
    name: str,
    *,
    people: int,
    scenes: int,
    synth_dir: Path,
    views: tuple[float, float] = CROSS_SCENE_VIEWS,
    both_directions: bool = False,
    size: tuple[int, int] = (320, 240),
    device: str | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> LabelledSet:
    """One of the :data:`SYNTH_SEEDS` cross-scene sets, rendered once and cached in ``synth_dir``
    (``size``: the rendered frames; smaller renders faster, for tests)."""
    from gaitpipe.engine.cohort import embed_arrays
    from gaitpipe.synth.cross_scene import cached

    seed = SYNTH_SEEDS[name]
    paths: dict[str, Any] = {"views": tuple(views), "both_directions": both_directions}
    if tuple(size) != (320, 240):
        paths["size"] = tuple(size)
    walkers = cached("cross-scene", synth_dir, people=people, scenes=scenes, seed=seed, progress=progress, **paths)
    key = f"{name}|{fingerprint}|{people}|{scenes}|{seed}" + ("" if paths == _OLD_KEY_PATHS else f"|{paths}")
    vectors = _cached_vectors(
        cache_dir, key, lambda: embed_arrays(model, walkers.silhouettes, device=device, progress=progress)
    )
    # scene ids restart in every set: prefix them so sets never share a scene by name
    return LabelledSet(
        name,
        vectors,
        walkers.people,
        np.array([f"{seed}/{s}" for s in walkers.scenes]),
        np.array([""] * len(walkers)),
        np.array([str(s) for s in walkers.scenes]),
    )


def pair_kinds(s: LabelledSet) -> dict[str, np.ndarray]:
    """Upper-triangle boolean masks of the pair kinds (see :meth:`WalkerSet.pair_masks`)."""
    n = len(s.labels)
    upper = np.triu(np.ones((n, n), bool), k=1)
    same_p = s.labels[:, None] == s.labels[None, :]
    same_s = s.scenes[:, None] == s.scenes[None, :]
    kinds = {"genuine": upper & same_p, "impostor": upper & ~same_p}
    if len(set(s.scenes.tolist())) > 1:
        kinds["genuine_cross_scene"] = upper & same_p & ~same_s
        kinds["same_scene_impostor"] = upper & ~same_p & same_s
    return kinds


def rank1(s: LabelledSet, sims: np.ndarray) -> dict[str, float]:
    """Closed-set rank-1 (%) where gallery and probe never share a scene (synthetic: cross-scene)
    or a view (CASIA-B: gallery nm-01..04, probes NM nm-05/06, BG, CL, as the CASIA-B protocol)."""
    if s.name == "casiab":
        gallery = np.isin(s.conditions, ["nm-01", "nm-02", "nm-03", "nm-04"])
        out: dict[str, float] = {}
        for key, conds in (("NM", ["nm-05", "nm-06"]), ("BG", ["bg-01", "bg-02"]), ("CL", ["cl-01", "cl-02"])):
            hits = []
            for i in np.flatnonzero(np.isin(s.conditions, conds)):
                cand = gallery & (s.views != s.views[i])
                if cand.any():
                    best = np.flatnonzero(cand)[np.argmax(sims[i, cand])]
                    hits.append(s.labels[best] == s.labels[i])
            out[key] = round(100.0 * float(np.mean(hits)), 2) if hits else float("nan")
        return out
    found = []
    for q in range(len(s.labels)):
        cand = s.scenes != s.scenes[q]
        j = int(np.flatnonzero(cand)[np.argmax(sims[q, cand])])
        found.append(s.labels[j] == s.labels[q])
    return {"cross_scene": round(100.0 * float(np.mean(found)), 2)}


def roc_figures(s: LabelledSet, sims: np.ndarray) -> dict[str, Any]:
    """TAR at each FAR of :data:`FARS` (thresholds from this set's own impostors; genuine pairs
    cross scenes where the set has several), pair counts and rank-1."""
    kinds = pair_kinds(s)
    genuine = sims[kinds.get("genuine_cross_scene", kinds["genuine"])]
    impostor = sims[kinds["impostor"]]
    out: dict[str, Any] = {"sequences": len(s.labels), "subjects": len(set(s.labels.tolist()))}
    out["genuine_pairs"], out["impostor_pairs"] = int(genuine.size), int(impostor.size)
    out["tar_at_far"] = {f"{f:g}": round(float(np.mean(genuine >= threshold_at_far(impostor, f))), 4) for f in FARS}
    if "same_scene_impostor" in kinds:
        same = sims[kinds["same_scene_impostor"]]
        out["same_scene_impostor_pairs"] = int(same.size)
        # how far above ordinary impostors same-scene impostors sit: the failure in one number
        out["same_scene_impostors_above_impostor_p99"] = round(float(np.mean(same >= np.quantile(impostor, 0.99))), 4)
    out["rank1"] = rank1(s, sims)
    return out


def operating_point(sets: list[LabelledSet], sims: dict[str, np.ndarray], target_far: float) -> dict[str, Any]:
    """The lowest threshold keeping every calibration population's FAR at most ``target_far``,
    which population set it, and the margin (the largest of the sets' :func:`margin_at_far`)."""
    limits: dict[str, float] = {}
    for s in sets:
        kinds = pair_kinds(s)
        limits[f"{s.name}: impostors"] = threshold_at_far(sims[s.name][kinds["impostor"]], target_far)
        if "same_scene_impostor" in kinds:
            limits[f"{s.name}: same-scene impostors"] = threshold_at_far(
                sims[s.name][kinds["same_scene_impostor"]], target_far
            )
    which = max(limits, key=lambda k: limits[k])
    threshold = float(limits[which])
    margins: dict[str, dict[str, Any]] = {}
    for s in sets:
        m, effect = margin_at_far(s.vectors, s.labels, threshold, target_far, sims=sims[s.name])
        margins[s.name] = {"margin": m, "effect": effect}
    margin = max(float(v["margin"]) for v in margins.values())
    return {
        "threshold": threshold,
        "margin": float(margin),
        "target_far": target_far,
        "set_by": which,
        "limits": {k: round(float(v), 6) for k, v in limits.items()},
        "margins": margins,
    }


def at_operating_point(s: LabelledSet, sims: np.ndarray, threshold: float) -> dict[str, Any]:
    """What a fixed threshold does on a set: FAR per impostor kind and TAR per genuine kind."""
    kinds = pair_kinds(s)
    out: dict[str, Any] = {}
    for name, mask in kinds.items():
        rate = float(np.mean(sims[mask] >= threshold)) if mask.any() else float("nan")
        out[("far_" if "impostor" in name else "tar_") + name] = round(rate, 4)
    return out


def cross_scene_report(
    weights: str | Path,
    *,
    casiab: str | Path | None = None,
    subjects: str = "063-074",
    people: int = 60,
    scenes: int = 6,
    views: tuple[float, float] = CROSS_SCENE_VIEWS,
    both_directions: bool = False,
    size: tuple[int, int] = (320, 240),
    target_far: float = 0.01,
    cohort: ScoreNormaliser | None = None,
    synth_dir: str | Path,
    cache_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Figures before and after AS-norm, and the calibrated operating point of each (module docstring).

    ``cohort`` None: the weights' stored cohort (:func:`gaitpipe.hub.cohort.find_cohort`), else one
    built now (CASIA-B subjects 001-062 of ``casiab`` when given, plus synthetic walkers).
    """
    from gaitpipe.engine.cohort import build_cohort
    from gaitpipe.hub import load_encoder
    from gaitpipe.hub.cohort import find_cohort

    model, meta = load_encoder(weights, device)
    fingerprint = str(meta["fingerprint"])
    cache = None if cache_dir is None else Path(cache_dir)
    if cohort is None:
        found = find_cohort(meta["path"], fingerprint) or build_cohort(
            meta["path"], casiab=casiab, cache_dir=synth_dir, device=device, progress=progress
        )
        cohort = found.normaliser()
    common: dict[str, Any] = {"device": device, "cache_dir": cache, "progress": progress}
    sets = [
        synthetic_set(
            model,
            fingerprint,
            name,
            people=people,
            scenes=scenes,
            synth_dir=Path(synth_dir),
            views=views,
            both_directions=both_directions,
            size=size,
            **common,
        )
        for name in SYNTH_SEEDS
    ]
    if casiab is not None:
        sets.append(casiab_set(model, fingerprint, casiab, subjects, **common))
    by_name = {s.name: s for s in sets}
    scores = {
        "raw": {s.name: s.vectors @ s.vectors.T for s in sets},
        "as-norm": {s.name: cohort.all_pairs(s.vectors) for s in sets},
    }
    calibration = [s for s in sets if s.name != "synthetic-test"]
    report: dict[str, Any] = {
        "weights": str(meta["path"]),
        "fingerprint": fingerprint,
        "cohort": {"size": len(cohort.cohort), "top_n": cohort.top_n, "source": cohort.source},
        "front_end": "ground-truth masks of the rendered walkers through the OpenGait normalisation",
        "synthetic_paths": {"views": list(views), "both_directions": both_directions},
        "target_far": target_far,
        "trained_on": meta.get("training_data"),
        "scales": {},
    }
    if casiab is not None:
        from gaitpipe.data.splits import parse_id_range
        from gaitpipe.engine.release import _trained_subjects

        # a final model trained on every subject has seen the "held-out" ones: say so beside its figures
        report["casiab_subjects_in_training"] = bool(_trained_subjects(meta) & set(parse_id_range(subjects)))
    shipped = (meta.get("open_set") or {}).get("threshold")
    for scale, sims in scores.items():
        op = operating_point(calibration, sims, target_far)
        entry: dict[str, Any] = {
            "sets": {name: roc_figures(by_name[name], sims[name]) for name in by_name},
            "operating_point": op,
            "at_operating_point": {
                name: at_operating_point(by_name[name], sims[name], op["threshold"]) for name in by_name
            },
        }
        if scale == "raw" and shipped is not None:
            entry["at_shipped_threshold"] = {
                "threshold": float(shipped),
                **{name: at_operating_point(by_name[name], sims[name], float(shipped)) for name in by_name},
            }
        report["scales"][scale] = entry
    return report


def normalised_calibration(report: dict[str, Any]) -> dict[str, Any]:
    """The ``open_set.normalised`` record of a :func:`cross_scene_report` (what identify reads)."""
    norm = report["scales"]["as-norm"]
    op = norm["operating_point"]
    domains = ["synthetic cross-scene"] + (["CASIA-B"] if "casiab" in norm["sets"] else [])
    sets = ", ".join(k for k in norm["sets"] if k != "synthetic-test")
    return {
        "method": "as-norm",
        "threshold": op["threshold"],
        "margin": op["margin"],
        "target_far": op["target_far"],
        "set_by": op["set_by"],
        "top_n": report["cohort"]["top_n"],
        "cohort_size": report["cohort"]["size"],
        "calibrated_on": f"{sets} (FAR at most {op['target_far']:g} on each impostor population)",
        "domains": domains,
        "tar_at_far": {k: v["tar_at_far"] for k, v in norm["sets"].items()},
        "test": norm["at_operating_point"].get("synthetic-test"),
        "casiab_subjects_in_training": report.get("casiab_subjects_in_training"),
    }


def write_normalised_calibration(weights: str | Path, report: dict[str, Any]) -> dict[str, Any]:
    """Store :func:`normalised_calibration` as ``open_set.normalised`` in the weights' metadata."""
    from gaitpipe.hub import refresh_index_of, resolve_weights
    from gaitpipe.models.checkpoint import read_meta, update_meta

    path = resolve_weights(weights)
    meta = read_meta(path)
    if str(meta.get("fingerprint")) != report["fingerprint"]:
        raise InputError(f"the report was measured with other weights ({report['fingerprint']}), not {path}")
    record = normalised_calibration(report)
    open_set = dict(meta.get("open_set") or {})
    open_set["normalised"] = record
    update_meta(path, open_set=open_set)
    refresh_index_of(path)
    return record


__all__ = [
    "CASIAB_VIEWS",
    "SYNTH_SEEDS",
    "LabelledSet",
    "at_operating_point",
    "casiab_set",
    "cross_scene_report",
    "normalised_calibration",
    "operating_point",
    "pair_kinds",
    "rank1",
    "roc_figures",
    "synthetic_set",
    "write_normalised_calibration",
]
