"""Bit-packed silhouette packs (the CASIA-B pack format), read straight into memory.

Format (an ``.npz``, optionally xz-compressed as ``.npz.xz``):

- ``bits``: uint8 ``[F, 64, 8]``: every frame of every sequence, binarised at 128 and packed
  along the width with ``np.packbits`` (64 pixels -> 8 bytes); 512 bytes per frame.
- ``offsets``: int64 ``[N + 1]``: sequence ``i`` is ``bits[offsets[i]:offsets[i+1]]``.
- ``subject``, ``cond``, ``view``: unicode ``[N]``.

The whole CASIA-B training split (74 subjects, ~8,100 sequences, 670 k frames) is 26 MB on disk
and 343 MB packed in memory; :class:`PackedSource` loads it once and unpacks only the frames a
batch asks for, so nothing is ever written to disk. ``np.load`` runs with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import lzma
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from gaitpipe.data.sequence import SequenceInfo
from gaitpipe.errors import InputError
from gaitpipe.utils.files import atomic_write_bytes

_KEYS = ("bits", "offsets", "subject", "cond", "view")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        if path.name.endswith(".xz"):
            with lzma.open(path, "rb") as f:
                raw = io.BytesIO(f.read())
        else:
            raw = io.BytesIO(path.read_bytes())
        with np.load(raw, allow_pickle=False) as z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise InputError(f"{path} is not a silhouette pack (missing {', '.join(missing)})")
            return {k: z[k] for k in _KEYS}
    except InputError:
        raise
    except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        raise InputError(f"cannot read pack {path}: {exc}".splitlines()[0]) from None


class PackedSource:
    """All sequences of a pack held in memory, bit-packed; ``subjects`` keeps only those."""

    has_rgb = False  #: packs hold binary silhouettes only

    def __init__(self, path: str | Path, *, subjects: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        z = _read_npz(self.path)
        bits, offsets = z["bits"], z["offsets"].astype(np.int64)
        n = len(z["subject"])
        if (
            bits.dtype != np.uint8
            or bits.ndim != 3
            or bits.shape[1:] != (64, 8)
            or offsets.shape != (n + 1,)
            or len(z["cond"]) != n
            or len(z["view"]) != n
            or offsets[0] != 0
            or offsets[-1] != bits.shape[0]
            or np.any(np.diff(offsets) < 1)
        ):
            raise InputError(f"{self.path} is not a valid silhouette pack (inconsistent bits/offsets/labels)")
        keep = np.arange(n)
        if subjects is not None:
            wanted = set(subjects)
            keep = np.array([i for i in range(n) if str(z["subject"][i]) in wanted], dtype=np.int64)
        lengths = np.diff(offsets)[keep]
        if len(keep) < n:
            # Compact to the kept sequences so the rest of the pack can be freed.
            bits = np.concatenate([bits[offsets[i] : offsets[i + 1]] for i in keep]) if len(keep) else bits[:0]
        self._bits = bits
        self._offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.sequences = [SequenceInfo(str(z["subject"][i]), str(z["cond"][i]), str(z["view"][i])) for i in keep]
        self.description = str(self.path)

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def bits(self) -> np.ndarray:
        """Every frame, bit-packed: uint8 ``[F, 64, 8]`` (read-only use)."""
        return self._bits

    @property
    def frame_offsets(self) -> np.ndarray:
        """int64 ``[N + 1]``: sequence ``i`` is ``bits[frame_offsets[i]:frame_offsets[i + 1]]``."""
        return self._offsets

    def length(self, index: int) -> int:
        return int(self._offsets[index + 1] - self._offsets[index])

    def load(self, index: int, frame_indices: np.ndarray | None = None, kind: str = "silhouette") -> np.ndarray:
        """uint8 ``[t, 64, 64]`` with values 0/255; only the requested frames are unpacked."""
        if kind != "silhouette":
            raise InputError(f"{self.path} holds binary silhouettes only, not {kind} frames")
        a, b = self._offsets[index], self._offsets[index + 1]
        packed = self._bits[a:b] if frame_indices is None else self._bits[a + np.asarray(frame_indices, dtype=np.int64)]
        return np.unpackbits(packed, axis=-1) * np.uint8(255)


def merge_packs(first: PackedSource, second: PackedSource) -> PackedSource:
    """One source holding ``first``'s sequences then ``second``'s (e.g. CASIA-B plus synthetic
    training identities). The two must not share a subject id: their people are different."""
    shared = {s.subject for s in first.sequences} & {s.subject for s in second.sequences}
    if shared:
        some = ", ".join(sorted(shared)[:3])
        raise InputError(f"{first.path} and {second.path} share subject ids ({some}...): they must be different people")
    merged = object.__new__(PackedSource)
    merged.path = first.path
    merged._bits = np.concatenate([first.bits, second.bits])
    merged._offsets = np.concatenate([first.frame_offsets, first.frame_offsets[-1] + second.frame_offsets[1:]])
    merged.sequences = first.sequences + second.sequences
    merged.description = f"{first.description} + {second.description}"
    return merged


def write_pack(path: str | Path, sequences: Iterable[tuple[str, str, str, np.ndarray]]) -> Path:
    """Write ``(subject, condition, view, uint8 [T, 64, 64])`` sequences as a pack (``.xz`` -> compressed)."""
    path = Path(path)
    bits, subj, cond, view, offsets = [], [], [], [], [0]
    for s, c, v, frames in sequences:
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != (64, 64) or frames.shape[0] < 1:
            raise InputError(f"{s}/{c}/{v}: expected T x 64 x 64 frames, got {frames.shape}")
        bits.append(np.packbits(frames >= 128, axis=-1))
        subj.append(s)
        cond.append(c)
        view.append(v)
        offsets.append(offsets[-1] + frames.shape[0])
    if not subj:
        raise InputError("no sequences to pack")
    buf = io.BytesIO()
    np.savez(
        buf,
        bits=np.concatenate(bits),
        offsets=np.array(offsets, np.int64),
        subject=np.array(subj),
        cond=np.array(cond),
        view=np.array(view),
    )
    data = buf.getvalue()
    return atomic_write_bytes(path, lzma.compress(data, preset=6) if path.name.endswith(".xz") else data)


def read_pack_sequences(
    path: str | Path,
    *,
    subjects: Iterable[str] | None = None,
    conditions: Iterable[str] | None = None,
    views: Iterable[str] | None = None,
) -> dict[tuple[str, str, str], np.ndarray]:
    """The pack's sequences as ``{(subject, condition, view): uint8 [T, 64, 64] (0/255)}``,
    restricted to the given subjects, conditions and views (``None``: all)."""
    source = PackedSource(path, subjects=subjects)
    conds = None if conditions is None else set(conditions)
    vws = None if views is None else set(views)
    return {
        (s.subject, s.condition, s.view): source.load(i)
        for i, s in enumerate(source.sequences)
        if (conds is None or s.condition in conds) and (vws is None or s.view in vws)
    }
