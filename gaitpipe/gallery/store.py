"""SQLite storage of gait templates: the gallery's single source of truth.

One file, ``gallery.sqlite``, in WAL mode with ``synchronous=FULL``: every change is one
transaction, so a process killed at any instant leaves either the state before or the state
after it. ``meta.generation`` is bumped inside every write transaction; the FAISS cache records
the generation it was built from and is rebuilt when it no longer matches.

Gait templates are biometric data. ``secure_delete`` zeroes freed pages, removals finish with
``VACUUM`` and a truncating WAL checkpoint, and every file is created 0600 by us (SQLite gives
its -wal/-shm files the database file's mode), inside a 0700 directory, whatever the umask.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from gaitpipe.errors import GalleryError

SCHEMA_VERSION = 1
DB_NAME = "gallery.sqlite"
FILE_MODE = 0o600
DIR_MODE = 0o700
#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrolments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so FAISS ids stay unambiguous
    identity TEXT NOT NULL,
    video TEXT NOT NULL,                   -- source video path as given at enrolment
    video_sha256 TEXT NOT NULL,
    track INTEGER NOT NULL,
    frame_start INTEGER NOT NULL,
    frame_end INTEGER NOT NULL,
    frames INTEGER NOT NULL,               -- silhouettes the embedding was computed from
    quality REAL NOT NULL,
    created REAL NOT NULL,                 -- unix time
    encoder TEXT NOT NULL,                 -- encoder fingerprint
    parts INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    embedding BLOB NOT NULL,               -- float32 little-endian [parts, dim]
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS enrolments_identity ON enrolments(identity);
CREATE INDEX IF NOT EXISTS enrolments_source ON enrolments(video_sha256, track);
"""

_COLUMNS = "id, identity, video, video_sha256, track, frame_start, frame_end, frames, quality, created, encoder, extra"


@dataclass(frozen=True)
class Enrolment:
    """One stored template's metadata (the embedding itself is loaded on demand)."""

    id: int
    identity: str
    video: str
    video_sha256: str
    track: int
    frame_start: int
    frame_end: int
    frames: int
    quality: float
    created: float
    encoder: str
    extra: dict

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["created_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created))
        return d

    @classmethod
    def from_row(cls, row: tuple) -> "Enrolment":
        return cls(int(row[0]), row[1], row[2], row[3], int(row[4]), int(row[5]), int(row[6]), int(row[7]),
                   float(row[8]), float(row[9]), row[10], json.loads(row[11] or "{}"))


def private_file(path: Path) -> None:
    """Create ``path`` (if absent) as an empty 0600 file, whatever the umask; fix its mode if present."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def encode_embedding(embedding: np.ndarray) -> tuple[bytes, int, int]:
    e = np.asarray(embedding, dtype="<f4")
    if e.ndim != 2 or e.size == 0 or not np.isfinite(e).all():
        raise GalleryError(f"an embedding must be a finite [parts, dim] array, got shape {e.shape}")
    return e.tobytes(), int(e.shape[0]), int(e.shape[1])


def decode_embedding(blob: bytes, parts: int, dim: int) -> np.ndarray:
    e = np.frombuffer(blob, dtype="<f4")
    if e.size != parts * dim:
        raise GalleryError(f"stored embedding has {e.size} values, expected {parts}x{dim}: the gallery is corrupt")
    return e.reshape(parts, dim).astype(np.float32)


class Store:
    """The SQLite database of one gallery directory."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = Path(path)
        existed = self.path.exists()
        if not existed and not create:
            raise GalleryError(f"no gallery database at {self.path}")
        if not existed:
            private_file(self.path)
        else:
            try:
                os.chmod(self.path, FILE_MODE)
            except PermissionError:
                pass  # read-only use by a non-owner: nothing to tighten
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # e.g. a filesystem without shared memory
                self.conn.execute("PRAGMA journal_mode = DELETE")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA secure_delete = ON")
            # VACUUM's scratch copy of the templates stays in memory, not in a file in /tmp
            self.conn.execute("PRAGMA temp_store = MEMORY")
            if not existed or not self._has_schema():
                self._init_schema()
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"gallery database {self.path} is unreadable or corrupt ({exc})") from None
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                try:
                    os.chmod(side, FILE_MODE)
                except OSError:
                    pass

    # -- schema ---------------------------------------------------------------------------
    def _has_schema(self) -> bool:
        row = self.conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        return row is not None

    def _init_schema(self) -> None:
        with self.transaction(bump=False) as cur:
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    cur.execute(stmt)
            for key, value in (("schema_version", str(SCHEMA_VERSION)), ("uuid", uuid.uuid4().hex),
                               ("generation", "0"), ("created", repr(time.time()))):
                cur.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _check_schema(self) -> None:
        version = self.get_meta("schema_version")
        if version is None:
            raise GalleryError(f"{self.path} is not a gaitpipe gallery database")
        if int(version) > SCHEMA_VERSION:
            raise GalleryError(f"gallery {self.path} was written by a newer gaitpipe (schema {version}); upgrade gaitpipe")

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, bump: bool = True) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT``: one writer at a time across processes; rollback on error.

        ``bump`` increments ``meta.generation`` inside the same transaction, which is how the
        FAISS cache learns that it is stale.
        """
        cur = self.conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise GalleryError(f"gallery {self.path.parent} is locked by another process ({exc})") from None
        try:
            yield cur
            if bump:
                cur.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'generation'")
            cur.execute("COMMIT")
        except BaseException:
            try:
                cur.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str, cur: sqlite3.Cursor | None = None) -> str | None:
        row = (cur or self.conn).execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, cur: sqlite3.Cursor, key: str, value: str) -> None:
        cur.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Cursor]:
        """A read transaction: every read inside sees one consistent state of the database."""
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        try:
            yield cur
        finally:
            try:
                cur.execute("COMMIT")
            except sqlite3.Error:
                pass

    def state(self, cur: sqlite3.Cursor | None = None) -> dict:
        """What the FAISS cache is checked against: generation, row count, id sum and max id."""
        c = cur or self.conn
        gen = int(self.get_meta("generation", c) or 0)
        count, id_sum, id_max = c.execute("SELECT count(*), coalesce(sum(id), 0), coalesce(max(id), 0) FROM enrolments").fetchone()
        return {"generation": gen, "count": int(count), "id_sum": int(id_sum), "id_max": int(id_max), "uuid": self.get_meta("uuid", c)}

    def prefix_state(self, id_max: int, cur: sqlite3.Cursor | None = None) -> tuple[int, int]:
        """(count, id sum) of the rows with id <= ``id_max``: tells whether rows were only appended."""
        c = cur or self.conn
        count, id_sum = c.execute("SELECT count(*), coalesce(sum(id), 0) FROM enrolments WHERE id <= ?", (int(id_max),)).fetchone()
        return int(count), int(id_sum)

    # -- rows -----------------------------------------------------------------------------
    def insert(self, cur: sqlite3.Cursor, *, identity: str, embedding: np.ndarray, video: str, video_sha256: str,
               track: int, frame_start: int, frame_end: int, frames: int, quality: float, encoder: str,
               extra: dict | None = None, created: float | None = None) -> int:
        blob, parts, dim = encode_embedding(embedding)
        cur.execute(
            "INSERT INTO enrolments(identity, video, video_sha256, track, frame_start, frame_end, frames, quality,"
            " created, encoder, parts, dim, embedding, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (identity, str(video), video_sha256, int(track), int(frame_start), int(frame_end), int(frames), float(quality),
             float(created if created is not None else time.time()), encoder, parts, dim, blob, json.dumps(extra or {})),
        )
        return int(cur.lastrowid)

    def find_source(self, video_sha256: str, track: int, cur: sqlite3.Cursor | None = None) -> list[Enrolment]:
        rows = (cur or self.conn).execute(
            f"SELECT {_COLUMNS} FROM enrolments WHERE video_sha256 = ? AND track = ? ORDER BY id", (video_sha256, int(track))
        ).fetchall()
        return [Enrolment.from_row(r) for r in rows]

    def enrolments(self, identity: str | None = None) -> list[Enrolment]:
        if identity is None:
            rows = self.conn.execute(f"SELECT {_COLUMNS} FROM enrolments ORDER BY identity, id").fetchall()
        else:
            rows = self.conn.execute(f"SELECT {_COLUMNS} FROM enrolments WHERE identity = ? ORDER BY id", (identity,)).fetchall()
        return [Enrolment.from_row(r) for r in rows]

    def identities(self) -> list[tuple[str, int]]:
        return [(r[0], int(r[1])) for r in self.conn.execute(
            "SELECT identity, count(*) FROM enrolments GROUP BY identity ORDER BY identity").fetchall()]

    def identity_of(self, ids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start:start + 500]]
            q = f"SELECT id, identity FROM enrolments WHERE id IN ({','.join('?' * len(chunk))})"
            out.update({int(i): name for i, name in self.conn.execute(q, chunk).fetchall()})
        return out

    def iter_embeddings(self, min_id: int = 0, max_id: int | None = None, batch: int = 4096,
                        cur: sqlite3.Cursor | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids [b], embeddings [b, P, D]) for rows with ``min_id < id <= max_id``, in id order."""
        c = cur or self.conn
        last = int(min_id)
        top = (1 << 62) if max_id is None else int(max_id)
        while True:
            rows = c.execute(
                "SELECT id, parts, dim, embedding FROM enrolments WHERE id > ? AND id <= ? ORDER BY id LIMIT ?", (last, top, batch)
            ).fetchall()
            if not rows:
                return
            ids = np.array([r[0] for r in rows], np.int64)
            embs = np.stack([decode_embedding(r[3], r[1], r[2]) for r in rows])
            yield ids, embs
            last = int(ids[-1])

    def embedding(self, enrolment_id: int) -> np.ndarray:
        row = self.conn.execute("SELECT parts, dim, embedding FROM enrolments WHERE id = ?", (int(enrolment_id),)).fetchone()
        if row is None:
            raise GalleryError(f"no enrolment #{enrolment_id} in the gallery")
        return decode_embedding(row[2], row[0], row[1])

    def purge(self) -> None:
        """Reclaim and zero freed pages so removed templates leave no trace in the files."""
        self.conn.execute("VACUUM")
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def backup_to(self, dest: Path) -> None:
        private_file(dest)
        target = sqlite3.connect(str(dest))
        try:
            self.conn.backup(target)
        finally:
            target.close()
        os.chmod(dest, FILE_MODE)

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
