"""Evaluation metrics on tiny cases computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gaitpipe.metrics.evaluation import (
    casiab_protocol,
    evaluate_protocol,
    format_result,
    gait3d_protocol,
    grew_protocol,
    oumvlp_protocol,
    part_distance,
    rank_metrics,
)


def test_part_distance_is_the_mean_of_per_part_euclidean_distances():
    q = np.array([[[0.0, 0.0], [0.0, 0.0]]])  # 1 x P=2 x D=2
    g = np.array([[[3.0, 4.0], [0.0, 1.0]]])
    # part 0: 5, part 1: 1 -> mean 3 (the L2 of the flattened vector would be sqrt(26))
    assert part_distance(q, g, "euc")[0, 0] == pytest.approx(3.0)
    # cosine variant: 1 - mean_p cos
    a = np.array([[[1.0, 0.0], [1.0, 0.0]]])
    b = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    assert part_distance(a, b, "cos")[0, 0] == pytest.approx(1 - (1 + 0) / 2)
    with pytest.raises(ValueError):
        part_distance(q, g, "manhattan")


def test_rank_metrics_cmc_map_minp_by_hand():
    # query A; gallery order by distance: B, A, C, A  -> matches at positions 1 and 3 (0-based)
    dist = np.array([[0.1, 0.2, 0.3, 0.4]])
    m = rank_metrics(dist, ["A"], ["B", "A", "C", "A"], max_rank=4)
    assert m["cmc"] == pytest.approx([0, 100, 100, 100])
    # AP = (1/2 + 2/4) / 2 = 0.5 ; INP = 2 positives / (last hit at rank 4) = 0.5
    assert m["mAP"] == pytest.approx(50.0)
    assert m["mINP"] == pytest.approx(50.0)
    # a query with no true match is left out (torchreid); exclusion removes gallery items
    m2 = rank_metrics(np.array([[0.1, 0.2], [0.1, 0.2]]), ["A", "Z"], ["A", "B"], max_rank=2)
    assert m2["num_valid_queries"] == 1 and m2["cmc"] == pytest.approx([100, 100])
    m3 = rank_metrics(
        np.array([[0.1, 0.2, 0.3]]), ["A"], ["A", "B", "A"], max_rank=3, exclude=np.array([[True, False, False]])
    )
    assert m3["cmc"] == pytest.approx([0, 100, 100])  # the excluded nearest match does not count


def _casiab_toy():
    """2 subjects, 3 views. Embedding = subject code, except one planted error.

    The planted error: subject 0's NM probe at view 'b' lies on subject 1 -> it is wrong against
    gallery views a and c. Its *same-view* pair (b vs b) is also made wrong via the gallery, but
    identical views are excluded so that must not matter.
    """
    subj, cond, view, emb = [], [], [], []
    code = {"0": 0.0, "1": 10.0}
    for s in ("0", "1"):
        for c in ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02"):
            for v in ("a", "b", "c"):
                x = code[s]
                if s == "0" and c == "nm-05" and v == "b":
                    x = 10.0  # planted: looks like subject 1
                if s == "1" and c.startswith("nm-0") and int(c[-1]) <= 4 and v == "b":
                    x = 100.0  # gallery at view b is useless for subject 1 (only same-view pairs see it)
                subj.append(s), cond.append(c), view.append(v), emb.append([[x, 0.0]])
    return np.array(emb), subj, cond, view


def test_casiab_protocol_hand_computed_with_identical_view_exclusion():
    emb, subj, cond, view = _casiab_toy()
    r = casiab_protocol(emb, subj, cond, view)
    nm = r["conditions"]["NM"]
    # Probe view b vs gallery a: probes 0/nm-05 (wrong), 0/nm-06, 1/nm-05, 1/nm-06 (right) -> 75 %.
    # Same against gallery c -> per-view b = 75. Views a and c: against gallery b, subject 1's
    # probes (x=10) are nearer 0's gallery (0) than 1's (100) -> 50 %; against the other non-b view 100 %.
    assert nm["matrix"][1][0] == pytest.approx(75.0) and nm["matrix"][1][2] == pytest.approx(75.0)
    assert nm["matrix"][0][1] == pytest.approx(50.0) and nm["matrix"][0][2] == pytest.approx(100.0)
    assert nm["matrix"][0][0] is None and nm["matrix"][1][1] is None  # identical views excluded
    # Counting the b-vs-b pair would give per-view b = (75 + 50 + 75) / 3: exclusion keeps it 75.
    assert nm["per_view"] == pytest.approx({"a": 75.0, "b": 75.0, "c": 75.0})
    assert nm["rank1"] == pytest.approx(75.0)
    # BG/CL have no planted probe error: only the gallery-b problem -> a, c: (50+100)/2, b: 100
    assert r["conditions"]["BG"]["rank1"] == pytest.approx((75 + 100 + 75) / 3)
    assert r["mean_rank1"] == pytest.approx(np.mean([75.0, 250 / 3, 250 / 3]))
    table = format_result(r)
    assert "NM" in table and "CL" in table and "75.0" in table


def test_oumvlp_probe_00_vs_gallery_01():
    subj = ["1", "1", "1", "1", "2", "2", "2", "2"]
    cond = ["00", "01", "00", "01", "00", "01", "00", "01"]
    view = ["000", "000", "015", "015", "000", "000", "015", "015"]
    emb = np.array([[[0.0]], [[0.0]], [[0.0]], [[0.0]], [[5.0]], [[5.0]], [[1.0]], [[5.0]]])
    r = oumvlp_protocol(emb, subj, cond, view)
    # probe view 015 vs gallery 000: subject 2's probe (1.0) is nearer subject 1 (0.0) -> 50 %
    # probe view 000 vs gallery 015: both right -> 100 %; mean over views 75
    assert r["conditions"]["NM"]["per_view"] == pytest.approx({"000": 100.0, "015": 50.0})
    assert r["mean_rank1"] == pytest.approx(75.0)


def test_grew_and_gait3d_and_generic():
    subj = ["a", "a", "b", "b", "c", "c"]
    cond = ["01", "02", "01", "02", "01", "02"]
    view = ["x"] * 6
    emb = np.array([[[0.0]], [[0.1]], [[1.0]], [[0.45]], [[2.0]], [[2.1]]])
    r = grew_protocol(emb, subj, cond, view)
    # probe b (0.45) nearest gallery a (0.0), then b (1.0): rank-1 2/3, rank-5 100
    assert r["rank1"] == pytest.approx(200 / 3) and r["rank5"] == pytest.approx(100.0)
    g3 = gait3d_protocol(emb, subj, cond, view, probe_list=["b/02/x"])
    # gallery = the other 5; probe b@0.45 -> order a01(.45), a02(.35)... a02 0.35, a01 0.45, b01 0.55
    assert g3["num_probes"] == 1 and g3["rank1"] == 0.0 and g3["rank5"] == 100.0
    assert g3["mAP"] == pytest.approx(100 / 3) and g3["mINP"] == pytest.approx(100 / 3)
    gp = evaluate_protocol("gallery-probe", emb, subj, cond, view)  # default: first condition is the gallery
    assert gp["rank1"] == pytest.approx(r["rank1"])
    with pytest.raises(ValueError):
        evaluate_protocol("nope", emb, subj, cond, view)
