"""Enrol a labelled list of walks (``video,identity`` rows) in one gallery, locally or on Ray.

Rows run through the same :meth:`Pipeline.enroll` either way: the local engine analyses each
video in this process; the ray engine analyses them on a Ray cluster
(:mod:`gaitpipe.cluster.enroll`) and hands the results to :meth:`Pipeline.enroll` here, so the
gallery is written by this one process only and the templates are the local engine's.

Resumable: a row whose video (by content hash) is already enrolled under the same identity is
skipped, so a run that was stopped is finished by running it again. One bad row never stops the
others; each gets its status and one line.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gaitpipe.batch.manifest import BatchRow, read_manifest
from gaitpipe.batch.report import BatchReport, RowResult
from gaitpipe.cluster.session import check_engine
from gaitpipe.errors import GaitpipeError, SettingError
from gaitpipe.utils.console import progress as progress_bar
from gaitpipe.utils.console import stderr_is_terminal
from gaitpipe.utils.files import file_sha256

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.gallery import Gallery
    from gaitpipe.pipeline import Pipeline
    from gaitpipe.results import VideoEmbeddings

log = logging.getLogger(__name__)


def enroll_batch(
    manifest: str | Path | Sequence[BatchRow],
    pipeline: Pipeline | None = None,
    *,
    gallery: str | Path | None = None,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    force: bool = False,
    progress: bool | None = None,
    on_result: Callable[[RowResult], None] | None = None,
) -> BatchReport:
    """Enrol every row of ``manifest`` (a CSV path, or rows) with ``pipeline`` (None: the defaults).

    ``engine``: ``local`` (this process) or ``ray`` (``address``: the cluster to join; None: a local
    cluster of ``workers`` CPUs, all when None). ``force`` as in :meth:`Pipeline.enroll`.
    ``progress``: a per-video bar (None: only on a terminal). ``on_result`` is called as each row
    finishes. Raises only for problems with the run as a whole (a bad manifest, engine or
    gallery); per-row problems are in the report.
    """
    from gaitpipe.gallery import Gallery
    from gaitpipe.gallery.gallery import check_location
    from gaitpipe.gallery.store import DB_NAME
    from gaitpipe.pipeline import Pipeline

    check_engine(engine, address)
    if workers is not None and (engine != "ray" or address is not None):
        raise SettingError(
            "workers sizes the local Ray cluster a run starts; it needs the ray engine and no address", "workers"
        )
    rows = read_manifest(manifest) if isinstance(manifest, (str, Path)) else list(manifest)
    pipe = pipeline if pipeline is not None else Pipeline()
    start = time.perf_counter()
    where = check_location(gallery)
    g: Gallery | None = None
    if (where / DB_NAME).is_file():
        g = Gallery.open(where, encoder=pipe.fingerprint)  # another encoder's gallery fails before any work
    results: list[RowResult | None] = [None] * len(rows)
    show = progress is True or (progress is None and stderr_is_terminal())
    bar = progress_bar(len(rows), "enroll-batch", unit="video", enabled=show)

    def record(i: int, result: RowResult) -> None:
        results[i] = result
        bar.update(1)
        if on_result:
            on_result(result)

    try:
        done = {(e.identity, e.video_sha256) for e in g.enrolments()} if g is not None else set()
        shas: dict[int, str] = {}
        todo: list[int] = []
        for i, row in enumerate(rows):
            try:
                shas[i] = file_sha256(row.video)
            except OSError as exc:
                why = "video not found" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
                record(i, RowResult(row.video, row.identity, "failed", row.line, error=f"{why}: {row.video}"))
                continue
            if (row.identity, shas[i]) in done:
                record(i, _already(row))
            else:
                todo.append(i)

        def enrol(i: int, analysed: VideoEmbeddings | GaitpipeError | None) -> None:
            nonlocal g
            row = rows[i]
            if (row.identity, shas[i]) in done:  # the same walk listed twice
                record(i, _already(row))
                return
            try:
                if isinstance(analysed, GaitpipeError):
                    raise analysed
                res = pipe.enroll(
                    row.video, row.identity, gallery=where if g is None else g, force=force, analysed=analysed
                )
            except GaitpipeError as exc:
                record(i, RowResult(row.video, row.identity, "failed", row.line, error=str(exc), remedy=exc.remedy))
                return
            except Exception as exc:  # a bug or an unexpected library failure: this row fails, the others go on
                log.debug("enrolling %s failed", row.video, exc_info=True)
                error = f"unexpected error: {type(exc).__name__}: {exc} (set GAITPIPE_DEBUG=1 for details)"
                if os.environ.get("GAITPIPE_DEBUG"):
                    raise
                record(i, RowResult(row.video, row.identity, "failed", row.line, error=error))
                return
            if g is None:  # the first enrolment created the gallery: keep it open for the rest
                g = Gallery.open(where, encoder=pipe.fingerprint)
            done.add((row.identity, shas[i]))
            w = res.walker
            record(
                i,
                RowResult(row.video, row.identity, "enrolled", row.line, res.enrolment.id, w.track_id, w.frames),
            )

        if engine == "ray" and todo:
            from gaitpipe.cluster.enroll import analyse_on_ray

            videos = [rows[i].video for i in todo]
            for k, analysed in analyse_on_ray(videos, pipe, address=address, num_cpus=workers):
                enrol(todo[k], analysed)
        else:
            for i in todo:
                enrol(i, None)
    finally:
        bar.close()
        if g is not None:
            g.close()
    final = [r for r in results if r is not None]
    return BatchReport(str(where), engine, final, time.perf_counter() - start)


def _already(row: BatchRow) -> RowResult:
    return RowResult(row.video, row.identity, "skipped", row.line, note="already enrolled under this identity")


__all__ = ["enroll_batch"]
