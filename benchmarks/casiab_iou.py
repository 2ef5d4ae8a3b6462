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
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitpipe.metrics.silhouette_iou import Alignment, align_by_offset

if TYPE_CHECKING:
    from gaitpipe.segment.base import Segmenter
    from gaitpipe.types import Frame, PersonDetections

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


def silhouettes_by_frame(tracked: Iterable[tuple[Frame, PersonDetections]]) -> dict[int, np.ndarray]:
    """Normalised 64x64 silhouettes of the main walker, keyed by source frame index.

    For clips with one walker (e.g. CASIA-B): per frame the person with the largest mask is
    taken, its soft mask thresholded at 0.5 (0/255) and normalised the OpenGait way; frames
    OpenGait would drop are left out.
    """
    from gaitpipe.silhouette.normalize import normalize_mask

    out: dict[int, np.ndarray] = {}
    for frame, dets in tracked:
        if len(dets) == 0:
            continue
        binary = dets.masks > 0.5
        k = int(np.argmax(binary.reshape(len(dets), -1).sum(axis=1)))
        sil, _ = normalize_mask(binary[k].astype(np.uint8) * 255)
        if sil is not None:
            out[frame.index] = sil
    return out


def compare_clip(video: str | Path, reference: np.ndarray, segmenter: Segmenter) -> Alignment:
    """Segment ``video`` with ``segmenter`` and align its main walker with ``reference`` silhouettes."""
    from gaitpipe.io.video import open_video

    with open_video(video) as source:
        ours = silhouettes_by_frame(segmenter.track(source))
    return align_by_offset(ours, reference)


def evaluate(
    videos: Path, pack: Path, segmenter_name: str = "bgsub", *, via_extract: bool = False, **options: Any
) -> list[dict[str, Any]]:
    """One row per clip: clip, frames compared, offset, missing, mean/min IoU, seconds.

    ``via_extract``: take the walker's silhouettes from ``gaitpipe.extract.extract_video`` (the
    real pipeline: per-track assembly, border-cut frames dropped) instead of the plain
    largest-mask-per-frame loop.
    """
    from gaitpipe.data.packed import read_pack_sequences
    from gaitpipe.segment import create_segmenter

    clips = casiab_clips(videos)
    keys = {k for _, k in clips}
    refs = read_pack_sequences(
        pack, subjects={k[0] for k in keys}, conditions={k[1] for k in keys}, views={k[2] for k in keys}
    )
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
        rows.append(
            dict(
                clip=path.name,
                frames=a.frames_compared,
                offset=a.offset,
                missing=a.missing,
                mean_iou=a.mean_iou,
                min_iou=a.min_iou,
                seconds=time.perf_counter() - t0,
            )
        )
    return rows


def iou_table(rows: list[dict[str, Any]]) -> str:
    """One line per clip, then the mean over clips and the worst clip."""
    from gaitpipe.utils.console import format_table

    lines: list[list[Any]] = [
        [
            r["clip"],
            r["frames"],
            r["offset"],
            r["missing"],
            f"{r['mean_iou']:.3f}",
            f"{r['min_iou']:.3f}",
            f"{r['seconds']:.1f}",
        ]
        for r in rows
    ]
    if rows:
        means = [r["mean_iou"] for r in rows]
        lines.append(
            ["mean over clips", sum(r["frames"] for r in rows), "", "", f"{sum(means) / len(means):.3f}", "", ""]
        )
        lines.append(["worst clip", "", "", "", f"{min(means):.3f}", "", ""])
    return format_table(lines, ["clip", "frames", "offset", "missing", "mean IoU", "min IoU", "s"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segmenter", default="bgsub")
    ap.add_argument("--seg-weights", default=None)
    ap.add_argument(
        "--via-extract",
        action="store_true",
        help="use gaitpipe.extract.extract_video (the real pipeline, as the acceptance test does)",
    )
    ap.add_argument("--videos", type=Path, default=SHARED / "data" / "casiab-videos")
    ap.add_argument(
        "--pack",
        type=Path,
        default=SHARED / "data" / "casiab" / "casiab-train-001-074.npz.xz",
        help="official silhouettes as a gaitpipe silhouette pack (read with gaitpipe.data.packed)",
    )
    a = ap.parse_args(argv)
    if not a.videos.is_dir() or not a.pack.is_file():
        print(f"CASIA-B data not found ({a.videos}, {a.pack}); it is read from ../shared at run time", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = evaluate(a.videos, a.pack, a.segmenter, via_extract=a.via_extract, weights=a.seg_weights)
    print(iou_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
