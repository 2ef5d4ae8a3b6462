"""Gallery: SQLite source of truth + FAISS cache, biometric hygiene, crash safety, concurrency.

The crash and concurrency tests run real processes (``python -c``) that import only
``gaitpipe.gallery`` (no torch) and enrol precomputed embeddings; the crash test SIGKILLs them at
random moments and then checks that every enrolment they reported as done is intact.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gaitpipe.errors import GalleryError
from gaitpipe.gallery import Gallery, flatten_parts
from gaitpipe.gallery.cache import INDEX_META

P, D = 16, 256
ENC = "gaitbase-test:0123456789ab"


def emb(seed: int, center: np.ndarray | None = None, noise: float = 0.5) -> np.ndarray:
    r = np.random.default_rng(seed)
    x = r.normal(size=(P, D)).astype(np.float32)
    return x if center is None else (center + noise * x).astype(np.float32)


@pytest.fixture()
def centers() -> np.ndarray:
    return np.stack([emb(1000 + i) for i in range(6)])


def enrol_people(g: Gallery, centers: np.ndarray, per: int = 2) -> None:
    for i, c in enumerate(centers):
        for j in range(per):
            g.enroll(
                f"person-{i}",
                emb(i * 10 + j, c),
                encoder=ENC,
                video=f"/v/{i}-{j}.avi",
                video_sha256=f"{i:02d}{j:02d}" * 16,
                track=1,
                frame_start=0,
                frame_end=50,
                frames=45,
                quality=0.9,
            )


def test_flatten_parts_matches_models_flatten_for_search():
    import torch

    from gaitpipe.models.base import flatten_for_search

    x = np.random.default_rng(0).normal(size=(3, P, D)).astype(np.float32)
    np.testing.assert_allclose(flatten_parts(x), flatten_for_search(torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-6)
    v = flatten_parts(x)
    cos = np.mean([np.dot(x[0, p], x[1, p]) / np.linalg.norm(x[0, p]) / np.linalg.norm(x[1, p]) for p in range(P)])
    assert abs(float(v[0] @ v[1]) - cos) < 1e-5


def test_enrol_search_identity_score_is_max_over_enrolments(tmp_path, centers):
    g = Gallery.open(tmp_path / "g", create=True)
    enrol_people(g, centers)
    assert len(g) == 12 and len(g.identities()) == 6
    probes = np.stack([emb(500 + i, c) for i, c in enumerate(centers)])
    results = g.identify(probes, top_k=3, threshold=0.3)
    for i, r in enumerate(results):
        assert r.decision == f"person-{i}"
        assert len(r.matches) == 3 and len({m.identity for m in r.matches}) == 3
        assert r.matches[0].score >= r.matches[1].score >= r.matches[2].score
        # the identity's score is the best of its enrolments, computed here by brute force
        own = [e for e in g.enrolments(f"person-{i}")]
        brute = max(float(flatten_parts(probes[i])[0] @ flatten_parts(g.embedding(e.id))[0]) for e in own)
        assert abs(r.matches[0].score - brute) < 1e-4
    # open set: a stranger falls below the threshold
    stranger = g.identify(emb(99999), threshold=0.3)[0]
    assert stranger.decision == "unknown" and stranger.matches[0].score < 0.3
    # max, not mean: adding a far-off enrolment to person-0 does not lower its score
    before = g.search(probes[0])[0][0].score
    g.enroll("person-0", emb(4242), encoder=ENC)
    assert g.search(probes[0])[0][0].score == pytest.approx(before, abs=1e-6)
    g.close()


def test_duplicates_refused_unless_forced_and_encoders_never_mixed(tmp_path, centers):
    g = Gallery.open(tmp_path / "g", create=True)
    kw = dict(encoder=ENC, video="/v/a.avi", video_sha256="ab" * 32, track=3)
    first = g.enroll("alice", centers[0], **kw)
    with pytest.raises(GalleryError, match=r"already enrolled as 'alice'.*force"):
        g.enroll("alice", centers[0], **kw)
    with pytest.raises(GalleryError, match="already enrolled as 'alice'"):
        g.enroll("bob", centers[0], **kw)  # the same walk under another name is refused too
    again = g.enroll("alice", centers[0], force=True, **kw)
    assert again.id > first.id and len(g) == 2
    with pytest.raises(GalleryError, match="never mixed"):
        g.enroll("carol", centers[1], encoder="other-encoder:ffff")
    with pytest.raises(GalleryError, match="shape"):
        g.enroll("carol", centers[1][:8], encoder=ENC)
    with pytest.raises(GalleryError, match="reserved"):
        g.enroll("unknown", centers[1], encoder=ENC)
    g.close()
    with pytest.raises(GalleryError, match="never mixed"):
        Gallery.open(tmp_path / "g", encoder="other-encoder:ffff")
    with pytest.raises(GalleryError, match="no gallery at"):
        Gallery.open(tmp_path / "missing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    with pytest.raises(GalleryError, match="not empty"):
        Gallery.open(tmp_path / "junk", create=True)


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.iterdir()) if p.is_file())


def test_remove_deletes_every_trace_and_files_are_owner_only(tmp_path, centers):
    old = os.umask(0)  # the most permissive umask: our modes must not depend on it
    try:
        g = Gallery.open(tmp_path / "g", create=True)
        enrol_people(g, centers)
        secret = g.embedding(g.enrolments("person-2")[0].id)
        raw = secret.astype("<f4").tobytes()
        needles = [raw[o : o + 32] for o in range(0, len(raw), 1024)]  # pieces: blobs span pages
        vec = flatten_parts(secret).tobytes()
        vec_needles = [vec[o : o + 32] for o in range(0, len(vec), 1024)]
        before = _all_bytes(g.path)
        assert any(n in before for n in needles) and any(n in before for n in vec_needles)  # the search works
        assert g.remove("person-2") == 2
        with pytest.raises(GalleryError, match="no identity 'nobody'"):
            g.remove("nobody")
        g.close()
        blob = _all_bytes(tmp_path / "g")
        assert not any(n in blob for n in needles), "removed template bytes still present in the gallery files"
        assert not any(n in blob for n in vec_needles), "removed search vector still present in the index files"
        assert stat.S_IMODE((tmp_path / "g").stat().st_mode) == 0o700
        for f in (tmp_path / "g").iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        g = Gallery.open(tmp_path / "g")
        assert "person-2" not in [s.identity for s in g.identities()] and len(g) == 10
        assert g.verify()["index_total"] == 10
        out = g.export(tmp_path / "export.sqlite")
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_stale_or_damaged_index_is_rebuilt_from_sqlite(tmp_path, centers):
    g = Gallery.open(tmp_path / "g", create=True)
    enrol_people(g, centers)
    probe = emb(777, centers[4])
    want = g.search(probe)[0][0]
    g.close()
    meta = tmp_path / "g" / INDEX_META
    index_file = next((tmp_path / "g").glob("index-*.faiss"))
    index_file.write_bytes(b"garbage")  # damaged cache
    g = Gallery.open(tmp_path / "g")
    assert g.search(probe)[0][0] == want
    g.close()
    meta.write_text('{"uuid": "someone-else", "generation": 1}')  # foreign / stale metadata
    g = Gallery.open(tmp_path / "g")
    assert g.search(probe)[0][0] == want and g.verify()["index_total"] == 12
    g.close()
    # a second handle appends; the first handle catches up instead of answering from its old cache
    a, b = Gallery.open(tmp_path / "g"), Gallery.open(tmp_path / "g")
    a.search(probe)
    b.enroll("late", emb(31337), encoder=ENC)
    assert a.search(emb(31337))[0][0].identity == "late"


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_agree_with_exact_search(tmp_path, kind):
    rng = np.random.default_rng(5)
    cs = rng.normal(size=(60, P, D)).astype(np.float32)
    g = Gallery.open(tmp_path / "g", create=True)
    g.enroll_many(
        [
            {"identity": f"id{i}", "embedding": cs[i] + 0.6 * rng.normal(size=(P, D))}
            for i in range(60)
            for _ in range(3)
        ],
        encoder=ENC,
    )
    probes = cs + 0.6 * rng.normal(size=cs.shape).astype(np.float32)
    exact = [m[0].identity for m in g.search(probes, top_k=1)]
    stats = g.rebuild(kind)
    assert stats["index"]["kind"] == kind and stats["index_current"]
    approx = [m[0].identity for m in g.search(probes, top_k=1)]
    agree = np.mean([a == b for a, b in zip(exact, approx)])
    assert agree >= 0.95, agree
    assert np.mean([a == f"id{i}" for i, a in enumerate(approx)]) >= 0.95


def test_export_import_roundtrip(tmp_path, centers):
    g = Gallery.open(tmp_path / "a", create=True)
    enrol_people(g, centers[:3])
    g.export(tmp_path / "a.sqlite")
    with pytest.raises(GalleryError, match="exists"):
        g.export(tmp_path / "a.sqlite")
    h = Gallery.open(tmp_path / "b", create=True)
    assert h.import_from(tmp_path / "a.sqlite") == (6, 0)
    assert h.import_from(tmp_path / "a") == (0, 6)  # same walks: skipped
    other = Gallery.open(tmp_path / "c", create=True)
    other.enroll("x", centers[0], encoder="other-encoder:ffff")
    with pytest.raises(GalleryError, match="never mixed"):
        other.import_from(tmp_path / "a.sqlite")
    found = [m[0].identity for m in h.search(np.stack([emb(9, c) for c in centers[:3]]))]
    assert found == ["person-0", "person-1", "person-2"]


# -- real processes ----------------------------------------------------------------------------
WORKER = textwrap.dedent(
    """
    import sys, numpy as np
    from gaitpipe.gallery import Gallery
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    g = Gallery.open(path, create=True)
    for i in range(n):
        e = np.random.default_rng([int(tag.strip('w') or 0), i]).normal(size=(16, 256)).astype(np.float32)
        g.enroll(f"{tag}-{i}", e, encoder="gaitbase-test:0123456789ab", video=f"{tag}.avi",
                 video_sha256=f"{tag}-{i}", track=1, frames=40)
        print(i, flush=True)
    """
)


def _worker(path: Path, tag: str, n: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), tag, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _expected(tag: str, i: int) -> np.ndarray:
    return np.random.default_rng([int(tag.strip("w") or 0), i]).normal(size=(16, 256)).astype(np.float32)


def test_sigkill_during_enrolment_never_corrupts_the_gallery(tmp_path):
    path = tmp_path / "g"
    rnd = random.Random(1234)
    done: dict[str, int] = {}
    for round_ in range(6):
        tag = f"w{round_ + 1}"
        proc = _worker(path, tag, 400)
        # wait until it is enrolling (imports done), then kill it at a random moment
        first = proc.stdout.readline()
        assert first.strip() == "0", proc.stderr.read()
        time.sleep(rnd.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        done[tag] = 1 + len(out.split())  # enrolments that returned before the kill
        g = Gallery.open(path)
        assert g.verify()["integrity"] == "ok"
        rows = {e.identity: e for e in g.enrolments()}
        for t, n in done.items():
            for i in range(n):
                e = rows[f"{t}-{i}"]
                np.testing.assert_array_equal(g.embedding(e.id), _expected(t, i))
            # at most the one in flight beyond what was reported
            assert sum(1 for k in rows if k.startswith(f"{t}-")) in (n, n + 1)
            done[t] = sum(1 for k in rows if k.startswith(f"{t}-"))
        # the index agrees with the rows and finds every walker
        ids = sorted(rows)
        hits = g.search(np.stack([g.embedding(rows[k].id) for k in ids]), top_k=1)
        assert [h[0].identity for h in hits] == ids
        g.close()
    assert sum(done.values()) > 6


def test_four_concurrent_writers_serialise(tmp_path):
    path = tmp_path / "g"
    Gallery.open(path, create=True).close()
    procs = [_worker(path, f"w{k + 1}", 12) for k in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.split() == [str(i) for i in range(12)]
    g = Gallery.open(path)
    assert len(g) == 48 and len(g.identities()) == 48
    assert g.verify()["index_total"] == 48
    st = g.stats()
    assert st["index_current"] and st["generation"] >= 48
    for k in range(4):
        for i in (0, 11):
            assert g.search(_expected(f"w{k + 1}", i))[0][0].identity == f"w{k + 1}-{i}"


def test_corrupt_database_is_a_clear_error(tmp_path):
    g = tmp_path / "g"
    g.mkdir()
    (g / "gallery.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GalleryError, match="unreadable or corrupt"):
        Gallery.open(g)
    (tmp_path / "file").write_text("x")
    with pytest.raises(GalleryError, match="is a file"):
        Gallery.open(tmp_path / "file")


def test_default_location_env_and_platformdirs(tmp_path, monkeypatch):
    from gaitpipe.gallery import default_gallery_path, resolve_gallery_path

    monkeypatch.setenv("GAITPIPE_GALLERY", str(tmp_path / "from-env"))
    assert default_gallery_path() == tmp_path / "from-env"
    assert resolve_gallery_path(None) == tmp_path / "from-env"
    assert resolve_gallery_path(tmp_path / "x") == tmp_path / "x"  # --gallery wins
    monkeypatch.delenv("GAITPIPE_GALLERY")
    if sys.platform.startswith("linux"):  # platformdirs follows XDG there
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        assert default_gallery_path() == tmp_path / "data" / "gaitpipe" / "gallery"
    assert default_gallery_path().parts[-2:] == ("gaitpipe", "gallery")
