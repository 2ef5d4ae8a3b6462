"""The ``pq-rerank`` gallery index: compressed search + exact re-ranking from the stored templates.

Small, clustered synthetic galleries (a shared component, identity centres, walks around them),
so the compressed stage has real work to do; its figures at 1M templates are in
docs/benchmarks.md (benchmarks/bench_gallery.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from gaitpipe.cli.app import main
from gaitpipe.errors import GalleryError
from gaitpipe.gallery import Gallery
from gaitpipe.gallery import index as faiss_index

P, D = 8, 64  # 512-d search vectors: more than the PCA keeps (256)
ENC = "gaitbase-test:pq"
IDS, PER = 150, 4


def clustered(seed: int, n_ids: int = IDS, per: int = PER) -> tuple[list[dict], np.ndarray]:
    """Enrolments (``per`` walks of ``n_ids`` identities around centres sharing a common part) and one
    new walk of each identity as probes."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(P, D))
    centres = common + rng.normal(size=(n_ids, P, D))
    items = [
        {"identity": f"id{i:03d}", "embedding": (centres[i] + 0.9 * rng.normal(size=(P, D))).astype(np.float32)}
        for i in range(n_ids)
        for _ in range(per)
    ]
    probes = (centres + 0.9 * rng.normal(size=centres.shape)).astype(np.float32)
    return items, probes


def make(path: Path, seed: int = 0, **kw) -> tuple[Gallery, np.ndarray]:
    items, probes = clustered(seed, **kw)
    g = Gallery.open(path, create=True)
    g.enroll_many(items, encoder=ENC)
    return g, probes


def top1(g: Gallery, probes: np.ndarray) -> list[tuple[int, float]]:
    return [(m[0].enrolment_id, m[0].score) for m in g.search(probes, top_k=3)]


def test_same_top1_and_exact_scores_as_flat_search(tmp_path):
    g, probes = make(tmp_path / "g")
    assert g.stats()["index"]["kind"] == "flat"  # 600 templates: auto searches exactly
    exact = top1(g, probes)
    st = g.rebuild("pq-rerank")
    assert st["index"]["kind"] == "pq-rerank" and st["index_current"] and st["index"]["trained"] == IDS * PER
    approx = top1(g, probes)
    assert [e for e, _ in approx] == [e for e, _ in exact]
    # the scores are exact inner products of the stored templates, not compressed estimates
    np.testing.assert_allclose([s for _, s in approx], [s for _, s in exact], atol=1e-5)
    full = g.search(probes[:5], top_k=10)
    for matches in full:
        scores = [m.score for m in matches]
        assert scores == sorted(scores, reverse=True) and len({m.identity for m in matches}) == 10
        for m in matches:
            v = faiss_index.flatten_parts(g.embedding(m.enrolment_id))[0]
            q = faiss_index.flatten_parts(probes[:5])
            assert any(abs(float(v @ qq) - m.score) < 1e-5 for qq in q)
    g.close()


def test_index_persists_and_reloads_without_rebuilding(tmp_path):
    g, probes = make(tmp_path / "g")
    g.rebuild("pq-rerank")
    before = top1(g, probes)
    files = sorted(p.name for p in (tmp_path / "g").glob("index-*.faiss"))
    g.close()
    for read_only in (False, True):
        with Gallery.open(tmp_path / "g", read_only=read_only) as h:
            assert top1(h, probes) == before
            assert h.stats()["index"]["kind"] == "pq-rerank" and h.stats()["index_current"]
            assert h.verify()["problems"] == []
    assert sorted(p.name for p in (tmp_path / "g").glob("index-*.faiss")) == files  # loaded, not rewritten


def test_appended_rows_are_searched_and_a_grown_gallery_is_retrained(tmp_path):
    g, probes = make(tmp_path / "g", n_ids=40)
    g.rebuild("pq-rerank")
    assert g.stats()["index"]["trained"] == 160
    late = probes[0] * 3 + 1.0
    e = g.enroll("late", late, encoder=ENC)
    assert g.search(late, top_k=1)[0][0].enrolment_id == e.id  # caught up by adding the new row
    assert g.stats()["index"]["trained"] == 160
    more, _ = clustered(7, n_ids=60)
    g.enroll_many([{**m, "identity": "more-" + m["identity"]} for m in more], encoder=ENC)
    st = g.stats()  # 401 templates > 2 x 160: retrained on all of them
    assert st["index"]["kind"] == "pq-rerank" and st["index"]["trained"] == 401 and st["index_current"]
    assert g.search(late, top_k=1)[0][0].enrolment_id == e.id
    g.close()


def test_removed_templates_are_never_returned(tmp_path):
    g, probes = make(tmp_path / "g")
    g.rebuild("pq-rerank")
    assert g.search(probes[3], top_k=1)[0][0].identity == "id003"
    g.remove("id003")
    assert all(m.identity != "id003" for m in g.search(probes[3], top_k=20)[0])
    assert g.stats()["index"]["kind"] == "pq-rerank" and g.verify()["index_total"] == (IDS - 1) * PER
    g.close()


def test_a_template_changed_after_indexing_is_refused(tmp_path):
    g, probes = make(tmp_path / "g")
    g.rebuild("pq-rerank")
    victim = g.search(probes[5], top_k=1)[0][0].enrolment_id
    g.close()
    conn = sqlite3.connect(tmp_path / "g" / "gallery.sqlite")
    blob = bytearray(conn.execute("SELECT embedding FROM enrolments WHERE id = ?", (victim,)).fetchone()[0])
    blob[:8] = bytes(8)
    conn.execute("UPDATE enrolments SET embedding = ? WHERE id = ?", (bytes(blob), victim))
    conn.commit()
    conn.close()
    with Gallery.open(tmp_path / "g") as h:
        # the re-ranking reads the stored template: a changed one is refused, never scored
        with pytest.raises(GalleryError, match="checksum mismatch"):
            h.search(probes[5], top_k=1)


def test_auto_picks_pq_rerank_above_its_threshold(tmp_path):
    g, probes = make(tmp_path / "g", n_ids=50)  # 200 templates
    assert g.stats()["index"]["kind"] == "flat"
    st = g.rebuild("auto", auto_threshold=199)
    assert st["index_kind_setting"] == "auto" and st["index_auto_threshold"] == 199
    assert st["index"]["kind"] == "pq-rerank"
    assert g.search(probes[1], top_k=1)[0][0].identity == "id001"
    assert g.rebuild(auto_threshold=200)["index"]["kind"] == "flat"  # 200 is not above 200
    g.rebuild(auto_threshold=199)
    g.remove("id000")  # 196 templates: back to exact search
    assert g.stats()["index"]["kind"] == "flat"
    with pytest.raises(GalleryError, match="threshold"):
        g.rebuild(auto_threshold=-1)
    g.close()
    assert faiss_index.resolve_kind("auto", faiss_index.APPROX_THRESHOLD) == "flat"
    assert faiss_index.resolve_kind("auto", faiss_index.APPROX_THRESHOLD + 1) == "pq-rerank"


def test_cli_rebuild_switches_to_pq_rerank(tmp_path, capsys):
    g, probes = make(tmp_path / "g", n_ids=50)
    want = g.search(probes, top_k=1)
    g.close()
    G = ["--gallery", str(tmp_path / "g")]
    assert main(["gallery", "rebuild", "--index", "pq-rerank", *G]) == 0
    assert "rebuilt pq-rerank index of 200 templates" in capsys.readouterr().out
    with Gallery.open(tmp_path / "g") as h:
        assert h.stats()["index"]["kind"] == "pq-rerank"
        assert [m[0].enrolment_id for m in h.search(probes, top_k=1)] == [m[0].enrolment_id for m in want]
    assert main(["gallery", "rebuild", "--index", "auto", "--auto-threshold", "1000", *G]) == 0
    assert "rebuilt flat index" in capsys.readouterr().out
    assert main(["gallery", "rebuild", "--auto-threshold", "10", *G]) == 0
    assert "rebuilt pq-rerank index" in capsys.readouterr().out
    assert main(["gallery", "rebuild", "--index", "pq", *G]) != 0
    assert "pq-rerank" in capsys.readouterr().err


def test_tiny_gallery(tmp_path):
    g = Gallery.open(tmp_path / "g", create=True)
    rng = np.random.default_rng(3)
    embs = rng.normal(size=(3, P, D)).astype(np.float32)
    g.enroll_many([{"identity": f"p{i}", "embedding": e} for i, e in enumerate(embs)], encoder=ENC)
    g.rebuild("pq-rerank")  # fewer templates than a 4-bit quantiser has centroids
    assert [m[0].identity for m in g.search(embs, top_k=1)] == ["p0", "p1", "p2"]
    g.close()
