"""One video, in memory: segmenter -> :class:`TrackAssembler` -> normalised silhouette sequences.

Used by the :class:`~gaitpipe.pipeline.Pipeline` and, per video, by the directory driver;
nothing is written here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitpipe.errors import NoPersonError
from gaitpipe.extract.manifest import MANIFEST_VERSION
from gaitpipe.extract.timing import StageTimes, clock, timed_frames
from gaitpipe.silhouette.normalize import MIN_SEQUENCE_FRAMES
from gaitpipe.silhouette.tracks import TrackAssembler
from gaitpipe.types import SilhouetteSequence, VideoInfo
from gaitpipe.utils.console import progress as progress_bar
from gaitpipe.utils.console import stderr_is_terminal

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.io.orientation import Rotation
    from gaitpipe.segment.base import Segmenter


@dataclass
class VideoSilhouettes:
    """One video's extraction result (nothing written yet)."""

    info: VideoInfo
    sequences: list[SilhouetteSequence]  #: usable tracks, longest first
    dropped: dict[str, int]  #: reason -> frames dropped, over all tracks (+ untracked detections)
    manifest: dict[str, Any]  #: JSON-able description: tracks, kept frames, boxes, drops, settings
    rejected: list[SilhouetteSequence] = field(default_factory=list)  #: tracks with too few frames
    timings: StageTimes = field(default_factory=StageTimes)
    rotation: Rotation | None = None  #: how the frames were turned, and why


class NoWalkerError(NoPersonError):
    """No usable walker in a video; ``manifest`` describes what was seen (frames, drops, short tracks)."""

    def __init__(self, message: str, manifest: dict[str, Any]) -> None:
        super().__init__(message)
        self.manifest = manifest


def extract_video(
    path: str | Path | int,
    segmenter: Segmenter,
    *,
    stride: int = 1,
    max_frames: int | None = None,
    keep_rgb: bool = False,
    min_frames: int = MIN_SEQUENCE_FRAMES,
    require_person: bool = True,
    progress: bool | None = False,
    assembler_options: dict[str, Any] | None = None,
    rotate: str | int = "auto",
) -> VideoSilhouettes:
    """Segment, track and normalise one video.

    Args:
        path: a video file, an image directory, a camera index or URL (see ``open_video``).
        segmenter: a ``Segmenter`` from :func:`gaitpipe.segment.create_segmenter`.
        stride: keep every ``stride``-th frame. max_frames: stop after this many kept frames.
        keep_rgb: also return soft-masked RGB crops aligned with the silhouettes.
        min_frames: tracks with fewer usable frames are returned in ``rejected``.
        require_person: raise :class:`NoWalkerError` when no track is usable.
        progress: show a per-frame progress bar (None: only on a terminal).
        assembler_options: extra :class:`TrackAssembler` thresholds.
        rotate: ``"auto"`` (probe the video, :mod:`gaitpipe.io.orientation`) or 0/90/180/270: turn
            the frames clockwise (after any rotation metadata) before segmenting them.

    Raises:
        InputError: the video cannot be opened or decoded (``SettingError``: a bad ``rotate``).
        NoWalkerError: no usable walker (with ``require_person``); ``exc.manifest`` holds the
            manifest of what was seen.
    """
    # the video layer pulls in nothing heavy, but keep imports lazy
    from gaitpipe.io.orientation import check_rotate, resolve_rotation, with_metadata
    from gaitpipe.io.video import open_video

    times = StageTimes()
    rotate = check_rotate(rotate)
    t0 = clock()
    span = max_frames * stride if max_frames else None  # source frames the run will cover
    rotation = resolve_rotation(path, rotate, frames=span)
    probe = clock() - t0  # the orientation probe reads frames: charged to decoding below
    with open_video(path, stride=stride, max_frames=max_frames, rotate=rotation.extra) as video:
        info = video.info
        rotation = with_metadata(rotation, info.rotation)
        assembler = TrackAssembler(
            info, min_frames=min_frames, keep_rgb=keep_rgb, source=str(path), **(assembler_options or {})
        )
        total = None
        if info.frame_count:
            total = -(-info.frame_count // stride)
            if max_frames:
                total = min(total, max_frames)
        show = progress is True or (progress is None and stderr_is_terminal())
        bar = progress_bar(total, Path(str(path)).name[:30], unit="frame", enabled=show)
        stream = iter(segmenter.track(timed_frames(video, times)))
        tracked = 0.0  # decode + segment: time spent inside the segmenter's iterator
        while True:
            t0 = clock()
            try:
                frame, dets = next(stream)
            except StopIteration:
                tracked += clock() - t0
                break
            t1 = clock()
            tracked += t1 - t0
            assembler.add(frame, dets)
            times.normalise += clock() - t1
            bar.update(1)
        bar.close()
    times.segment = max(0.0, tracked - times.decode)
    times.decode += probe
    t0 = clock()
    sequences = assembler.finish()
    times.normalise += clock() - t0

    dropped: dict[str, int] = dict(assembler.unassigned)
    for seq in [*sequences, *assembler.rejected]:
        for reason, n in seq.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + n
    from gaitpipe import __version__

    manifest: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "gaitpipe_version": __version__,
        "video": str(path),
        "video_info": dataclasses.asdict(info),
        "segmenter": segmenter_record(segmenter),
        "options": {
            "stride": stride,
            "max_frames": max_frames,
            "min_frames": min_frames,
            "rgb": keep_rgb,
            "rotate": rotate,
        },
        "rotation": rotation.to_dict(),
        "frames_read": assembler.frames_seen,
        "frames_with_person": assembler.frames_with_person,
        "dropped": dict(sorted(dropped.items())),
        # tracks re-joined after an occlusion: later id -> the id its walker's sequence carries
        "rejoined_tracks": {str(k): v for k, v in sorted(assembler.aliases.items())},
        "tracks": [_track_record(s, "usable") for s in sequences]
        + [_track_record(s, "too_short") for s in sorted(assembler.rejected, key=lambda s: s.track_id)],
    }
    if require_person and not sequences:
        raise NoWalkerError(_no_person_message(assembler, min_frames), manifest)
    return VideoSilhouettes(info, sequences, dropped, manifest, list(assembler.rejected), times, rotation)


def segmenter_record(segmenter: Segmenter) -> dict[str, Any]:
    """``{"name", "settings"}`` of a segmenter, JSON-able whatever the backend put in its settings."""
    settings = json.loads(json.dumps(segmenter.settings(), default=str))
    return {"name": segmenter.name or type(segmenter).__name__, "settings": settings}


def _track_record(seq: SilhouetteSequence, status: str) -> dict[str, Any]:
    return {
        "track_id": int(seq.track_id),
        "status": status,
        "frames": len(seq),
        "frame_indices": [int(i) for i in seq.frame_indices],
        "boxes": [[round(float(v), 1) for v in box] for box in seq.boxes],
        "dropped": dict(sorted(seq.dropped.items())),
    }


def _no_person_message(assembler: TrackAssembler, min_frames: int) -> str:
    if assembler.frames_seen == 0:
        return "no frames could be read"
    if assembler.frames_with_person == 0:
        return f"no person found in {assembler.frames_seen} frames"
    best = max(assembler.rejected, key=len, default=None)
    drops: dict[str, int] = dict(assembler.unassigned)
    for seq in assembler.rejected:
        for k, v in seq.dropped.items():
            drops[k] = drops.get(k, 0) + v
    if best is None or len(best) == 0:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(drops.items()))
        return f"no person found: detections in {assembler.frames_with_person} frames were all dropped ({reasons})"
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(best.dropped.items()))
    return f"walker seen in too few usable frames: {len(best)} < min_frames {min_frames}" + (
        f" (dropped: {reasons})" if reasons else ""
    )


__all__ = ["NoWalkerError", "VideoSilhouettes", "extract_video", "segmenter_record"]
