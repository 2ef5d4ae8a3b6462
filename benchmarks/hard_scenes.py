"""Walkers who cross and occlude each other, and low-contrast clothes: tracking and silhouette quality.

Renders the scenes of :mod:`gaitpipe.synth.hard_scenes` (exact per-person masks), runs a
segmenter and the per-track assembly over their frames exactly as ``extract_video`` does, and
prints per walker: identity switches, track ids used, silhouettes kept (and how many of them
were occluded) and their mean IoU with the walker's full-body silhouette
(:mod:`gaitpipe.metrics.walker_tracking`). Results: docs/benchmarks.md#crossings-and-occlusion.

    python benchmarks/hard_scenes.py [--segmenter bgsub] [--seeds 0 1] [--frames 90]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from gaitpipe.metrics.walker_tracking import WalkerScore, score_walkers
from gaitpipe.segment.base import Segmenter
from gaitpipe.silhouette.tracks import TrackAssembler
from gaitpipe.synth.hard_scenes import OCCLUSION_SCENES, full_body_masks, occlusion_scene
from gaitpipe.synth.render import Scene, render_scene
from gaitpipe.types import Frame, PersonDetections, SilhouetteSequence


def run_segmenter(
    frames: np.ndarray, segmenter: Segmenter, fps: float = 25.0, **assembler_options: Any
) -> tuple[list[PersonDetections], list[SilhouetteSequence], dict[int, int]]:
    """Segment and assemble in-memory BGR frames as ``extract_video`` does.

    Returns every frame's detections, all sequences (short ones too) and the assembler's track aliases.
    """
    height, width = frames.shape[1:3]
    assembler = TrackAssembler((width, height), **assembler_options)
    stream = (Frame(index=i, image=f, timestamp=i / fps) for i, f in enumerate(frames))
    dets = []
    for frame, d in segmenter.track(stream):
        assembler.add(frame, d)
        dets.append(d)
    sequences = assembler.finish()
    return dets, [*sequences, *assembler.rejected], assembler.aliases


def run_scene(scene: Scene, segmenter: Segmenter, **assembler_options: Any) -> list[WalkerScore]:
    clip = render_scene(scene)
    dets, sequences, aliases = run_segmenter(clip.frames, segmenter, clip.fps, **assembler_options)
    return score_walkers(clip.masks, full_body_masks(scene), dets, sequences, aliases)


def main(argv: list[str] | None = None) -> int:
    from gaitpipe.segment import create_segmenter
    from gaitpipe.utils.console import format_table

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--segmenter", default="bgsub")
    ap.add_argument("--seg-weights", default=None)
    ap.add_argument("--scenes", nargs="*", default=list(OCCLUSION_SCENES))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument(
        "--no-occlusion-checks", action="store_true", help="keep occluded and merged frames (the former behaviour)"
    )
    a = ap.parse_args(argv)
    options = {"weights": a.seg_weights} if a.seg_weights else {}
    segmenter = create_segmenter(a.segmenter, **options)
    rows: list[list[Any]] = []
    for name in a.scenes:
        for seed in a.seeds:
            scene = occlusion_scene(name, seed, a.frames)
            for s in run_scene(scene, segmenter, occlusion=not a.no_occlusion_checks):
                rows.append(
                    [
                        f"{name}/{seed}",
                        s.walker,
                        f"{s.frames_matched}/{s.frames_visible}",
                        len(s.track_ids),
                        s.switches,
                        s.frames_kept,
                        s.frames_kept_occluded,
                        f"{s.silhouette_iou:.3f}",
                    ]
                )
                print(*rows[-1], flush=True)
    print(format_table(rows, ["scene/seed", "walker", "tracked", "ids", "switches", "kept", "occluded", "IoU"]))
    ious = [float(r[-1]) for r in rows if r[-1] != "nan"]
    print(
        f"identity switches {sum(int(r[4]) for r in rows)}, occluded frames kept {sum(int(r[6]) for r in rows)}, "
        f"mean silhouette IoU {np.mean(ious):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
