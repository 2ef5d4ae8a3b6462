"""P x K batches: P distinct subjects, K sequences each (what batch-all triplet losses need).

:class:`PKSampler` is a ``torch.utils.data`` *batch sampler* (like torchreid's
``RandomIdentitySampler``, OpenGait's ``TripletSampler``): give it to a ``DataLoader`` as
``batch_sampler`` and each item it yields is one batch of dataset indices. Batch ``i`` depends
on ``(seed, i)`` alone, so its position is the whole of its state: a ``DataLoader`` whose
workers prefetch batches ahead of training cannot make a resumed run draw different batches,
and the trainer records the position of the last batch it *used*, not of the last one drawn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from gaitpipe.errors import InputError

#: Second word of the seed of every per-batch generator: which stream it draws (sequences, frames).
STREAM_BATCH, STREAM_FRAMES, STREAM_AUGMENT = 0, 1, 2


def batch_rng(seed: int, stream: int, number: int) -> np.random.Generator:
    """The generator of batch ``number``'s draws of ``stream`` (independent of every other batch)."""
    return np.random.default_rng([seed, stream, number])


class PKBatch(list[int]):
    """One batch of dataset indices (a ``list[int]``) that knows its position in the run, so that
    whoever loads it (a loader worker, or the training process) draws its frames from that
    batch's own generator."""

    def __init__(self, indices: Sequence[int], number: int) -> None:
        super().__init__(int(i) for i in indices)
        self.number = number

    def __reduce__(self):  # pickled to DataLoader workers with its number
        return (PKBatch, (list(self), self.number))


class PKSampler(Sampler[list[int]]):
    """Batches of ``p`` subjects x ``k`` sequences from ``position`` on (endless unless ``stop``).

    Subjects are drawn without replacement within a batch; a subject with fewer than ``k``
    sequences contributes repeats. With ``groups`` (0 or 1 per label) and ``share``,
    ``round(p * share)`` of each batch's subjects come from group 1 and the rest from group 0.
    ``next_batch()`` and iterating both advance ``position``;
    ``state_dict(position)`` records where a run stands for exact resumption.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        p: int,
        k: int,
        seed: int = 0,
        *,
        position: int = 0,
        stop: int | None = None,
        groups: Sequence[int] | np.ndarray | None = None,
        share: float | None = None,
    ) -> None:
        labels = np.asarray(labels)
        if p < 1 or k < 1:
            raise InputError(f"batch must be P x K with P, K >= 1, got {p} x {k}")
        self.p, self.k, self.seed = p, k, int(seed)
        self.by_label = {int(lab): np.flatnonzero(labels == lab) for lab in np.unique(labels)}
        self.label_ids = np.array(sorted(self.by_label))
        if len(self.label_ids) < p:
            raise InputError(f"batch asks for {p} subjects but the training data has only {len(self.label_ids)}")
        # Two groups of people (e.g. real and synthetic) with a fixed share of each batch's P from group 1.
        self.split: tuple[np.ndarray, np.ndarray, int] | None = None
        if share is not None:
            if groups is None:
                raise InputError("a group share needs the group of every label")
            group_of = np.asarray(groups)
            second = round(p * share)
            pools = (
                np.array([lab for lab in self.label_ids if group_of[lab] == 0]),
                np.array([lab for lab in self.label_ids if group_of[lab] == 1]),
            )
            if not 0 < second < p or len(pools[0]) < p - second or len(pools[1]) < second:
                raise InputError(
                    f"a share of {share} of {p} subjects per batch needs {p - second} + {second} subjects "
                    f"in the two groups (they have {len(pools[0])} + {len(pools[1])}) and at least one of each"
                )
            self.split = (pools[0], pools[1], second)
        self.position = int(position)  #: number of the next batch
        self.stop = stop  #: number of the first batch not to draw (``None``: endless)

    def batch(self, number: int) -> PKBatch:
        """Batch ``number`` of this sampler's run (the same every time it is asked for)."""
        rng = batch_rng(self.seed, STREAM_BATCH, number)
        batch: list[int] = []
        if self.split is None:
            chosen = rng.choice(self.label_ids, size=self.p, replace=False)
        else:
            first, second, n_second = self.split
            chosen = np.concatenate(
                [
                    rng.choice(first, size=self.p - n_second, replace=False),
                    rng.choice(second, size=n_second, replace=False),
                ]
            )
        for lab in chosen:
            pool = self.by_label[int(lab)]
            batch.extend(int(i) for i in rng.choice(pool, size=self.k, replace=len(pool) < self.k))
        return PKBatch(batch, number)

    def __iter__(self) -> Iterator[list[int]]:
        while self.stop is None or self.position < self.stop:
            yield self.next_batch()

    def __len__(self) -> int:
        if self.stop is None:
            raise TypeError("an endless PKSampler has no length (set stop)")
        return max(0, self.stop - self.position)

    def next_batch(self) -> PKBatch:
        out = self.batch(self.position)
        self.position += 1
        return out

    def state_dict(self, position: int | None = None) -> dict[str, Any]:
        """Where the run stands: ``position`` is the number of batches used so far (default: drawn
        so far, which is ahead of the used ones when a DataLoader prefetches)."""
        return {"seed": self.seed, "position": self.position if position is None else int(position)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "position" not in state:
            raise InputError(
                "the sampler state was written by an older gaitpipe (one random stream for all batches); "
                "this version draws batch i from (seed, i) and cannot continue that stream exactly"
            )
        self.seed = int(state["seed"])
        self.position = int(state["position"])
