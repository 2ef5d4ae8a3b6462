"""Streaming identification (``gaitpipe watch``): latency to the first decision and processing speed.

    python benchmarks/bench_watch.py [--videos DIR] [--backends bgsub,bgsub+warmup=50,bgsub+background,yolo]
                                     [--modes fast,realtime] [--threads N] [--frame-cache on|off|both] [--json]

Enrols one walk per subject (``nm-01`` of the real CASIA-B clips in ../shared/data/casiab-videos,
or, without them, the synthetic example walkers), then watches other walks of the same people
with :meth:`Pipeline.watch`, twice each:

* ``fast``: the file as fast as processing goes (nothing dropped): processing fps;
* ``realtime``: the file played at its own frame rate, frames dropped when processing falls
  behind, as a camera would be: the latency a live user sees.

Latency is measured from the walker's first frame (the first frame in which the tracker reports
the track that gets decided) to the track's first decision (``stream``: in stream seconds,
``wall``: wall seconds from reading that frame), and to the first decision naming the right
person. Backends: ``bgsub`` with its background learned from the stream (the default, which
first buffers up to 150 frames; ``bgsub+warmup=50``: 50), and with the empty-scene clip as
``--background`` (CASIA-B's ``bkgrd`` clip); ``yolo`` only when its weights are on this machine
(``yolo+weights=NAME`` for other weights).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAITPIPE_SHARED", REPO.parent / "shared"))


def _clips(videos: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]], Path | None]:
    """(enrolments, probes, background clip): CASIA-B when present, else the synthetic examples."""
    if videos.is_dir() and any(videos.glob("*-nm-05-090.avi")):
        enrol = [(p.name[:3], p) for p in sorted(videos.glob("*-nm-01-090.avi"))]
        probes = [(p.name[:3], p) for p in sorted(videos.glob("*-nm-05-090.avi"))]
        return enrol, probes, next(iter(sorted(videos.glob("*-bkgrd-*"))), None)
    examples = REPO / "examples"
    enrol = [(p.name.split("-")[0], p) for p in sorted(examples.glob("*-nm-01-090.mp4"))]
    probes = [(p.name.split("-")[0], p) for p in sorted(examples.glob("*-bg-01-090.mp4"))]
    return enrol, probes, None


def _watch(pipe: Any, video: Path, gallery: Path, truth: str, realtime: bool, frame_cache: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    with pipe.watch(str(video), gallery=gallery, realtime=realtime or None, frame_cache=frame_cache) as session:
        events = [e for e in session if e.event == "window"]
    stats = session.stats
    fps = stats.source_fps
    row: dict[str, Any] = {
        "clip": video.name,
        "mode": "realtime" if realtime else "fast",
        "source_fps": fps,
        "frames": stats.frames_read,
        "processed": stats.frames_processed,
        "dropped": stats.frames_dropped,
        "processing_fps": round(stats.processing_fps, 2),
        "run_s": round(time.perf_counter() - t0, 2),
        "windows": stats.windows,
    }
    if events:
        first = events[0]
        row |= {
            "first_frame": first.first_frame,
            "first_decision": first.raw,
            "latency_stream_s": round(first.t - first.first_frame / fps, 2),
            "latency_wall_s": round(first.latency_s or 0.0, 2),
        }
        named = next((e for e in events if e.decision == truth), None)
        if named is not None:
            row |= {
                "named_stream_s": round(named.t - named.first_frame / fps, 2),
                "named_wall_s": round(named.latency_s or 0.0, 2),
            }
        row["final"] = events[-1].decision
        row["correct"] = events[-1].decision == truth
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--videos", type=Path, default=SHARED / "data" / "casiab-videos", help="real CASIA-B clips (else the examples)"
    )
    ap.add_argument("--backends", default="bgsub,bgsub+warmup=50,bgsub+background,yolo")
    ap.add_argument("--modes", default="fast,realtime")
    ap.add_argument("--max-clips", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--frame-cache",
        choices=("on", "off", "both"),
        default="on",
        help="per-frame encoder features shared by overlapping windows (off: embed every window whole; both: "
        "each clip with and without, back to back, to compare on a busy machine)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("GAITPIPE_OFFLINE", "1")  # a benchmark never downloads
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from gaitpipe.errors import GaitpipeError
    from gaitpipe.pipeline import Pipeline
    from gaitpipe.utils.console import format_table

    enrol, probes, background = _clips(args.videos)
    probes = probes[: args.max_clips] if args.max_clips else probes
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            # "bgsub+background": the empty-scene clip as --background; "bgsub+warmup=50",
            # "yolo+weights=yolo11n-seg-synthpeople.pt": a segmenter option
            name, _, extra = backend.partition("+")
            options: dict[str, Any] = {}
            if extra == "background":
                if not background:
                    notes.append(f"{backend}: skipped (no empty-scene clip)")
                    continue
                options["background"] = str(background)
            elif extra:
                key, _, value = extra.partition("=")
                options[key] = int(value) if value.isdigit() else value
            pipe = Pipeline(segmenter=name, device="cpu", segmenter_options=options)
            try:
                pipe.segmenter  # noqa: B018 - yolo without weights fails here
            except GaitpipeError as exc:
                notes.append(f"{backend}: skipped ({exc})")
                continue
            gallery = Path(tmp) / backend
            for who, video in enrol:
                try:
                    pipe.enroll(video, who, gallery=gallery)
                except GaitpipeError as exc:  # the gallery is bound to the encoder, not the segmenter
                    notes.append(f"{backend}: {who} enrolled with bgsub ({exc})")
                    Pipeline(segmenter="bgsub", device="cpu").enroll(video, who, gallery=gallery)
            for who, video in probes:
                for mode in args.modes.split(","):
                    for cache in {"on": [True], "off": [False], "both": [True, False]}[args.frame_cache]:
                        watched = _watch(pipe, video, gallery, who, mode == "realtime", cache)
                        row = {"backend": backend, "frame_cache": cache} | watched
                        rows.append(row)
                        print(json.dumps(row), file=sys.stderr, flush=True)
    import platform

    import torch

    machine = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps({"machine": machine, "results": rows, "notes": notes}, indent=2))
        return 0
    cols = [
        "backend",
        "frame_cache",
        "clip",
        "mode",
        "frames",
        "dropped",
        "processing_fps",
        "first_frame",
        "first_decision",
    ]
    cols += ["latency_stream_s", "latency_wall_s", "named_stream_s", "named_wall_s", "final"]
    print(format_table([[r.get(c, "") for c in cols] for r in rows], cols))
    print(f"machine: {machine}")
    for n in notes:
        print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
