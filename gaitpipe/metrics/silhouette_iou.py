"""Compare extracted silhouettes with reference ones (e.g. the official CASIA-B silhouettes).

Reference sequences such as CASIA-B's drop the frames where the walker is only partly visible,
so frame ``i`` of the reference is source frame ``i + offset`` for some unknown ``offset``.
:func:`align_by_offset` finds the offset with the best mean IoU; source frames for which we
produced no silhouette count as IoU 0 (a miss is a failure, not something to skip).

Only the comparison lives here; producing the silhouettes (running a segmenter over a video)
is the pipeline's job, and reference packs are read with :mod:`gaitpipe.data.packed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Pixel value above which a 0..255 silhouette pixel counts as foreground (the pack's binarisation).
FOREGROUND_THRESHOLD = 128


def silhouette_iou(a: np.ndarray, b: np.ndarray, threshold: int = FOREGROUND_THRESHOLD) -> float:
    """Intersection over union of two same-shape silhouettes (uint8 0..255, or bool).

    Two empty silhouettes agree perfectly (1.0).
    """
    if a.shape != b.shape:
        raise ValueError(f"silhouette shapes differ: {a.shape} vs {b.shape}")
    fa = a if a.dtype == bool else a >= threshold
    fb = b if b.dtype == bool else b >= threshold
    union = int(np.count_nonzero(fa | fb))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(fa & fb)) / union


@dataclass(frozen=True)
class Alignment:
    """The best frame offset between an extracted sequence and a reference sequence."""

    offset: int  #: reference frame i is source frame i + offset
    ious: np.ndarray  #: [T_ref] IoU per reference frame (0 where we had no silhouette)
    frames_compared: int  #: number of reference frames compared (= T_ref)
    missing: int  #: reference frames for which we had no silhouette at the aligned source frame

    @property
    def mean_iou(self) -> float:
        return float(self.ious.mean()) if self.ious.size else 0.0

    @property
    def min_iou(self) -> float:
        return float(self.ious.min()) if self.ious.size else 0.0


def align_by_offset(
    extracted: Mapping[int, np.ndarray] | Sequence[np.ndarray | None],
    reference: np.ndarray,
    *,
    offsets: Sequence[int] | None = None,
) -> Alignment:
    """Find the source-frame offset that best aligns ``reference`` with ``extracted``.

    ``extracted``: our silhouettes keyed by source frame index (a mapping, or a list indexed by
    source frame with ``None`` where we produced nothing). ``reference``: [T, H, W] silhouettes,
    consecutive source frames. ``offsets``: candidates to try; by default every offset from 0 to our
    last source frame (frames of the reference past our last silhouette count as misses).
    """
    if isinstance(extracted, Mapping):
        ours = dict(extracted)
    else:
        ours = {i: s for i, s in enumerate(extracted) if s is not None}
    t_ref = int(reference.shape[0])
    if t_ref == 0:
        raise ValueError("the reference sequence is empty")
    if offsets is None:
        # Any start that overlaps what we saw (the reference may run past our last silhouette:
        # those frames count as missed); a reference never starts before source frame 0.
        offsets = range(0, (max(ours) if ours else 0) + 1)
    best: Alignment | None = None
    for off in offsets:
        ious = np.zeros(t_ref, np.float64)
        missing = 0
        for i in range(t_ref):
            sil = ours.get(i + off)
            if sil is None:
                missing += 1
                continue
            ious[i] = silhouette_iou(sil, reference[i])
        cand = Alignment(int(off), ious, t_ref, missing)
        if best is None or cand.mean_iou > best.mean_iou:
            best = cand
    assert best is not None
    return best
