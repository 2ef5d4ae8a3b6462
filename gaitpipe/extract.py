"""Silhouette extraction: raw video -> tracked walkers -> OpenGait-layout silhouette files.

Two entry points:

* :func:`extract_video` (used by the Pipeline): one video through a segmenter and a
  :class:`~gaitpipe.silhouette.tracks.TrackAssembler`, returning :class:`VideoSilhouettes`
  in memory; nothing is written.
* :func:`extract_silhouettes` (used by ``gaitpipe extract-silhouettes``): many files/directories,
  written to disk in the OpenGait dataset layout, one JSON manifest per video, resumable,
  optionally in parallel processes. One bad input never stops the others; each gets one line.

Output layout (``OUT`` = ``out_dir``)::

    OUT/001/nm-01/090/090.pkl            CASIA-B-named clip 001-nm-01-090.avi (main walker)
    OUT/001/nm-01/090/090-rgb.pkl        --rgb: soft-masked RGB crops, T x 64 x 64 x 3
    OUT/<stem>/<track-id>/default/default.pkl      any other video, one per usable track
    OUT/_gaitpipe/<key>/manifest.json    per video: tracks, kept frames, boxes, drops, settings
    OUT/_gaitpipe/<key>/track-<id>/...   --png frames, --preview contact sheet + GEI

Everything that is not a ``.pkl`` lives under ``OUT/_gaitpipe``: OpenGait's loader lists every
file of a sequence directory and refuses anything but ``.pkl``, and lists every entry of a
subject directory as a condition, so sidecar files inside the tree would break training.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from gaitpipe.errors import GaitpipeError, InputError, NoPersonError
from gaitpipe.silhouette.normalize import MIN_SEQUENCE_FRAMES
from gaitpipe.silhouette.tracks import TrackAssembler
from gaitpipe.types import Frame, SilhouetteSequence, VideoInfo

log = logging.getLogger(__name__)

#: CASIA-B raw video names: subject-condition-sequence-view, e.g. ``001-nm-01-090``.
CASIAB_NAME = re.compile(r"^(?P<subject>\d{3})-(?P<condition>[a-z]+)-(?P<seq>\d{2})-(?P<view>\d{3})$")
#: CASIA-B empty-scene clips (``001-bkgrd-090``): a background plate, not a walk.
CASIAB_BACKGROUND = re.compile(r"^\d{3}-bkgrd-\d{3}$")
#: Sidecar directory (manifests, PNGs) inside the output directory.
SIDECAR = "_gaitpipe"
MANIFEST = "manifest.json"
#: Manifest format version, bumped when the layout of the manifest changes.
MANIFEST_VERSION = 1
STAGES = ("decode", "segment", "normalise", "write")
#: Clock for the per-stage timings (wall time). A benchmark on a busy machine may swap in
#: ``time.process_time`` to count only this process's CPU seconds.
CLOCK: Callable[[], float] = time.perf_counter


def _clock() -> float:
    return CLOCK()


# ---------------------------------------------------------------------------------------------
# One video, in memory
# ---------------------------------------------------------------------------------------------


@dataclass
class StageTimes:
    """Seconds spent per stage (decode / segment / normalise / write) and frames handled."""

    decode: float = 0.0
    segment: float = 0.0
    normalise: float = 0.0
    write: float = 0.0
    frames: int = 0

    def add(self, other: "StageTimes") -> None:
        for name in (*STAGES, "frames"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, float]:
        return {name: round(getattr(self, name), 4) for name in (*STAGES, "frames")}

    @property
    def total(self) -> float:
        return self.decode + self.segment + self.normalise + self.write


@dataclass
class VideoSilhouettes:
    """One video's extraction result (nothing written yet)."""

    info: VideoInfo
    sequences: list[SilhouetteSequence]  #: usable tracks, longest first
    dropped: dict[str, int]  #: reason -> frames dropped, over all tracks (+ untracked detections)
    manifest: dict[str, Any]  #: JSON-able description: tracks, kept frames, boxes, drops, settings
    rejected: list[SilhouetteSequence] = field(default_factory=list)  #: tracks with too few frames
    timings: StageTimes = field(default_factory=StageTimes)


def _timed(frames: Iterable[Frame], times: StageTimes) -> Iterator[Frame]:
    """Yield frames, charging the time spent producing each one to ``times.decode``."""
    it = iter(frames)
    while True:
        t0 = _clock()
        try:
            frame = next(it)
        except StopIteration:
            times.decode += _clock() - t0
            return
        times.decode += _clock() - t0
        times.frames += 1
        yield frame


def _track_record(seq: SilhouetteSequence, status: str) -> dict[str, Any]:
    return {
        "track_id": int(seq.track_id),
        "status": status,
        "frames": len(seq),
        "frame_indices": [int(i) for i in seq.frame_indices],
        "boxes": [[round(float(v), 1) for v in box] for box in seq.boxes],
        "dropped": dict(sorted(seq.dropped.items())),
    }


def extract_video(
    path: str | Path | int,
    segmenter: Any,
    *,
    stride: int = 1,
    max_frames: int | None = None,
    keep_rgb: bool = False,
    min_frames: int = MIN_SEQUENCE_FRAMES,
    require_person: bool = True,
    progress: bool | None = False,
    assembler_options: dict[str, Any] | None = None,
) -> VideoSilhouettes:
    """Segment, track and normalise one video.

    Args:
        path: a video file, an image directory, a camera index or URL (see ``open_video``).
        segmenter: a ``Segmenter`` from :func:`gaitpipe.segment.create_segmenter`.
        stride: keep every ``stride``-th frame. max_frames: stop after this many kept frames.
        keep_rgb: also return soft-masked RGB crops aligned with the silhouettes.
        min_frames: tracks with fewer usable frames are returned in ``rejected``.
        require_person: raise :class:`NoPersonError` when no track is usable.
        progress: show a per-frame progress bar (None: only on a terminal).
        assembler_options: extra :class:`TrackAssembler` thresholds.

    Raises:
        InputError: the video cannot be opened or decoded.
        NoPersonError: no usable walker (with ``require_person``); ``exc.manifest`` holds the
            manifest of what was seen.
    """
    from gaitpipe.io.video import open_video  # the video layer pulls in nothing heavy, but keep imports lazy

    times = StageTimes()
    with open_video(path, stride=stride, max_frames=max_frames) as video:
        info = video.info
        assembler = TrackAssembler(
            info, min_frames=min_frames, keep_rgb=keep_rgb, source=str(path), **(assembler_options or {})
        )
        total = None
        if info.frame_count:
            total = -(-info.frame_count // stride)
            if max_frames:
                total = min(total, max_frames)
        bar = None
        if progress is not False:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="frame", leave=False, disable=None if progress is None else False,
                       desc=Path(str(path)).name[:30], file=sys.stderr)
        stream = iter(segmenter.track(_timed(video, times)))
        tracked = 0.0  # decode + segment: time spent inside the segmenter's iterator
        while True:
            t0 = _clock()
            try:
                frame, dets = next(stream)
            except StopIteration:
                tracked += _clock() - t0
                break
            t1 = _clock()
            tracked += t1 - t0
            assembler.add(frame, dets)
            times.normalise += _clock() - t1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    times.segment = max(0.0, tracked - times.decode)
    t0 = _clock()
    sequences = assembler.finish()
    times.normalise += _clock() - t0

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
        "segmenter": {"name": getattr(segmenter, "name", type(segmenter).__name__), "settings": _settings(segmenter)},
        "options": {"stride": stride, "max_frames": max_frames, "min_frames": min_frames, "rgb": keep_rgb},
        "frames_read": assembler.frames_seen,
        "frames_with_person": assembler.frames_with_person,
        "dropped": dict(sorted(dropped.items())),
        "tracks": [_track_record(s, "usable") for s in sequences]
        + [_track_record(s, "too_short") for s in sorted(assembler.rejected, key=lambda s: s.track_id)],
    }
    result = VideoSilhouettes(info, sequences, dropped, manifest, list(assembler.rejected), times)
    if require_person and not sequences:
        error = NoPersonError(_no_person_message(assembler, min_frames))
        error.manifest = manifest  # type: ignore[attr-defined]
        raise error
    return result


def _settings(segmenter: Any) -> dict[str, Any]:
    settings = segmenter.settings() if hasattr(segmenter, "settings") else {}
    return json.loads(json.dumps(settings, default=str))  # JSON-able, whatever the backend put there


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
    return (
        f"walker seen in too few usable frames: {len(best)} < --min-frames {min_frames}"
        + (f" (dropped: {reasons})" if reasons else "")
    )


# ---------------------------------------------------------------------------------------------
# Output layout and atomic writes
# ---------------------------------------------------------------------------------------------


def casiab_parts(path: str | Path) -> dict[str, str] | None:
    """``{subject, condition, seq, view}`` when the file name is CASIA-B style, else None."""
    match = CASIAB_NAME.match(Path(str(path)).stem)
    return match.groupdict() if match else None


def video_key(path: str | Path) -> str:
    """Name of a video's sidecar directory (its stem, e.g. ``001-nm-01-090``)."""
    return Path(str(path)).stem if not Path(str(path)).is_dir() else Path(str(path)).name


def track_paths(out_dir: Path, path: str | Path, track_id: int, key: str | None = None) -> dict[str, Path]:
    """Where one track's files go: ``silhouettes``, ``rgb`` (pkl) and its sidecar ``extras`` dir."""
    key = key or video_key(path)
    parts = casiab_parts(path)
    if parts:
        seq_dir = out_dir / parts["subject"] / f"{parts['condition']}-{parts['seq']}" / parts["view"]
        name = parts["view"]
    else:
        seq_dir = out_dir / key / str(track_id) / "default"
        name = "default"
    return {
        "silhouettes": seq_dir / f"{name}.pkl",
        "rgb": seq_dir / f"{name}-rgb.pkl",
        "extras": out_dir / SIDECAR / key / f"track-{track_id}",
    }


def manifest_path(out_dir: Path, key: str) -> Path:
    return out_dir / SIDECAR / key / MANIFEST


def atomic_write_bytes(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``.

    A crash leaves either the old file or the new one, never a half-written file under the
    final name (readers treat a name that exists as finished).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_pickle(path: Path, array: np.ndarray) -> None:
    """Pickle a numpy array the way OpenGait loads it (``pickle.load`` -> ndarray)."""
    atomic_write_bytes(path, pickle.dumps(np.ascontiguousarray(array), protocol=4))


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - cv2 always encodes uint8 images
        raise OSError(f"cannot encode {path.name}")
    atomic_write_bytes(path, buf.tobytes(), sync=False)


def contact_sheet(frames: np.ndarray, *, columns: int = 12, max_frames: int = 48, gap: int = 2) -> np.ndarray:
    """An image of up to ``max_frames`` evenly spaced frames in a grid (grey or colour)."""
    n = len(frames)
    picks = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int)) if n else np.zeros(0, int)
    cols = max(1, min(columns, len(picks)))
    rows = max(1, -(-len(picks) // cols))
    h, w = frames.shape[1:3]
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap) + frames.shape[3:], 96, np.uint8)
    for k, i in enumerate(picks):
        r, c = divmod(k, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        sheet[y : y + h, x : x + w] = frames[i]
    return sheet


def gait_energy_image(frames: np.ndarray) -> np.ndarray:
    """The mean silhouette (GEI), uint8 64 x 64."""
    return np.rint(frames.astype(np.float32).mean(axis=0)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Many videos, to disk
# ---------------------------------------------------------------------------------------------


@dataclass
class ExtractOptions:
    """Everything ``extract-silhouettes`` can be told (picklable, sent to worker processes)."""

    segmenter: str = "auto"
    seg_weights: str | None = None
    tracker: str | None = None
    background: str | None = None
    device: str | None = None
    stride: int = 1
    max_frames: int | None = None
    min_frames: int = MIN_SEQUENCE_FRAMES
    png: bool = False
    preview: bool = False
    rgb: bool = False
    workers: int = 1
    overwrite: bool = False

    def segmenter_options(self) -> dict[str, Any]:
        """Keyword options for ``create_segmenter`` (only those given)."""
        opts = {"weights": self.seg_weights, "tracker": self.tracker, "background": self.background, "device": self.device}
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


@dataclass
class ExtractReport:
    """The outcome of :func:`extract_silhouettes`, one :class:`VideoResult` per input."""

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
        header = ("video", "status", "tracks", "frames", "dropped", "fps", "note")
        rows = []
        for r in self.results:
            fps = f"{r.frames_read / r.seconds:.1f}" if r.status == "done" and r.seconds > 0 else "-"
            note = r.error if r.status == "failed" else r.note
            rows.append((Path(r.path).name or r.path, r.status, str(r.tracks), str(r.frames), str(r.dropped), fps, note or ""))
        widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
        widths[-1] = 0  # the note is free text, not padded
        lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
        lines.append("  ".join("-" * max(w, len(h)) for h, w in zip(header, widths)))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.append(
            f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed; "
            f"{sum(r.tracks for r in self.results)} tracks, {sum(r.frames for r in self.results)} silhouettes "
            f"in {self.out_dir} ({self.seconds:.1f} s)"
        )
        return "\n".join(lines)


@dataclass
class _Job:
    path: str
    key: str


def collect_inputs(paths: Sequence[str | Path], out_dir: str | Path | None = None) -> tuple[list[_Job], list[VideoResult]]:
    """Expand files and directories (recursively) into jobs; unusable paths become failures.

    A file given explicitly is always tried (so a non-video file gets a clear error, not
    silence); directories contribute the videos ``find_videos`` recognises. CASIA-B background
    plates (``SSS-bkgrd-VVV``) hold no walker and are skipped, not failed. Two inputs with the
    same output name get distinct sidecar keys (``name~2``) so they never overwrite each other.
    Anything inside ``out_dir`` (e.g. our own PNG frame folders) is never taken as input.
    """
    from gaitpipe.io.video import find_videos

    jobs: list[_Job] = []
    problems: list[VideoResult] = []
    seen: set[Path] = set()
    keys: dict[str, Path] = {}
    slots: dict[str, Path] = {}
    out_resolved = Path(out_dir).expanduser().resolve() if out_dir is not None else None
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            problems.append(VideoResult(str(raw), "failed", error="no such file or directory"))
            continue
        if p.is_dir():
            try:
                found = find_videos([p], recursive=True)
            except GaitpipeError as exc:
                problems.append(VideoResult(str(raw), "failed", error=str(exc)))
                continue
            if not found:
                problems.append(VideoResult(str(raw), "failed", error="no videos found in this directory"))
                continue
        else:
            found = [p]
        for video in found:
            resolved = Path(video).resolve()
            if resolved in seen or (out_resolved is not None and p.is_dir() and resolved.is_relative_to(out_resolved)):
                continue
            seen.add(resolved)
            if CASIAB_BACKGROUND.match(Path(video).stem):
                problems.append(VideoResult(str(video), "skipped", note="CASIA-B background clip (no walker)"))
                continue
            parts = casiab_parts(video)
            if parts:
                slot = f"{parts['subject']}/{parts['condition']}-{parts['seq']}/{parts['view']}"
                if slot in slots:
                    problems.append(
                        VideoResult(str(video), "failed", error=f"same CASIA-B slot {slot} as {slots[slot]}; extract it to another --out")
                    )
                    continue
                slots[slot] = resolved
            key = video_key(video)
            n = 2
            while key in keys:
                key = f"{video_key(video)}~{n}"
                n += 1
            keys[key] = resolved
            jobs.append(_Job(str(video), key))
    return jobs, problems


def _finished(out_dir: Path, job: _Job, options: ExtractOptions) -> dict[str, Any] | None:
    """The manifest of a complete earlier extraction that covers what is asked now, else None."""
    _, manifest = _read_manifest(manifest_path(out_dir, job.key))
    if manifest is None or manifest.get("complete") is not True or not _same_file(manifest.get("video"), job.path):
        return None
    done_with = manifest.get("options", {})
    for extra in ("rgb", "png", "preview"):
        if getattr(options, extra) and not done_with.get(extra):
            return None
    if not all((out_dir / rel).is_file() for rel in manifest.get("outputs", [])):
        return None
    return manifest


def _read_manifest(path: Path) -> tuple[str | None, dict[str, Any] | None]:
    """(text, parsed) of a manifest; (None, None) when absent, (text, None) when unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return None, None
    try:
        data = json.loads(text)
    except ValueError:
        return text, None
    return text, data if isinstance(data, dict) else None


def _same_file(a: Any, b: str | Path) -> bool:
    if not a:
        return True  # an old manifest that does not say: assume it is ours
    try:
        return Path(str(a)).resolve() == Path(str(b)).resolve()
    except OSError:
        return str(a) == str(b)


def _relative(out_dir: Path, path: Path) -> str:
    return path.relative_to(out_dir).as_posix()


def _write_outputs(out_dir: Path, job: _Job, video: VideoSilhouettes, options: ExtractOptions) -> tuple[list[str], list[dict]]:
    """Write the chosen tracks; returns (output paths relative to out_dir, track records)."""
    import cv2

    parts = casiab_parts(job.path)
    # A CASIA-B slot holds one walker: the longest usable track (sequences are longest first).
    chosen = video.sequences[:1] if parts else video.sequences
    chosen_ids = {s.track_id for s in chosen}
    outputs: list[str] = []
    records = {r["track_id"]: dict(r) for r in video.manifest["tracks"]}
    for seq in video.sequences:
        if seq.track_id not in chosen_ids:
            records[seq.track_id]["status"] = "not_main_walker"
    for seq in chosen:
        paths = track_paths(out_dir, job.path, seq.track_id, job.key)
        files: dict[str, Any] = {}
        write_pickle(paths["silhouettes"], seq.frames.astype(np.uint8))
        files["silhouettes"] = _relative(out_dir, paths["silhouettes"])
        if options.rgb and seq.rgb is not None:
            write_pickle(paths["rgb"], seq.rgb.astype(np.uint8))
            files["rgb"] = _relative(out_dir, paths["rgb"])
        extras = paths["extras"]
        if options.png:
            for idx, frame in zip(seq.frame_indices, seq.frames):
                _write_png(extras / "frames" / f"{int(idx):06d}.png", frame)
            files["png_frames"] = _relative(out_dir, extras / "frames")
            if options.rgb and seq.rgb is not None:
                for idx, crop in zip(seq.frame_indices, seq.rgb):
                    _write_png(extras / "rgb" / f"{int(idx):06d}.png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                files["png_rgb"] = _relative(out_dir, extras / "rgb")
        if options.preview:
            _write_png(extras / "contact.png", contact_sheet(seq.frames))
            _write_png(extras / "gei.png", gait_energy_image(seq.frames))
            files["contact_sheet"] = _relative(out_dir, extras / "contact.png")
            files["gei"] = _relative(out_dir, extras / "gei.png")
            if options.rgb and seq.rgb is not None:
                sheet = contact_sheet(seq.rgb)
                _write_png(extras / "contact-rgb.png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
                files["contact_sheet_rgb"] = _relative(out_dir, extras / "contact-rgb.png")
        records[seq.track_id]["status"] = "written"
        records[seq.track_id]["outputs"] = files
        for name, rel in files.items():
            if name.startswith("png_"):
                outputs += [_relative(out_dir, p) for p in sorted((out_dir / rel).glob("*.png"))]
            else:
                outputs.append(rel)
    ordered = [records[r["track_id"]] for r in video.manifest["tracks"]]
    return outputs, ordered


def _remove_stale(out_dir: Path, old: list[str], new: list[str]) -> None:
    """Delete files an earlier run wrote that this run did not rewrite (e.g. a vanished track)."""
    keep = set(new)
    for rel in old:
        if rel in keep:
            continue
        target = out_dir / rel
        if target.is_file() and (SIDECAR in target.parts or target.suffix == ".pkl"):
            target.unlink(missing_ok=True)


def process_video(job: _Job, out_dir: Path, options: ExtractOptions, segmenter: Any) -> VideoResult:
    """Extract one video to ``out_dir``; every failure becomes a ``failed`` result, never a raise."""
    start = time.perf_counter()
    result = VideoResult(job.path, "failed", key=job.key)
    mpath = manifest_path(out_dir, job.key)
    try:
        if not options.overwrite and (done := _finished(out_dir, job, options)) is not None:
            written = [t for t in done.get("tracks", []) if t.get("status") == "written"]
            result.status = "skipped"
            result.note = "already extracted (--overwrite to redo)"
            result.tracks = len(written)
            result.frames = sum(int(t.get("frames", 0)) for t in written)
            result.manifest = str(mpath)
            result.outputs = list(done.get("outputs", []))
            return result
        old_text, old = _read_manifest(mpath)
        if old is not None and not options.overwrite and not _same_file(old.get("video"), job.path):
            raise InputError(
                f"output {job.key!r} in {out_dir} already holds silhouettes of {old.get('video')}; "
                "use --overwrite to replace them or another --out"
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
            )
        except BaseException as exc:
            # Nothing has been written yet: an earlier complete extraction stays valid.
            if old is not None and old.get("complete") is True and old_text is not None:
                atomic_write_bytes(mpath, old_text.encode())
            elif isinstance(exc, NoPersonError) and getattr(exc, "manifest", None):
                # Record what was seen (frames, drops, short tracks), marked incomplete.
                _write_manifest(mpath, {**exc.manifest, "video": os.path.abspath(job.path), "complete": False,
                                        "error": str(exc), "outputs": []}, options)
            raise
        t0 = _clock()
        outputs, tracks = _write_outputs(out_dir, job, video, options)
        manifest = dict(video.manifest)
        manifest["video"] = os.path.abspath(job.path)  # what _same_file compares on later runs
        manifest["tracks"] = tracks
        manifest["outputs"] = outputs
        manifest["complete"] = True
        video.timings.write += _clock() - t0
        _remove_stale(out_dir, old_outputs, outputs)
        t0 = _clock()
        manifest["timing_s"] = video.timings.as_dict()
        _write_manifest(mpath, manifest, options)
        video.timings.write += _clock() - t0
        written = [t for t in tracks if t["status"] == "written"]
        result.status = "done"
        result.tracks = len(written)
        result.frames = sum(t["frames"] for t in written)
        result.frames_read = video.timings.frames
        result.dropped = sum(video.dropped.values())
        result.manifest = str(mpath)
        result.outputs = outputs
        result.timings = video.timings.as_dict()
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
        result.note = "; ".join(notes)
    except GaitpipeError as exc:
        result.error = str(exc)
    except MemoryError:
        result.error = "out of memory (try --max-frames or --stride)"
    except Exception as exc:  # a bug or an unexpected library failure: one line, others go on
        log.debug("extracting %s failed", job.path, exc_info=True)
        if os.environ.get("GAITPIPE_DEBUG"):
            traceback.print_exc()
        result.error = f"unexpected error: {type(exc).__name__}: {exc} (set GAITPIPE_DEBUG=1 for details)"
    result.seconds = time.perf_counter() - start
    return result


def _write_manifest(path: Path, manifest: dict[str, Any], options: ExtractOptions) -> None:
    manifest = dict(manifest)
    manifest["options"] = {**manifest.get("options", {}), "png": options.png, "preview": options.preview}
    manifest["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_bytes(path, (dumps_manifest(manifest) + "\n").encode())


def dumps_manifest(obj: Any, indent: str = "") -> str:
    """JSON with one key per line but lists of numbers (frame indices, boxes) kept on one line."""
    def flat(x: Any) -> bool:
        return isinstance(x, list) and all(
            isinstance(v, (int, float, str, bool)) or v is None or (isinstance(v, list) and flat(v)) for v in x
        )

    if isinstance(obj, dict) and obj:
        inner = indent + " "
        items = [f"{inner}{json.dumps(str(k))}: {dumps_manifest(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(obj, list) and obj and not flat(obj):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + dumps_manifest(v, inner) for v in obj) + "\n" + indent + "]"
    return json.dumps(obj, separators=(", ", ": "))


# Worker processes: one segmenter per process, created once.
_WORKER_SEGMENTER: Any = None


def _init_worker(name: str, seg_options: dict[str, Any], threads: int) -> None:
    global _WORKER_SEGMENTER
    import cv2

    cv2.setNumThreads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    from gaitpipe.segment import create_segmenter

    logging.getLogger("gaitpipe").setLevel(logging.WARNING)  # the parent already said which backend
    _WORKER_SEGMENTER = create_segmenter(name, **seg_options)


def _run_in_worker(job: _Job, out_dir: Path, options: ExtractOptions) -> VideoResult:
    return process_video(job, out_dir, options, _WORKER_SEGMENTER)


def extract_silhouettes(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    options: ExtractOptions | None = None,
    *,
    progress: bool | None = None,
    on_result: Callable[[VideoResult], None] | None = None,
    segmenter_instance: Any = None,
    **option_kwargs: Any,
) -> ExtractReport:
    """Extract silhouettes from files/directories into ``out_dir`` (OpenGait layout).

    Options are an :class:`ExtractOptions` or its fields as keywords. ``on_result`` is called
    as each input finishes (e.g. to print a line per failure). ``segmenter_instance``: an already
    created segmenter to use instead of building one from the options (single process only).

    Raises only for problems with the run as a whole (unusable ``out_dir``, segmenter cannot be
    created); per-input problems are in the report.
    """
    options = dataclasses.replace(options or ExtractOptions(), **option_kwargs)
    if options.stride < 1 or options.min_frames < 1 or options.workers < 1:
        raise InputError("--stride, --min-frames and --workers must be >= 1")
    if options.max_frames is not None and options.max_frames < 1:
        raise InputError("--max-frames must be >= 1")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise InputError(f"--out {out} is not writable")
    start = time.perf_counter()
    jobs, results = collect_inputs(paths, out)
    for r in results:
        if on_result:
            on_result(r)

    seg_info: dict[str, Any] = {}
    segmenter = segmenter_instance
    # Building a segmenter loads ultralytics (seconds): skip that when every video is done already.
    pending = [j for j in jobs if options.overwrite or _finished(out, j, options) is None]
    if pending:
        if segmenter is None:
            from gaitpipe.segment import create_segmenter

            segmenter = create_segmenter(options.segmenter, **options.segmenter_options())
        seg_info = {"name": getattr(segmenter, "name", options.segmenter), "settings": _settings(segmenter)}

    from tqdm import tqdm

    bar = tqdm(total=len(jobs), unit="video", disable=(None if progress is None else not progress) or not jobs,
               desc="extract", file=sys.stderr)

    def finished(r: VideoResult) -> None:
        results.append(r)
        bar.update(1)
        if on_result:
            on_result(r)

    workers = min(options.workers, len(pending))
    if workers <= 1:
        for job in jobs:
            finished(process_video(job, out, options, segmenter))
    else:
        _run_pool(jobs, out, options, seg_info.get("name") or options.segmenter, workers, finished)
    bar.close()
    # Completion order depends on the workers; a table sorted by path reads the same every run.
    results.sort(key=lambda r: r.path)
    return ExtractReport(out, results, seg_info, time.perf_counter() - start)


def _run_pool(jobs: list[_Job], out: Path, options: ExtractOptions, name: str, workers: int,
              finished: Callable[[VideoResult], None]) -> None:
    """Videos in parallel processes (spawned: no inherited torch/OpenCV thread state)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    # Workers build the backend the parent resolved (auto -> yolo/bgsub), so all agree.
    backend = name if name in ("yolo", "bgsub") else options.segmenter
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(backend, options.segmenter_options(), threads)) as pool:
        futures = {pool.submit(_run_in_worker, job, out, options): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                finished(future.result())
            except BrokenProcessPool:
                finished(VideoResult(job.path, "failed", key=job.key, error="worker process died (out of memory?)"))
            except GaitpipeError as exc:  # e.g. the segmenter could not be created in the worker
                finished(VideoResult(job.path, "failed", key=job.key, error=str(exc)))
            except Exception as exc:
                finished(VideoResult(job.path, "failed", key=job.key, error=f"unexpected error: {type(exc).__name__}: {exc}"))
