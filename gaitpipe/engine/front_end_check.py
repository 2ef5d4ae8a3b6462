"""Does an encoder still know a walker when our own front end made the silhouettes?

CASIA-B's official silhouettes come from the dataset's own, hand-tuned background subtraction. The
raw CASIA-B videos (``../shared/data/casiab-videos``: subjects 001-004 at 90 degrees) go through
``gaitpipe``'s front end instead (segmenter, tracker, OpenGait normalisation), and each walk's
embedding is compared with

* the **official** silhouettes of the same walk (same subject, condition, view): the cosine between
  the two says how much the front end moves an embedding (1: not at all);
* a **gallery of official silhouettes** of many subjects (``nm-01..04`` at the same view, one
  template per sequence, the best per identity): rank-1 of the own-extracted walks says whether the
  front end's silhouettes still name the right person among them.

Subjects 001-004 are CASIA-B *training* subjects, so this measures front-end transfer, not
generalisation to unseen people (the held-out figures do that). The silhouettes extracted from the
videos depend only on the segmenter, so they are cached per segmenter and video set.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaitpipe.errors import InputError

#: ``001-nm-01-090.avi`` -> subject, condition, view.
VIDEO_NAME = re.compile(r"^(\d{3})-((?:nm|bg|cl)-\d{2})-(\d{3})\.(?:avi|mp4)$")
#: Official gallery conditions of the CASIA-B protocol.
GALLERY_CONDITIONS = ("nm-01", "nm-02", "nm-03", "nm-04")


@dataclass
class ExtractedWalks:
    """The main walker of each raw video, as the front end normalised it."""

    keys: list[tuple[str, str, str]]  #: (subject, condition, view) per video
    silhouettes: list[np.ndarray]  #: [T, 64, 64] uint8 per video


def list_videos(videos: str | Path) -> list[tuple[Path, tuple[str, str, str]]]:
    """Walk videos of ``videos`` named like CASIA-B's (``001-nm-01-090.avi``), sorted."""
    root = Path(videos)
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        m = VIDEO_NAME.match(path.name)
        if m:
            found.append((path, (m.group(1), m.group(2), m.group(3))))
    if not found:
        raise InputError(f"no CASIA-B walk videos (like 001-nm-01-090.avi) in {root}")
    return found


def extract_walks(
    videos: str | Path, *, segmenter: str = "bgsub", cache_dir: Path | None = None, progress: bool = False
) -> ExtractedWalks:
    """The longest track of every walk video through the front end; a ``*-bkgrd-*`` clip in the
    folder is given to background subtraction as the empty scene."""
    from gaitpipe.pipeline import Pipeline
    from gaitpipe.utils.files import atomic_write_npz

    listed = list_videos(videos)
    background = sorted(Path(videos).glob("*-bkgrd-*"))
    options = {"background": str(background[0])} if segmenter == "bgsub" and background else {}
    names = [f"{p.name}:{p.stat().st_size}" for p, _ in listed]
    key = "|".join([segmenter, Path(options.get("background", "")).name, *names])  # not where the folder is
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"front-end-{segmenter}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
        if cache.is_file():
            try:
                with np.load(cache, allow_pickle=False) as z:
                    return ExtractedWalks(
                        [tuple(k) for k in z["keys"].tolist()],
                        [np.asarray(z[f"s{i}"], np.uint8) for i in range(len(z["keys"]))],
                    )
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                pass  # damaged: extracted again
    pipe = Pipeline(segmenter=segmenter, segmenter_options=options, device="cpu", progress=progress)
    keys, sils = [], []
    for path, k in listed:
        seqs = [s for s in pipe.extract(path, keep_rgb=False).sequences if len(s)]
        if not seqs:
            continue  # no walker found: left out, and the report counts what was used
        keys.append(k)
        sils.append(max(seqs, key=len).frames)
    if cache is not None:
        arrays: dict[str, Any] = {"keys": np.array(keys)}
        arrays.update({f"s{i}": s for i, s in enumerate(sils)})
        atomic_write_npz(cache, arrays, sync=False)
    return ExtractedWalks(keys, sils)


def front_end_report(
    model: Any,
    walks: ExtractedWalks,
    pack: str | Path,
    gallery_subjects: str = "001-074",
    *,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Rank-1 of the own-extracted walks against an official-silhouette gallery, and the cosine
    between each own-extracted walk and the official silhouettes of the same walk."""
    from gaitpipe.data.packed import read_pack_sequences
    from gaitpipe.data.splits import parse_id_range
    from gaitpipe.engine.cohort import embed_arrays

    if not walks.keys:
        raise InputError("the front end found no walker in any video")
    views = tuple(sorted({k[2] for k in walks.keys}))
    official = read_pack_sequences(pack, subjects=parse_id_range(gallery_subjects), views=views)
    gallery_keys = sorted(k for k in official if k[1] in GALLERY_CONDITIONS)
    same_walk_keys = [k for k in walks.keys if k in official]
    if not gallery_keys:
        raise InputError(f"no official gallery sequences of {gallery_subjects} at views {views} in {pack}")

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    own = unit(embed_arrays(model, walks.silhouettes, device=device, progress=progress))
    gal = unit(embed_arrays(model, [official[k] for k in gallery_keys], device=device, progress=progress))
    same = unit(embed_arrays(model, [official[k] for k in same_walk_keys], device=device, progress=progress))
    gal_subjects = np.array([k[0] for k in gallery_keys])
    identities = sorted(set(gal_subjects.tolist()))
    sims = own @ gal.T
    best = np.stack([sims[:, gal_subjects == s].max(axis=1) for s in identities], axis=1)
    named = [identities[i] for i in best.argmax(axis=1)]
    per_condition: dict[str, list[bool]] = {}
    for k, name in zip(walks.keys, named):
        per_condition.setdefault(k[1][:2].upper(), []).append(name == k[0])
    own_by_key = dict(zip(walks.keys, own))
    agreement = [float(own_by_key[k] @ s) for k, s in zip(same_walk_keys, same)]
    return {
        "walks": len(walks.keys),
        "gallery_identities": len(identities),
        "gallery_sequences": len(gallery_keys),
        "rank1": 100.0 * float(np.mean([n == k[0] for k, n in zip(walks.keys, named)])),
        "rank1_by_condition": {c: 100.0 * float(np.mean(v)) for c, v in sorted(per_condition.items())},
        "same_walk_cosine_mean": float(np.mean(agreement)) if agreement else None,
        "same_walk_cosine_min": float(np.min(agreement)) if agreement else None,
        "named": {"-".join(k): n for k, n in zip(walks.keys, named)},
    }


__all__ = ["ExtractedWalks", "extract_walks", "front_end_report", "list_videos"]
