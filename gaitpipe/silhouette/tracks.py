"""Per-track silhouette assembly: tracked soft masks in, OpenGait-normalised sequences out.

:class:`TrackAssembler` receives every frame's :class:`~gaitpipe.types.PersonDetections` and
builds one :class:`~gaitpipe.types.SilhouetteSequence` per track. It keeps only frames a gait
model can use and records why every other frame was dropped:

* ``border_cut``: the mask lies along the image border, so part of the walker is outside
  the picture (a cut silhouette is re-centred and re-scaled into a different shape; the official
  CASIA-B silhouettes drop such frames too);
* ``too_small``: the mask is shorter than ``min_height_frac`` of the frame height;
* ``small_for_track``: the mask is much smaller than the track's typical mask (median height /
  area), i.e. a partial or under-segmented frame (legs only, a blob of shadow);
* ``occluded`` / ``merged``: the mask touches another person's, or is much smaller (part of the
  walker hidden) or larger (two people in one blob) than the track's own size trend
  (:mod:`gaitpipe.silhouette.occlusion`);
* ``empty`` / ``no_centre`` / ``degenerate``: OpenGait's own drop rules
  (:func:`~gaitpipe.silhouette.normalize.normalize_mask`).

Soft masks are binarised at 0.5 to 0 / 255 *before* normalisation: the official silhouettes
(and so every public checkpoint and our training data) are binary, and feeding soft edges would
change both the pixel statistics the models were trained on and the mass-median centre.
The RGB crop (GaitNet's input) is the opposite: it is the colour frame multiplied by the *soft*
mask, then cut with exactly the geometry of the binary silhouette so the two stay aligned.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from gaitpipe.silhouette.normalize import MIN_SEQUENCE_FRAMES, SIZE, normalize_mask
from gaitpipe.silhouette.occlusion import DROP_OCCLUDED, size_outliers, touching
from gaitpipe.silhouette.stitch import stitch_tracks
from gaitpipe.types import Frame, PersonDetections, SilhouetteSequence, VideoInfo

DROP_BORDER = "border_cut"
DROP_TOO_SMALL = "too_small"
DROP_SMALL_FOR_TRACK = "small_for_track"
#: Detections the tracker has not (yet) confirmed (track id -1); counted per video, not per track.
DROP_UNTRACKED = "untracked"

#: Soft-mask threshold: ``mask > 0.5`` is the person (the binary mask of the types contract).
MASK_THRESHOLD = 0.5
#: Drops remembered per track with their frame index (for :meth:`TrackAssembler.recent`).
DROP_LOG_LENGTH = 4096


@dataclass
class _Candidate:
    frame_index: int
    box: np.ndarray
    silhouette: np.ndarray
    rgb: np.ndarray | None
    height: int  # rows spanned by the binary mask, in source pixels
    area: int  # foreground pixels of the binary mask


@dataclass
class _Track:
    candidates: list[_Candidate] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    #: (frame index, reason) of recent drops, so a sliding window on a stream counts only its own
    #: (:meth:`TrackAssembler.recent`); bounded, since only a window's worth is ever asked for
    drop_log: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=DROP_LOG_LENGTH))

    def drop(self, reason: str, frame_index: int) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self.drop_log.append((frame_index, reason))


class TrackAssembler:
    """Collects tracked detections frame by frame and turns each track into silhouettes.

    Args:
        frame_size: ``(width, height)`` of the video frames (or a :class:`VideoInfo`). Frames
            whose image has another size are still handled: the checks use each image's shape.
        min_frames: tracks with fewer usable frames are not returned by :meth:`finish`; they are
            kept in :attr:`rejected` (OpenGait calls sequences under 5 frames suspect).
        keep_rgb: also keep the soft-masked colour crop of each kept frame (RGB order, uint8
            64 x 64 x 3), aligned pixel for pixel with the silhouette.
        border_margin: a mask pixel within this many pixels of the image border counts as
            touching it.
        border_tolerance: the walker counts as cut by the border when the mask touches it along
            more than this fraction of the walker's own height (left/right edges) or width
            (top/bottom). A toe or fingertip grazing the edge leaves the silhouette intact; the
            official CASIA-B silhouettes keep such frames too, so a zero tolerance would drop
            frames the field keeps.
        min_height_frac: drop masks shorter than this fraction of the frame height.
        rel_height: drop masks shorter than this fraction of the track's median mask height.
        rel_area: drop masks with less than this fraction of the track's median mask area
            (area scales with height squared under perspective, hence 0.25 with 0.5).
        occlusion: drop frames whose mask touches another person's (``occluded``) or leaves the
            track's own size trend (``occluded`` when smaller, ``merged`` when larger); see
            :mod:`gaitpipe.silhouette.occlusion`.
        source: recorded in each sequence's ``source``.
    """

    def __init__(
        self,
        frame_size: tuple[int, int] | VideoInfo,
        *,
        min_frames: int = MIN_SEQUENCE_FRAMES,
        keep_rgb: bool = False,
        border_margin: int = 1,
        border_tolerance: float = 0.1,
        min_height_frac: float = 0.1,
        rel_height: float = 0.5,
        rel_area: float = 0.25,
        occlusion: bool = True,
        source: str = "",
    ) -> None:
        if isinstance(frame_size, VideoInfo):
            frame_size = (frame_size.width, frame_size.height)
        self.width, self.height = int(frame_size[0]), int(frame_size[1])
        if min_frames < 1:
            raise ValueError("min_frames must be >= 1")
        self.min_frames = int(min_frames)
        self.keep_rgb = keep_rgb
        self.border_margin = int(border_margin)
        self.border_tolerance = float(border_tolerance)
        self.min_height_frac = float(min_height_frac)
        self.rel_height = float(rel_height)
        self.rel_area = float(rel_area)
        self.occlusion = bool(occlusion)
        self.source = source
        self._tracks: dict[int, _Track] = {}
        #: Video-level drop counts that belong to no track (e.g. ``untracked`` detections).
        self.unassigned: dict[str, int] = {}
        #: Frames seen by :meth:`add`, and how many of them held at least one detection.
        self.frames_seen = 0
        self.frames_with_person = 0
        #: After :meth:`finish`: tracks that had fewer than ``min_frames`` usable frames.
        self.rejected: list[SilhouetteSequence] = []
        #: After :meth:`finish`: track id -> the id of the earlier track it continues (re-joined after an occlusion).
        self.aliases: dict[int, int] = {}

    # -- input ------------------------------------------------------------------------------

    def add(self, frame: Frame, dets: PersonDetections) -> None:
        """Take one frame's tracked detections."""
        self.frames_seen += 1
        if len(dets):
            self.frames_with_person += 1
        height, width = frame.image.shape[:2]
        # Masks touching another person's: one hides part of the other (gaitpipe.silhouette.occlusion).
        contact = touching(list(dets.masks > MASK_THRESHOLD)) if self.occlusion else [False] * len(dets)
        for i in range(len(dets)):
            track_id = int(dets.track_ids[i])
            if track_id < 0:
                self.unassigned[DROP_UNTRACKED] = self.unassigned.get(DROP_UNTRACKED, 0) + 1
                continue
            track = self._tracks.setdefault(track_id, _Track())
            soft = dets.masks[i]
            if soft.shape != (height, width):  # a segmenter that returns another resolution
                soft = cv2.resize(soft.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
            binary = np.where(soft > MASK_THRESHOLD, 255, 0).astype(np.uint8)
            box = np.asarray(dets.boxes[i], np.float32).reshape(4)
            reason = self._frame_check(binary, width, height)
            if reason is None and contact[i]:
                reason = DROP_OCCLUDED
            if reason is not None:
                track.drop(reason, int(frame.index))
                continue
            silhouette, geometry = normalize_mask(binary)
            if silhouette is None or isinstance(geometry, str):  # (None, reason) together
                track.drop(str(geometry), int(frame.index))
                continue
            rgb = None
            if self.keep_rgb:
                colour = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB).astype(np.float32)
                rgb = geometry.apply(colour * soft.astype(np.float32)[..., None])
            rows = np.flatnonzero(binary.any(axis=1))
            track.candidates.append(
                _Candidate(
                    frame_index=int(frame.index),
                    box=box,
                    silhouette=silhouette,
                    rgb=rgb,
                    height=int(rows[-1] - rows[0] + 1),
                    area=int(np.count_nonzero(binary)),
                )
            )

    def _frame_check(self, binary: np.ndarray, width: int, height: int) -> str | None:
        """Why this frame's mask cannot be used on its own merits, or None."""
        m = self.border_margin
        fg = binary > 0
        if not fg.any():
            return None  # let normalize_mask report it as empty
        rows = np.flatnonzero(fg.any(axis=1))
        cols = np.flatnonzero(fg.any(axis=0))
        person_h, person_w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        # Rows (or columns) of the walker lying along each edge strip of the image.
        along_side = max(np.count_nonzero(fg[:, :m].any(axis=1)), np.count_nonzero(fg[:, width - m :].any(axis=1)))
        along_top_bottom = max(np.count_nonzero(fg[:m].any(axis=0)), np.count_nonzero(fg[height - m :].any(axis=0)))
        if along_side > self.border_tolerance * person_h or along_top_bottom > self.border_tolerance * person_w:
            return DROP_BORDER
        if person_h < self.min_height_frac * height:
            return DROP_TOO_SMALL
        return None

    # -- output -----------------------------------------------------------------------------

    def finish(self) -> list[SilhouetteSequence]:
        """Sequences with at least ``min_frames`` usable frames, longest first.

        Shorter tracks are put in :attr:`rejected` (with their drop counts), not lost.
        """
        usable: list[SilhouetteSequence] = []
        self.rejected = []
        for track_id, (candidates, drops) in sorted(self._stitched().items()):
            seq = self._build(track_id, candidates, drops)
            (usable if len(seq) >= self.min_frames else self.rejected).append(seq)
        usable.sort(key=lambda s: (-len(s), s.track_id))
        return usable

    def _stitched(self) -> dict[int, tuple[list[_Candidate], dict[str, int]]]:
        """Candidates and drops per track, a walker's tracks broken by an occlusion joined under
        the first one's id (:mod:`gaitpipe.silhouette.stitch`; recorded in :attr:`aliases`)."""
        self.aliases = {}
        if self.occlusion:
            whole = {}
            for tid, track in self._tracks.items():
                c = track.candidates
                verdicts = size_outliers([x.frame_index for x in c], [x.height for x in c], [x.area for x in c])
                good = [x for x, v in zip(c, verdicts) if v is None]
                if good:
                    whole[tid] = (np.array([x.frame_index for x in good]), np.stack([x.box for x in good]))
            self.aliases = stitch_tracks(whole, self.width)
        out: dict[int, tuple[list[_Candidate], dict[str, int]]] = {}
        for tid in sorted(self._tracks):
            track = self._tracks[tid]
            candidates, drops = out.setdefault(self.aliases.get(tid, tid), ([], {}))
            candidates.extend(track.candidates)
            for reason, n in track.dropped.items():
                drops[reason] = drops.get(reason, 0) + n
        for candidates, _ in out.values():
            candidates.sort(key=lambda x: x.frame_index)
        return out

    # -- streaming: sliding windows over live tracks ---------------------------------------

    def track_ids(self) -> list[int]:
        """Ids of the tracks held now."""
        return sorted(self._tracks)

    def kept(self, track_id: int) -> int:
        """Usable silhouettes held for ``track_id`` (0 for a track not held)."""
        track = self._tracks.get(track_id)
        return len(track.candidates) if track is not None else 0

    def recent(self, track_id: int, frames: int) -> SilhouetteSequence:
        """The track's last ``frames`` usable silhouettes as a sequence, as :meth:`finish` would build
        it from those alone: the track-relative size checks use the window's own medians, and
        ``dropped`` counts only the drops from the window's first frame on."""
        track = self._tracks.get(track_id) or _Track()
        kept = track.candidates[-max(1, int(frames)) :]
        first = kept[0].frame_index if kept else 0
        dropped: dict[str, int] = {}
        for index, reason in track.drop_log:
            if index >= first:
                dropped[reason] = dropped.get(reason, 0) + 1
        return self._build(track_id, kept, dropped)

    def trim(self, track_id: int, keep: int) -> None:
        """Forget all but the last ``keep`` usable silhouettes of a track (the whole track when
        ``keep`` is 0), so memory stays bounded on an endless stream."""
        track = self._tracks.get(track_id)
        if track is None:
            return
        if keep <= 0:
            del self._tracks[track_id]
            return
        del track.candidates[: max(0, len(track.candidates) - int(keep))]
        first = track.candidates[0].frame_index if track.candidates else 0
        while track.drop_log and track.drop_log[0][0] < first:
            track.drop_log.popleft()

    def _build(self, track_id: int, candidates: list[_Candidate], drops: dict[str, int]) -> SilhouetteSequence:
        dropped = dict(drops)
        kept = candidates
        if kept:
            med_h = float(np.median([c.height for c in kept]))
            med_a = float(np.median([c.area for c in kept]))
            small = [c.height < self.rel_height * med_h or c.area < self.rel_area * med_a for c in kept]
            if any(small):
                dropped[DROP_SMALL_FOR_TRACK] = dropped.get(DROP_SMALL_FOR_TRACK, 0) + sum(small)
                kept = [c for c, s in zip(kept, small) if not s]
        if kept and self.occlusion:
            # Partly hidden or merged with someone: the size leaves the track's smooth trend.
            verdicts = size_outliers([c.frame_index for c in kept], [c.height for c in kept], [c.area for c in kept])
            for verdict in verdicts:
                if verdict is not None:
                    dropped[verdict] = dropped.get(verdict, 0) + 1
            kept = [c for c, v in zip(kept, verdicts) if v is None]
        n = len(kept)
        return SilhouetteSequence(
            track_id=track_id,
            frames=np.stack([c.silhouette for c in kept]) if n else np.zeros((0, SIZE, SIZE), np.uint8),
            frame_indices=np.array([c.frame_index for c in kept], np.int64),
            boxes=np.stack([c.box for c in kept]).astype(np.float32) if n else np.zeros((0, 4), np.float32),
            rgb=(np.stack([c.rgb for c in kept if c.rgb is not None]) if n else np.zeros((0, SIZE, SIZE, 3), np.uint8))
            if self.keep_rgb
            else None,
            dropped=dropped,
            source=self.source,
        )
