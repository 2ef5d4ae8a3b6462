"""What an extraction run is told (:class:`ExtractOptions`) and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaitpipe.silhouette.normalize import MIN_SEQUENCE_FRAMES
from gaitpipe.utils.console import format_table


@dataclass
class ExtractOptions:
    """Everything ``extract_silhouettes`` can be told (picklable, sent to worker processes)."""

    segmenter: str = "auto"
    seg_weights: str | None = None
    #: load YOLO weights even if they name code to run (see gaitpipe.hub.pickle_guard)
    trust: bool = False
    tracker: str | None = None
    background: str | None = None
    device: str | None = None
    stride: int = 1
    max_frames: int | None = None
    min_frames: int = MIN_SEQUENCE_FRAMES
    #: "auto" (find videos stored sideways/upside down) or 0/90/180/270 degrees clockwise
    rotate: str | int = "auto"
    png: bool = False
    preview: bool = False
    rgb: bool = False
    workers: int = 1
    overwrite: bool = False
    #: "local" (``workers`` processes on this machine) or "ray" (one Ray task per video; ``pip install gaitpipe[ray]``)
    engine: str = "local"
    #: the Ray cluster to join (None: start a local one of ``workers`` CPUs, all CPUs when ``workers`` is 1)
    address: str | None = None

    def segmenter_options(self) -> dict[str, Any]:
        """Keyword options for ``create_segmenter`` (only those given)."""
        opts: dict[str, Any] = {
            "weights": self.seg_weights,
            "tracker": self.tracker,
            "background": self.background,
            "device": self.device,
        }
        if self.trust:
            opts["trust"] = True
        return {k: v for k, v in opts.items() if v is not None}


@dataclass
class VideoResult:
    """What happened to one input."""

    path: str
    status: str  #: "done", "skipped" or "failed"
    key: str | None = None
    tracks: int = 0  #: tracks written
    frames: int = 0  #: silhouette frames written
    frames_read: int = 0
    dropped: int = 0
    seconds: float = 0.0
    error: str | None = None
    note: str = ""
    manifest: str | None = None
    outputs: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: how the frames were turned (:meth:`gaitpipe.io.orientation.Rotation.to_dict`); None if not read
    rotation: dict[str, Any] | None = None
    #: settings (``ExtractOptions`` field names, ``out_dir``) whose change would alter this outcome;
    #: a front end can name its own spelling of them next to ``error``/``note``.
    remedy_settings: tuple[str, ...] = ()


@dataclass
class ExtractReport:
    """The outcome of ``extract_silhouettes``, one :class:`VideoResult` per input."""

    out_dir: Path
    results: list[VideoResult]
    segmenter: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[VideoResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def done(self) -> list[VideoResult]:
        return [r for r in self.results if r.status == "done"]

    @property
    def skipped(self) -> list[VideoResult]:
        return [r for r in self.results if r.status == "skipped"]

    def table(self) -> str:
        """A plain-text summary table, one row per input, and a totals line."""
        rows = []
        for r in self.results:
            fps = f"{r.frames_read / r.seconds:.1f}" if r.status == "done" and r.seconds > 0 else "-"
            note = r.error if r.status == "failed" else r.note
            rows.append((Path(r.path).name or r.path, r.status, r.tracks, r.frames, r.dropped, fps, note or ""))
        # wide enough that no cell is cut: notes and errors are free text (paths, messages)
        table = format_table(rows, ("video", "status", "tracks", "frames", "dropped", "fps", "note"), width=100_000)
        totals = (
            f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed; "
            f"{sum(r.tracks for r in self.results)} tracks, {sum(r.frames for r in self.results)} silhouettes "
            f"in {self.out_dir} ({self.seconds:.1f} s)"
        )
        return f"{table}\n{totals}"


__all__ = ["ExtractOptions", "ExtractReport", "VideoResult"]
