"""Grouping variable-length sequences into batches.

Encoders batch mixed lengths (padding never changes an embedding), but padding costs time, so
every place that embeds many sequences sorts them by length first and cuts batches by a budget.
"""

from __future__ import annotations

from collections.abc import Sequence


def length_batches(
    lengths: Sequence[int], *, max_items: int | None = None, max_frames: int | None = None, equal_lengths: bool = False
) -> list[list[int]]:
    """Positions of ``lengths`` grouped into batches of similar length.

    Sequences are taken shortest first. A batch closes when it holds ``max_items`` sequences, or
    when adding the next would exceed ``max_frames`` frames in all (a single longer sequence
    still forms a batch of its own), or, with ``equal_lengths``, when the length changes (then
    no batch needs padding at all).
    """
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    order = sorted(range(len(lengths)), key=lambda i: (int(lengths[i]), i))
    batches: list[list[int]] = []
    cur: list[int] = []
    cur_frames = 0
    for i in order:
        n = int(lengths[i])
        full = (
            (
                (max_items is not None and len(cur) >= max_items)
                or (max_frames is not None and cur_frames + n > max_frames)
                or (equal_lengths and int(lengths[cur[-1]]) != n)
            )
            if cur
            else False
        )
        if full:
            batches.append(cur)
            cur, cur_frames = [], 0
        cur.append(i)
        cur_frames += n
    if cur:
        batches.append(cur)
    return batches


__all__ = ["length_batches"]
