"""Occluded and merged frames are dropped from silhouette sequences; identities survive occlusions.

Unit checks of the size-trend and contact rules (gaitpipe.silhouette.occlusion) and of track
re-joining (gaitpipe.silhouette.stitch), then bgsub on
rendered scenes with exact per-person masks (gaitpipe.synth.hard_scenes): two walkers crossing
and one passing behind a pillar. Figures for every scene: docs/benchmarks.md#crossings-and-occlusion.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitpipe.metrics.walker_tracking import score_walkers
from gaitpipe.segment import create_segmenter
from gaitpipe.silhouette.occlusion import DROP_MERGED, DROP_OCCLUDED, size_outliers, touching
from gaitpipe.silhouette.stitch import stitch_tracks
from gaitpipe.silhouette.tracks import TrackAssembler
from gaitpipe.synth.hard_scenes import full_body_masks, occlusion_scene
from gaitpipe.synth.render import render_scene
from gaitpipe.types import Frame, PersonDetections


def test_size_trend_flags_merged_and_hidden_frames_not_perspective_or_gait():
    t = np.arange(80)
    height = 60 * 1.012**t  # approaching the camera: 2.6x taller by the end
    area = 0.35 * height**2 * (1 + 0.12 * np.sin(2 * np.pi * t / 14))  # gait: +-12 % area
    assert size_outliers(t, height.round(), area.round()) == [None] * 80
    area[30:42] *= 1.5  # a second walker merged into the blob
    area[60:66] *= 0.55  # a pillar hides a slice
    height[70:74] *= 0.7  # a counter hides the legs
    area[70:74] *= 0.7
    got = size_outliers(t, height.round(), area.round())
    assert {i for i, v in enumerate(got) if v == DROP_MERGED} == set(range(30, 42))
    assert {i for i, v in enumerate(got) if v == DROP_OCCLUDED} == set(range(60, 66)) | set(range(70, 74))
    assert size_outliers(t[:5], height[:5], area[:5]) == [None] * 5  # too short for a trend


def test_touching_masks_and_assembler_drop():
    a = np.zeros((100, 100), bool)
    b = np.zeros((100, 100), bool)
    c = np.zeros((100, 100), bool)
    a[10:90, 10:30] = True
    b[10:90, 31:50] = True  # one pixel apart from a
    c[10:90, 70:90] = True
    assert touching([a, b, c]) == [True, True, False]
    assembler = TrackAssembler((100, 100), min_frames=1, border_tolerance=1.0)
    dets = PersonDetections(0, np.array([1, 2, 3]), np.zeros((3, 4), np.float32), np.ones(3, np.float32),
                            np.stack([a, b, c]).astype(np.float32))  # fmt: skip
    assembler.add(Frame(0, np.zeros((100, 100, 3), np.uint8), 0.0), dets)
    assembler.finish()
    by_id = {s.track_id: s for s in assembler.rejected + assembler.finish()}
    assert by_id[1].dropped == {DROP_OCCLUDED: 1} and by_id[2].dropped == {DROP_OCCLUDED: 1}
    assert len(by_id[3]) == 1
    off = TrackAssembler((100, 100), min_frames=1, border_tolerance=1.0, occlusion=False)
    off.add(Frame(0, np.zeros((100, 100, 3), np.uint8), 0.0), dets)
    assert len(off.finish()) == 3


@pytest.mark.parametrize("name", ["cross2", "pillar"])
def test_bgsub_scene_identities_and_clean_silhouettes(name):
    scene = occlusion_scene(name, seed=0, n_frames=80)
    clip = render_scene(scene)
    full = full_body_masks(scene)
    frames = [Frame(i, f, i / clip.fps) for i, f in enumerate(clip.frames)]
    dets = [d for _, d in create_segmenter("bgsub").track(frames)]

    def assemble(occlusion: bool):
        assembler = TrackAssembler((clip.frames.shape[2], clip.frames.shape[1]), occlusion=occlusion)
        for frame, d in zip(frames, dets):
            assembler.add(frame, d)
        sequences = assembler.finish() + assembler.rejected
        return score_walkers(clip.masks, full, dets, sequences, assembler.aliases)

    after, before = assemble(True), assemble(False)
    print("\n" + "\n".join(f"{name} {b}\n{name} {a}" for b, a in zip(before, after)))
    for a, b in zip(after, before):
        assert a.frames_matched >= 0.65 * a.frames_visible  # the far walker is inside a merged blob a while
        assert a.frames_kept >= 30, a
        # Fewer polluted frames and better silhouettes than keeping everything.
        assert a.frames_kept_occluded <= b.frames_kept_occluded
        assert a.silhouette_iou >= b.silhouette_iou - 0.005, (a, b)
        assert a.silhouette_iou >= 0.8, a
    if name == "cross2":
        # Both walkers keep one identity through the crossing; the merged blob is dropped.
        assert [a.switches for a in after] == [0, 0] and all(len(a.track_ids) == 1 for a in after)
        assert after[0].silhouette_iou >= before[0].silhouette_iou + 0.05, (after[0], before[0])
    else:
        assert after[0].frames_kept_occluded < before[0].frames_kept_occluded
        # Behind the pillar the tracker loses the walker and starts a new track on the far side;
        # the re-joined sequence is one identity again.
        assert len(before[0].track_ids) == 2 and len(after[0].track_ids) == 1, (before[0], after[0])


def _walk(first: int, last: int, x0: float, speed: float, height: float = 100.0, bottom: float = 200.0):
    t = np.arange(first, last + 1)
    cx = x0 + speed * (t - first)
    return t, np.stack([cx - 20, np.full_like(cx, bottom - height), cx + 20, np.full_like(cx, bottom)], axis=1)


def test_stitch_rejoins_a_walker_behind_an_occluder_and_nobody_else():
    a = _walk(0, 30, 300, -3.0)  # walks left, hidden from frame 31 to 44
    b = _walk(45, 80, 300 - 3.0 * 45, -3.0)  # reappears where a would be
    c = _walk(0, 80, 100, 2.0, height=70, bottom=150)  # another walker, farther away, all along
    assert stitch_tracks({1: a, 2: b, 3: c}, width=320) == {2: 1}
    assert stitch_tracks({1: a, 3: c, 4: _walk(45, 80, 300 - 3.0 * 45 + 80, -3.0)}, width=320) == {}  # elsewhere
    assert stitch_tracks({1: a, 5: _walk(45, 80, 165, 3.0)}, width=320) == {}  # walks the other way
    d = _walk(0, 30, 60, -3.0)  # leaves the picture on the left ...
    e = _walk(36, 60, 10, 3.0)  # ... and someone enters there
    f = _walk(36, 60, 5, -3.0)  # (even walking the same way: d's path left the picture)
    assert stitch_tracks({1: d, 2: e}, width=320) == {} and stitch_tracks({1: d, 2: f}, width=320) == {}
