"""Many videos to disk: check the run, discover inputs, build the segmenter, run serially or in a pool."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitpipe.errors import SettingError
from gaitpipe.extract.core import segmenter_record
from gaitpipe.extract.discovery import collect_inputs
from gaitpipe.extract.manifest import finished_manifest
from gaitpipe.extract.options import ExtractOptions, ExtractReport, VideoResult
from gaitpipe.extract.pool import run_pool
from gaitpipe.extract.process import process_video
from gaitpipe.utils.console import progress as progress_bar
from gaitpipe.utils.console import stderr_is_terminal

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.segment.base import Segmenter


def extract_silhouettes(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    options: ExtractOptions | None = None,
    *,
    progress: bool | None = None,
    on_result: Callable[[VideoResult], None] | None = None,
    segmenter_instance: Segmenter | None = None,
    **option_kwargs: Any,
) -> ExtractReport:
    """Extract silhouettes from files/directories into ``out_dir`` (OpenGait layout).

    Options are an :class:`ExtractOptions` or its fields as keywords. ``progress``: a per-video
    bar (None: only on a terminal). ``on_result`` is called as each input finishes (e.g. to print
    a line per failure). ``segmenter_instance``: an already created segmenter to use instead of
    building one from the options (single process only).

    Raises only for problems with the run as a whole (:class:`SettingError` for a bad option or
    an unusable ``out_dir``; the segmenter cannot be created); per-input problems are in the report.
    """
    options = dataclasses.replace(options or ExtractOptions(), **option_kwargs)
    _check_options(options)
    out = _prepare_out_dir(out_dir)
    start = time.perf_counter()
    jobs, results = collect_inputs(paths, out)
    for r in results:
        if on_result:
            on_result(r)

    seg_info: dict[str, Any] = {}
    segmenter = segmenter_instance
    # Building a segmenter loads ultralytics (seconds): skip that when every video is done already.
    pending = [j for j in jobs if options.overwrite or finished_manifest(out, j, options) is None]
    if pending:
        if segmenter is None:
            from gaitpipe.segment import create_segmenter, select_options

            # shared settings (e.g. a device) go only to the backend that takes them
            segmenter = create_segmenter(
                options.segmenter, **select_options(options.segmenter, options.segmenter_options())
            )
        seg_info = segmenter_record(segmenter)

    show = bool(jobs) and (progress is True or (progress is None and stderr_is_terminal()))
    bar = progress_bar(len(jobs), "extract", unit="video", enabled=show)

    def finished(r: VideoResult) -> None:
        results.append(r)
        bar.update(1)
        if on_result:
            on_result(r)

    workers = min(options.workers, len(pending))
    name = seg_info.get("name") or options.segmenter
    # Workers and Ray tasks build the backend the parent resolved (auto -> yolo/bgsub), so all agree.
    backend = name if name in ("yolo", "bgsub") else options.segmenter
    if options.engine == "ray" and pending:
        from gaitpipe.cluster.extract import run_ray

        todo = {id(j) for j in pending}
        for job in jobs:  # finished earlier: reported here, without a trip to the cluster
            if id(job) not in todo:
                finished(process_video(job, out, options, None))
        run_ray(pending, out, options, backend, finished)
    elif workers <= 1:
        for job in jobs:
            finished(process_video(job, out, options, segmenter))
    else:
        run_pool(jobs, out, options, backend, workers, finished)
    bar.close()
    # Completion order depends on the workers; a table sorted by path reads the same every run.
    results.sort(key=lambda r: r.path)
    return ExtractReport(out, results, seg_info, time.perf_counter() - start)


def _check_options(options: ExtractOptions) -> None:
    from gaitpipe.cluster import check_engine
    from gaitpipe.io.orientation import check_rotate

    for name, value in (("stride", options.stride), ("min_frames", options.min_frames), ("workers", options.workers)):
        if value < 1:
            raise SettingError(f"{name} must be >= 1, got {value}", name)
    check_engine(options.engine, options.address)  # Ray missing: one line before any work
    if options.max_frames is not None and options.max_frames < 1:
        raise SettingError(f"max_frames must be >= 1, got {options.max_frames}", "max_frames")
    options.rotate = check_rotate(options.rotate)  # SettingError("rotate ...") before any work


def _prepare_out_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise SettingError(f"output directory {out} exists and is not a directory", "out_dir")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingError(f"cannot create output directory {out}: {exc.strerror or exc}", "out_dir") from None
    if not os.access(out, os.W_OK):
        raise SettingError(f"output directory {out} is not writable", "out_dir")
    return out


__all__ = ["extract_silhouettes"]
