"""Where extracted files go: CASIA-B names, the OpenGait layout and the sidecar directory.

A CASIA-B clip ``SSS-CC-NN-VVV`` fills the slot ``OUT/SSS/CC-NN/VVV/VVV.pkl``; any other video
gets ``OUT/<stem>/<track-id>/default/default.pkl`` per usable track. Everything that is not a
``.pkl`` lives under ``OUT/_gaitpipe``: OpenGait's loader lists every file of a sequence
directory and refuses anything but ``.pkl``, and lists every entry of a subject directory as a
condition, so sidecar files inside the tree would break training.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

#: CASIA-B raw video names: subject-condition-sequence-view, e.g. ``001-nm-01-090``.
CASIAB_NAME = re.compile(r"^(?P<subject>\d{3})-(?P<condition>[a-z]+)-(?P<seq>\d{2})-(?P<view>\d{3})$")
#: CASIA-B empty-scene clips (``001-bkgrd-090``): a background plate, not a walk.
CASIAB_BACKGROUND = re.compile(r"^\d{3}-bkgrd-\d{3}$")
#: Sidecar directory (manifests, PNGs) inside the output directory.
SIDECAR = "_gaitpipe"
MANIFEST = "manifest.json"


class TrackPaths(NamedTuple):
    """One track's files: silhouette and RGB pickles, and its sidecar folder for PNGs/previews."""

    silhouettes: Path
    rgb: Path
    extras: Path


def casiab_parts(path: str | Path) -> dict[str, str] | None:
    """``{subject, condition, seq, view}`` when the file name is CASIA-B style, else None."""
    match = CASIAB_NAME.match(Path(str(path)).stem)
    return match.groupdict() if match else None


def casiab_slot(parts: dict[str, str]) -> str:
    """The ``SSS/CC-NN/VVV`` directory a CASIA-B clip fills."""
    return f"{parts['subject']}/{parts['condition']}-{parts['seq']}/{parts['view']}"


def is_casiab_background(path: str | Path) -> bool:
    return CASIAB_BACKGROUND.match(Path(str(path)).stem) is not None


def video_key(path: str | Path) -> str:
    """Name of a video's sidecar directory (its stem, e.g. ``001-nm-01-090``)."""
    return Path(str(path)).stem if not Path(str(path)).is_dir() else Path(str(path)).name


def track_paths(out_dir: Path, path: str | Path, track_id: int, key: str | None = None) -> TrackPaths:
    """Where one track of the video ``path`` is written under ``out_dir``."""
    key = key or video_key(path)
    parts = casiab_parts(path)
    if parts:
        seq_dir = out_dir / casiab_slot(parts)
        name = parts["view"]
    else:
        seq_dir = out_dir / key / str(track_id) / "default"
        name = "default"
    extras = out_dir / SIDECAR / key / f"track-{track_id}"
    return TrackPaths(seq_dir / f"{name}.pkl", seq_dir / f"{name}-rgb.pkl", extras)


def manifest_path(out_dir: Path, key: str) -> Path:
    return out_dir / SIDECAR / key / MANIFEST


__all__ = [
    "CASIAB_BACKGROUND",
    "CASIAB_NAME",
    "MANIFEST",
    "SIDECAR",
    "TrackPaths",
    "casiab_parts",
    "casiab_slot",
    "is_casiab_background",
    "manifest_path",
    "track_paths",
    "video_key",
]
