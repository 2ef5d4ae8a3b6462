"""Where an open-set decision's threshold comes from, and the warning when it does not fit the weights.

Imported or fetched weights carry no threshold, or one calibrated on another data set than they
were trained on (e.g. a Gait3D model calibrated on CASIA-B): ``identify`` must say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_tiny_weights

from gaitpipe.cli.app import main
from gaitpipe.hub.info import domain_of
from gaitpipe.pipeline import Pipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _weights(path: Path, meta: dict) -> Path:
    return write_tiny_weights(path, meta)


CASIAB_OPEN_SET = {"threshold": 0.6, "calibrated_on": "CASIA-B subjects 001-074, all pairs of sequences"}


@pytest.mark.parametrize(
    ("meta", "source", "own", "note"),
    [
        ({}, "default", None, "no calibrated threshold"),
        ({"training_data": "Gait3D (3,000 training subjects)", "open_set": CASIAB_OPEN_SET}, "calibrated", False,
         "not on the weights' own training domain (Gait3D)"),
        ({"training_data": {"dataset": "CASIA-B silhouettes", "train_subjects": "001-062"},
          "open_set": {"threshold": 0.64, "calibrated_on": "CASIA-B subjects 063-074"}}, "calibrated", True, None),
        ({"open_set": {"threshold": 0.3}}, "calibrated", None, None),
    ],
)  # fmt: skip
def test_threshold_source_follows_the_weights(tmp_path, meta, source, own, note):
    pipe = Pipeline(weights=_weights(tmp_path / "w.pt", meta), segmenter="bgsub", device="cpu")
    got = pipe.threshold_source
    assert got.source == source and got.own_domain is own and got.value == pipe.threshold
    assert (got.note is None) if note is None else (note in got.note)


def test_shipped_default_is_calibrated_on_its_own_domain():
    got = Pipeline(segmenter="bgsub", device="cpu").threshold_source
    assert got.source == "calibrated" and got.own_domain is True and got.note is None


@pytest.mark.parametrize(
    ("text", "domain"),
    [("CASIA-B subjects 001-074", "CASIA-B"), ({"dataset": "casiab pack"}, "CASIA-B"), ("GREW (20,000 ids)", "GREW"),
     ("OUMVLP", "OU-MVLP"), ("Gait3D", "Gait3D"), (None, None), ("my own footage", None)],
)  # fmt: skip
def test_domain_of(text, domain):
    assert domain_of(text) == domain


def test_identify_warns_when_the_threshold_is_from_another_domain(tmp_path, capsys):
    weights = _weights(tmp_path / "gait3d.pt", {"training_data": "Gait3D", "open_set": CASIAB_OPEN_SET})
    common = ["--gallery", str(tmp_path / "g"), "--weights", str(weights), "--segmenter", "bgsub", "--device", "cpu"]
    assert main(["enroll", str(EXAMPLES / "ana-nm-01-090.mp4"), "--id", "ana", *common]) == 0
    capsys.readouterr()
    assert main(["identify", str(EXAMPLES / "ana-nm-02-090.mp4"), *common]) == 0
    assert "note: threshold calibrated on CASIA-B" in capsys.readouterr().err
    assert main(["identify", str(EXAMPLES / "ana-nm-02-090.mp4"), "--json", *common]) == 0
    threshold = json.loads(capsys.readouterr().out)["threshold"]
    assert threshold["own_domain"] is False and threshold["source"] == "calibrated" and threshold["value"] == 0.6
    assert main(["identify", str(EXAMPLES / "ana-nm-02-090.mp4"), "--json", "--threshold", "0.7", *common]) == 0
    assert json.loads(capsys.readouterr().out)["threshold"] == {
        "value": 0.7, "source": "given", "calibrated_on": None, "own_domain": None, "note": None, "scale": "raw",
    }  # fmt: skip
