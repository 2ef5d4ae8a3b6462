"""Making a weights file's score-normalisation cohort: embed impostor walkers once, store them.

The cohort should look like every place a walker may be filmed, so it mixes

* **CASIA-B training subjects** (when the silhouette pack is at hand: a few sequences per
  subject, across conditions and views; subjects 001-062, never the 063-074 that validation
  and calibration use), and
* **synthetic walkers in varied scenes** (:func:`gaitpipe.synth.cross_scene.render_cohort_walkers`:
  other camera heights, distances, views and paths than CASIA-B's one room).

The shipped weights ship both kinds. Weights imported or fetched on a user's machine, where
CASIA-B is usually absent, get the synthetic walkers only, computed on first use
(:func:`ensure_cohort`) and kept in the user cache. Sequences are embedded exactly as the
evaluator embeds them (:func:`gaitpipe.engine.evaluator.compute_embeddings`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from gaitpipe.data.sequence import SequenceInfo
from gaitpipe.errors import InputError
from gaitpipe.hub.cohort import Cohort, beside_weights, cached_path, find_cohort, save_cohort
from gaitpipe.metrics.asnorm import DEFAULT_TOP_N

log = logging.getLogger(__name__)

#: Synthetic cohort walkers (each in a scene of its own): about two minutes to render on one core.
SYNTHETIC_WALKERS = 96
#: CASIA-B training subjects in the cohort; 063-074 stay out (validation and calibration).
CASIAB_SUBJECTS = "001-062"
#: Sequences per CASIA-B subject (a normal walk, a bag and a coat, each from another view).
CASIAB_PER_SUBJECT = 3
#: Frames per cohort sequence (about 1.5 gait cycles), as long as the synthetic walks.
COHORT_FRAMES = 40


class ArraySource:
    """In-memory silhouette sequences as a :class:`~gaitpipe.data.sequence.SequenceSource`."""

    has_rgb = False

    def __init__(self, arrays: list[np.ndarray], infos: list[SequenceInfo], description: str = "arrays") -> None:
        self._arrays = arrays
        self.sequences = infos
        self.description = description

    def length(self, index: int) -> int:
        return len(self._arrays[index])

    def load(self, index: int, frame_indices: np.ndarray | None = None, kind: str = "silhouette") -> np.ndarray:
        a = self._arrays[index]
        return a if frame_indices is None else a[np.asarray(frame_indices, np.int64)]


def embed_arrays(
    model: Any,
    arrays: list[np.ndarray],
    *,
    device: str | None = None,
    max_frames: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Search vectors ``[n, parts * dim]`` of uint8 silhouette sequences ``[T, 64, 64]``."""
    from gaitpipe.data.dataset import GaitDataset
    from gaitpipe.engine.evaluator import compute_embeddings
    from gaitpipe.models.base import flatten_for_search
    from gaitpipe.utils.device import resolve_device

    infos = [SequenceInfo(f"{i:05d}", "nm-01", "000") for i in range(len(arrays))]
    dataset = GaitDataset(ArraySource(arrays, infos))
    es = compute_embeddings(
        model, dataset, device=resolve_device(device), batch_size=16, max_frames=max_frames, progress=progress
    )
    return np.asarray(flatten_for_search(es.embeddings), np.float32)


def casiab_cohort_sequences(
    pack: str | Path, subjects: str = CASIAB_SUBJECTS, per_subject: int = CASIAB_PER_SUBJECT
) -> list[np.ndarray]:
    """A few sequences of each subject of the CASIA-B pack, spread over conditions and views."""
    from gaitpipe.data.packed import PackedSource
    from gaitpipe.data.splits import parse_id_range

    wanted = parse_id_range(subjects)
    source = PackedSource(pack, subjects=wanted)
    by_key = {(s.subject, s.condition, s.view): i for i, s in enumerate(source.sequences)}
    views = sorted({s.view for s in source.sequences})
    conds = ("nm-01", "bg-01", "cl-01", "nm-02", "bg-02", "cl-02")
    out = []
    for k, subject in enumerate(wanted):
        for j in range(per_subject):
            # another condition and view for each sequence, shifted per subject: all views get used
            key = (subject, conds[j % len(conds)], views[(3 * k + 4 * j) % len(views)])
            if key in by_key:
                out.append(source.load(by_key[key]))
    if not out:
        raise InputError(f"no sequences of subjects {subjects} in {pack}")
    return out


def build_cohort(
    weights: str | Path,
    *,
    casiab: str | Path | None = None,
    subjects: str = CASIAB_SUBJECTS,
    synthetic: int = SYNTHETIC_WALKERS,
    top_n: int = DEFAULT_TOP_N,
    cache_dir: str | Path | None = None,
    device: str | None = None,
    progress: bool = False,
) -> Cohort:
    """Embed the cohort of ``weights`` (CASIA-B sequences of ``casiab`` when given, plus
    ``synthetic`` rendered walkers, cached in ``cache_dir``). Nothing is written."""
    from gaitpipe.hub import load_encoder, user_cache_dir
    from gaitpipe.synth.cross_scene import cached

    model, meta = load_encoder(weights, device)
    if meta.get("input_kind", "silhouette") == "rgb":
        raise InputError(f"{meta['path']}: score normalisation needs a silhouette encoder (this one takes RGB)")
    arrays: list[np.ndarray] = []
    sources: dict[str, Any] = {}
    if casiab is not None:
        seqs = casiab_cohort_sequences(casiab, subjects)
        arrays += seqs
        sources["casiab"] = {"sequences": len(seqs), "subjects": subjects}
    if synthetic > 0:
        walkers = cached("cohort", cache_dir or user_cache_dir() / "synth", people=synthetic, progress=progress)
        arrays += walkers.silhouettes
        sources["synthetic"] = {"walkers": len(walkers), "seed": walkers.meta.get("seed")}
    if len(arrays) < 2:
        raise InputError("a cohort needs at least two sequences: give CASIA-B data or synthetic walkers")
    vectors = embed_arrays(model, arrays, device=device, max_frames=COHORT_FRAMES, progress=progress)
    return Cohort(vectors, str(meta["fingerprint"]), int(top_n), sources)


def ensure_cohort(
    weights_path: str | Path,
    encoder: str,
    *,
    device: str | None = None,
    progress: bool = False,
    synthetic: int = SYNTHETIC_WALKERS,
) -> Cohort:
    """The cohort of these weights: the stored one, else computed now from ``synthetic`` rendered
    walkers (CASIA-B may be absent here) and kept in the user cache (a few minutes, once per
    weights file; the rendered walkers are cached too, so other weights only embed them)."""
    found = find_cohort(weights_path, encoder)
    if found is not None:
        return found
    log.warning(
        "computing the score-normalisation cohort of %s: once per weights file, a few minutes", Path(weights_path).name
    )
    cohort = build_cohort(weights_path, synthetic=synthetic, device=device, progress=progress)
    save_cohort(cohort, cached_path(weights_path, encoder))
    return cohort


def write_cohort(cohort: Cohort, weights_path: str | Path) -> Path:
    """Store ``cohort`` beside its weights file (how the shipped weights get theirs)."""
    path = beside_weights(weights_path)
    save_cohort(cohort, path)
    return path


__all__ = [
    "CASIAB_SUBJECTS",
    "SYNTHETIC_WALKERS",
    "ArraySource",
    "build_cohort",
    "casiab_cohort_sequences",
    "embed_arrays",
    "ensure_cohort",
    "write_cohort",
]
