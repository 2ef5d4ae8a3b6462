"""The model zoo: fetch an official checkpoint, convert it, keep it (``gaitpipe weights fetch NAME``).

:func:`fetch_weights` turns a zoo name (:data:`gaitpipe.hub.REMOTE_WEIGHTS`) into a gaitpipe
weights file:

1. download: ``huggingface_hub.hf_hub_download`` into the Hugging Face cache (its own cache,
   locking, resume on a dropped connection and progress bar; ``$HF_ENDPOINT``, ``$HF_HUB_CACHE``
   and ``$HF_HOME`` are read when the call is made). ``$GAITPIPE_OFFLINE`` turns the network off:
   only a file already in the Hugging Face cache is used, found by a disk lookup
   (``try_to_load_from_cache``) without calling into the download code at all;
2. check: the size and sha256 the entry records (a file that differs is refused);
3. convert: :func:`gaitpipe.models.convert.import_checkpoint` with the entry's architecture and
   preset (never unpickling code: see that module), written atomically to
   ``<user cache>/gaitpipe/zoo/<name>.pt`` (:func:`gaitpipe.hub.zoo_dir`), where name lookup finds it.

The first conversion logs the licence the weights come under (OpenGait's checkpoints are for
academic use only); the weights file records it too (``licence`` in its header).

Nothing half-written is ever left under a final name: Hugging Face downloads into a temporary file
and renames it; the converted file is written to a temporary name and renamed; a download that
fails the check or the conversion is removed from the Hugging Face cache, so fetching again
downloads it afresh.

Resolving a zoo name that has not been fetched (``--weights opengait-deepgaitv2-gait3d`` before
``gaitpipe weights fetch opengait-deepgaitv2-gait3d``) raises :class:`NotFetchedError`: nothing is
downloaded implicitly, since a download can be hundreds of MB and comes with a licence to read.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaitpipe.errors import WeightsError
from gaitpipe.hub.locations import zoo_dir
from gaitpipe.hub.remote import (
    OFFLINE_ENV,
    REMOTE_WEIGHTS,
    DownloadError,
    NotFetchedError,
    RemoteWeights,
    downloads_allowed,
    zoo_entry,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch_weights` did."""

    entry: RemoteWeights
    path: Path  #: the converted gaitpipe weights file
    converted: bool  #: False: it was already there (nothing downloaded or written)
    download: Path | None = None  #: the downloaded checkpoint in the Hugging Face cache


def zoo_path(name: str) -> Path:
    """Where the converted weights of zoo entry ``name`` are kept."""
    return zoo_dir() / f"{zoo_entry(name).name}.pt"


def fetched(name: str) -> Path | None:
    """The converted weights of zoo entry ``name`` if it has been fetched, else None."""
    path = zoo_path(name)
    return path if path.is_file() else None


def not_fetched_error(name: str) -> NotFetchedError | None:
    """For :func:`gaitpipe.hub.resolve_weights`: the error for a zoo name that is not fetched yet."""
    stem = name[:-3] if name.endswith(".pt") else name
    return NotFetchedError(stem) if stem in REMOTE_WEIGHTS else None


def _hf_location() -> tuple[str | None, str | None]:
    """``(endpoint, cache dir)`` from the environment now (huggingface_hub reads them at import)."""
    endpoint = os.environ.get("HF_ENDPOINT") or None
    cache = os.environ.get("HF_HUB_CACHE") or None
    if cache is None and os.environ.get("HF_HOME"):
        cache = str(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    return (endpoint.rstrip("/") if endpoint else None), cache


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip() and not line.strip().endswith("Client Error."):
            return line.strip()[:300]
    return type(exc).__name__


def _download(entry: RemoteWeights) -> Path:
    """The entry's file in the Hugging Face cache, downloaded when missing; :class:`DownloadError` otherwise."""
    assert entry.repo is not None and entry.filename is not None
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DownloadError(f"{entry.name}: fetching needs huggingface_hub (pip install huggingface_hub)") from exc
    endpoint, cache_dir = _hf_location()
    if not downloads_allowed():
        # A disk lookup only: hf_hub_download(local_files_only=True) would still send its telemetry.
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(entry.repo, entry.filename, cache_dir=cache_dir, revision=entry.revision)
        if isinstance(cached, str) and Path(cached).is_file():
            return Path(cached)
        raise DownloadError(
            f"{entry.name}: downloads are off (${OFFLINE_ENV} is set) and {entry.filename} is not in the "
            "Hugging Face cache"
        )
    where = f"{endpoint or 'https://huggingface.co'}/{entry.repo}"
    try:
        path = hf_hub_download(
            entry.repo, entry.filename, revision=entry.revision, endpoint=endpoint, cache_dir=cache_dir
        )
    except LocalEntryNotFoundError as exc:  # the Hub could not be reached and the file is not cached
        cause = exc.__cause__ or exc
        raise DownloadError(f"{entry.name}: cannot reach {where}: {_first_line(cause)}") from exc
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
        why = f" ({entry.notes})" if not entry.published and entry.notes else ""
        raise DownloadError(
            f"{entry.name}: not found upstream: {where} has no {entry.filename} at revision {entry.revision}{why}"
        ) from exc
    except Exception as exc:  # HTTP errors, a connection dropped for good, a full disk: one line
        raise DownloadError(f"{entry.name}: download from {where} failed: {_first_line(exc)}") from exc
    return Path(path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check(entry: RemoteWeights, path: Path) -> str:
    """The file's sha256, after checking size and hash against the entry."""
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        raise DownloadError(f"{entry.name}: downloaded {size} bytes, expected {entry.size}: refused")
    digest = _sha256(path)
    if entry.sha256 is not None and digest != entry.sha256:
        raise DownloadError(
            f"{entry.name}: downloaded file has sha256 {digest[:12]}..., expected {entry.sha256[:12]}..."
        )
    return digest


def _evict(path: Path) -> None:
    """Remove a bad download from the Hugging Face cache (its snapshot link and the blob behind it)."""
    try:
        blob = path.resolve()
        path.unlink(missing_ok=True)
        if blob != path:
            blob.unlink(missing_ok=True)
    except OSError as exc:  # never hide the original error behind this one
        log.warning("could not remove %s from the Hugging Face cache: %s", path, exc)


def _commit_of(path: Path) -> str | None:
    """The Hub commit a cached file was resolved at (``.../snapshots/<commit>/<filename>``)."""
    parts = path.parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts[:-1] else None


def fetch_weights(name: str, *, force: bool = False) -> FetchResult:
    """Download zoo entry ``name`` (if needed), convert it and keep it (see the module docstring).

    Returns at once when the converted file is already there (``force`` converts again). Raises
    :class:`WeightsError` for an unknown name (listing the known ones), an entry that is not on the
    Hub, or a file that does not convert (another architecture, a truncated file), and
    :class:`DownloadError` when the file cannot be had (offline, missing upstream, connection).
    """
    from gaitpipe.models.checkpoint import read_meta
    from gaitpipe.models.convert import import_checkpoint

    entry = zoo_entry(name)
    dest = zoo_dir() / f"{entry.name}.pt"
    if dest.is_file() and not force:
        try:
            read_meta(dest)
            return FetchResult(entry, dest, converted=False)
        except WeightsError:
            log.warning("%s is unreadable: converting it again", dest)
    if not entry.downloadable:
        raise WeightsError(
            f"{entry.name} is not on the Hugging Face Hub, so gaitpipe cannot fetch it: download it by hand from "
            f"{entry.url}, then import it (`gaitpipe weights import FILE --arch {entry.arch}`; library: "
            f"gaitpipe.models.convert.import_checkpoint(FILE, {entry.arch!r}))"
        )
    raw = _download(entry)
    try:
        digest = _check(entry, raw)
        source: dict[str, Any] = {
            "zoo": entry.name,
            "repo": entry.repo,
            "filename": entry.filename,
            "revision": entry.revision,
            "commit": _commit_of(raw),
            "sha256": digest,
            "config": entry.config,
        }
        meta: dict[str, Any] = {
            "training_data": entry.trained_on,
            "licence": entry.licence,
            "source": source,
            "metrics": {"published": {"rank1": dict(entry.rank1), "source": entry.rank1_source}},
            "notes": "official weights converted by gaitpipe; their open-set threshold is not calibrated: "
            "calibrate on footage of your own domain (gaitpipe weights calibrate)"
            + (f"; {entry.notes}" if entry.notes else ""),
        }
        dest.parent.mkdir(parents=True, exist_ok=True)
        import_checkpoint(raw, entry.arch, preset=entry.preset, out=dest, meta=meta)
    except (WeightsError, DownloadError) as exc:
        _evict(raw)
        if isinstance(exc, DownloadError):
            raise
        raise WeightsError(f"{entry.name}: the downloaded file does not convert: {exc}") from exc
    log.info("%s: licence: %s", entry.name, entry.licence)
    return FetchResult(entry, dest, converted=True, download=raw)


def describe_zoo() -> list[dict[str, Any]]:
    """One row per zoo entry (``gaitpipe weights list``): what it is and whether it is fetched."""
    rows = []
    for entry in REMOTE_WEIGHTS.values():
        path = fetched(entry.name)
        rows.append(
            {
                "name": entry.name,
                "arch": entry.arch,
                "preset": entry.preset,
                "trained_on": entry.trained_on,
                "rank1": dict(entry.rank1),
                "rank1_source": entry.rank1_source,
                "licence": entry.licence,
                "repo": entry.repo,
                "filename": entry.filename,
                "revision": entry.revision,
                "bytes": entry.size,
                "url": entry.source_url,
                "downloadable": entry.downloadable,
                "published": entry.published,
                "fetched": path is not None,
                "path": None if path is None else str(path),
            }
        )
    return rows


__all__ = ["FetchResult", "describe_zoo", "fetch_weights", "fetched", "not_fetched_error", "zoo_path"]
