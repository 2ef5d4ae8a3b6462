"""Gait encoder weights by name: lookup, the default, loading, and the listing of what is installed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gaitpipe.errors import WeightsError
from gaitpipe.hub.index import read_index
from gaitpipe.hub.info import WeightsInfo
from gaitpipe.hub.locations import WEIGHT_SUFFIXES, is_weights_file, weights_dirs

#: Former names of shipped weights files -> their names now; the old names keep resolving.
#: Every shipped CASIA-B model is a quarter of its architecture's full CASIA-B width, so every
#: file says ``quarter`` (``gaitbase-small-casiab`` was a quarter-width GaitBase).
RENAMED = {
    "gaitbase-small-casiab": "gaitbase-quarter-casiab",
    "gaitbase-small-casiab-all74": "gaitbase-quarter-casiab-all74",
}


def installed_weights() -> list[Path]:
    """Every weights file in the searched folders (the first folder wins for a repeated name)."""
    found: dict[str, Path] = {}
    for d in weights_dirs():
        if d.is_dir():
            for p in sorted(d.iterdir()):
                if is_weights_file(p):
                    found.setdefault(p.stem, p)
    return list(found.values())


def _find_by_name(stem: str) -> Path | None:
    for d in weights_dirs():
        for suffix in WEIGHT_SUFFIXES:
            cand = d / f"{stem}{suffix}"
            if cand.is_file():
                return cand
    return None


def resolve_weights(name_or_path: str | Path) -> Path:
    """A path to an existing file, or a name (``gaitbase-quarter-casiab`` or ``...casiab.pt``)
    looked up in the searched folders (:func:`gaitpipe.hub.weights_dirs`).

    A model-zoo name that has not been fetched yet raises :class:`gaitpipe.hub.NotFetchedError`
    (fetch it with :func:`gaitpipe.hub.fetch_weights`); nothing is downloaded here."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    name = str(name_or_path)
    if os.sep not in name and "/" not in name:
        stem = name[: -len(p.suffix)] if p.suffix in WEIGHT_SUFFIXES else name
        found = _find_by_name(stem) or (_find_by_name(RENAMED[stem]) if stem in RENAMED else None)
        if found is not None:
            return found
        from gaitpipe.hub.zoo import not_fetched_error

        zoo_error = not_fetched_error(stem)
        if zoo_error is not None:  # a model-zoo name: fetching is explicit (gaitpipe.hub.zoo)
            raise zoo_error
    if p.is_dir():
        raise WeightsError(f"{p} is a directory; give a weights file or the name of installed weights")
    names = ", ".join(q.stem for q in installed_weights()) or "none installed"
    where = ", ".join(str(d) for d in weights_dirs())
    raise WeightsError(f"weights {name!r} not found (searched {where}; available: {names})")


def weights_info(name_or_path: str | Path) -> WeightsInfo:
    """The typed header of a weights file (by path or name)."""
    from gaitpipe.models.checkpoint import read_meta

    path = resolve_weights(name_or_path)
    return WeightsInfo.from_dict(read_meta(path), where=str(path))


def find_weights(fingerprint: str) -> Path | None:
    """The installed weights file whose fingerprint is ``fingerprint`` (e.g. a gallery's encoder), if any."""
    from gaitpipe.models.checkpoint import read_meta

    for path in installed_weights():
        try:
            if read_meta(path).get("fingerprint") == fingerprint:
                return path
        except WeightsError:
            continue
    return None


def default_weights() -> Path | None:
    """The weights named ``default`` by the index of the first searched folder that names one."""
    for d in weights_dirs():
        name = read_index(d).get("default")
        if name:
            return resolve_weights(str(name))
    return None


def load_encoder(
    name_or_path: str | Path | None = None, device: str | torch.device | None = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(model, meta)`` ready for ``embed``: eval mode, on ``device`` (CUDA when present if None).

    ``None`` means the default weights; ``meta["path"]`` is the file loaded.
    """
    from gaitpipe.models.checkpoint import load_checkpoint
    from gaitpipe.utils.device import resolve_device

    if name_or_path is None:
        path = default_weights()
        if path is None:
            raise WeightsError(
                "no default weights installed: give a weights file or name, train weights, "
                "or import an official checkpoint"
            )
    else:
        path = resolve_weights(name_or_path)
    model, meta = load_checkpoint(path, map_location="cpu")
    meta["path"] = str(path)
    return model.to(resolve_device(None if device is None else str(device))).eval(), meta


def describe_installed() -> list[dict[str, Any]]:
    """One summary per installed weights file (``gaitpipe weights list``), read from the files'
    headers; unreadable files are listed with an ``error`` instead of failing the listing."""
    try:
        default = default_weights()
    except WeightsError:
        default = None
    rows = []
    for path in installed_weights():
        row: dict[str, Any] = {
            "name": path.stem,
            "path": str(path),
            "bytes": path.stat().st_size,
            "default": path == default,
        }
        try:
            from gaitpipe.models.checkpoint import read_meta

            info = WeightsInfo.from_dict(read_meta(path), where=str(path))
        except WeightsError as exc:
            row["error"] = str(exc)
        else:
            meta = info.to_dict()
            for key in (
                "arch",
                "preset",
                "parts",
                "embed_dim",
                "fingerprint",
                "training_data",
                "metrics",
                "created",
                "open_set",
                "source",
                "stored_half",
                "licence",
                "notes",
            ):
                row[key] = meta.get(key)
        rows.append(row)
    return rows


__all__ = [
    "RENAMED",
    "default_weights",
    "describe_installed",
    "find_weights",
    "installed_weights",
    "load_encoder",
    "resolve_weights",
    "weights_info",
]
