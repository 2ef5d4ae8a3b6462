"""Silhouette quality on real CASIA-B clips: our segmenter vs the official silhouettes.

For every clip in ``../shared/data/casiab-videos`` (except the empty-scene ``bkgrd`` clips) the
segmenter's main walker is thresholded at 0.5, normalised the OpenGait way and compared with
the official 64x64 silhouettes of the same subject/condition/view, aligned by the best frame
offset (the official sequences drop partial-body frames). Prints one row per clip and the
mean/min IoU. Acceptance (tests/test_casiab_iou.py): mean >= 0.90, no clip below 0.80.

    python benchmarks/casiab_iou.py [--segmenter bgsub] [--videos DIR] [--pack FILE]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAITPIPE_SHARED", REPO.parent / "shared"))


def casiab_clips(videos: Path) -> list[tuple[Path, tuple[str, str, str]]]:
    """(video, (subject, condition, view)) for every walking clip, e.g. 001-nm-01-090.avi."""
    out = []
    for p in sorted(videos.glob("*.avi")):
        parts = p.stem.split("-")
        if len(parts) == 4:  # SSS-CC-NN-VVV; background clips are SSS-bkgrd-VVV
            out.append((p, (parts[0], f"{parts[1]}-{parts[2]}", parts[3])))
    return out


def evaluate(videos: Path, pack: Path, segmenter_name: str = "bgsub", *, via_extract: bool = False, **options) -> list[dict]:
    """One row per clip: clip, frames compared, offset, missing, mean/min IoU, seconds.

    ``via_extract``: take the walker's silhouettes from ``gaitpipe.extract.extract_video`` (the
    real pipeline: per-track assembly, border-cut frames dropped) instead of the plain
    largest-mask-per-frame loop.
    """
    from gaitpipe.metrics.silhouette_iou import align_by_offset, compare_clip, read_casiab_pack
    from gaitpipe.segment import create_segmenter

    clips = casiab_clips(videos)
    keys = {k for _, k in clips}
    refs = read_casiab_pack(pack, subjects={k[0] for k in keys}, conds={k[1] for k in keys}, views={k[2] for k in keys})
    segmenter = create_segmenter(segmenter_name, **options)
    rows = []
    for path, key in clips:
        if key not in refs:
            continue
        t0 = time.perf_counter()
        if via_extract:
            from gaitpipe.extract import extract_video

            seqs = extract_video(path, segmenter).sequences
            main = max(seqs, key=len)
            a = align_by_offset(dict(zip(main.frame_indices.tolist(), main.frames)), refs[key])
        else:
            a = compare_clip(path, refs[key], segmenter)
        rows.append(dict(clip=path.name, frames=a.frames_compared, offset=a.offset, missing=a.missing,
                         mean_iou=a.mean_iou, min_iou=a.min_iou, seconds=time.perf_counter() - t0))
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'clip':<22} {'frames':>6} {'offset':>6} {'missing':>7} {'mean IoU':>8} {'min IoU':>7} {'s':>5}"]
    for r in rows:
        lines.append(f"{r['clip']:<22} {r['frames']:>6} {r['offset']:>6} {r['missing']:>7} "
                     f"{r['mean_iou']:>8.3f} {r['min_iou']:>7.3f} {r['seconds']:>5.1f}")
    if rows:
        means = [r["mean_iou"] for r in rows]
        lines.append(f"{'mean over clips':<22} {sum(r['frames'] for r in rows):>6} {'':>6} {'':>7} "
                     f"{sum(means) / len(means):>8.3f}")
        lines.append(f"{'worst clip':<22} {'':>6} {'':>6} {'':>7} {min(means):>8.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segmenter", default="bgsub")
    ap.add_argument("--seg-weights", default=None)
    ap.add_argument("--via-extract", action="store_true", help="use gaitpipe.extract.extract_video (the real pipeline, as the acceptance test does)")
    ap.add_argument("--videos", type=Path, default=SHARED / "data" / "casiab-videos")
    ap.add_argument("--pack", type=Path, default=SHARED / "data" / "casiab" / "casiab-train-001-074.npz.xz")
    a = ap.parse_args(argv)
    if not a.videos.is_dir() or not a.pack.is_file():
        print(f"CASIA-B data not found ({a.videos}, {a.pack}); it is read from ../shared at run time", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = evaluate(a.videos, a.pack, a.segmenter, via_extract=a.via_extract, weights=a.seg_weights)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
