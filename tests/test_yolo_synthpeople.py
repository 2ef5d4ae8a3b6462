"""The yolo segmenter end to end on a real YOLO-seg network: the shipped test model.

``yolo11n-seg-synthpeople.pt`` (gaitpipe/_weights/segmenters, docs/models/yolo11n-seg-synthpeople.md)
is an ultralytics YOLO11n-seg trained by ``scripts/train_synth_yoloseg.py`` on frames of
``gaitpipe.synth`` only. It is not for real footage; here it lets the whole yolo path run offline on
a genuinely trained segmentation model: prototypes -> soft masks -> ByteTrack -> silhouettes ->
encoder -> gallery, through the library and the CLI (``--segmenter yolo --seg-weights NAME``), on
synthetic scenes with two walkers whose exact masks are known.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from gaitpipe.cli.app import main
from gaitpipe.hub.segmenter import SYNTHETIC_TEST_SEGMENTER_WEIGHTS, find_segmenter_weights
from gaitpipe.synth import Person, RenderedClip, Scene, Walk, render_scene, write_clip
from gaitpipe.types import Frame

MODEL = SYNTHETIC_TEST_SEGMENTER_WEIGHTS
YOLO = ["--segmenter", "yolo", "--seg-weights", MODEL]
N_FRAMES = 40
#: per-walker mean mask IoU against the renderer's exact masks (misses count 0), in the frames
#: where the walkers are apart
MIN_MEAN_IOU = 0.80
#: share of those frames in which each walker is tracked
MIN_FOUND = 0.9
#: share of those frames in which each walker is reported under its main track id
MIN_SAME_TRACK = 0.75


def _person(i: int) -> Person:
    return Person.random(np.random.default_rng([18, i]), f"{i:03d}")


def _walker(i: int, walk: int, *, depth: float = 4.0, x: float = 0.0) -> Walk:
    return Walk(_person(i), view=90, center=(x, depth), jitter_seed=walk)


def _two_walkers(walk: int, seed: int) -> RenderedClip:
    """Two walkers at different depths walking the same way, one ahead of the other: both seen
    whole and apart in every frame. (Crossings and occlusion are the trackers' tests.)"""
    near = _walker(1, walk, depth=3.8, x=0.5)
    far = _walker(2, walk, depth=5.5, x=-1.2)
    return render_scene(Scene(walks=[near, far], n_frames=N_FRAMES, seed=seed))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def _apart(gts: np.ndarray, gap: int = 8) -> bool:
    """Both walkers fully in view, and their masks' column ranges do not touch."""
    cols = [np.flatnonzero(g.any(0)) for g in gts]
    if any(len(c) == 0 for c in cols) or any(g[:, [0, -1]].any() or g[[0, -1]].any() for g in gts):
        return False
    (a0, a1), (b0, b1) = (c[[0, -1]] for c in cols)
    return bool(a1 + gap < b0 or b1 + gap < a0)


@pytest.fixture(scope="module")
def weights() -> Path:
    path = find_segmenter_weights(MODEL)
    assert path is not None, (
        f"{MODEL} is missing from gaitpipe/_weights/segmenters (see scripts/train_synth_yoloseg.py)"
    )
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path | RenderedClip]:
    """Enrolment clips of walkers 1 and 2 alone, and a probe with both (other walks)."""
    d = tmp_path_factory.mktemp("clips")
    out: dict[str, Path | RenderedClip] = {}
    for i in (1, 2):
        clip = render_scene(Scene(walks=[_walker(i, 1)], n_frames=N_FRAMES, seed=30 + i))
        out[f"walker{i}"] = write_clip(clip, d / f"walker{i}.mp4")
    probe = _two_walkers(walk=2, seed=33)
    out["probe_clip"] = probe
    out["probe"] = write_clip(probe, d / "probe.mp4")
    return out


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_soft_masks_and_tracks_follow_each_walker(weights, clips):
    from gaitpipe.segment import create_segmenter

    clip = clips["probe_clip"]
    assert isinstance(clip, RenderedClip)
    seg = create_segmenter("yolo", weights=MODEL)  # by name: found in the shipped segmenters folder
    assert seg.weights_path == weights and seg.task == "segment" and seg.person_class == 0
    frames = [Frame(i, f, i / clip.fps) for i, f in enumerate(clip.frames)]
    owners: dict[int, list[int]] = {0: [], 1: []}
    ious: dict[int, list[float]] = {0: [], 1: []}
    soft_seen = False
    for (_, dets), gts in zip(seg.track(frames), clip.masks):
        soft_seen |= bool(((dets.masks > 0.05) & (dets.masks < 0.95)).any())
        if not _apart(gts):
            continue
        for person, gt in enumerate(gts):
            scores = {int(dets.track_ids[k]): _iou(dets.masks[k] > 0.5, gt) for k in range(len(dets))}
            tid = max(scores, key=lambda t: scores[t], default=None)
            if tid is None or scores[tid] < 0.5:
                ious[person].append(0.0)  # missed (a new track is reported once confirmed)
                continue
            owners[person].append(tid)
            ious[person].append(scores[tid])
    assert soft_seen, "masks must stay soft (sigmoid of the mask logits), not thresholded"
    assert min(len(v) for v in ious.values()) >= 20, {k: len(v) for k, v in ious.items()}
    for person, values in ious.items():
        found = np.mean(np.asarray(values) > 0)
        assert found >= MIN_FOUND, f"walker {person} found in {found:.0%} of the frames"
        assert np.mean(values) >= MIN_MEAN_IOU, f"walker {person}: mean IoU {np.mean(values):.3f}"
    # each walker keeps one track id (a duplicate detection may briefly take over), not the other's
    main = {}
    for person, tids in owners.items():
        main[person] = max(set(tids), key=tids.count)
        share = tids.count(main[person]) / len(ious[person])
        assert share >= MIN_SAME_TRACK, f"walker {person}: main track in {share:.0%} of the frames ({tids})"
    assert main[0] != main[1]


def test_extract_enroll_identify_through_the_cli(weights, clips, capsys, tmp_path):
    # extract: one OpenGait sequence per walker, soft-masked RGB alongside, settings in the manifest
    out = tmp_path / "sils"
    code, _, err = cli(capsys, "extract-silhouettes", clips["probe"], "--out", out, *YOLO, "--rgb")
    assert code == 0, err
    seqs = {}
    for pkl in sorted((out / "probe").glob("*/default/default.pkl")):
        with open(pkl, "rb") as f:
            seqs[pkl] = pickle.load(f)
    # the two walkers are the long sequences (a false detection may make a short one)
    long = [p for p, seq in seqs.items() if len(seq) >= 20]
    assert len(long) == 2, {str(p.relative_to(out)): len(v) for p, v in seqs.items()}
    for pkl in long:
        seq = seqs[pkl]
        assert seq.dtype == np.uint8 and seq.shape[1:] == (64, 64)
        assert seq.max() == 255 and (seq.reshape(len(seq), -1).max(1) > 0).all()  # a person in every frame
        with open(pkl.with_name("default-rgb.pkl"), "rb") as f:
            rgb = pickle.load(f)
        assert rgb.shape == (*seq.shape, 3)
    manifest = json.loads(next((out / "_gaitpipe").rglob("manifest.json")).read_text())
    settings = json.dumps(manifest)
    assert MODEL in settings and '"yolo"' in settings

    # enrol each walker from a clip of their own, then name both in the two-walker probe
    gallery = tmp_path / "gallery"
    for i in (1, 2):
        code, _, err = cli(capsys, "enroll", clips[f"walker{i}"], "--id", f"walker{i}", "--gallery", gallery, *YOLO)
        assert code == 0, err
    code, stdout, err = cli(capsys, "identify", clips["probe"], "--gallery", gallery, "--json", *YOLO)
    assert code == 0, err
    walkers = [w for w in json.loads(stdout)["walkers"] if w["matches"]]
    walkers = sorted(walkers, key=lambda w: -w["frames"])[:2]  # the two walkers, not a stray short track
    tops = [w["matches"][0]["id"] for w in walkers]
    assert sorted(tops) == ["walker1", "walker2"], stdout


def test_a_seg_model_without_a_person_class_is_a_clear_error(tmp_path, capsys):
    """A real seg network whose classes are not people (here: the test model relabelled) is refused."""
    import torch

    ckpt = torch.load(find_segmenter_weights(MODEL), map_location="cpu", weights_only=False)
    ckpt["model"].names = {0: "cat"}
    relabelled = tmp_path / "cats-seg.pt"
    torch.save(ckpt, relabelled)
    clip = tmp_path / "walk.mp4"
    write_clip(render_scene(Scene(walks=[_walker(1, 0)], n_frames=12, seed=0)), clip)
    code = main(
        [
            "extract-silhouettes",
            str(clip),
            "--out",
            str(tmp_path / "out"),
            "--segmenter",
            "yolo",
            "--seg-weights",
            str(relabelled),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("error: ") and "\n" not in err, err
    assert "has no 'person' class" in err and "cat" in err
