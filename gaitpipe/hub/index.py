"""A weights folder's index, ``MANIFEST.json``: which file is the default, and a derived summary.

The only fact the index owns is ``default`` (the encoder of enroll/identify/demo). Its
``weights`` entries are generated from the files themselves (their headers, sha256 and size) by
:func:`write_index` whenever gaitpipe changes a file of the folder, so they cannot disagree with
the files; :func:`stale_entries` says where a hand-edited index does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gaitpipe.errors import WeightsError
from gaitpipe.hub.info import WeightsInfo
from gaitpipe.hub.locations import is_weights_file
from gaitpipe.utils.files import atomic_write_json, file_sha256

INDEX_NAME = "MANIFEST.json"


def index_path(folder: str | Path) -> Path:
    return Path(folder) / INDEX_NAME


def read_index(folder: str | Path) -> dict[str, Any]:
    """The folder's index (``{}`` when it has none)."""
    path = index_path(folder)
    if not path.is_file():
        return {}
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError):
        raise WeightsError(f"{path} is not valid JSON: fix or remove it") from None
    if not isinstance(index, dict):
        raise WeightsError(f"{path} is not a weights index (a JSON object)")
    return index


def index_entry(path: Path) -> dict[str, Any]:
    """The index entry of one weights file, derived from the file alone."""
    from gaitpipe.models.checkpoint import read_meta

    info = WeightsInfo.from_dict(read_meta(path), where=str(path))
    entry: dict[str, Any] = {
        "file": path.name,
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
        "arch": info.arch,
        "preset": info.preset,
        "config": info.config,
        "fingerprint": info.fingerprint,
        "training_data": info.training_data,
        "iterations": info.iterations,
        "validation_rank1": info.validation_rank1,
        "validation": info.validation,
        "open_set": info.open_set,
        "stored_half": info.stored_half,
        "date": info.date,
    }
    if info.licence:
        entry["licence_note"] = info.licence
    if info.notes:
        entry["notes"] = info.notes
    return entry


def derive_index(folder: str | Path, default: str | None = None) -> dict[str, Any]:
    """The index :func:`write_index` would write: ``default`` (kept from the current index when
    None) and an entry per readable weights file."""
    folder = Path(folder)
    entries = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if is_weights_file(path):
            try:
                entries[path.stem] = index_entry(path)
            except WeightsError:
                continue  # `weights list` shows unreadable files; the index only describes usable ones
    chosen = default if default is not None else read_index(folder).get("default")
    if chosen is None:
        chosen = next(iter(entries), None)
    return {"weights": entries, "default": chosen}


def write_index(folder: str | Path, default: str | None = None) -> dict[str, Any]:
    """Regenerate the folder's index from its files (atomically); returns it."""
    index = derive_index(folder, default)
    atomic_write_json(index_path(folder), index)
    return index


def refresh_index_of(path: str | Path) -> None:
    """After a weights file changed: regenerate its folder's index, if that folder has one."""
    folder = Path(path).parent
    if index_path(folder).is_file():
        write_index(folder)


def stale_entries(folder: str | Path) -> list[str]:
    """Names whose index entry differs from what the files say (empty: the index is current)."""
    stored = read_index(folder).get("weights") or {}
    derived = derive_index(folder)["weights"]
    return sorted(n for n in stored.keys() | derived.keys() if stored.get(n) != derived.get(n))


__all__ = [
    "INDEX_NAME",
    "derive_index",
    "index_entry",
    "index_path",
    "read_index",
    "refresh_index_of",
    "stale_entries",
    "write_index",
]
