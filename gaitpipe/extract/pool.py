"""Videos in parallel worker processes, one segmenter per process, created once."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitpipe.errors import GaitpipeError
from gaitpipe.extract.discovery import Job
from gaitpipe.extract.options import ExtractOptions, VideoResult
from gaitpipe.extract.process import process_video

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.segment.base import Segmenter

log = logging.getLogger(__name__)

#: This worker process's segmenter, built by :func:`_init_worker`.
_WORKER_SEGMENTER: Segmenter | None = None


def _init_worker(name: str, seg_options: dict[str, Any], threads: int) -> None:
    global _WORKER_SEGMENTER
    import cv2
    import torch

    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)
    from gaitpipe.segment import create_segmenter, select_options

    logging.getLogger("gaitpipe").setLevel(logging.WARNING)  # the parent already said which backend
    _WORKER_SEGMENTER = create_segmenter(name, **select_options(name, seg_options))


def _run_in_worker(job: Job, out_dir: Path, options: ExtractOptions) -> VideoResult:
    assert _WORKER_SEGMENTER is not None, "worker used before _init_worker ran"
    return process_video(job, out_dir, options, _WORKER_SEGMENTER)


def run_pool(
    jobs: list[Job],
    out: Path,
    options: ExtractOptions,
    backend: str,
    workers: int,
    finished: Callable[[VideoResult], None],
) -> None:
    """Run ``jobs`` in ``workers`` spawned processes (no inherited torch/OpenCV thread state).

    ``backend`` is the segmenter the parent resolved (``auto`` -> yolo/bgsub), so all workers
    agree. ``finished`` is called in the parent as each video completes.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(backend, options.segmenter_options(), threads)
    ) as pool:
        futures = {pool.submit(_run_in_worker, job, out, options): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                finished(future.result())
            except BrokenProcessPool:
                finished(VideoResult(job.path, "failed", key=job.key, error="worker process died (out of memory?)"))
            except GaitpipeError as exc:  # e.g. the segmenter could not be created in the worker
                finished(VideoResult(job.path, "failed", key=job.key, error=str(exc)))
            except Exception as exc:  # a bug or an unexpected library failure: one line, the others go on
                log.debug("extracting %s failed", job.path, exc_info=True)
                finished(
                    VideoResult(job.path, "failed", key=job.key, error=f"unexpected error: {type(exc).__name__}: {exc}")
                )


__all__ = ["run_pool"]
