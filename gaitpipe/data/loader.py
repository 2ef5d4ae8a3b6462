"""Training batches: P x K index batches -> frames, in loader workers or on the training device.

One batch is drawn the same way whatever loads it: :class:`TrainSamples` takes a
:class:`~gaitpipe.data.sampler.PKBatch` (dataset indices + the batch's number) and draws each
sequence's frames from that batch's own generator (``(seed, frames, number)``), so

- a ``torch.utils.data.DataLoader`` (:func:`train_loader`) may load batches in any number of
  background workers, in any order, ahead of training, and a resumed run still sees exactly the
  batches an uninterrupted one would;
- :class:`DevicePack` holds a bit-packed pack on the training device (a GPU) and unpacks the
  same frames there, with no loader process at all.

Frames travel as uint8 (0..255, the model's 64 x 44 crop already cut): a quarter of the bytes of
float32 between processes and to the GPU; :func:`to_model_input` turns them into the model's
float input on the device, where that is cheapest.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from gaitpipe.data.augment import SilhouetteAugmenter
from gaitpipe.data.dataset import GaitDataset, sample_frames
from gaitpipe.data.sampler import STREAM_AUGMENT, STREAM_FRAMES, PKBatch, PKSampler, batch_rng
from gaitpipe.errors import InputError

if TYPE_CHECKING:
    from gaitpipe.data.packed import PackedSource

#: Columns cut from each side of a 64-wide frame for the model's 64 x 44 input (OpenGait's).
SIDE_CUT = 10


class TrainBatch(NamedTuple):
    """One training batch, as loaded (a NamedTuple, so DataLoader pins and moves its tensors)."""

    frames: torch.Tensor  #: uint8 ``[n, T, 64, 44]`` (``[n, T, 3, 64, 44]`` for RGB), 0..255
    labels: torch.Tensor  #: int64 ``[n]``
    indices: torch.Tensor  #: int64 ``[n]``: positions in the training dataset
    number: int  #: the batch's number in the run

    def to(self, device: torch.device, non_blocking: bool = False) -> TrainBatch:
        return TrainBatch(
            self.frames.to(device, non_blocking=non_blocking),
            self.labels.to(device, non_blocking=non_blocking),
            self.indices,
            self.number,
        )


def to_model_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (0..255) -> the model's float32 input in [0, 1] (bit-identical to
    :func:`gaitpipe.data.dataset.to_input`)."""
    return frames.float().div_(255.0)


def cut_columns(frames: np.ndarray) -> np.ndarray:
    """uint8 ``[t, 64, 64]`` -> ``[t, 64, 44]``; ``[t, 64, 64, 3]`` -> ``[t, 3, 64, 44]`` (no float)."""
    if frames.ndim == 4:
        frames = np.moveaxis(frames, -1, 1)
    return frames[..., SIDE_CUT : frames.shape[-1] - SIDE_CUT]


class TrainSamples(Dataset):
    """Map-style view of a training set for ``DataLoader(batch_sampler=PKSampler)``: a whole
    :class:`PKBatch` is loaded by one ``__getitems__`` call (frames drawn from the batch's own
    generator), and :func:`identity_collate` passes the result through."""

    def __init__(
        self, dataset: GaitDataset, num_frames: int, mode: str, seed: int, augment: SilhouetteAugmenter | None = None
    ) -> None:
        if mode not in ("ordered", "unordered"):
            raise ValueError(f"unknown sampling mode {mode!r}")
        if augment and dataset.kind != "silhouette":
            raise InputError("augmentations apply to silhouettes only, not to colour crops")
        self.dataset, self.num_frames, self.mode, self.seed = dataset, num_frames, mode, int(seed)
        self.augment = augment if augment else None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> TrainBatch:
        raise TypeError("TrainSamples loads whole PKBatch batches (use it with batch_sampler=PKSampler)")

    def plan(self, batch: list[int]) -> list[np.ndarray]:
        """The frame indices drawn for each sequence of ``batch`` (a :class:`PKBatch`)."""
        if not isinstance(batch, PKBatch):
            raise TypeError(f"expected a PKBatch (indices + batch number), got {type(batch).__name__}")
        rng = batch_rng(self.seed, STREAM_FRAMES, batch.number)
        return [sample_frames(self.dataset.length(i), self.num_frames, self.mode, rng) for i in batch]

    def __getitems__(self, batch: list[int]) -> TrainBatch:
        d = self.dataset
        loaded = [d.source.load(d.indices[i], idx, kind=d.kind) for i, idx in zip(batch, self.plan(batch))]
        if self.augment is not None:
            # Drawn from the batch's own stream: the same augmentations whoever loads the batch.
            rng = batch_rng(self.seed, STREAM_AUGMENT, int(getattr(batch, "number", -1)))
            loaded = [self.augment(f, rng) for f in loaded]
        frames = [cut_columns(f) for f in loaded]
        index = np.asarray(batch, dtype=np.int64)
        return TrainBatch(
            torch.from_numpy(np.stack(frames)),
            torch.from_numpy(d.labels[index]),
            torch.from_numpy(index),
            int(getattr(batch, "number", -1)),
        )


def identity_collate(batch: Any) -> Any:
    """``collate_fn`` for :class:`TrainSamples`: ``__getitems__`` already returns the batch."""
    return batch


def default_workers() -> int:
    """Background loader processes for this machine: one per four CPU cores, 1 to 4 (1 on 2 cores:
    loading a batch costs milliseconds against a training step of seconds on a CPU)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, min(4, cores // 4))


def train_loader(
    samples: TrainSamples, sampler: PKSampler, *, workers: int, pin_memory: bool = False, prefetch: int = 2
) -> DataLoader:
    """A DataLoader drawing ``sampler``'s batches; ``workers`` background processes (0: in this one).

    Workers are forked where the platform allows it (the in-memory pack is shared, not copied);
    the loader gets its own torch generator, so starting it never draws from the global RNG
    (which a resumed run restores).
    """
    if workers < 0:
        raise ValueError("workers must be >= 0")
    context = None
    if workers and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
    return DataLoader(
        samples,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=identity_collate,
        pin_memory=pin_memory,
        prefetch_factor=prefetch if workers else None,
        multiprocessing_context=context,
        generator=torch.Generator().manual_seed(samples.seed),
    )


class DevicePack:
    """A pack's bits held on ``device``; batches are gathered and unpacked there (no workers).

    Holds only the training dataset's sequences (packed: 512 bytes per frame, ~0.3 GB for the
    CASIA-B training split). Draws the same frames as :class:`TrainSamples` does.
    """

    def __init__(self, samples: TrainSamples, device: torch.device | str) -> None:
        from gaitpipe.data.packed import PackedSource

        d = samples.dataset
        if not isinstance(d.source, PackedSource):
            raise InputError("holding the data on the device needs a .npz/.npz.xz pack, not a folder of .pkl files")
        if d.kind != "silhouette":
            raise InputError("a pack holds silhouettes only")
        if samples.augment is not None:
            raise InputError("augmentations run in loader processes; they cannot be used with the pack on the device")
        source: PackedSource = d.source
        self.samples, self.device = samples, torch.device(device)
        # Only the training sequences, compacted: row r of self.bits is frame r of a training sequence.
        ids = np.asarray(d.indices, dtype=np.int64)
        starts, ends = source.frame_offsets[ids], source.frame_offsets[ids + 1]
        lengths = ends - starts
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)])
        self.offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.bits = torch.from_numpy(source.bits[rows]).to(self.device)  # [F, 64, 8] uint8
        self.shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=self.device)
        self.labels = torch.from_numpy(d.labels).to(self.device)

    @property
    def nbytes(self) -> int:
        return self.bits.numel()

    def load(self, batch: PKBatch) -> TrainBatch:
        plan = self.samples.plan(batch)
        index = np.asarray(batch, dtype=np.int64)
        rows = np.concatenate([self.offsets[i] + idx for i, idx in zip(index, plan)])
        rows_t = torch.from_numpy(rows).to(self.device, non_blocking=True)
        packed = self.bits.index_select(0, rows_t)  # [n*T, 64, 8]
        bits = (packed.unsqueeze(-1) >> self.shifts) & 1  # [n*T, 64, 8, 8]: MSB first, as np.unpackbits
        frames = bits.reshape(len(index), self.samples.num_frames, 64, 64)[..., SIDE_CUT : 64 - SIDE_CUT] * 255
        index_t = torch.from_numpy(index)
        return TrainBatch(frames, self.labels[index_t.to(self.device)], index_t, batch.number)

    def batches(self, sampler: PKSampler) -> Iterator[TrainBatch]:
        for batch in sampler:
            yield self.load(batch)  # type: ignore[arg-type]


__all__ = [
    "DevicePack",
    "TrainBatch",
    "TrainSamples",
    "cut_columns",
    "default_workers",
    "identity_collate",
    "to_model_input",
    "train_loader",
]
