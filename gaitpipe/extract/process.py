"""One video to disk, resumable: skip it when done, extract, write its tracks and manifest.

Every failure becomes a ``failed`` :class:`VideoResult` with one line, never a raise, so one
bad input never stops the others.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from gaitpipe.errors import GaitpipeError, InputError
from gaitpipe.extract.core import NoWalkerError, extract_video
from gaitpipe.extract.discovery import Job
from gaitpipe.extract.manifest import (
    finished_manifest,
    read_manifest,
    remove_stale,
    same_file,
    write_manifest,
)
from gaitpipe.extract.naming import manifest_path
from gaitpipe.extract.options import ExtractOptions, VideoResult
from gaitpipe.extract.timing import clock
from gaitpipe.extract.writers import write_tracks
from gaitpipe.utils.files import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.segment.base import Segmenter

log = logging.getLogger(__name__)


def process_video(job: Job, out_dir: Path, options: ExtractOptions, segmenter: Segmenter | None) -> VideoResult:
    """Extract one video to ``out_dir``; every failure becomes a ``failed`` result, never a raise.

    ``segmenter`` may be None only when the video is already extracted (it is then skipped).
    """
    start = time.perf_counter()
    result = VideoResult(job.path, "failed", key=job.key)
    try:
        _process(job, out_dir, options, segmenter, result)
    except GaitpipeError as exc:
        result.error = str(exc)
    except MemoryError:
        result.error = "out of memory (a max_frames limit or a larger stride needs less)"
        result.remedy_settings = ("max_frames", "stride")
    except Exception as exc:  # a bug or an unexpected library failure: one line, others go on
        log.debug("extracting %s failed", job.path, exc_info=True)
        if os.environ.get("GAITPIPE_DEBUG"):
            traceback.print_exc()
        result.error = f"unexpected error: {type(exc).__name__}: {exc} (set GAITPIPE_DEBUG=1 for details)"
    result.seconds = time.perf_counter() - start
    return result


def _process(
    job: Job, out_dir: Path, options: ExtractOptions, segmenter: Segmenter | None, result: VideoResult
) -> None:
    mpath = manifest_path(out_dir, job.key)
    if not options.overwrite and (done := finished_manifest(out_dir, job, options)) is not None:
        written = [t for t in done.get("tracks", []) if t.get("status") == "written"]
        result.status = "skipped"
        result.note = "already extracted (overwrite redoes it)"
        result.remedy_settings = ("overwrite",)
        result.tracks = len(written)
        result.frames = sum(int(t.get("frames", 0)) for t in written)
        result.manifest = str(mpath)
        result.outputs = list(done.get("outputs", []))
        result.rotation = done.get("rotation")
        return
    if segmenter is None:
        raise RuntimeError(f"{job.path} is not extracted yet and no segmenter was given")
    old_text, old = read_manifest(mpath)
    if old is not None and not options.overwrite and not same_file(old.get("video"), job.path):
        result.remedy_settings = ("overwrite", "out_dir")
        raise InputError(
            f"output {job.key!r} in {out_dir} already holds silhouettes of {old.get('video')}; "
            "overwrite them or extract to another output directory"
        )
    old_outputs = [str(p) for p in (old or {}).get("outputs", [])]
    if old_text is not None:
        # Invalidate the old manifest first: if we crash while writing, this video is redone
        # next time instead of mixing old and new files under a "complete" manifest.
        mpath.unlink()
    try:
        video = extract_video(
            job.path,
            segmenter,
            stride=options.stride,
            max_frames=options.max_frames,
            keep_rgb=options.rgb,
            min_frames=options.min_frames,
            progress=None if options.workers == 1 else False,
            rotate=options.rotate,
        )
    except BaseException as exc:
        # Nothing has been written yet: an earlier complete extraction stays valid.
        if old is not None and old.get("complete") is True and old_text is not None:
            atomic_write_text(mpath, old_text)
        elif isinstance(exc, NoWalkerError):
            # Record what was seen (frames, drops, short tracks), marked incomplete.
            write_manifest(
                mpath,
                {
                    **exc.manifest,
                    "video": os.path.abspath(job.path),
                    "complete": False,
                    "error": str(exc),
                    "outputs": [],
                },
                options,
            )
        raise
    t0 = clock()
    outputs, tracks = write_tracks(out_dir, job, video, options)
    manifest = dict(video.manifest)
    manifest["video"] = os.path.abspath(job.path)  # what same_file compares on later runs
    manifest["tracks"] = tracks
    manifest["outputs"] = outputs
    manifest["complete"] = True
    video.timings.write += clock() - t0
    remove_stale(out_dir, old_outputs, outputs)
    t0 = clock()
    manifest["timing_s"] = video.timings.as_dict()
    write_manifest(mpath, manifest, options)
    video.timings.write += clock() - t0
    written = [t for t in tracks if t["status"] == "written"]
    result.status = "done"
    result.tracks = len(written)
    result.frames = sum(t["frames"] for t in written)
    result.frames_read = video.timings.frames
    result.dropped = sum(video.dropped.values())
    result.manifest = str(mpath)
    result.outputs = outputs
    result.timings = video.timings.as_dict()
    result.rotation = video.rotation.to_dict() if video.rotation is not None else None
    others = len(video.sequences) - len(written)
    short = len(video.rejected)
    notes = []
    if others:
        notes.append(f"{others} other walker(s) not written (CASIA-B slot keeps the longest track)")
    if short:
        notes.append(f"{short} short track(s) ignored")
    if outputs:
        more = len(written) - 1
        notes.insert(0, outputs[0] + (f" (+{more} more tracks)" if more > 0 else ""))
    if video.rotation is not None and (video.rotation.degrees or video.rotation.extra):
        notes.append(video.rotation.describe())
    result.note = "; ".join(notes)


__all__ = ["process_video"]
