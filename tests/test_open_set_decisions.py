"""Issue 14: open-set decisions: threshold + margin between identities + track quality, and why.

Library-level rules are checked with hand-made embeddings on a real :class:`Gallery`; the CLI
plumbing with a tiny GaitBase (names mean nothing with untrained weights, so the tests pin the
threshold where they need a name) and ``--segmenter bgsub`` on the shipped example clips.
``emma-nm-02-090.mp4`` holds a second, 12-frame track (a bystander walking out of view).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaitpipe import quality
from gaitpipe.cli.app import main
from gaitpipe.errors import InputError, SettingError
from gaitpipe.gallery import DEFAULT_MARGIN, Gallery, Identification, Match
from gaitpipe.metrics.open_set import calibrate, margin_at_far

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ENC = "gaitbase/test/0000000000000000"
P, D = 4, 8


def unit(v: np.ndarray) -> np.ndarray:
    """A [P, D] template whose every part is ``v`` normalised: the gallery score is then the plain cosine."""
    v = np.asarray(v, np.float32)
    return np.tile(v / np.linalg.norm(v), (P, 1))


def direction(i: int) -> np.ndarray:
    e = np.zeros(D, np.float32)
    e[i] = 1.0
    return e


@pytest.fixture
def two_people(tmp_path) -> Gallery:
    g = Gallery.open(tmp_path / "g", create=True)
    g.enroll("ana", unit(direction(0)), encoder=ENC)
    g.enroll("ben", unit(direction(1)), encoder=ENC)
    return g


# ----------------------------------------------------------------------------- decision rules
def test_probe_between_two_identities_is_unknown_with_both_candidates(two_people):
    between = unit(direction(0) + 0.98 * direction(1))  # cos 0.714 with ana, 0.700 with ben
    (r,) = two_people.identify(between, threshold=0.5, margin=0.05)
    assert r.best is not None and r.second is not None
    assert r.best.identity == "ana" and r.second.identity == "ben"
    assert r.best.score >= 0.5 and r.best.score - r.second.score < 0.05  # cleared the threshold, not the margin
    assert r.decision == "unknown" and r.candidates == ["ana", "ben"]
    assert "margin" in r.why
    # without the margin rule the same scores name ana: the margin made the difference
    (r0,) = two_people.identify(between, threshold=0.5, margin=0.0)
    assert r0.decision == "ana" and r0.candidates == []


def test_runner_up_is_seen_even_with_top_k_one(two_people):
    between = unit(direction(0) + 0.98 * direction(1))
    (r,) = two_people.identify(between, top_k=1, threshold=0.5, margin=0.05)
    assert [m.identity for m in r.matches] == ["ana"]  # the list is cut to top_k ...
    assert r.second is not None and r.second.identity == "ben"  # ... the decision still saw ben
    assert r.decision == "unknown"


def test_clear_winner_is_named_and_low_score_is_unknown(two_people):
    near_ana = unit(direction(0) + 0.2 * direction(1))  # 0.981 vs 0.196
    (r,) = two_people.identify(near_ana, threshold=0.5, margin=DEFAULT_MARGIN)
    assert r.decision == "ana" and r.candidates == [] and "clears the threshold" in r.why
    stranger = unit(direction(2) + 0.3 * direction(0))
    (s,) = two_people.identify(stranger, threshold=0.5)
    assert s.decision == "unknown" and "below the threshold" in s.why and s.candidates == []


def test_identity_score_is_max_over_enrolments(two_people):
    """A second, different enrolment can only help its identity (nearest-neighbour rule)."""
    probe = unit(direction(0) + direction(3))
    before = two_people.search(probe)[0]
    two_people.enroll("ben", unit(direction(3)), encoder=ENC)
    after = {m.identity: m.score for m in two_people.search(probe)[0]}
    assert after["ben"] == pytest.approx(np.sqrt(0.5), abs=1e-5)  # the new enrolment's score, not a mean
    assert after["ana"] == pytest.approx({m.identity: m.score for m in before}["ana"], abs=1e-6)


def test_quality_reasons_make_it_uncertain_never_a_name(two_people):
    (r,) = two_people.identify(unit(direction(0)), threshold=0.5, reasons=[["too short: 12 usable silhouettes"]])
    assert r.best is not None and r.best.identity == "ana" and r.best.score == pytest.approx(1.0)
    assert r.decision == "uncertain" and "too short" in r.why
    assert Identification([Match("ana", 0.99, 1)], 0.5, reasons=["fragmented"]).decision == "uncertain"


def test_uncertain_and_unknown_are_reserved(two_people):
    from gaitpipe.errors import GalleryError

    for name in ("unknown", "uncertain"):
        with pytest.raises(GalleryError, match="reserved"):
            two_people.enroll(name, unit(direction(4)), encoder=ENC)


# ----------------------------------------------------------------------------- quality checks
def _silhouettes(areas: list[int]) -> np.ndarray:
    out = np.zeros((len(areas), 64, 64), np.uint8)
    for i, a in enumerate(areas):
        out[i].reshape(-1)[:a] = 255
    return out


def test_quality_judges_each_problem_with_its_reason():
    clean = quality.measure(np.arange(40), {}, _silhouettes([900, 1000, 1100] * 13 + [1000]))
    assert quality.judge(clean).ok and quality.judge(clean).reasons == []
    short = quality.judge(quality.measure(np.arange(12), {}, _silhouettes([1000] * 12)))
    assert not short.ok and short.reasons[0].startswith(quality.TOO_SHORT) and "12" in short.reasons[0]
    border = quality.judge(quality.measure(np.arange(30), {"border_cut": 40}))
    assert [r.split(":")[0] for r in border.reasons] == [quality.BORDER_CUT]
    fragmented = quality.judge(quality.measure(np.concatenate([np.arange(15), np.arange(60, 75)]), {}))
    assert [r.split(":")[0] for r in fragmented.reasons] == [quality.FRAGMENTED]
    strided = quality.measure(np.arange(0, 120, 3), {})  # every 3rd frame read: still continuous
    assert strided.continuity == 1.0 and quality.judge(strided).ok
    merged = quality.judge(quality.measure(np.arange(40), {}, _silhouettes([1000, 2200] * 20)))  # area jumping
    assert [r.split(":")[0] for r in merged.reasons] == [quality.INCONSISTENT]
    assert quality.judge(clean, min_frames=50).reasons[0].startswith(quality.TOO_SHORT)


# ----------------------------------------------------------------------------- margin calibration
def test_margin_calibration_by_hand():
    """Three subjects; one probe of subject 0 lies nearer subject 1's sequence, by 0.1."""
    a, b, c = direction(0), direction(1), direction(2)
    probe = 0.6 * b + 0.5 * a  # its best identity is 1 (wrong), 0.1 of score above its own
    x = np.stack([a, a, probe, b, b, c, c])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    s1, s0 = x[2] @ x[3], x[2] @ x[0]
    assert s1 - s0 == pytest.approx(0.1 / np.linalg.norm(0.6 * b + 0.5 * a), abs=1e-6)
    margin, effect = margin_at_far(x, labels, threshold=0.5, far=0.0)
    assert margin == pytest.approx(s1 - s0, abs=1e-6) and margin > s1 - s0  # just above the wrong probe's gap
    assert effect["wrong_above_threshold"] == 1 and effect["wrong_named"] == 0 and effect["probes"] == 7
    # one wrong name in seven probes is allowed at FAR 1/7: no margin is needed
    assert margin_at_far(x, labels, threshold=0.5, far=1 / 7)[0] == 0.0
    cal = calibrate(x, labels, target_far=0.0)
    assert cal.to_dict()["margin"] == pytest.approx(cal.margin) and "margin_effect" in cal.to_dict()


# ----------------------------------------------------------------------------- CLI plumbing
def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_decisions_quality_and_json(capsys, tmp_path, tiny_weights):
    G = ["--gallery", tmp_path / "g", "--weights", tiny_weights, "--segmenter", "bgsub", "--device", "cpu"]
    two_tracks = EXAMPLES / "emma-nm-02-090.mp4"  # main walker + a 12-frame track
    # enrolling the 12-frame track: refused, in CLI terms; accepted with --force, checks stored
    code, _, err = cli(capsys, "enroll", two_tracks, "--id", "bystander", "--track", "2", *G)
    assert code != 0 and "12 usable silhouettes" in err
    assert "(use --force)" in err and "Traceback" not in err
    assert not (tmp_path / "g").exists()  # a refused enrolment leaves no gallery behind
    code, out, err = cli(capsys, "enroll", two_tracks, "--id", "bystander", "--track", "2", "--force", "--json", *G)
    assert code == 0, err
    checks = json.loads(out)["enrolment"]["extra"]["checks"]
    assert checks["forced"] is True and checks["ok"] is False and checks["reasons"][0].startswith("too short")
    code, out, err = cli(capsys, "enroll", EXAMPLES / "emma-nm-01-090.mp4", "--id", "emma", "--json", *G)
    assert code == 0, err
    checks = json.loads(out)["enrolment"]["extra"]["checks"]
    assert checks == {"ok": True, "reasons": [], "stats": checks["stats"], "forced": False}

    # identify: the 12-frame track is uncertain with its reason, never a name, whatever the threshold
    code, out, err = cli(capsys, "identify", two_tracks, "--json", "--threshold", "-1", "--margin", "0", *G)
    assert code == 0, err
    res = json.loads(out)
    assert set(res) == {"video", "rotation", "threshold", "margin", "walkers"}
    assert res["threshold"]["value"] == -1 and res["threshold"]["source"] == "given"
    assert res["margin"] == {"value": 0.0, "source": "given", "scale": "raw"}
    by_track = {w["track"]: w for w in res["walkers"]}
    short = by_track[2]
    assert short["frames"] == 12 and short["decision"] == "uncertain"
    assert short["quality"]["reasons"] and short["quality"]["reasons"][0].startswith("too short")
    assert short["best"] is not None  # still compared and ranked, so a user sees who it looked like
    main_walker = by_track[1]  # a clean probe: named, with threshold and margin reported
    assert main_walker["quality"]["reasons"] == [] and main_walker["decision"] in ("emma", "bystander")
    assert main_walker["best"]["id"] == main_walker["decision"] and main_walker["second"] is not None
    assert {"score", "reasons", "checks"} == set(main_walker["quality"])
    shape = {"track", "frames", "decision", "why", "best", "second", "candidates", "quality", "matches"}
    assert set(main_walker) == shape

    # the default margin (the weights carry none) is reported with its source; text output says why
    code, out, err = cli(capsys, "identify", two_tracks, "--threshold", "-1", *G)
    assert code == 0, err
    assert f"margin {DEFAULT_MARGIN:.3f} (default)" in out and "threshold -1.000 (given)" in out
    assert "track 2 (12 frames): uncertain" in out and "too short" in out
    assert "best " in out and "second " in out

    # a huge margin: the clean walker becomes unknown with both identities as candidates
    code, out, err = cli(capsys, "identify", two_tracks, "--json", "--threshold", "-1", "--margin", "2", *G)
    assert code == 0, err
    w = {w["track"]: w for w in json.loads(out)["walkers"]}[1]
    assert w["decision"] == "unknown" and sorted(w["candidates"]) == ["bystander", "emma"]

    for bad in ("-0.1", "nan", "2.5"):
        code, _, err = cli(capsys, "identify", two_tracks, "--margin", bad, *G)
        assert code != 0 and "--margin" in err


def test_library_margin_is_validated(tmp_path, tiny_weights):
    from gaitpipe import Pipeline

    pipe = Pipeline(segmenter="bgsub", weights=tiny_weights, device="cpu")
    assert pipe.margin.source == "default" and pipe.margin.value == DEFAULT_MARGIN
    g = Gallery.open(tmp_path / "g", create=True, encoder=pipe.fingerprint)
    g.enroll("x", np.ones((16, 16), np.float32), encoder=pipe.fingerprint)
    with pytest.raises(SettingError, match="margin"):
        pipe.identify(EXAMPLES / "ana-nm-02-090.mp4", gallery=g, margin=-1)
    with pytest.raises(InputError):  # a SettingError is an InputError: the CLI prints one line
        pipe.identify(EXAMPLES / "ana-nm-02-090.mp4", gallery=g, margin=float("nan"))
