"""``extract-silhouettes --engine ray``: one Ray task per video, each writing its own files.

A task runs the same :func:`~gaitpipe.extract.process.process_video` as the local engine, so the
files are the same byte for byte and resuming works the same way. Every node must see the videos
and the output directory at the same paths (a shared file system): tasks read and write there.
Files are written atomically and the manifest last, so a task retried after its worker died
rewrites the same names and leaves nothing half-written or doubled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitpipe.cluster.session import first_line, ray_session
from gaitpipe.errors import GaitpipeError
from gaitpipe.extract.discovery import Job
from gaitpipe.extract.options import ExtractOptions, VideoResult

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.segment.base import Segmenter

log = logging.getLogger(__name__)

#: Retries of a task whose worker process died (Ray's own default is 3 as well; said here on purpose).
TASK_RETRIES = 3

#: Segmenters built in this worker process, by their settings: a Ray worker runs many tasks, and
#: building one (YOLO weights) costs seconds.
_SEGMENTERS: dict[str, Segmenter] = {}


def _worker_segmenter(backend: str, seg_options: dict[str, Any]) -> Segmenter:
    key = repr((backend, sorted(seg_options.items())))
    if key not in _SEGMENTERS:
        import cv2

        from gaitpipe.segment import create_segmenter, select_options

        # One task per CPU: the task's own threads would only fight its neighbours for cores.
        cv2.setNumThreads(1)
        logging.getLogger("gaitpipe").setLevel(logging.WARNING)  # the driver already said which backend
        _SEGMENTERS[key] = create_segmenter(backend, **select_options(backend, seg_options))
    return _SEGMENTERS[key]


def extract_video_task(job: Job, out_dir: str, options: ExtractOptions, backend: str) -> VideoResult:
    """One video to disk in a Ray worker (named so: its process title is ``ray::extract_video_task``)."""
    import torch

    from gaitpipe.extract.process import process_video

    torch.set_num_threads(1)
    return process_video(job, Path(out_dir), options, _worker_segmenter(backend, options.segmenter_options()))


def run_ray(
    jobs: list[Job],
    out: Path,
    options: ExtractOptions,
    backend: str,
    finished: Callable[[VideoResult], None],
) -> None:
    """Run ``jobs`` as Ray tasks on ``options.address`` (None: a local cluster of ``options.workers`` CPUs).

    ``backend`` is the segmenter the caller resolved (``auto`` -> yolo/bgsub), so all tasks agree.
    ``finished`` is called in this process as each video completes, in completion order.
    """
    local_cpus = options.workers if options.workers > 1 else None
    with ray_session(options.address, num_cpus=local_cpus) as ray:
        task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(extract_video_task)
        options_ref = ray.put(options)  # one copy in the object store, not one per task
        refs = {task.remote(job, str(out), options_ref, backend): job for job in jobs}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            job = refs[done[0]]
            try:
                finished(ray.get(done[0]))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, GaitpipeError) else None
                error = str(cause) if cause is not None else f"unexpected error: {first_line(exc)}"
                finished(VideoResult(job.path, "failed", key=job.key, error=error))
            except ray.exceptions.RayError as exc:  # retries used up, node lost, ...: one line, the others go on
                finished(VideoResult(job.path, "failed", key=job.key, error=f"ray: {first_line(exc)}"))


__all__ = ["TASK_RETRIES", "extract_video_task", "run_ray"]
