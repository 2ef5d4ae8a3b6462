"""Silhouette extraction speed on the real CASIA-B clips, split by stage, on this machine.

    python benchmarks/bench_extract.py [--videos DIR] [--backends bgsub,yolo] [--threads N]
                                       [--max-clips N] [--compare-official] [--background]

For every backend (``yolo`` only when its weights can be loaded offline) the clips go through
the same code as ``gaitpipe extract-silhouettes`` (``gaitpipe.extract.process_video``) and the
time is split into decode / segment / normalise (track assembly + OpenGait normalisation) /
write (pkl + manifest). Frames/s = frames decoded / seconds in that stage.

``--compare-official`` also scores each extracted sequence against CASIA's official silhouettes
of the same walk (the pack in ../shared/data/casiab): mean IoU of binarised 64 x 64 frames at
the best frame offset (the official sequences leave out partly visible frames).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAITPIPE_SHARED", REPO.parent / "shared"))


def _official(names: list[str]) -> dict[str, np.ndarray]:
    sys.path.insert(0, str(SHARED / "data" / "casiab"))
    from casiab_pack import read_pack  # type: ignore[import-not-found]

    wanted = {}
    for n in names:
        s, c, q, v = n.split("-")
        wanted[(s, f"{c}-{q}", v)] = n
    out = {}
    for s, c, v, frames in read_pack(
        subjects={k[0] for k in wanted}, conds={k[1] for k in wanted}, views={k[2] for k in wanted}
    ):
        if (s, c, v) in wanted:
            out[wanted[(s, c, v)]] = frames
    return out


def aligned_iou(ours: np.ndarray, official: np.ndarray) -> tuple[float, int]:
    """Best mean IoU over frame offsets (ours[i + off] vs official[i]); returns (iou, offset)."""
    a, b = ours > 127, official > 127
    best = (0.0, 0)
    need = max(5, min(len(a), len(b)) // 2)  # a real alignment overlaps most of the shorter one
    for off in range(-len(b) + need, len(a) - need + 1):
        i0, i1 = max(0, -off), min(len(b), len(a) - off)
        if i1 - i0 < need:
            continue
        x, y = a[i0 + off : i1 + off], b[i0:i1]
        inter = (x & y).sum(axis=(1, 2))
        union = np.maximum((x | y).sum(axis=(1, 2)), 1)
        iou = float((inter / union).mean())
        if iou > best[0]:
            best = (iou, off)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=SHARED / "data" / "casiab-videos")
    ap.add_argument("--backends", default="bgsub,yolo")
    ap.add_argument("--threads", type=int, default=None, help="torch/OpenCV threads (default: library default)")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed seconds; cpu: this process's CPU seconds (stable on a shared, busy machine; "
        "use with --threads 1 to get per-core throughput)",
    )
    ap.add_argument("--max-clips", type=int, default=None)
    ap.add_argument("--compare-official", action="store_true")
    ap.add_argument(
        "--background",
        action="store_true",
        help="bgsub: use the clips' empty-scene plate (SSS-bkgrd-VVV) instead of each clip's own median",
    )
    args = ap.parse_args()

    import cv2

    import gaitpipe.extract.timing
    from gaitpipe.errors import GaitpipeError
    from gaitpipe.extract import ExtractOptions, Job, StageTimes, collect_inputs, process_video
    from gaitpipe.segment import create_segmenter

    if not args.videos.is_dir():
        print(f"no videos at {args.videos} (the CASIA-B clips live in ../shared/data)", file=sys.stderr)
        return 1
    if args.clock == "cpu":
        gaitpipe.extract.timing.CLOCK = time.process_time
    if args.threads:
        cv2.setNumThreads(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    jobs, _ = collect_inputs([args.videos])  # skips the background plate
    jobs = jobs[: args.max_clips] if args.max_clips else jobs
    background = next(iter(sorted(args.videos.glob("*-bkgrd-*"))), None) if args.background else None
    official = _official([Path(j.path).stem for j in jobs]) if args.compare_official else {}

    rows = []
    for backend in args.backends.split(","):
        seg_options = {"background": str(background)} if backend == "bgsub" and background else {}
        try:
            segmenter = create_segmenter(backend, **seg_options)
        except GaitpipeError as exc:
            print(f"{backend}: skipped ({exc})", file=sys.stderr)
            continue
        total = StageTimes()
        ious, n_sil, failed = [], 0, 0
        with tempfile.TemporaryDirectory() as tmp:
            options = ExtractOptions(segmenter=backend, overwrite=True, workers=2)  # workers>1: no per-frame bar
            for job in jobs:
                r = process_video(Job(job.path, job.key), Path(tmp), options, segmenter)
                if r.status != "done":
                    failed += 1
                    print(f"{backend}: {Path(job.path).name}: {r.error}", file=sys.stderr)
                    continue
                t = StageTimes(
                    **{k: r.timings[k] for k in ("decode", "segment", "normalise", "write")},
                    frames=int(r.timings["frames"]),
                )
                total.add(t)
                n_sil += r.frames
                stem = Path(job.path).stem
                if stem in official:
                    import pickle

                    ours = pickle.loads((Path(tmp) / r.outputs[0]).read_bytes())
                    iou, off = aligned_iou(ours, official[stem])
                    ious.append(iou)
                    print(
                        f"{backend}: {stem}: {len(ours)} silhouettes (official {len(official[stem])}), "
                        f"IoU {iou:.3f} at offset {off}",
                        file=sys.stderr,
                    )
        rows.append((backend, len(jobs) - failed, total, n_sil, float(np.mean(ious)) if ious else None))

    def fps(frames: int, seconds: float) -> str:
        return f"{frames / seconds:,.0f}" if seconds > 0 else "-"

    clock = "CPU seconds of this process" if args.clock == "cpu" else "wall-clock seconds"
    threads = f"{args.threads} thread(s)" if args.threads else "default threads"
    print(
        f"\nextraction on {os.cpu_count()} CPU core(s), {threads}, {len(jobs)} CASIA-B clips (320x240); "
        f"frames/s per stage ({clock})\n"
    )
    head = "| backend | clips | frames | silhouettes | decode | segment | normalise | write | end-to-end |"
    if args.compare_official:
        head += " IoU vs official |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for backend, clips, t, n_sil, iou in rows:
        line = (
            f"| {backend} | {clips} | {t.frames} | {n_sil} | {fps(t.frames, t.decode)} | {fps(t.frames, t.segment)} | "
            f"{fps(t.frames, t.normalise)} | {fps(t.frames, t.write)} | {fps(t.frames, t.total)} |"
        )
        if args.compare_official:
            line += f" {iou:.3f} |" if iou is not None else " - |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
