"""The GPU stretch script, run whole on the CPU: a tiny GaitBase, a generated pack, a fake $OUT.

Two stretches in a row: the first starts the run and hands its state back in pieces no larger
than the limit; the pieces are collected as a team member would (scripts/gpu_stretch_collect.sh),
reassembled, and the second stretch resumes from them (the iteration count continues). The
script runs with ultralytics, faiss and the other packages a lent GPU machine lacks made
unimportable, so it is known not to need them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gaitpipe.data.packed import write_pack
from gaitpipe.engine.stretch import MANIFEST, read_pieces, unbundle

REPO = Path(__file__).resolve().parents[1]
CONDS = ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02")
PIECE_BYTES = 40_000  # small, so that the tiny state is cut into several pieces
MAX_FILES = 8
#: What the lent GPU machine does not have: importing any of them fails in the stretch.
ABSENT_THERE = ("ultralytics", "faiss", "lap", "supervision", "platformdirs", "huggingface_hub", "pytest")

BLOCKER = f"""
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {ABSENT_THERE!r}:
            raise ImportError(f"{{name}} is not installed on the GPU machine")
        return None
sys.meta_path.insert(0, _Absent())
"""


def _walker(subject: int, cond: int, t: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.zeros((t, 64, 64), np.uint8)
    for i in range(t):
        w, h = 6 + 2 * subject + (i % 4) + (cond % 2), 22 + subject
        frames[i][((xx - 32) / w) ** 2 + ((yy - 32) / h) ** 2 <= 1] = 255
    return frames


def _stretch(tmp_path: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable, PYTHONPATH=str(tmp_path / "absent"))
    args = [
        "--state", str(tmp_path / "state"),
        "--data", str(tmp_path / "pack.npz"),
        "--arch", "gaitbase-small",
        "--set", "channels=[4,8,8,8]",
        "--set", "embed_dim=8",
        "--batch", "2x2",
        "--frames", "4",
        "--iters", "20",
        "--train-subjects", "001-004",
        "--val-subjects", "005-006",
        "--val-views", "054,090",
        "--val-max-frames", "8",
        "--stretch-iters", "3",
        "--device", "cpu",
        "--threads", "1",
        "--log-every", "1",
        "--piece-bytes", str(PIECE_BYTES),
        "--workdir", str(out.parent / (out.name + "-work")),
    ]  # fmt: skip
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_stretch.sh"), *args, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _check_out(out: Path) -> dict:
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert 0 < len(files) <= MAX_FILES, [f.name for f in files]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f.name) and f.parent == out for f in files)
    pieces = [f for f in files if f.name.startswith("state.part")]
    assert len(pieces) >= 2 and all(f.stat().st_size <= PIECE_BYTES for f in pieces)
    assert {"stretch.json", "stretch.log"} <= {f.name for f in files}
    return json.loads((out / MANIFEST).read_text())


def test_two_stretches_resume_from_pieces(tmp_path):
    (tmp_path / "absent").mkdir()
    (tmp_path / "absent" / "sitecustomize.py").write_text(BLOCKER)
    write_pack(
        tmp_path / "pack.npz",
        [
            (f"{s:03d}", c, v, _walker(s + vi, ci))
            for s in range(1, 7)
            for ci, c in enumerate(CONDS)
            for vi, v in enumerate(("054", "090"))
        ],
    )

    first = _stretch(tmp_path, tmp_path / "out1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "no state in" in first.stdout and "trained to iteration 3" in first.stdout
    manifest = _check_out(tmp_path / "out1")
    assert manifest["iteration"] == 3 and manifest["stretches"][0]["iterations"] == [0, 3]
    assert manifest["stretches"][0]["optimizer_state"] == "full"  # a tiny model's momentum fits
    assert set(manifest["stretches"][0]["validation"]["metrics"]) >= {"NM", "BG", "CL"}

    # collected as a team member would, then reassembled from the pieces
    collect = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_stretch_collect.sh"), str(tmp_path / "out1"), str(tmp_path / "state")],
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert collect.returncode == 0, collect.stdout + collect.stderr
    manifest, data = read_pieces(tmp_path / "state")
    files = unbundle(data, tmp_path / "joined")
    assert sorted(f.name for f in files) == ["checkpoint.pt", "checkpoint.state.pt", "train_log.jsonl"]
    from gaitpipe.models.checkpoint import load_checkpoint

    _, meta = load_checkpoint(tmp_path / "joined" / "checkpoint.pt")
    assert meta["training"]["iterations"] == 3 and meta["training"]["data_on_device"] is True

    second = _stretch(tmp_path, tmp_path / "out2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming at iteration 3" in second.stdout
    manifest = _check_out(tmp_path / "out2")
    assert manifest["iteration"] == 6 and [s["iterations"] for s in manifest["stretches"]] == [[0, 3], [3, 6]]
    _, data = read_pieces(tmp_path / "out2")
    unbundle(data, tmp_path / "joined2")
    records = [json.loads(line) for line in (tmp_path / "joined2" / "train_log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records if r["type"] == "train"] == [1, 2, 3, 4, 5, 6]

    # a damaged piece is refused, and so is a recipe change
    piece = tmp_path / "state" / "state.part01"
    raw = bytearray(piece.read_bytes())
    raw[100] ^= 0xFF
    piece.write_bytes(bytes(raw))
    with pytest.raises(Exception, match="damaged"):
        read_pieces(tmp_path / "state")
    changed = _stretch(tmp_path, tmp_path / "out3", "--frames", "6")
    assert changed.returncode != 0 and "recipe of a run cannot change" in changed.stdout + changed.stderr
