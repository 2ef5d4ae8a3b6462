"""`gaitpipe weights calibrate` and `weights install`: validation + open-set figures into the weights,
then a weights folder with a MANIFEST.json naming the default."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from gaitpipe.cli.app import main
from gaitpipe.data.packed import write_pack
from gaitpipe.models import create_model
from gaitpipe.models.checkpoint import default_weights, load_checkpoint, read_meta, save_checkpoint

CONDS = ["nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02"]
VIEWS = ["000", "090"]


def _walker(subject: int, cond: int, view: int, t: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.zeros((t, 64, 64), np.uint8)
    for i in range(t):
        w, h = 6 + 3 * subject + (i % 3) + (cond % 2), 20 + 2 * subject + 3 * view
        frames[i][((xx - 32) / w) ** 2 + ((yy - 32) / h) ** 2 <= 1] = 255
    return frames


def test_calibrate_then_install(tmp_path, monkeypatch, capsys):
    pack = write_pack(tmp_path / "val.npz", [(f"{s:03d}", c, v, _walker(s, ci, vi)) for s in range(1, 5)
                                           for ci, c in enumerate(CONDS) for vi, v in enumerate(VIEWS)])
    torch.manual_seed(0)
    weights = tmp_path / "run.pt"
    save_checkpoint(weights, create_model("gaitbase-small", channels=[4, 8, 8, 8], embed_dim=8, num_classes=4),
                    meta={"training_data": {"train_subjects": "none (test)"}, "training": {"iterations": 0}})
    fingerprint = read_meta(weights)["fingerprint"]

    assert main(["weights", "calibrate", str(weights), "--data", str(pack), "--subjects", "001-004"]) == 0
    out = capsys.readouterr().out
    assert "validation rank-1" in out and "open set: threshold" in out
    meta = read_meta(weights)
    assert meta["fingerprint"] == fingerprint  # metadata changed, weights did not
    assert set(meta["metrics"]["validation"]["rank1"]) >= {"NM", "BG", "CL", "mean"}
    cal = meta["open_set"]
    assert -1 <= cal["threshold"] <= 1 and cal["subjects"] == 4 and cal["genuine_pairs"] == 4 * (20 * 19 // 2)

    monkeypatch.setenv("GAITPIPE_WEIGHTS_DIR", str(tmp_path / "installed"))
    assert main(["weights", "install", str(weights), "--name", "mine", "--default"]) == 0
    installed = tmp_path / "installed" / "mine.pt"
    manifest = json.loads((tmp_path / "installed" / "MANIFEST.json").read_text())
    entry = manifest["weights"]["mine"]
    assert manifest["default"] == "mine" and default_weights() == installed
    assert entry["sha256"] == hashlib.sha256(installed.read_bytes()).hexdigest()
    assert entry["open_set"]["threshold"] == cal["threshold"] and entry["validation_rank1"] == meta["metrics"]["validation"]["rank1"]
    model, installed_meta = load_checkpoint(installed)
    assert installed_meta["stored_half"] is True and model.preset == "gaitbase-small"
