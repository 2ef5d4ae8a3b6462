"""The front-end check of issue 17 (gaitpipe.engine.front_end_check): raw walk videos through our own
front end, compared with official silhouettes. Bookkeeping on hand-made silhouettes and a real pack
file; extraction on a real example video. Its figures for the shipped weights come from
``benchmarks/cross_scene.py`` on ``../shared``'s CASIA-B videos (docs/training.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gaitpipe.data.packed import write_pack
from gaitpipe.engine.front_end_check import ExtractedWalks, extract_walks, front_end_report, list_videos
from gaitpipe.errors import InputError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def figure(width: int, height: int, t: int = 8) -> np.ndarray:
    """A centred white box of the given size: a stand-in walker whose shape says who it is."""
    frames = np.zeros((t, 64, 64), np.uint8)
    frames[:, 32 - height // 2 : 32 + height // 2, 32 - width // 2 : 32 + width // 2] = 255
    frames[::2, 60:, 20:30] = 255  # some motion, so frames differ
    return frames


@pytest.fixture
def tiny_model(tmp_path):
    from conftest import write_tiny_weights

    from gaitpipe.hub import load_encoder

    model, _ = load_encoder(write_tiny_weights(tmp_path / "tiny.pt"), "cpu")
    return model


def test_list_videos_takes_casiab_named_walks_only(tmp_path):
    for name in ("002-nm-05-090.avi", "001-bkgrd-090.avi", "001-cl-01-090.mp4", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [k for _, k in list_videos(tmp_path)] == [("001", "cl-01", "090"), ("002", "nm-05", "090")]
    with pytest.raises(InputError, match="no CASIA-B walk videos"):
        list_videos(tmp_path / "missing")


def test_report_names_walkers_against_the_official_gallery(tmp_path, tiny_model, one_torch_thread):
    """Own silhouettes equal to the official ones: cosine 1 and every walk named; a walk whose
    silhouettes are someone else's is named as that someone."""
    shapes = {"001": (10, 40), "002": (24, 56), "003": (16, 30)}
    official = [(s, c, "090", figure(*wh)) for s, wh in shapes.items() for c in ("nm-01", "nm-02", "bg-01")]
    pack = write_pack(tmp_path / "pack.npz", official)
    walks = ExtractedWalks(
        [("001", "bg-01", "090"), ("002", "bg-01", "090"), ("003", "nm-05", "090")],
        [figure(*shapes["001"]), figure(*shapes["002"]), figure(*shapes["001"])],  # 003's walk looks like 001
    )
    r = front_end_report(tiny_model, walks, pack, "001-003", device="cpu")
    assert r["gallery_identities"] == 3 and r["gallery_sequences"] == 6  # nm-01/02 only: bg is not gallery
    assert r["named"] == {"001-bg-01-090": "001", "002-bg-01-090": "002", "003-nm-05-090": "001"}
    assert r["rank1"] == pytest.approx(200 / 3) and r["rank1_by_condition"] == {"BG": 100.0, "NM": 0.0}
    assert r["same_walk_cosine_mean"] == pytest.approx(1.0, abs=1e-4)  # 003-nm-05 has no official twin
    with pytest.raises(InputError, match="no official gallery"):
        front_end_report(tiny_model, walks, pack, "050-060", device="cpu")


def test_extraction_of_a_real_video_is_cached(tmp_path, monkeypatch):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(EXAMPLES / "ana-nm-01-090.mp4", videos / "001-nm-01-090.mp4")
    walks = extract_walks(videos, cache_dir=tmp_path / "cache")
    assert walks.keys == [("001", "nm-01", "090")]
    (sil,) = walks.silhouettes
    assert sil.dtype == np.uint8 and sil.shape[1:] == (64, 64) and len(sil) >= 20 and sil.max() == 255

    from gaitpipe.pipeline import Pipeline

    def no_extraction(*_a, **_k):
        raise AssertionError("extracted again instead of reading the cache")

    monkeypatch.setattr(Pipeline, "extract", no_extraction)
    again = extract_walks(videos, cache_dir=tmp_path / "cache")
    assert again.keys == walks.keys and np.array_equal(again.silhouettes[0], sil)
