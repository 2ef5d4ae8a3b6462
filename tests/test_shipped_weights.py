"""The weights shipped in weights/ are what MANIFEST.json says they are, and load."""

from __future__ import annotations

import hashlib
import json

from gaitpipe.data.splits import parse_id_range
from gaitpipe.hub import default_weights
from gaitpipe.hub import packaged_weights_dir as repo_weights_dir
from gaitpipe.models.checkpoint import load_checkpoint

MANIFEST = repo_weights_dir() / "MANIFEST.json"
REQUIRED = {
    "file",
    "sha256",
    "arch",
    "preset",
    "training_data",
    "iterations",
    "validation_rank1",
    "open_set",
    "date",
    "fingerprint",
}


def _entries():
    # The weights and their manifest ship with gaitpipe: a checkout without them is broken.
    assert MANIFEST.is_file(), f"{MANIFEST} is missing"
    return json.loads(MANIFEST.read_text())


def test_manifest_matches_files_and_metadata():
    manifest = _entries()
    assert manifest["default"] in manifest["weights"]
    for name, entry in manifest["weights"].items():
        assert REQUIRED <= set(entry), f"{name} lacks {REQUIRED - set(entry)}"
        path = repo_weights_dir() / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], (
            f"{path} differs from its manifest sha256"
        )
        model, meta = load_checkpoint(path)
        assert meta["fingerprint"] == entry["fingerprint"]
        assert (model.arch, model.preset) == (entry["arch"], entry["preset"])
        assert set(entry["validation_rank1"]) >= {"NM", "BG", "CL"}
        assert -1.0 <= meta["open_set"]["threshold"] <= 1.0
        # Figures measured on subjects the model was trained on would overstate it: a final model
        # trained on every subject must carry its held-out recipe run's figures, marked as such.
        trained = set(parse_id_range(entry["training_data"]["train_subjects"]))
        validated_on = set(parse_id_range(entry["validation"]["subjects"]))
        if trained & validated_on:
            assert "transferred_from" in entry["validation"] and "transferred_from" in entry["open_set"], name
            origin = entry["validation"]["transferred_from"]["train_subjects"]
            assert not set(parse_id_range(origin)) & validated_on, (
                f"{name}: its figures come from a run trained on {origin}"
            )


def test_default_weights_resolve():
    manifest = _entries()
    assert default_weights().name == manifest["weights"][manifest["default"]]["file"]
