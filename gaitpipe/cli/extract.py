"""``gaitpipe extract-silhouettes``: videos -> OpenGait-layout silhouettes (thin CLI layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli import options as opt
from gaitpipe.cli.app import app
from gaitpipe.cli.options import EngineChoice, SegmenterChoice, TrackerChoice
from gaitpipe.errors import InputError


@app.command("extract-silhouettes")
def extract_silhouettes_command(
    paths: list[str] = typer.Argument(
        ..., help="Video files and/or directories (searched recursively).", show_default=False
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (OpenGait layout).", show_default=False),
    segmenter: SegmenterChoice = opt.segmenter_option(),
    seg_weights: Optional[str] = opt.SEG_WEIGHTS,
    trust: bool = opt.TRUST,
    tracker: Optional[TrackerChoice] = opt.TRACKER,
    background: Optional[str] = opt.BACKGROUND,
    device: Optional[str] = opt.device_option(),
    stride: int = opt.STRIDE,
    rotate: str = opt.ROTATE,
    max_frames: Optional[int] = typer.Option(None, min=1, help="Stop after this many frames per video."),
    min_frames: int = typer.Option(5, min=1, help="Tracks with fewer usable frames are not written."),
    png: bool = typer.Option(False, "--png", help="Also write every silhouette as a PNG."),
    preview: bool = typer.Option(False, "--preview", help="Write a contact sheet and a gait energy image per track."),
    rgb: bool = typer.Option(
        False, "--rgb", help="Also write soft-masked RGB crops (<name>-rgb.pkl, T x 64 x 64 x 3)."
    ),
    workers: int = typer.Option(
        1, min=1, help="Videos processed in parallel (processes; with --engine ray, the CPUs of a local cluster)."
    ),
    engine: EngineChoice = opt.ENGINE,
    address: Optional[str] = opt.ADDRESS,
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo videos that are already extracted."),
) -> None:
    """Extract OpenGait-normalised silhouettes (64 x 64) of every walker in the videos."""
    from gaitpipe.extract import ExtractOptions, VideoResult, extract_silhouettes
    from gaitpipe.utils.console import progress_write

    opt.setup_cli_logging()  # let the segmenter say which backend it picked

    def report(result: VideoResult) -> None:
        if result.status == "failed":
            # Messages from the video layer usually name the file already.
            error = result.error or ""
            line = error if result.path in error else f"{result.path}: {result.error}"
            if result.remedy_settings:  # the library names settings; say which flags they are
                line += f" [{', '.join(opt.flag_for(s) for s in result.remedy_settings)}]"
            progress_write(f"error: {line}")

    options = ExtractOptions(
        segmenter=segmenter.value,
        seg_weights=seg_weights,
        trust=trust,
        tracker=tracker.value if tracker else None,
        background=background,
        device=device,
        stride=stride,
        rotate=rotate,
        max_frames=max_frames,
        min_frames=min_frames,
        png=png,
        preview=preview,
        rgb=rgb,
        workers=workers,
        overwrite=overwrite,
        engine=engine.value,
        address=address,
    )
    summary = extract_silhouettes(paths, out, options, on_result=report)
    typer.echo(summary.table())
    if summary.failed:
        raise InputError(f"{len(summary.failed)} of {len(summary.results)} inputs failed (see above)")
