"""Gallery faults from the hostile-input sweep (issue 15): each test fails on the code before the fix.

Missing/truncated index files, SIGKILL during remove, crash leftovers, template bit rot, a
read-only gallery, verify changing modes, a full disk after the rows were committed.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gaitpipe.cli.app import main
from gaitpipe.errors import GalleryError
from gaitpipe.gallery import Gallery, flatten_parts
from gaitpipe.gallery import store as store_module
from gaitpipe.gallery.cache import INDEX_META

P, D = 16, 256
ENC = "gaitbase-test:0123456789ab"


def emb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(P, D)).astype(np.float32)


def make_gallery(path: Path, n: int = 4) -> Gallery:
    g = Gallery.open(path, create=True)
    for i in range(n):
        g.enroll(f"p{i}", emb(i), encoder=ENC, video=f"/v/{i}.avi", video_sha256=f"{i:02d}" * 32, track=1)
    return g


def index_file(path: Path) -> Path:
    return next(path.glob("index-*.faiss"))


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def needles(template: np.ndarray) -> list[bytes]:
    raw = template.astype("<f4").tobytes()
    vec = flatten_parts(template).tobytes()
    return [b[o : o + 32] for b in (raw, vec) for o in range(0, len(b), 1024)]


def all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.iterdir()) if p.is_file())


# -- 1: a missing or truncated index is written again, and verify reports it ------------------
def test_rebuild_writes_a_missing_index(tmp_path):
    g = make_gallery(tmp_path / "g")
    index_file(g.path).unlink()
    assert not g.stats()["index_current"]  # index.json alone is not trusted
    st = g.rebuild()
    assert st["index_current"] and st["index_bytes"] > 0
    import faiss

    assert faiss.read_index(str(index_file(g.path))).ntotal == 4


def test_search_rewrites_a_truncated_index(tmp_path):
    make_gallery(tmp_path / "g").close()
    f = index_file(tmp_path / "g")
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with Gallery.open(tmp_path / "g") as g:
        assert g.search(emb(2))[0][0].identity == "p2"
        assert g.stats()["index_current"]
    import faiss

    assert faiss.read_index(str(index_file(tmp_path / "g"))).ntotal == 4


def test_verify_reports_and_repairs_a_missing_index(tmp_path, capsys):
    make_gallery(tmp_path / "g").close()
    index_file(tmp_path / "g").unlink()
    with Gallery.open(tmp_path / "g", read_only=True) as g:
        assert any("missing" in p for p in g.verify()["problems"])
    code, out, err = cli(capsys, "gallery", "verify", "--gallery", tmp_path / "g")
    assert code != 0 and "problem: index file" in out and "--repair" in err
    assert not list((tmp_path / "g").glob("index-*.faiss"))  # verify alone changed nothing
    code, out, _ = cli(capsys, "gallery", "verify", "--repair", "--gallery", tmp_path / "g")
    assert code == 0 and "repaired: rebuilt the search index" in out and "ok: 4 enrolments" in out
    code, out, _ = cli(capsys, "gallery", "verify", "--gallery", tmp_path / "g")
    assert code == 0 and "ok: 4 enrolments, index holds 4" in out


# -- 2: no trace of removed templates after a SIGKILL during remove ---------------------------
REMOVER = textwrap.dedent(
    """
    import sys, time, numpy as np, faiss
    from gaitpipe.gallery import Gallery
    path, mode = sys.argv[1], sys.argv[2]
    g = Gallery.open(path, create=True)
    for i in range(6):
        e = np.random.default_rng(i).normal(size=(16, 256)).astype(np.float32)
        g.enroll(f"p{i}", e, encoder="gaitbase-test:0123456789ab", video_sha256=f"s{i}", track=1)
    def stall(real):
        def inner(*a, **k):
            print("rewriting", flush=True)
            time.sleep(60)
            return real(*a, **k)
        return inner
    if mode == "stall":  # hold the process inside the index rewrite, where the test kills it
        faiss.write_index = stall(faiss.write_index)
        faiss.serialize_index = stall(faiss.serialize_index)
    print("removing", flush=True)
    g.remove("p3")
    print("removed", flush=True)
    """
)


def _run_remover(path: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", REMOVER, str(path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _assert_no_trace_after_next_command(path: Path) -> None:
    with Gallery.open(path) as g:  # any command that opens the gallery
        names = {s.identity for s in g.identities()}
        # the index may be missing after the kill (the next search rebuilds it); nothing else may be wrong
        assert [p for p in g.verify()["problems"] if "search index is missing" not in p] == []
    secret = np.random.default_rng(3).normal(size=(16, 256)).astype(np.float32)
    blob = all_bytes(path)
    if "p3" not in names:
        assert not any(n in blob for n in needles(secret)), "removed templates survive in the gallery files"
    assert not [p.name for p in path.iterdir() if "tmp" in p.name]


def test_sigkill_while_remove_rewrites_the_index_leaves_no_trace(tmp_path):
    proc = _run_remover(tmp_path / "g", "stall")
    lines = []
    while (line := proc.stdout.readline()) and line.strip() != "rewriting":
        lines.append(line)
    assert lines and lines[-1].strip() == "removing", proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    with Gallery.open(tmp_path / "g") as g:
        assert "p3" not in {s.identity for s in g.identities()}  # the rows were deleted before the rewrite
    _assert_no_trace_after_next_command(tmp_path / "g")


@pytest.mark.parametrize("delay", [0.02, 0.08, 0.2])
def test_sigkill_at_random_points_of_remove_leaves_no_trace(tmp_path, delay):
    import time

    proc = _run_remover(tmp_path / "g", "plain")
    while (line := proc.stdout.readline()) and line.strip() != "removing":
        pass
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    _assert_no_trace_after_next_command(tmp_path / "g")


def test_remove_returns_with_no_trace_and_no_marker(tmp_path):
    g = make_gallery(tmp_path / "g")
    secret = g.embedding(g.enrolments("p1")[0].id)
    g.remove("p1")
    g.close()
    assert not any(n in all_bytes(tmp_path / "g") for n in needles(secret))
    assert sorted(p.name for p in (tmp_path / "g").iterdir() if not p.name.startswith("index")) == [
        "gallery.lock",
        "gallery.sqlite",
    ]


# -- 3: crash leftovers are reported by verify and removed on open -----------------------------
def test_crash_leftovers_reported_then_cleaned_on_open(tmp_path):
    make_gallery(tmp_path / "g").close()
    root = tmp_path / "g"
    junk = [
        ".index-5-0badc0de.faiss.tmp-123-abcd",
        "index-5-0badc0de.faiss.tmp",
        "index.json.tmp-beef",
        "index-1-00ff00ff.faiss",
    ]
    for name in junk:
        (root / name).write_bytes(b"x" * 10)
    with Gallery.open(root, read_only=True) as g:
        problems = g.verify()["problems"]
    assert sorted(p.removeprefix("crash leftover ") for p in problems) == sorted(junk)
    assert all((root / name).exists() for name in junk)  # read-only verify deleted nothing
    with Gallery.open(root) as g:
        assert not any((root / name).exists() for name in junk)
        report = g.verify()
        assert report["problems"] == [] and len(report["repaired"]) == len(junk)


# -- 6: a checksum per enrolment, checked by verify and on rebuild -----------------------------
def _flip_embedding_bytes(db: Path, enrolment_id: int) -> None:
    conn = sqlite3.connect(db)
    blob = bytearray(conn.execute("SELECT embedding FROM enrolments WHERE id = ?", (enrolment_id,)).fetchone()[0])
    blob[100:108] = bytes(8)
    conn.execute("UPDATE enrolments SET embedding = ? WHERE id = ?", (bytes(blob), enrolment_id))
    conn.commit()
    conn.close()


def test_template_bit_rot_is_detected_by_verify_and_rebuild(tmp_path, capsys):
    g = make_gallery(tmp_path / "g")
    victim = g.enrolments("p2")[0].id
    g.close()
    _flip_embedding_bytes(tmp_path / "g" / "gallery.sqlite", victim)
    with Gallery.open(tmp_path / "g") as g:
        problems = g.verify()["problems"]
        assert len(problems) == 1 and f"#{victim} ('p2')" in problems[0] and "checksum" in problems[0]
        with pytest.raises(GalleryError, match="checksum mismatch"):
            g.rebuild()
    code, out, _ = cli(capsys, "gallery", "verify", "--gallery", tmp_path / "g")
    assert code != 0 and "checksum mismatch" in out


def test_galleries_without_checksums_get_them_on_open(tmp_path):
    make_gallery(tmp_path / "g").close()
    db = tmp_path / "g" / "gallery.sqlite"
    conn = sqlite3.connect(db)  # turn it into a schema-1 gallery, as earlier versions wrote them
    conn.execute("ALTER TABLE enrolments DROP COLUMN checksum")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Gallery.open(tmp_path / "g", read_only=True) as g:  # read-only: cannot migrate, says so
        assert any("predates per-enrolment checksums" in p for p in g.verify()["problems"])
    with Gallery.open(tmp_path / "g") as g:
        assert g.store.get_meta("schema_version") == "2" and g.verify()["problems"] == []
        victim = g.enrolments("p0")[0].id
    _flip_embedding_bytes(db, victim)
    with Gallery.open(tmp_path / "g") as g:
        assert "checksum" in " ".join(g.verify()["problems"])


# -- 8: a read-only gallery can be read; writing fails clearly ---------------------------------
@pytest.fixture()
def read_only_gallery(tmp_path, monkeypatch):
    """A gallery on a read-only bind mount where mounting works (root), else an EROFS-raising os.open."""
    make_gallery(tmp_path / "src").close()
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = (
        subprocess.run(
            f"mount --bind {tmp_path / 'src'} {ro} && mount -o remount,ro,bind {ro}",
            shell=True,
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not mounted:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True, check=False)
        real_open = os.open

        def ro_open(path, flags, *args, **kwargs):
            if str(path).startswith(str(ro)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real_open(path, flags, *args, **kwargs)

        shutil.rmtree(ro)
        shutil.copytree(tmp_path / "src", ro)
        monkeypatch.setattr(os, "open", ro_open)
    before = {p.name: (p.read_bytes(), p.stat().st_mode) for p in ro.iterdir()}
    yield ro
    after = {p.name: (p.read_bytes(), p.stat().st_mode) for p in ro.iterdir()}
    if mounted:
        subprocess.run(["umount", str(ro)], capture_output=True, check=False)
        subprocess.run(["umount", "-l", str(ro)], capture_output=True, check=False)
    assert after == before  # nothing on the read-only gallery changed


def test_read_only_gallery_reads_and_refuses_writes(read_only_gallery, capsys):
    with Gallery.open(read_only_gallery) as g:
        assert not g.writable and len(g) == 4
        assert g.search(emb(1))[0][0].identity == "p1"
        assert g.verify()["problems"] == []
        with pytest.raises(GalleryError, match="read-only"):
            g.enroll("new", emb(99), encoder=ENC)
        with pytest.raises(GalleryError, match="read-only"):
            g.remove("p1")
    code, out, _ = cli(capsys, "gallery", "list", "--gallery", read_only_gallery)
    assert code == 0 and "4 identities" in out
    code, out, _ = cli(capsys, "gallery", "verify", "--gallery", read_only_gallery)
    assert code == 0 and "ok: 4 enrolments" in out
    code, _, err = cli(capsys, "gallery", "remove", "--id", "p1", "--gallery", read_only_gallery)
    assert code != 0 and err.startswith("error: gallery") and "read-only" in err and "Traceback" not in err


# -- 10: verify changes nothing unless asked to repair -----------------------------------------
def test_verify_never_changes_modes_or_files(tmp_path, capsys):
    make_gallery(tmp_path / "g").close()
    root = tmp_path / "g"
    for f in root.iterdir():
        os.chmod(f, 0o444)
    os.chmod(root, 0o555)
    try:
        before = {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in root.iterdir()}
        code, out, _ = cli(capsys, "gallery", "verify", "--gallery", root)
        assert code == 0 and "ok: 4 enrolments" in out
        after = {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in root.iterdir()}
        assert after == before and stat.S_IMODE(root.stat().st_mode) == 0o555
    finally:
        os.chmod(root, 0o700)


# -- 4: a full disk after the rows were committed ----------------------------------------------
def test_disk_full_while_writing_the_index_keeps_the_enrolment(tmp_path, monkeypatch, caplog):
    g = make_gallery(tmp_path / "g", n=2)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("gaitpipe.gallery.cache.atomic_write_bytes", full)
    with caplog.at_level(logging.WARNING, logger="gaitpipe"):
        e = g.enroll("late", emb(50), encoder=ENC, video_sha256="late" * 16, track=1)
    assert e.identity == "late" and g.index_error == "no space left on device"
    assert "no space left on device" in caplog.text and "rebuilt on the next command" in caplog.text
    assert g.search(emb(50))[0][0].identity == "late"  # in memory the index is current
    g.close()
    monkeypatch.undo()
    with Gallery.open(tmp_path / "g") as g:
        assert g.search(emb(50))[0][0].identity == "late" and g.stats()["index_current"]


def test_database_errors_name_a_full_disk(tmp_path, monkeypatch):
    exc = sqlite3.OperationalError("disk I/O error")
    exc.sqlite_errorname = "SQLITE_IOERR_WRITE"  # type: ignore[attr-defined]
    monkeypatch.setattr(store_module, "low_on_space", lambda path, **_: True)
    assert store_module.describe_db_error(exc, tmp_path) == "no space left on device"
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    assert store_module.describe_db_error(full, tmp_path) == "no space left on device"
    monkeypatch.setattr(store_module, "low_on_space", lambda path, **_: False)
    assert store_module.describe_db_error(exc, tmp_path) == "disk I/O error"


def test_index_json_names_only_index_files(tmp_path):
    """A state file pointing outside the gallery is ignored, never followed."""
    make_gallery(tmp_path / "g").close()
    meta = tmp_path / "g" / INDEX_META
    meta.write_text(meta.read_text().replace('"file": "index-', '"file": "../index-'))
    with Gallery.open(tmp_path / "g") as g:
        assert g.search(emb(0))[0][0].identity == "p0" and g.stats()["index_current"]
