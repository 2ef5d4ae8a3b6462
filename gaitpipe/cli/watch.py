"""``gaitpipe watch``: a thin wrapper over :meth:`gaitpipe.pipeline.Pipeline.watch`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from gaitpipe.cli import options as opt
from gaitpipe.cli.app import app
from gaitpipe.cli.options import SegmenterChoice

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.watch import WatchDecision, WatchSession, WatchStats

#: Seconds between two "frames dropped" warnings.
DROP_WARNING_EVERY = 5.0
#: bgsub's background warm-up on a stream: 2 s at 25 fps. Its default (150 frames, tuned for whole
#: clips) would hold every decision back 6 s; 50 frames named all the real CASIA-B walkers just as
#: well (docs/watch.md).
WATCH_WARMUP = 50


@app.command()
def watch(
    source: str = typer.Argument(..., help="Camera index (0), stream URL (rtsp://..., http://...) or video file."),
    gallery: Optional[Path] = opt.GALLERY,
    weights: Optional[str] = opt.WEIGHTS,
    segmenter: SegmenterChoice = opt.segmenter_option(),
    seg_weights: Optional[str] = opt.SEG_WEIGHTS,
    trust: bool = opt.TRUST,
    background: Optional[str] = opt.BACKGROUND,
    warmup: int = typer.Option(
        WATCH_WARMUP,
        "--warmup",
        min=1,
        help="bgsub without --background: frames buffered to learn the scene before the first is processed "
        "(the wait before any decision; the model keeps updating after).",
    ),
    device: Optional[str] = opt.device_option(),
    rotate: str = opt.ROTATE,
    threshold: Optional[float] = opt.THRESHOLD,
    margin: Optional[float] = opt.MARGIN,
    score_norm: Optional[bool] = opt.SCORE_NORM,
    window: int = typer.Option(30, "--window", help="Usable silhouettes per sliding window of a track."),
    window_stride: int = typer.Option(
        8, "--window-stride", help="New silhouettes between two windows of a track (a decision each time)."
    ),
    memory: int = typer.Option(4, "--memory", help="Recent good windows averaged into a track's evidence."),
    hold: int = typer.Option(
        2, "--hold", help="Windows in a row a new decision needs before it replaces a track's shown one."
    ),
    realtime: bool = typer.Option(
        False,
        "--realtime",
        help="Play a file at its own frame rate, dropping frames when processing falls behind (as a live "
        "source always does); default: a file is processed as fast as possible, nothing dropped.",
    ),
    queue: int = typer.Option(
        25,
        "--queue",
        help="Frames of a live (or --realtime) source that may wait for processing; when more come, the oldest is "
        "dropped, so processing is never more than this behind.",
    ),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=0, help="Stop after this many frames."),
    changes_only: bool = typer.Option(False, "--changes-only", help="Report a track only when its decision changes."),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per line: {t, frame, track, decision, score, windows, ...}."
    ),
    render: Optional[Path] = typer.Option(None, "--render", help="Also write the annotated stream (.mp4)."),
) -> None:
    """Identify everyone walking in SOURCE as it plays: per track a name, 'unknown' or 'uncertain',
    updated every --window-stride silhouettes from the last --window. Ctrl-C stops watching."""
    from gaitpipe.pipeline import Pipeline

    opt.setup_cli_logging()
    options: dict[str, Any] = {k: v for k, v in (("weights", seg_weights), ("background", background)) if v is not None}
    options["warmup"] = warmup  # only bgsub takes it
    if trust:
        options["trust"] = True
    pipe = Pipeline(segmenter=segmenter.value, weights=weights, device=device, segmenter_options=options, rotate=rotate)
    session = pipe.watch(
        source,
        gallery=gallery,
        window=window,
        window_stride=window_stride,
        memory=memory,
        hold=hold,
        threshold=threshold,
        margin=margin,
        score_norm=score_norm,
        realtime=realtime or None,
        render=render,
        queue=queue,
        max_frames=max_frames,
    )
    show = _JsonLines() if as_json else (_LiveLines(session) if sys.stdout.isatty() else _PlainLines())
    interrupted = False
    warned = time.monotonic()
    dropped = 0
    try:
        with session, show:
            for decision in session:
                if not changes_only or decision.changed or decision.event == "left":
                    show.decision(decision)
                if decision.dropped > dropped and time.monotonic() - warned >= DROP_WARNING_EVERY:
                    dropped, warned = decision.dropped, time.monotonic()
                    show.note(_drop_line(session.stats))
    except KeyboardInterrupt:
        interrupted = True
    stats = session.stats
    typer.echo(_summary(stats, interrupted), err=True)
    if session.rendered is not None:
        typer.echo(f"rendered {session.rendered}", err=True)


def _drop_line(stats: WatchStats) -> str:
    return (
        f"dropped {stats.frames_dropped} of {stats.frames_read} frames so far: processing "
        f"({stats.processing_fps:.1f} fps) is slower than the source ({stats.source_fps:g} fps)"
    )


def _summary(stats: WatchStats, interrupted: bool) -> str:
    how = "stopped" if interrupted else "stream ended"
    dropped = (
        f", dropped {stats.frames_dropped} (processing slower than the source)"
        if stats.frames_dropped
        else ", none dropped"
    )
    return (
        f"{how}: {stats.frames_processed} frames processed in {stats.wall_s:.1f} s "
        f"({stats.processing_fps:.1f} fps; source {stats.source_fps:g} fps){dropped}; "
        f"{_count(stats.windows, 'window')}, {_count(stats.tracks, 'track')} decided"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _line(d: WatchDecision) -> str:
    score = f" {d.score:.3f}" if d.score is not None else ""
    if d.event == "left":
        return f"[{d.t:7.2f}s] track {d.track} left: {d.decision}{score} after {_count(d.windows, 'window')}"
    change = " (changed)" if d.changed and d.windows > 1 else ""
    raw = f", this window: {d.raw}" if d.raw != d.decision else ""
    return f"[{d.t:7.2f}s] track {d.track}: {d.decision}{score}{change} ({_count(d.windows, 'window')}{raw})"


class _JsonLines:
    """--json: one compact JSON object per line, flushed at once (a pipe reader sees it immediately)."""

    def decision(self, d: WatchDecision) -> None:
        sys.stdout.write(json.dumps(d.to_dict()) + "\n")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        typer.echo(text, err=True)

    def __enter__(self) -> _JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _PlainLines(_JsonLines):
    """Not a terminal: a line per reported decision."""

    def decision(self, d: WatchDecision) -> None:
        typer.echo(_line(d))


class _LiveLines(_JsonLines):
    """A terminal: one live line per track in view and a status line, redrawn in place several times a
    second (also while nobody is in view); a track that leaves gets a permanent line above them."""

    def __init__(self, session: WatchSession) -> None:
        from rich.console import Console
        from rich.live import Live

        self._session = session
        self._tracks: dict[int, str] = {}
        self._live = Live(
            console=Console(highlight=False), refresh_per_second=4, transient=True, get_renderable=self._render
        )

    def decision(self, d: WatchDecision) -> None:
        if d.event == "left":
            self._tracks.pop(d.track, None)
            self._live.console.print(_line(d), markup=False)
        else:
            self._tracks[d.track] = _line(d)

    def note(self, text: str) -> None:
        self._live.console.print(text, markup=False, style="yellow")

    def _render(self) -> Any:
        from rich.text import Text

        stats = self._session.stats
        status = (
            f"{self._session.source}: {stats.frames_processed} frames, {stats.processing_fps:.1f} fps "
            f"(source {stats.source_fps:g}), dropped {stats.frames_dropped}"
        )
        tracks = dict(self._tracks)  # a copy: this runs on rich's refresh thread while decisions come in
        return Text("\n".join([*(tracks[t] for t in sorted(tracks)), status]))

    def __enter__(self) -> _LiveLines:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()
