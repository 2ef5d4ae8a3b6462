"""Tracking and silhouette quality per walker, against exact per-person masks (synthetic scenes).

Two questions, per ground-truth walker:

* **Identity**: frame by frame, which track covers the walker's visible mask best (IoU >= 0.5)?
  An *identity switch* is a change of that track id between consecutive matched frames.
* **Silhouettes**: every kept frame of every output sequence is attributed to the walker its
  track covered most; its normalised silhouette is compared with the walker's *full-body*
  silhouette (the walker as if nothing stood in front), so a kept frame polluted by an occluder
  or by a second walker merged into the blob lowers the score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from gaitpipe.metrics.silhouette_iou import silhouette_iou
from gaitpipe.silhouette.normalize import normalize_mask
from gaitpipe.types import PersonDetections, SilhouetteSequence

#: A track "covers" a walker in a frame at this mask IoU or more (CLEAR-MOT's 0.5: a merged blob
#: holding two walkers covers neither).
MATCH_IOU = 0.5
#: Walkers with fewer visible pixels in a frame are not expected to be tracked there.
MIN_VISIBLE_PIXELS = 300


@dataclass(frozen=True)
class WalkerScore:
    """One walker's figures in one scene."""

    walker: int
    frames_visible: int  #: frames with >= MIN_VISIBLE_PIXELS visible pixels
    frames_matched: int  #: of those, frames some track covered
    track_ids: tuple[int, ...]  #: distinct track ids that covered the walker
    switches: int  #: identity switches
    frames_kept: int  #: silhouettes attributed to this walker
    frames_kept_occluded: int  #: of those, frames where under 90 % of the body was visible
    silhouette_iou: float  #: mean IoU of the kept silhouettes with the full-body silhouette (nan: none)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def score_walkers(
    visible: np.ndarray,
    full: np.ndarray,
    detections: Sequence[PersonDetections],
    sequences: Sequence[SilhouetteSequence],
    aliases: Mapping[int, int] | None = None,
) -> list[WalkerScore]:
    """Per-walker identity and silhouette figures.

    ``visible`` / ``full``: [T, n_people, H, W] bool visible and full-body masks (frame t is the
    t-th element of ``detections``, whose ``frame_index`` values index the sequences).
    ``aliases``: track id -> the id it was re-joined to (``TrackAssembler.aliases``), so a walker
    whose broken track was re-joined counts one identity, as in the sequences.
    """
    aliases = aliases or {}
    t_count, n_people = visible.shape[:2]
    matched: list[list[int | None]] = [[None] * t_count for _ in range(n_people)]
    owner_votes: dict[int, Counter] = {}
    frame_pos = {}
    for t, dets in enumerate(detections):
        frame_pos[int(dets.frame_index)] = t
        binary = dets.masks > 0.5
        for k in range(n_people):
            if np.count_nonzero(visible[t, k]) < MIN_VISIBLE_PIXELS:
                continue
            ious = [_iou(binary[i], visible[t, k]) for i in range(len(dets))]
            if ious and max(ious) >= MATCH_IOU:
                tid = int(dets.track_ids[int(np.argmax(ious))])
                tid = aliases.get(tid, tid)
                if tid >= 0:
                    matched[k][t] = tid
                    owner_votes.setdefault(tid, Counter())[k] += 1
    owner = {tid: votes.most_common(1)[0][0] for tid, votes in owner_votes.items()}

    kept: list[list[float]] = [[] for _ in range(n_people)]
    kept_occluded = [0] * n_people
    vis_px = visible.reshape(t_count, n_people, -1).sum(-1)
    full_px = np.maximum(full.reshape(t_count, n_people, -1).sum(-1), 1)
    for seq in sequences:
        walker = owner.get(int(seq.track_id))
        if walker is None:
            continue
        for frame_index, sil in zip(seq.frame_indices.tolist(), seq.frames):
            t = frame_pos[int(frame_index)]
            ref, _ = normalize_mask(full[t, walker].astype(np.uint8) * 255)
            kept[walker].append(silhouette_iou(sil, ref) if ref is not None else 0.0)
            if vis_px[t, walker] < 0.9 * full_px[t, walker]:
                kept_occluded[walker] += 1

    scores = []
    for k in range(n_people):
        ids = [m for m in matched[k] if m is not None]
        switches = sum(1 for a, b in pairwise(ids) if a != b)
        scores.append(
            WalkerScore(
                walker=k,
                frames_visible=int(np.count_nonzero(vis_px[:, k] >= MIN_VISIBLE_PIXELS)),
                frames_matched=len(ids),
                track_ids=tuple(sorted(set(ids))),
                switches=switches,
                frames_kept=len(kept[k]),
                frames_kept_occluded=kept_occluded[k],
                silhouette_iou=float(np.mean(kept[k])) if kept[k] else float("nan"),
            )
        )
    return scores


__all__ = ["MATCH_IOU", "MIN_VISIBLE_PIXELS", "WalkerScore", "score_walkers"]
