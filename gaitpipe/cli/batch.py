"""``gaitpipe enroll-batch``: enrol a labelled list of walks (thin layer over :func:`gaitpipe.batch.enroll_batch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli import options as opt
from gaitpipe.cli.app import app
from gaitpipe.cli.options import EngineChoice, SegmenterChoice
from gaitpipe.errors import InputError
from gaitpipe.utils.console import to_json


@app.command("enroll-batch")
def enroll_batch_command(
    manifest: Path = typer.Argument(
        ...,
        help="CSV file with a header and one row per walk: video,identity (video paths relative to the CSV's folder).",
        show_default=False,
    ),
    gallery: Optional[Path] = opt.GALLERY,
    weights: Optional[str] = opt.WEIGHTS,
    segmenter: SegmenterChoice = opt.segmenter_option(),
    seg_weights: Optional[str] = opt.SEG_WEIGHTS,
    trust: bool = opt.TRUST,
    background: Optional[str] = opt.BACKGROUND,
    device: Optional[str] = opt.device_option(),
    stride: int = opt.STRIDE,
    rotate: str = opt.ROTATE,
    engine: EngineChoice = opt.ENGINE,
    address: Optional[str] = opt.ADDRESS,
    workers: Optional[int] = typer.Option(
        None, min=1, help="CPUs of the local Ray cluster started for this run (default: all)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Enrol walks even if already enrolled under another name, or failing the quality checks."
    ),
    as_json: bool = opt.JSON,
) -> None:
    """Enrol the main walker of every video listed in MANIFEST under its identity; rerun to resume."""
    from gaitpipe.batch import RowResult, enroll_batch
    from gaitpipe.cli.enroll import _pipeline
    from gaitpipe.utils.console import progress_write

    def report(result: RowResult) -> None:
        if result.status == "failed":
            hint = f" (use {opt.flag_for(result.remedy)})" if result.remedy else ""
            progress_write(f"error: line {result.line}: {result.error}{hint}")

    # One progress bar over the videos; the per-video bars of the pipeline would only interleave with it.
    pipe = _pipeline(segmenter, weights, device, stride, False, seg_weights, background, trust, rotate)
    summary = enroll_batch(
        manifest,
        pipe,
        gallery=gallery,
        engine=engine.value,
        address=address,
        workers=workers,
        force=force,
        progress=False if as_json else None,
        on_result=report,
    )
    typer.echo(to_json(summary.to_dict()) if as_json else summary.table())
    if summary.failed:
        raise InputError(f"{len(summary.failed)} of {len(summary.rows)} rows failed (see above)")
