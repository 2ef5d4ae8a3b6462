"""Atomic file writes and file hashes.

Every file gaitpipe writes that someone may read while it is being written (silhouette packs,
manifests, weights, gallery index files) goes through :func:`atomic_write_bytes`: the data is
written to a temporary name beside the target and renamed over it, so a crash leaves the old
file or the new one, never a half-written file under the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

#: temporary files are ``.<name>.<TMP_MARK><random>``; crash clean-up looks for this mark.
TMP_MARK = "tmp-"


def temp_path_for(path: Path) -> Path:
    """A unique temporary name in ``path``'s folder (same file system, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def is_temp_file(path: Path) -> bool:
    """Whether ``path`` is a leftover of an interrupted :func:`atomic_write_bytes`."""
    return path.name.startswith(".") and f".{TMP_MARK}" in path.name


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(
    path: str | Path, data: bytes | bytearray | memoryview, *, mode: int | None = None, sync: bool = True
) -> Path:
    """Write ``data`` to ``path`` atomically; ``mode`` sets the file's permission bits.

    ``sync`` flushes the data (and the rename) to disk before returning; turn it off only for
    files that are cheap to recreate.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = os.open(tmp, flags, 0o600 if mode is None else mode)
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if mode is None:
            # keep the umask-derived mode an ordinary open() would have given
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync:
        fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str, *, mode: int | None = None, sync: bool = True) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode, sync=sync)


def atomic_write_json(
    path: str | Path, obj: Any, *, indent: int | None = 2, mode: int | None = None, sync: bool = True
) -> Path:
    """:func:`atomic_write_bytes` for a JSON document (UTF-8, trailing newline)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n", mode=mode, sync=sync)


def atomic_torch_save(obj: Any, path: str | Path, *, sync: bool = True) -> Path:
    """``torch.save`` through :func:`atomic_write_bytes`."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue(), sync=sync)


def atomic_write_npz(path: str | Path, arrays: dict[str, Any], *, sync: bool = True) -> Path:
    """``numpy.savez_compressed`` through :func:`atomic_write_bytes` (plain arrays only: read it
    back with ``allow_pickle=False``, so the file can never run code when loaded)."""
    import numpy as np

    buf = io.BytesIO()
    # Any: numpy's stub would read a ``**dict`` of arrays as possibly holding ``allow_pickle``
    plain: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez_compressed(buf, **plain)
    return atomic_write_bytes(path, buf.getvalue(), sync=sync)


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (videos and weights can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


__all__ = [
    "TMP_MARK",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_text",
    "file_sha256",
    "fsync_dir",
    "is_temp_file",
    "temp_path_for",
]
