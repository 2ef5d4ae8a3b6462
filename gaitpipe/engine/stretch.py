"""Training state that travels in pieces: one run continued over short, separate GPU stretches.

A GPU is lent now and then for minutes; what comes back from it is a few files of limited size
(this workplace: 8 files of at most 16 MiB). A *stretch* resumes a run from the state its last
stretch left, trains, and hands the new state back as:

- ``stretch.json``: the manifest: the run's recipe, its iteration, one record per stretch
  (iterations, speed, device, validation), and the pieces with their sizes and SHA-256;
- ``state.part00``, ``state.part01``, ...: an uncompressed tar of the run's files (checkpoint,
  training state, log), cut into pieces of at most ``piece_bytes``.

:func:`write_pieces` makes them, :func:`read_pieces` checks and reassembles them.
:func:`compact_optimizer_state` shrinks the optimizer's share when the state must stay small
(every file a stretch needs travels within one size limit, the state included).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gaitpipe.errors import InputError
from gaitpipe.utils.files import atomic_write_bytes, atomic_write_json, file_sha256

FORMAT = "gaitpipe-stretch/1"
MANIFEST = "stretch.json"
PIECE_PREFIX = "state.part"
MIB = 1 << 20
#: Optimizer state kept in a stretch's state: all of it, its tensors in bf16, or none of it.
OPTIMIZER_STATE_MODES = ("full", "bf16", "none")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle(files: Mapping[str, Path]) -> bytes:
    """An uncompressed tar of ``{name in the bundle: file}`` (fixed metadata: same files, same bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = Path(files[name]).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unbundle(data: bytes, dest: Path) -> list[Path]:
    """Extract a :func:`bundle` into ``dest`` (plain files only, no paths outside it)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            name = member.name
            if not member.isfile() or "/" in name or "\\" in name or name in ("", ".", ".."):
                raise InputError(f"stretch state holds an unexpected entry {name!r}")
            f = tar.extractfile(member)
            assert f is not None
            out.append(atomic_write_bytes(dest / name, f.read()))
    return out


def write_pieces(
    data: bytes, out_dir: Path, manifest: dict[str, Any], *, piece_bytes: int = 16 * MIB
) -> dict[str, Any]:
    """Cut ``data`` into ``state.partNN`` files of at most ``piece_bytes`` in ``out_dir`` and write
    ``stretch.json`` (``manifest`` plus the pieces' names, sizes and hashes). Returns the manifest."""
    if piece_bytes < 1:
        raise ValueError("piece_bytes must be positive")
    out_dir.mkdir(parents=True, exist_ok=True)
    pieces = []
    count = max(1, -(-len(data) // piece_bytes))
    if count > 100:
        raise ValueError(f"{len(data)} bytes in pieces of {piece_bytes} makes {count} pieces (at most 100)")
    for i in range(count):
        chunk = data[i * piece_bytes : (i + 1) * piece_bytes]
        name = f"{PIECE_PREFIX}{i:02d}"
        atomic_write_bytes(out_dir / name, chunk)
        pieces.append({"name": name, "bytes": len(chunk), "sha256": _sha256(chunk)})
    full = {
        **manifest,
        "format": FORMAT,
        "bundle": {"bytes": len(data), "sha256": _sha256(data)},
        "pieces": pieces,
    }
    atomic_write_json(out_dir / MANIFEST, full)
    return full


def read_manifest(state_dir: Path) -> dict[str, Any] | None:
    """The manifest of the state in ``state_dir``; ``None`` when there is none (a first stretch)."""
    path = state_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{path} is not a {FORMAT} manifest")
    return manifest


def read_pieces(state_dir: Path) -> tuple[dict[str, Any], bytes]:
    """Check every piece named in ``state_dir/stretch.json`` (size, hash) and join them."""
    manifest = read_manifest(state_dir)
    if manifest is None:
        raise InputError(f"no {MANIFEST} in {state_dir}")
    parts = []
    for piece in manifest["pieces"]:
        path = state_dir / piece["name"]
        if not path.is_file():
            raise InputError(f"stretch state piece {path} is missing")
        if path.stat().st_size != piece["bytes"] or file_sha256(path) != piece["sha256"]:
            raise InputError(f"stretch state piece {path} is damaged (size or SHA-256 differs from {MANIFEST})")
        parts.append(path.read_bytes())
    data = b"".join(parts)
    if len(data) != manifest["bundle"]["bytes"] or _sha256(data) != manifest["bundle"]["sha256"]:
        raise InputError(f"the pieces in {state_dir} do not make the bundle {MANIFEST} describes")
    return manifest, data


def compact_optimizer_state(state: dict[str, Any], mode: str) -> dict[str, Any]:
    """A training state (``Trainer._training_state``) whose optimizer state is kept ``full``,
    with its tensors in ``bf16`` (half the bytes; ``load_state_dict`` casts them back to the
    parameters' dtype), or ``none`` (momentum restarts from zero on resume; with SGD momentum
    0.9 it remembers ~10 iterations, against thousands per stretch)."""
    if mode not in OPTIMIZER_STATE_MODES:
        raise ValueError(f"optimizer state must be one of {', '.join(OPTIMIZER_STATE_MODES)}, got {mode!r}")
    if mode == "full":
        return state
    opt = dict(state["optimizer"])
    if mode == "none":
        opt["state"] = {}
    else:
        opt["state"] = {
            k: {
                name: v.to(torch.bfloat16) if torch.is_tensor(v) and v.is_floating_point() and v.dim() > 0 else v
                for name, v in per_param.items()
            }
            for k, per_param in opt["state"].items()
        }
    return {**state, "optimizer": opt, "optimizer_state": mode}


def optimizer_state_bytes(state: dict[str, Any]) -> int:
    """Bytes of the tensors in a training state's optimizer state."""
    return sum(
        v.numel() * v.element_size()
        for per_param in state["optimizer"]["state"].values()
        for v in per_param.values()
        if torch.is_tensor(v)
    )


__all__ = [
    "FORMAT",
    "MANIFEST",
    "MIB",
    "OPTIMIZER_STATE_MODES",
    "bundle",
    "compact_optimizer_state",
    "optimizer_state_bytes",
    "read_manifest",
    "read_pieces",
    "unbundle",
    "write_pieces",
]
