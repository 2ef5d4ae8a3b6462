"""Where sequences come from: an OpenGait folder tree (:class:`LayoutSource`), or a packed file
(:mod:`.packed`); :func:`open_source` picks the right one for a path. Both follow the
:class:`~gaitpipe.data.sequence.SequenceSource` protocol.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gaitpipe.data.packed import PackedSource
from gaitpipe.data.pickles import as_silhouettes, load_pkl_array
from gaitpipe.data.sequence import SequenceInfo, SequenceSource
from gaitpipe.errors import InputError

if TYPE_CHECKING:
    from gaitpipe.models.base import GaitEncoder, InputKind

_log = logging.getLogger(__name__)


class LayoutSource:
    """``root/<subject>/<condition>/<view>/*.pkl`` (OpenGait); several pkls = modalities, sorted by name.

    Loading is lazy. ``cache=True`` keeps every array read in memory (for datasets that fit).
    """

    has_rgb = True  #: may hold an RGB modality (checked per sequence when loaded)

    def __init__(self, root: str | Path, *, cache: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"dataset folder {self.root} does not exist")
        self.sequences: list[SequenceInfo] = []
        self._files: list[list[Path]] = []
        for subject in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for cond in sorted(p for p in subject.iterdir() if p.is_dir()):
                for view in sorted(p for p in cond.iterdir() if p.is_dir()):
                    pkls = sorted(view.glob("*.pkl"))
                    if pkls:
                        self.sequences.append(SequenceInfo(subject.name, cond.name, view.name))
                        self._files.append(pkls)
        if not self.sequences:
            raise InputError(f"no sequences under {self.root} (expected <subject>/<condition>/<view>/*.pkl)")
        self.description = str(self.root)
        self.cache = cache
        self._cache: dict[tuple[int, str], np.ndarray] = {}
        self._lengths: dict[int, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.sequences)

    def _read(self, index: int, kind: str) -> np.ndarray:
        key = (index, kind)
        arr = self._cache.get(key)
        if arr is not None:
            return arr
        want_ndim = 3 if kind == "silhouette" else 4
        arr = None
        for path in self._files[index]:
            a = as_silhouettes(load_pkl_array(path), source=str(path))
            if a.ndim == want_ndim:
                arr = a
                break
        if arr is None:
            names = [p.name for p in self._files[index]]
            raise InputError(f"{self.sequences[index].key}: no {kind} modality among {names}")
        if arr.shape[1:3] != (64, 64):
            raise InputError(
                f"{self._files[index][0]}: frames are {arr.shape[1]}x{arr.shape[2]}, "
                "expected 64x64 (OpenGait pretreatment)"
            )
        with self._lock:
            self._lengths[index] = arr.shape[0]
            if self.cache:
                self._cache[key] = arr
        return arr

    def load(self, index: int, frame_indices: np.ndarray | None = None, kind: str = "silhouette") -> np.ndarray:
        arr = self._read(index, kind)
        return arr if frame_indices is None else arr[frame_indices]

    def length(self, index: int) -> int:
        if index not in self._lengths:
            self._read(index, "silhouette")
        return self._lengths[index]


def input_kind_for(model: GaitEncoder, source: SequenceSource) -> InputKind:
    """The modality to feed ``model``: its ``input_kind``, except that RGB models (GaitNet) get
    silhouettes (replicated to 3 channels by the model) from sources without RGB frames."""
    kind = model.input_kind
    if kind == "rgb" and not source.has_rgb:
        _log.warning("%s holds silhouettes only: %s gets silhouettes instead of RGB", source.description, model.arch)
        return "silhouette"
    return kind


def open_source(path: str | Path, *, subjects: list[str] | None = None, cache: bool = False) -> SequenceSource:
    """A folder in the OpenGait layout, or a ``.npz``/``.npz.xz`` pack (loaded into memory once).

    ``subjects`` restricts a pack to those subjects when loading (saves memory); folders are
    filtered later by the dataset, as listing them is cheap.
    """
    p = Path(path)
    if p.is_dir():
        return LayoutSource(p, cache=cache)
    if p.is_file() and (p.name.endswith(".npz") or p.name.endswith(".npz.xz")):
        return PackedSource(p, subjects=subjects)
    if not p.exists():
        raise InputError(f"data {p} does not exist")
    raise InputError(f"data {p} is neither a dataset folder nor a .npz/.npz.xz pack")
