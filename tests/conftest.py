"""Shared test fixtures: where the real CASIA-B data lives, and skips when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAITPIPE_SHARED", REPO.parent / "shared"))
CASIAB_PACK = SHARED / "data" / "casiab" / "casiab-train-001-074.npz.xz"
CASIAB_VIDEOS = SHARED / "data" / "casiab-videos"

NO_SHARED = "real CASIA-B data is read from ../shared/data at run time (its licence forbids copying it into the repo), and ../shared is absent here"


@pytest.fixture(scope="session")
def casiab_videos() -> Path:
    if not CASIAB_VIDEOS.is_dir():
        pytest.skip(NO_SHARED)
    return CASIAB_VIDEOS


@pytest.fixture(scope="session")
def casiab_pack() -> Path:
    if not CASIAB_PACK.is_file():
        pytest.skip(NO_SHARED)
    return CASIAB_PACK


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and spinning OpenMP threads crawl on a busy CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
