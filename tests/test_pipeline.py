"""Pipeline: batching across tracks and windows never changes an embedding; weights metadata flows through.

Uses a tiny GaitBase (same structure, few channels) saved as a real weights file, and synthetic
silhouette sequences, so no segmenter or trained weights are needed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaitpipe.gallery import flatten_parts
from gaitpipe.types import SilhouetteSequence


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    from gaitpipe.models import create_model
    from gaitpipe.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    probe = create_model("gaitbase-casiab")
    model = create_model("gaitbase-casiab", **probe.tiny_overrides())
    path = tmp_path_factory.mktemp("w") / "tiny-gaitbase.pt"
    meta = save_checkpoint(path, model, meta={"open_set": {"threshold": 0.42}})
    return path, meta


def walker(track: int, length: int, seed: int, start: int = 0) -> SilhouetteSequence:
    """A blob that swings like legs: enough structure for distinct embeddings."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((length, 64, 64), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    width = 6 + 3 * rng.random()
    for t in range(length):
        swing = 8 * np.sin(2 * np.pi * t / (20 + seed % 7))
        body = ((xx - 32) / width) ** 2 + ((yy - 24) / 20) ** 2 < 1
        leg1 = (np.abs(xx - 32 - swing * (yy - 40) / 24) < 3) & (yy >= 40)
        leg2 = (np.abs(xx - 32 + swing * (yy - 40) / 24) < 3) & (yy >= 40)
        frames[t][body | leg1 | leg2] = 255
    idx = np.arange(start, start + length, dtype=np.int64)
    boxes = np.tile(np.array([[10, 10, 50, 120]], np.float32), (length, 1))
    return SilhouetteSequence(track, frames, idx, boxes, dropped={"border_cut": 5}, source="synthetic")


def test_batching_across_tracks_never_changes_an_embedding(tiny_weights):
    from gaitpipe.pipeline import Pipeline

    path, meta = tiny_weights
    pipe = Pipeline(weights=str(path), device="cpu", batch_frames=10_000)
    seqs = [walker(1, 37, 1), walker(2, 52, 2, start=100), walker(7, 37, 3)]
    together = pipe.embed_sequences(seqs)
    alone = [pipe.embed_sequences([s])[0] for s in seqs]
    assert [w.track_id for w in together] == [1, 2, 7]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.embedding, b.embedding, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a.vector, flatten_parts(a.embedding)[0], rtol=1e-6)
    w = together[1]
    assert (w.frame_start, w.frame_end, w.frames, w.windows) == (100, 151, 52, 1)
    assert w.quality == pytest.approx(52 / 57)  # coverage 52/(52+5), length factor 1 (52 >= 40)
    assert together[0].quality == pytest.approx(37 / 42 * 37 / 40)
    # different walkers give different embeddings (the encoder is really run)
    assert float(together[0].vector @ together[1].vector) < 0.9999
    assert pipe.fingerprint == meta["fingerprint"] and pipe.threshold == pytest.approx(0.42)
    assert pipe.embed_sequences([]) == []


def test_long_tracks_are_windowed_and_windows_averaged(tiny_weights):
    from gaitpipe.pipeline import Pipeline
    from gaitpipe.windows import split_windows

    assert split_windows(25, 10) == [(0, 8), (8, 17), (17, 25)]
    assert split_windows(7, 300) == [(0, 7)]
    path, _ = tiny_weights
    seq = walker(3, 25, 4)
    windowed = Pipeline(weights=str(path), device="cpu", window=10, batch_frames=12).embed_sequences([seq])[0]
    assert windowed.windows == 3
    parts = [
        Pipeline(weights=str(path), device="cpu")
        .embed_sequences([SilhouetteSequence(3, seq.frames[a:b], seq.frame_indices[a:b], seq.boxes[a:b])])[0]
        .embedding
        for a, b in split_windows(25, 10)
    ]
    np.testing.assert_allclose(windowed.embedding, np.mean(parts, axis=0), rtol=1e-4, atol=1e-5)


def test_lazy_export_keeps_import_light():
    import subprocess
    import sys

    code = (
        "import sys, gaitpipe; assert 'torch' not in sys.modules; "
        "from gaitpipe import Pipeline; print(Pipeline.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Pipeline"


def test_enrol_picks_the_main_walker_or_the_asked_track(tiny_weights, tmp_path, monkeypatch):
    """Track choice and refusals, with the segmentation stage replaced by known walkers."""
    from gaitpipe.errors import InputError
    from gaitpipe.gallery import Gallery
    from gaitpipe.pipeline import Pipeline

    path, meta = tiny_weights
    pipe = Pipeline(weights=str(path), device="cpu")
    walkers = pipe.embed_sequences([walker(4, 30, 1), walker(9, 60, 2, start=10), walker(5, 12, 3)])
    monkeypatch.setattr(pipe, "embed_video", lambda video, analysed=None: sorted(walkers, key=lambda w: -w.frames))
    clip = tmp_path / "walk.avi"
    clip.write_bytes(b"not decoded here")
    res = pipe.enroll(clip, "ann", gallery=tmp_path / "g")
    assert res.walker.track_id == 9 and sorted(res.other_tracks) == [4, 5]  # longest usable track
    assert (
        res.enrolment.frames == 60 and res.enrolment.frame_start == 10 and res.enrolment.encoder == meta["fingerprint"]
    )
    res = pipe.enroll(clip, "ann", gallery=tmp_path / "g", track=4)
    assert res.walker.track_id == 4
    with pytest.raises(InputError, match=r"no usable track 7 .* usable tracks: 9 \(60 frames\)"):
        pipe.enroll(clip, "ann", gallery=tmp_path / "g", track=7)
    with pytest.raises(InputError, match="only 12 usable silhouettes; at least 20"):
        pipe.enroll(clip, "bob", gallery=tmp_path / "g", track=5)
    with Gallery.open(tmp_path / "g") as g:
        assert [(e.identity, e.track) for e in g.enrolments()] == [("ann", 9), ("ann", 4)]
        stored = g.embedding(g.enrolments()[0].id)
    np.testing.assert_allclose(stored, walkers[1].embedding, rtol=1e-6)


@pytest.mark.parametrize("input_kind", ["silhouette", "rgb"])
def test_gaitnet_gets_the_input_its_weights_were_trained_on(tmp_path, input_kind):
    """A silhouette-trained GaitNet embeds silhouette tracks; an RGB one asks for colour crops."""
    from gaitpipe.errors import InputError
    from gaitpipe.models import create_model
    from gaitpipe.models.checkpoint import save_checkpoint
    from gaitpipe.pipeline import Pipeline

    torch.manual_seed(0)
    model = create_model("gaitnet", **create_model("gaitnet").tiny_overrides(), input_kind=input_kind)
    path = tmp_path / f"gaitnet-{input_kind}.pt"
    save_checkpoint(path, model)
    pipe = Pipeline(weights=str(path), device="cpu")
    assert pipe.encoder.input_kind == input_kind
    seq = walker(1, 12, seed=3)
    if input_kind == "silhouette":
        (emb,) = pipe.embed_sequences([seq])
        assert emb.embedding.shape == (1, 16) and np.isfinite(emb.vector).all()
    else:
        with pytest.raises(InputError, match="colour crops"):
            pipe.embed_sequences([seq])
