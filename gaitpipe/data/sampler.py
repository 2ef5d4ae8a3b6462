"""P x K batches: P distinct subjects, K sequences each (what batch-all triplet losses need)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from gaitpipe.errors import InputError


class PKSampler:
    """Endless stream of index batches with ``p`` subjects x ``k`` sequences (OpenGait's TripletSampler).

    Subjects are drawn without replacement within a batch; a subject with fewer than ``k``
    sequences contributes repeats. The generator state is exposed for exact resumption.
    """

    def __init__(self, labels: Sequence[int] | np.ndarray, p: int, k: int, seed: int = 0) -> None:
        labels = np.asarray(labels)
        if p < 1 or k < 1:
            raise InputError(f"batch must be P x K with P, K >= 1, got {p} x {k}")
        self.p, self.k = p, k
        self.by_label = {int(lab): np.flatnonzero(labels == lab) for lab in np.unique(labels)}
        self.label_ids = np.array(sorted(self.by_label))
        if len(self.label_ids) < p:
            raise InputError(f"batch asks for {p} subjects but the training data has only {len(self.label_ids)}")
        self.rng = np.random.default_rng(seed)

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            yield self.next_batch()

    def next_batch(self) -> list[int]:
        batch: list[int] = []
        for lab in self.rng.choice(self.label_ids, size=self.p, replace=False):
            pool = self.by_label[int(lab)]
            batch.extend(int(i) for i in self.rng.choice(pool, size=self.k, replace=len(pool) < self.k))
        return batch

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
