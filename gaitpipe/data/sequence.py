"""What every sequence source provides: :class:`SequenceInfo` per sequence, and the
:class:`SequenceSource` protocol (list the sequences, load one on demand).

``load(index, frame_indices=None, kind="silhouette")`` returns uint8 ``[t, 64, 64]``, or
``[t, 64, 64, 3]`` for ``kind="rgb"``. The folder tree (:mod:`.sources`) and the bit-packed
packs (:mod:`.packed`) both implement it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SequenceInfo:
    """One walking sequence: who, in which condition, seen from which view."""

    subject: str
    condition: str
    view: str

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.condition}/{self.view}"


class SequenceSource(Protocol):
    sequences: list[SequenceInfo]
    description: str
    #: whether the source may hold an RGB modality (packs hold binary silhouettes only)
    has_rgb: bool

    def load(self, index: int, frame_indices: np.ndarray | None = None, kind: str = "silhouette") -> np.ndarray: ...

    def length(self, index: int) -> int: ...


__all__ = ["SequenceInfo", "SequenceSource"]
