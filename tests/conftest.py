"""Shared test fixtures: where the real CASIA-B data lives, and skips when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAITPIPE_SHARED", REPO.parent / "shared"))
CASIAB_PACK = SHARED / "data" / "casiab" / "casiab-train-001-074.npz.xz"
CASIAB_VIDEOS = SHARED / "data" / "casiab-videos"

# The suite never downloads (CI has no network; a real user's `auto` segmenter fetches YOLO-seg
# weights). Tests of the download branch inject the downloader or unset this themselves.
os.environ["GAITPIPE_OFFLINE"] = "1"


def _no_casiab(missing: Path) -> str:
    """Skip reason: which real-data file is missing, why it is not shipped, and how to point at it."""
    return (
        f"real CASIA-B data not found at {missing}: its licence forbids shipping it with gaitpipe; "
        "set GAITPIPE_SHARED to the folder that holds data/casiab and data/casiab-videos"
    )


@pytest.fixture(scope="session")
def casiab_videos() -> Path:
    if not CASIAB_VIDEOS.is_dir():
        pytest.skip(_no_casiab(CASIAB_VIDEOS))
    return CASIAB_VIDEOS


@pytest.fixture(scope="session")
def casiab_pack() -> Path:
    if not CASIAB_PACK.is_file():
        pytest.skip(_no_casiab(CASIAB_PACK))
    return CASIAB_PACK


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and spinning OpenMP threads crawl on a busy CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_tiny_weights(path: Path, meta: dict | None = None) -> Path:
    """An untrained tiny GaitBase saved as a real weights file (for plumbing tests, not accuracy)."""
    import torch

    from gaitpipe.models import create_model
    from gaitpipe.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("gaitbase-casiab", **create_model("gaitbase-casiab").tiny_overrides())
    save_checkpoint(path, model, meta=meta or {})
    return path


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """Tiny untrained weights with an open-set threshold of 0.3, one file per test module."""
    return write_tiny_weights(tmp_path_factory.mktemp("w") / "tiny-gaitbase.pt", {"open_set": {"threshold": 0.3}})
