"""Issue 14 parts 1 and 4: AS-norm score normalisation, cohort files, decisions on normalised scores,
the cross-scene set and the operating point calibrated across scenes.

Hand-made vectors pin the arithmetic (a 4-template cohort, top-2 statistics worked out on paper);
real galleries, real cohort files and a tiny real encoder check the plumbing. The figures of the
shipped weights come from ``benchmarks/cross_scene.py`` (docs/open-set.md), not from here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaitpipe.engine.scene_calibration import LabelledSet, at_operating_point, operating_point, pair_kinds
from gaitpipe.errors import WeightsError
from gaitpipe.gallery import Gallery
from gaitpipe.hub.cohort import Cohort, beside_weights, cached_path, find_cohort, load_cohort, save_cohort
from gaitpipe.metrics.asnorm import ScoreNormaliser, cohort_stats, normalise

ENC = "gaitbase/test/0000000000000000"
# Four impostor templates in 2-D (unit vectors) and the worked example of the module docstring.
COHORT = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [-1.0, 0.0]], np.float32)
PROBE = np.array([[1.0, 0.0]], np.float32)
ENROL = np.array([[0.6, 0.8]], np.float32)


# ----------------------------------------------------------------------------- the arithmetic
def test_asnorm_of_a_known_cohort_matches_the_hand_computation():
    # probe . cohort = [1, 0, 0.8, -1]   -> top-2 {1, 0.8}:    mean 0.9,  SD 0.1
    # enrol . cohort = [0.6, 0.8, 0.96, -0.6] -> top-2 {0.96, 0.8}: mean 0.88, SD 0.08
    # raw 0.6 -> ((0.6 - 0.9) / 0.1 + (0.6 - 0.88) / 0.08) / 2 = (-3 - 3.5) / 2 = -3.25
    p, e = cohort_stats(PROBE, COHORT, 2), cohort_stats(ENROL, COHORT, 2)
    assert p.mean[0] == pytest.approx(0.9) and p.std[0] == pytest.approx(0.1)
    assert e.mean[0] == pytest.approx(0.88) and e.std[0] == pytest.approx(0.08)
    assert normalise(np.array([[0.6]]), p, e)[0, 0] == pytest.approx(-3.25)
    norm = ScoreNormaliser(COHORT, top_n=2)
    assert norm.pairs(PROBE, ENROL)[0, 0] == pytest.approx(-3.25)
    both = norm.all_pairs(np.concatenate([PROBE, ENROL]))
    assert both[0, 1] == pytest.approx(-3.25) and both[1, 0] == pytest.approx(-3.25)  # symmetric
    # top-N larger than the cohort: all of it (mean 0.2, SD sqrt(0.56) for the probe)
    assert cohort_stats(PROBE, COHORT, 100).mean[0] == pytest.approx(0.2)


def test_a_probe_like_everybody_is_pulled_down():
    """The same raw score means less for a probe that resembles every impostor (the same-scene failure)."""
    rng = np.random.default_rng(0)
    cohort = rng.normal(size=(50, 16)).astype(np.float32)
    cohort /= np.linalg.norm(cohort, axis=1, keepdims=True)
    generic = cohort[:10].mean(0, keepdims=True)
    generic /= np.linalg.norm(generic)
    distinct = rng.normal(size=(1, 16)).astype(np.float32)
    distinct /= np.linalg.norm(distinct)
    norm = ScoreNormaliser(cohort, top_n=10)
    enrol = cohort[:1]
    raw = np.array([[0.5]])
    z_generic = normalise(raw, norm.stats(generic), norm.stats(enrol))[0, 0]
    z_distinct = normalise(raw, norm.stats(distinct), norm.stats(enrol))[0, 0]
    assert z_generic < z_distinct


# ----------------------------------------------------------------------------- gallery decisions
def unit(v) -> np.ndarray:
    """A [P=2, D=2] template whose parts are both ``v`` normalised: its gallery score is the plain cosine."""
    v = np.asarray(v, np.float32)
    return np.tile(v / np.linalg.norm(v), (2, 1))


def test_gallery_decides_on_normalised_scores_and_keeps_the_raw_ones(tmp_path):
    g = Gallery.open(tmp_path / "g", create=True)
    g.enroll("ana", unit([0.6, 0.8]), encoder=ENC)
    g.enroll("ben", unit([-0.6, 0.8]), encoder=ENC)
    flat = np.tile(COHORT, (1, 2)) / np.sqrt(2)  # as the gallery flattens unit(): [v, v] / sqrt(2)
    norm = ScoreNormaliser(flat.astype(np.float32), top_n=2)
    (r,) = g.identify(unit([1.0, 0.0]), threshold=-3.3, margin=0.0, normaliser=norm)
    assert r.best is not None and r.best.identity == "ana"
    assert r.best.raw == pytest.approx(0.6, abs=1e-6) and r.best.score == pytest.approx(-3.25, abs=1e-5)
    assert r.decision == "ana" and "AS-norm" in r.why
    assert r.best.to_dict() == {"id": "ana", "score": pytest.approx(-3.25, abs=1e-5), "raw": pytest.approx(0.6)}
    (r,) = g.identify(unit([1.0, 0.0]), threshold=-3.2, margin=0.0, normaliser=norm)
    assert r.decision == "unknown"  # -3.25 is below -3.2 although the raw 0.6 would clear a cosine 0.5
    (raw,) = g.identify(unit([1.0, 0.0]), threshold=0.5, margin=0.0)
    assert raw.best is not None and raw.best.raw is None and raw.decision == "ana"


def test_probe_close_to_two_identities_is_unknown_on_normalised_scores(tmp_path):
    g = Gallery.open(tmp_path / "g", create=True)
    g.enroll("ana", unit([0.6, 0.8]), encoder=ENC)
    g.enroll("ben", unit([-0.6, 0.8]), encoder=ENC)
    flat = (np.tile(COHORT, (1, 2)) / np.sqrt(2)).astype(np.float32)
    norm = ScoreNormaliser(flat, top_n=4)
    (r,) = g.identify(unit([0.0, 1.0]), threshold=-10.0, margin=0.5, normaliser=norm)  # equally close to both
    assert r.best is not None and r.second is not None
    assert abs(r.best.score - r.second.score) < 0.5
    assert r.decision == "unknown" and sorted(r.candidates) == ["ana", "ben"]


# ----------------------------------------------------------------------------- cohort files
def _cohort(encoder: str = ENC) -> Cohort:
    rng = np.random.default_rng(1)
    return Cohort(rng.normal(size=(6, 8)).astype(np.float32), encoder, 3, {"synthetic": {"walkers": 6}})


def test_cohort_file_round_trip_and_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv("GAITPIPE_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "w.pt"
    c = _cohort()
    save_cohort(c, beside_weights(weights))
    back = load_cohort(beside_weights(weights), encoder=ENC)
    assert back.encoder == ENC and back.top_n == 3 and back.sources == c.sources
    np.testing.assert_allclose(back.vectors, c.vectors, atol=2e-3)  # stored float16
    assert find_cohort(weights, ENC) is not None
    # a cohort made for other weights is refused by name, and passed over when looking one up
    with pytest.raises(WeightsError, match="made for other weights"):
        load_cohort(beside_weights(weights), encoder="gaitbase/test/ffffffffffffffff")
    assert find_cohort(weights, "gaitbase/test/ffffffffffffffff") is None
    save_cohort(_cohort("gaitbase/test/ffffffffffffffff"), cached_path(weights, "gaitbase/test/ffffffffffffffff"))
    assert find_cohort(weights, "gaitbase/test/ffffffffffffffff").encoder == "gaitbase/test/ffffffffffffffff"


class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/gaitpipe-cohort-pickle-ran"),))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "pickle", "no-header", "nan"])
def test_damaged_cohort_file_is_one_clear_error(tmp_path, damage):
    path = tmp_path / "w.cohort.npz"
    save_cohort(_cohort(), path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a cohort" * 10)
    elif damage == "pickle":  # an object array: loading it would unpickle, i.e. run code
        np.savez(path, vectors=np.array([_Boom()], dtype=object), header=np.array("{}"))
    elif damage == "no-header":
        np.savez(path, vectors=np.ones((3, 4), np.float16))
    else:
        np.savez(path, vectors=np.full((3, 4), np.nan, np.float16), header=np.array(json.dumps(
            {"format": 1, "encoder": ENC, "top_n": 2, "sources": {}})))  # fmt: skip
    with pytest.raises(WeightsError, match="is damaged") as err:
        find_cohort(tmp_path / "w.pt", ENC)
    assert "\n" not in str(err.value) and "delete it" in str(err.value)
    assert not Path("/tmp/gaitpipe-cohort-pickle-ran").exists()


# ----------------------------------------------------------------------------- calibration across scenes
def _set(vectors, people, scenes, name="synthetic-calibration") -> LabelledSet:
    n = len(people)
    return LabelledSet(name, np.asarray(vectors, np.float32), np.array(people), np.array(scenes),
                       np.array([""] * n), np.array(scenes))  # fmt: skip


def test_operating_point_keeps_the_hardest_population_under_the_target():
    # a, b: one person in two scenes (s1, s2); c, d: two people filmed in s1 with a and in s2 with b
    people, scenes = ["a", "a", "c", "d"], ["s1", "s2", "s1", "s2"]
    s = _set(np.eye(4), people, scenes)
    sims = np.array(
        [[1.0, 0.7, 0.9, 0.1],  # a@s1 vs c@s1: same-scene impostor 0.9, above the genuine 0.7
         [0.7, 1.0, 0.2, 0.8],  # a@s2 vs d@s2: same-scene impostor 0.8
         [0.9, 0.2, 1.0, 0.3],
         [0.1, 0.8, 0.3, 1.0]]
    )  # fmt: skip
    kinds = pair_kinds(s)
    assert kinds["genuine_cross_scene"].sum() == 1 and kinds["same_scene_impostor"].sum() == 2
    op = operating_point([s], {s.name: sims}, target_far=0.0)
    assert op["threshold"] > 0.9 and op["set_by"].endswith("impostors")
    at = at_operating_point(s, sims, op["threshold"])
    assert at["far_same_scene_impostor"] == 0.0 and at["far_impostor"] == 0.0
    assert at["tar_genuine_cross_scene"] == 0.0  # the price on these scores: the genuine 0.7 is lost
    assert at_operating_point(s, sims, 0.65)["far_same_scene_impostor"] == 1.0


def test_cross_scene_set_films_every_person_in_two_scenes(tmp_path):
    from gaitpipe.synth.cross_scene import WalkerSet, cached

    w = cached("cross-scene", tmp_path, people=4, scenes=2, seed=3, size=(160, 120))
    assert len(w) == 8 and all(s.shape[1:] == (64, 64) and len(s) >= 20 for s in w.silhouettes)
    for p in set(w.people.tolist()):
        assert len(set(w.scenes[w.people == p].tolist())) == 2  # two different scenes each
    kinds = w.pair_masks()
    assert kinds["genuine_cross_scene"].sum() == 4 and kinds["same_scene_impostor"].sum() == 12
    files = list(tmp_path.glob("cross-scene-*.npz"))
    assert len(files) == 1
    again = WalkerSet.load(files[0])
    assert all(np.array_equal(a, b) for a, b in zip(again.silhouettes, w.silhouettes))
    files[0].write_bytes(b"broken")  # a damaged cache is rendered again, not a crash
    assert len(cached("cross-scene", tmp_path, people=4, scenes=2, seed=3, size=(160, 120))) == 8


# ----------------------------------------------------------------------------- identify end to end
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_identify_on_normalised_scores_end_to_end(tmp_path, monkeypatch, capsys, one_torch_thread):
    """A cohort for other weights is recomputed (synthetic walkers, user cache); identify then decides
    on AS-norm scores with the calibrated threshold, shows raw beside normalised, and can be turned off."""
    from conftest import write_tiny_weights

    from gaitpipe.cli.app import main
    from gaitpipe.engine.cohort import ensure_cohort
    from gaitpipe.models.checkpoint import read_meta
    from gaitpipe.pipeline import Pipeline

    monkeypatch.setenv("GAITPIPE_CACHE", str(tmp_path / "cache"))
    normalised = {"threshold": -50.0, "margin": 0.0, "calibrated_on": "test pairs", "domains": ["CASIA-B"]}
    weights = write_tiny_weights(tmp_path / "w" / "tiny.pt", {"open_set": {"threshold": 0.3, "normalised": normalised}})
    fp = read_meta(weights)["fingerprint"]
    save_cohort(_cohort(), beside_weights(weights))  # made for other weights: passed over
    cohort = ensure_cohort(weights, fp, synthetic=3)
    assert cohort.encoder == fp and len(cohort.vectors) == 3 and cohort.path == cached_path(weights, fp)

    G = ["--gallery", str(tmp_path / "g"), "--weights", str(weights), "--segmenter", "bgsub", "--device", "cpu"]
    assert main(["enroll", str(EXAMPLES / "ana-nm-01-090.mp4"), "--id", "ana", *G]) == 0
    assert main(["enroll", str(EXAMPLES / "ben-nm-01-090.mp4"), "--id", "ben", *G]) == 0
    capsys.readouterr()
    assert main(["identify", str(EXAMPLES / "ana-nm-02-090.mp4"), "--json", *G]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["threshold"]["scale"] == "as-norm" and res["threshold"]["source"] == "calibrated"
    assert res["threshold"]["value"] == -50.0 and res["margin"] == {
        "value": 0.0,
        "source": "calibrated",
        "scale": "as-norm",
    }
    best = res["walkers"][0]["best"]
    assert set(best) == {"id", "score", "raw"} and best["score"] != best["raw"] and -1 <= best["raw"] <= 1
    assert res["walkers"][0]["decision"] == best["id"]  # clears -50 with margin 0

    assert main(["identify", str(EXAMPLES / "ana-nm-02-090.mp4"), *G]) == 0
    out = capsys.readouterr().out
    assert "(calibrated) on as-norm scores" in out and "(raw " in out and "AS-norm" in out

    assert main(["identify", str(EXAMPLES / "ana-nm-02-090.mp4"), "--json", "--no-score-norm", *G]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["threshold"]["scale"] == "raw" and res["threshold"]["value"] == 0.3
    assert "raw" not in res["walkers"][0]["best"]
    # a cosine threshold outside -1..1 is refused on raw scores, fine on normalised ones
    assert main(["identify", str(EXAMPLES / "ana-nm-02-090.mp4"), "--no-score-norm", "--threshold", "3", *G]) != 0
    assert "--threshold" in capsys.readouterr().err

    # an imported checkpoint with no calibration at all: normalised scores, generic AS-norm default
    imported = write_tiny_weights(tmp_path / "imp" / "tiny.pt", {"source": {"repo": "someone/official"}})
    pipe = Pipeline(weights=imported, segmenter="bgsub", device="cpu")
    assert pipe.score_norm is True
    normaliser, threshold, margin = pipe.decision_rule()
    assert normaliser is not None and threshold.source == "default" and threshold.scale == "as-norm"
    assert "generic AS-norm default" in (threshold.note or "") and margin.scale == "as-norm"
    assert Pipeline(weights=weights, segmenter="bgsub", device="cpu").decision_rule(False)[0] is None


def test_cross_scene_report_and_its_calibration_reach_identify(tmp_path, monkeypatch, one_torch_thread):
    """The library behind ``benchmarks/cross_scene.py`` and ``weights calibrate --cross-scene`` on a
    tiny encoder and two tiny synthetic sets: figures for both scales, an operating point, and a
    calibration that identify then uses (normalised scores, the calibrated threshold)."""
    from conftest import write_tiny_weights

    from gaitpipe.engine.cohort import build_cohort
    from gaitpipe.engine.scene_calibration import cross_scene_report, write_normalised_calibration
    from gaitpipe.pipeline import Pipeline

    monkeypatch.setenv("GAITPIPE_CACHE", str(tmp_path / "cache"))
    weights = write_tiny_weights(tmp_path / "tiny.pt", {"open_set": {"threshold": 0.3}})
    synth = tmp_path / "synth"
    cohort = build_cohort(weights, synthetic=3, cache_dir=synth)
    report = cross_scene_report(
        weights, people=4, scenes=2, size=(160, 120), cohort=cohort.normaliser(), synth_dir=synth, device="cpu"
    )
    json.dumps(report)  # the benchmark's --json output
    for scale in ("raw", "as-norm"):
        entry = report["scales"][scale]
        assert set(entry["sets"]) == {"synthetic-calibration", "synthetic-test"}
        test = entry["at_operating_point"]["synthetic-test"]
        assert {"far_same_scene_impostor", "tar_genuine_cross_scene", "far_impostor"} <= set(test)
        assert entry["sets"]["synthetic-test"]["same_scene_impostor_pairs"] == 12
        assert "synthetic-calibration" in entry["operating_point"]["set_by"]  # no CASIA-B here
    assert Pipeline(weights=weights, segmenter="bgsub", device="cpu").score_norm is False
    record = write_normalised_calibration(weights, report)
    assert record["threshold"] == report["scales"]["as-norm"]["operating_point"]["threshold"]
    save_cohort(cohort, beside_weights(weights))
    pipe = Pipeline(weights=weights, segmenter="bgsub", device="cpu")
    normaliser, threshold, margin = pipe.decision_rule()
    assert pipe.score_norm is True and normaliser is not None
    assert threshold.value == record["threshold"] and threshold.source == "calibrated" and threshold.scale == "as-norm"
    assert margin.value == record["margin"] and margin.source == "calibrated"


def test_cohort_and_cross_scene_calibration_commands(tmp_path, monkeypatch, capsys, one_torch_thread):
    """``weights cohort`` (user cache, or ``--beside`` the file) and ``weights calibrate --cross-scene``
    (``--dry-run`` leaves the file alone; otherwise identify then decides on AS-norm scores at the
    calibrated point), on a tiny encoder and tiny synthetic sets."""
    from conftest import write_tiny_weights

    from gaitpipe.cli.app import main
    from gaitpipe.models.checkpoint import read_meta
    from gaitpipe.pipeline import Pipeline
    from gaitpipe.utils.files import file_sha256

    monkeypatch.setenv("GAITPIPE_CACHE", str(tmp_path / "cache"))
    weights = write_tiny_weights(tmp_path / "w" / "tiny.pt", {"open_set": {"threshold": 0.3}})
    fp = read_meta(weights)["fingerprint"]
    assert main(["weights", "cohort", str(weights), "--synthetic", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "cohort of tiny.pt: 3 templates" in out and str(cached_path(weights, fp)) in out
    assert load_cohort(cached_path(weights, fp), encoder=fp).vectors.shape[0] == 3
    assert find_cohort(weights, fp) is not None and not beside_weights(weights).exists()
    assert main(["weights", "cohort", str(weights), "--synthetic", "4", "--beside", "--device", "cpu"]) == 0
    assert load_cohort(beside_weights(weights), encoder=fp).vectors.shape[0] == 4

    before = file_sha256(weights)
    cmd = ["weights", "calibrate", str(weights), "--cross-scene", "--people", "4", "--scenes", "2", "--device", "cpu"]
    assert main([*cmd, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "raw: threshold" in out and "as-norm: threshold" in out and "same-scene impostors accepted" in out
    assert file_sha256(weights) == before and Pipeline(weights=weights, segmenter="bgsub").score_norm is False
    assert main(cmd) == 0
    assert "open_set.normalised" in capsys.readouterr().out
    record = read_meta(weights)["open_set"]["normalised"]
    pipe = Pipeline(weights=weights, segmenter="bgsub", device="cpu")
    normaliser, threshold, _ = pipe.decision_rule()
    assert pipe.score_norm is True and normaliser is not None
    assert threshold.value == record["threshold"] and threshold.source == "calibrated"
    # a set too small to hold same-scene impostors is one clear error naming the flag
    assert main([*cmd[:-4], "--people", "1", "--device", "cpu"]) != 0
    assert "--people" in capsys.readouterr().err


def test_shipped_cohorts_belong_to_their_weights():
    """Every cohort shipped beside a weights file was made by that file's encoder (retrained weights
    need a new one), and the default weights ship theirs with a normalised calibration."""
    from gaitpipe.hub import default_weights, packaged_weights_dir
    from gaitpipe.hub.cohort import COHORT_SUFFIX
    from gaitpipe.models.checkpoint import read_meta

    shipped = sorted(packaged_weights_dir().glob(f"*{COHORT_SUFFIX}"))
    for path in shipped:
        weights = path.with_name(path.name[: -len(COHORT_SUFFIX)] + ".pt")
        meta = read_meta(weights)
        cohort = load_cohort(path, encoder=meta["fingerprint"])
        assert cohort.vectors.shape[1] == meta["parts"] * meta["embed_dim"]
    default = default_weights()
    assert default is not None and beside_weights(default) in shipped
    assert (read_meta(default).get("open_set") or {}).get("normalised", {}).get("threshold") is not None
