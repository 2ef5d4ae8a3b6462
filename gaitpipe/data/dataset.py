"""Sequences as model input: subject filtering, labels, frame sampling, 64x64 -> 64x44.

Training draws a fixed number of frames per sequence (OpenGait's recipes: 30), either an
*unordered* random set (set-based models such as GaitBase) or an *ordered* contiguous segment
(3D-convolution models: DyGait, HSTL, and GaitNet's LSTM); each architecture names its order in
its :class:`~gaitpipe.models.base.ArchSpec` (``sampling``). Testing uses every frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from gaitpipe.data.sequence import SequenceInfo, SequenceSource
from gaitpipe.errors import InputError


def sample_frames(length: int, num: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``num`` frames from a sequence of ``length`` (OpenGait's fixed_ordered/unordered).

    Short sequences are repeated (whole copies) until long enough, as OpenGait does.
    ``unordered``: a random subset (without replacement from the repeated list), sorted.
    ``ordered``: a random contiguous window of ``num`` frames.
    """
    if length < 1 or num < 1:
        raise ValueError("length and num must be positive")
    idx = np.arange(length)
    if length < num:
        idx = np.tile(idx, -(-num // length))
    if mode == "unordered":
        return np.sort(rng.choice(idx, size=num, replace=False))
    if mode == "ordered":
        start = int(rng.integers(0, len(idx) - num + 1))
        return idx[start : start + num]
    raise ValueError(f"unknown sampling mode {mode!r}")


def to_input(frames: np.ndarray) -> np.ndarray:
    """uint8 ``[t,64,64]`` -> float32 ``[t,64,44]`` in [0,1]; ``[t,64,64,3]`` -> ``[t,3,64,44]``."""
    from gaitpipe.silhouette.normalize import to_model_input

    if frames.ndim == 4:
        cut = to_model_input(np.moveaxis(frames, -1, 1))  # [t, 3, 64, 44]
        return np.ascontiguousarray(cut)
    return to_model_input(frames)


@dataclass
class Sample:
    frames: np.ndarray  #: float32 [t, 64, 44] (or [t, 3, 64, 44])
    label: int  #: index of the subject in the dataset's ``subjects`` list
    index: int  #: position in the dataset


class GaitDataset:
    """A view of a source restricted to some subjects/conditions/views, with integer labels."""

    def __init__(
        self,
        source: SequenceSource,
        *,
        subjects: Iterable[str] | None = None,
        conditions: Iterable[str] | None = None,
        views: Iterable[str] | None = None,
        kind: str = "silhouette",
    ) -> None:
        self.source = source
        self.kind = kind
        subj = set(subjects) if subjects is not None else None
        conds = set(conditions) if conditions is not None else None
        vws = set(views) if views is not None else None
        self.indices = [
            i
            for i, s in enumerate(source.sequences)
            if (subj is None or s.subject in subj)
            and (conds is None or s.condition in conds)
            and (vws is None or s.view in vws)
        ]
        if not self.indices:
            what = ", ".join(
                f"{k}={v}"
                for k, v in (("subjects", subjects), ("conditions", conditions), ("views", views))
                if v is not None
            )
            raise InputError(f"no sequences in {source.description} match {what or 'the selection'}")
        self.subjects = sorted({source.sequences[i].subject for i in self.indices})
        self.label_of = {s: k for k, s in enumerate(self.subjects)}
        self.labels = np.array([self.label_of[source.sequences[i].subject] for i in self.indices], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def info(self, i: int) -> SequenceInfo:
        return self.source.sequences[self.indices[i]]

    def length(self, i: int) -> int:
        return self.source.length(self.indices[i])

    def train_sample(self, i: int, num_frames: int, mode: str, rng: np.random.Generator) -> Sample:
        """``num_frames`` sampled frames of sequence ``i`` (training)."""
        idx = sample_frames(self.length(i), num_frames, mode, rng)
        frames = self.source.load(self.indices[i], idx, kind=self.kind)
        return Sample(to_input(frames), int(self.labels[i]), i)

    def test_frames(self, i: int, max_frames: int | None = None) -> np.ndarray:
        """Every stored frame of sequence ``i`` (or its first ``max_frames``), as stored (uint8)."""
        n = self.length(i)
        idx = None if max_frames is None or n <= max_frames else np.arange(max_frames)
        return self.source.load(self.indices[i], idx, kind=self.kind)

    def test_sample(self, i: int, max_frames: int | None = None) -> Sample:
        """Every frame of sequence ``i`` (or its first ``max_frames``)."""
        return Sample(to_input(self.test_frames(i, max_frames)), int(self.labels[i]), i)

    def collate_train(self, indices: list[int], num_frames: int, mode: str, rng: np.random.Generator):
        """A training batch: ``(frames [n, num_frames, ...] float32, labels [n] int64)`` as numpy."""
        samples = [self.train_sample(i, num_frames, mode, rng) for i in indices]
        return np.stack([s.frames for s in samples]), np.array([s.label for s in samples], dtype=np.int64)
