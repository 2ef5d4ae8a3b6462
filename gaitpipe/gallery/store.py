"""SQLite storage of gait templates: the gallery's single source of truth, and all of its SQL.

One file, ``gallery.sqlite``, in WAL mode with ``synchronous=FULL``: every change is one
transaction, so a process killed at any instant leaves either the state before or the state
after it. ``meta.generation`` is bumped inside every write transaction; the FAISS cache records
the generation it was built from and is rebuilt when it no longer matches.

Gait templates are biometric data. ``secure_delete`` zeroes freed pages, removals finish with
``VACUUM`` and a truncating WAL checkpoint, and every file is created 0600 by us (SQLite gives
its -wal/-shm files the database file's mode), inside a 0700 directory, whatever the umask.

Each row carries a sha256 ``checksum`` over its template and metadata (schema 2), so bit rot or
an edited row is detected instead of silently identifying a walker as someone else.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaitpipe.errors import GalleryError

SCHEMA_VERSION = 2
DB_NAME = "gallery.sqlite"
FILE_MODE = 0o600
DIR_MODE = 0o700
#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 60.0
#: Meta keys that bind a gallery to one encoder; dropped when the last enrolment goes.
ENCODER_KEYS = ("encoder", "parts", "dim")

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
    extra TEXT NOT NULL DEFAULT '{}',
    checksum TEXT NOT NULL DEFAULT ''      -- sha256 over template + metadata (template_checksum)
);
CREATE INDEX IF NOT EXISTS enrolments_identity ON enrolments(identity);
CREATE INDEX IF NOT EXISTS enrolments_source ON enrolments(video_sha256, track);
"""

_META_COLUMNS = (
    "id, identity, video, video_sha256, track, frame_start, frame_end, frames, quality, created, encoder, extra"
)
_TEMPLATE_COLUMNS = (
    "id, identity, video, video_sha256, track, frame_start, frame_end, frames, quality, created,"
    " encoder, parts, dim, embedding, extra"
)


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
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_iso"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created))
        return d

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Enrolment:
        return cls(
            int(row["id"]),
            row["identity"],
            row["video"],
            row["video_sha256"],
            int(row["track"]),
            int(row["frame_start"]),
            int(row["frame_end"]),
            int(row["frames"]),
            float(row["quality"]),
            float(row["created"]),
            row["encoder"],
            json.loads(row["extra"] or "{}"),
        )


@dataclass(frozen=True)
class StoredTemplate:
    """A whole enrolment row: metadata, the raw template bytes and the stored checksum."""

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
    parts: int
    dim: int
    blob: bytes
    extra_json: str
    checksum: str  #: '' for rows written before schema 2 and not yet migrated

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredTemplate:
        keys = row.keys()
        return cls(
            int(row["id"]),
            row["identity"],
            row["video"],
            row["video_sha256"],
            int(row["track"]),
            int(row["frame_start"]),
            int(row["frame_end"]),
            int(row["frames"]),
            float(row["quality"]),
            float(row["created"]),
            row["encoder"],
            int(row["parts"]),
            int(row["dim"]),
            bytes(row["embedding"]),
            row["extra"] or "{}",
            row["checksum"] if "checksum" in keys else "",
        )

    @property
    def embedding(self) -> np.ndarray:
        return decode_embedding(self.blob, self.parts, self.dim)

    @property
    def extra(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.extra_json)
        return loaded

    def expected_checksum(self) -> str:
        return template_checksum(
            identity=self.identity,
            video=self.video,
            video_sha256=self.video_sha256,
            track=self.track,
            frame_start=self.frame_start,
            frame_end=self.frame_end,
            frames=self.frames,
            quality=self.quality,
            created=self.created,
            encoder=self.encoder,
            parts=self.parts,
            dim=self.dim,
            blob=self.blob,
            extra_json=self.extra_json,
        )

    def checksum_ok(self) -> bool:
        """True when the stored checksum matches (rows without one cannot be checked: True)."""
        return not self.checksum or self.checksum == self.expected_checksum()


@dataclass(frozen=True)
class DbState:
    """What the FAISS cache is checked against: which database, which write, and which rows."""

    uuid: str
    generation: int
    count: int
    id_sum: int
    id_max: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def template_checksum(
    *,
    identity: str,
    video: str,
    video_sha256: str,
    track: int,
    frame_start: int,
    frame_end: int,
    frames: int,
    quality: float,
    created: float,
    encoder: str,
    parts: int,
    dim: int,
    blob: bytes,
    extra_json: str,
) -> str:
    """sha256 over an enrolment's metadata (canonical JSON) and its template bytes."""
    meta = json.dumps(
        [
            identity,
            video,
            video_sha256,
            int(track),
            int(frame_start),
            int(frame_end),
            int(frames),
            float(quality),
            float(created),
            encoder,
            int(parts),
            int(dim),
            extra_json,
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    h = hashlib.sha256(meta.encode("ascii"))
    h.update(b"\0")
    h.update(blob)
    return h.hexdigest()


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


def low_on_space(path: Path, *, margin: int = 1 << 20) -> bool:
    """Whether the file system holding ``path`` has (almost) no space left."""
    try:
        return shutil.disk_usage(path).free < margin
    except OSError:
        return False


def describe_db_error(exc: sqlite3.Error, where: Path) -> str:
    """SQLite's message, or "no space left on device" when a full disk is what it means."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL" or (name.startswith("SQLITE_IOERR") and low_on_space(where)):
        return os.strerror(errno.ENOSPC).lower()
    return str(exc)


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if not read_only:
        return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    # Read-only callers hold the gallery lock shared (or no writer can exist: a read-only file
    # system), so ``immutable=1`` reads the file as it is, creating no -wal/-shm file. Committed
    # rows still in a write-ahead log left by a crash need ``mode=ro``, which reads through it.
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            raise GalleryError(
                f"gallery database {path} has changes in its write-ahead log that cannot be read "
                "without writing; open the gallery once where it can be written"
            ) from None
        return conn
    return sqlite3.connect(f"file:{path}?immutable=1", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)


class Store:
    """The SQLite database of one gallery directory.

    ``read_only``: open without changing any file (no schema migration, no mode fixes); the
    caller keeps writers out meanwhile (:func:`gaitpipe.gallery.lock.shared_lock`).
    """

    def __init__(self, path: Path, *, create: bool, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._commits = 0  #: transactions this connection committed (see change_token)
        existed = self.path.exists()
        if not existed and (not create or read_only):
            raise GalleryError(f"no gallery database at {self.path}")
        if not existed:
            private_file(self.path)
        try:
            self.conn = _connect(self.path, read_only=read_only)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not read_only:
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
            self.has_checksums = "checksum" in self._columns()
            if not read_only:
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise GalleryError(
                f"gallery database {self.path} is unreadable or corrupt ({describe_db_error(exc, self.path.parent)})"
            ) from None

    # -- schema ---------------------------------------------------------------------------
    def _has_schema(self) -> bool:
        row = self.conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        return row is not None

    def _columns(self) -> set[str]:
        return {str(r["name"]) for r in self.conn.execute("PRAGMA table_info(enrolments)").fetchall()}

    def _init_schema(self) -> None:
        with self.transaction(bump=False) as cur:
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    cur.execute(stmt)
            for key, value in (
                ("schema_version", str(SCHEMA_VERSION)),
                ("uuid", uuid.uuid4().hex),
                ("generation", "0"),
                ("created", repr(time.time())),
            ):
                cur.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _check_schema(self) -> None:
        version = self.get_meta("schema_version")
        if version is None:
            raise GalleryError(f"{self.path} is not a gaitpipe gallery database")
        if int(version) > SCHEMA_VERSION:
            raise GalleryError(
                f"gallery {self.path} was written by a newer gaitpipe (schema {version}); upgrade gaitpipe"
            )

    def _migrate(self) -> None:
        """Schema 1 -> 2: add the checksum column and compute it for rows that have none."""
        # Version 2 is set in the transaction that fills the last checksum (and inserts always
        # write one), so a version-2 database needs no scan.
        if self.has_checksums and self.get_meta("schema_version") == str(SCHEMA_VERSION):
            return
        with self.transaction(bump=False) as cur:
            if not self.has_checksums:
                cur.execute("ALTER TABLE enrolments ADD COLUMN checksum TEXT NOT NULL DEFAULT ''")
            self.has_checksums = True
            rows = cur.execute(f"SELECT {_TEMPLATE_COLUMNS}, checksum FROM enrolments WHERE checksum = ''").fetchall()
            for row in rows:
                t = StoredTemplate.from_row(row)
                cur.execute("UPDATE enrolments SET checksum = ? WHERE id = ?", (t.expected_checksum(), t.id))
            self.set_meta(cur, "schema_version", str(SCHEMA_VERSION))

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, bump: bool = True) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT``: one writer at a time across processes; rollback on error.

        ``bump`` increments ``meta.generation`` inside the same transaction, which is how the
        FAISS cache learns that it is stale.
        """
        if self.read_only:
            raise GalleryError(f"gallery {self.path.parent} is open read-only; it cannot be changed")
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
            self._commits += 1
        except BaseException as exc:
            try:
                cur.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, sqlite3.OperationalError):  # disk full, I/O error: nothing was changed
                raise GalleryError(
                    f"gallery {self.path.parent} could not be written "
                    f"({describe_db_error(exc, self.path.parent)}); nothing was changed"
                ) from None
            raise

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

    def change_token(self) -> tuple[int, int]:
        """Changes whenever any connection, this one included, commits a change to the database.

        ``PRAGMA data_version`` moves on commits of other connections (other processes too), the
        counter on this connection's own: equal tokens mean nothing can have changed in between,
        so a caller can skip re-reading :meth:`state`.
        """
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0]), self._commits

    def _reader(self, cur: sqlite3.Cursor | None) -> sqlite3.Connection | sqlite3.Cursor:
        return self.conn if cur is None else cur

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str, cur: sqlite3.Cursor | None = None) -> str | None:
        row = self._reader(cur).execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, cur: sqlite3.Cursor, key: str, value: str) -> None:
        cur.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def shape(self, cur: sqlite3.Cursor | None = None) -> tuple[int, int] | None:
        """``(parts, dim)`` of the templates this gallery holds (None while unbound)."""
        p, d = self.get_meta("parts", cur), self.get_meta("dim", cur)
        return None if p is None or d is None else (int(p), int(d))

    def bind_encoder(self, cur: sqlite3.Cursor, encoder: str, parts: int, dim: int) -> None:
        self.set_meta(cur, "encoder", encoder)
        self.set_meta(cur, "parts", str(int(parts)))
        self.set_meta(cur, "dim", str(int(dim)))

    def state(self, cur: sqlite3.Cursor | None = None) -> DbState:
        c = self._reader(cur)
        gen = int(self.get_meta("generation", cur) or 0)
        row = c.execute(
            "SELECT count(*) AS n, coalesce(sum(id), 0) AS s, coalesce(max(id), 0) AS m FROM enrolments"
        ).fetchone()
        return DbState(str(self.get_meta("uuid", cur)), gen, int(row["n"]), int(row["s"]), int(row["m"]))

    def prefix_state(self, id_max: int, cur: sqlite3.Cursor | None = None) -> tuple[int, int]:
        """(count, id sum) of the rows with id <= ``id_max``: tells whether rows were only appended."""
        row = (
            self._reader(cur)
            .execute("SELECT count(*) AS n, coalesce(sum(id), 0) AS s FROM enrolments WHERE id <= ?", (int(id_max),))
            .fetchone()
        )
        return int(row["n"]), int(row["s"])

    # -- rows -----------------------------------------------------------------------------
    def count(self, cur: sqlite3.Cursor | None = None) -> int:
        return int(self._reader(cur).execute("SELECT count(*) AS n FROM enrolments").fetchone()["n"])

    def insert(
        self,
        cur: sqlite3.Cursor,
        *,
        identity: str,
        embedding: np.ndarray,
        video: str,
        video_sha256: str,
        track: int,
        frame_start: int,
        frame_end: int,
        frames: int,
        quality: float,
        encoder: str,
        extra: dict[str, Any] | None = None,
        created: float | None = None,
    ) -> int:
        blob, parts, dim = encode_embedding(embedding)
        when = float(created if created is not None else time.time())
        extra_json = json.dumps(extra or {})
        checksum = template_checksum(
            identity=identity,
            video=str(video),
            video_sha256=video_sha256,
            track=int(track),
            frame_start=int(frame_start),
            frame_end=int(frame_end),
            frames=int(frames),
            quality=float(quality),
            created=when,
            encoder=encoder,
            parts=parts,
            dim=dim,
            blob=blob,
            extra_json=extra_json,
        )
        cur.execute(
            "INSERT INTO enrolments(identity, video, video_sha256, track, frame_start, frame_end, frames, quality,"
            " created, encoder, parts, dim, embedding, extra, checksum) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                identity,
                str(video),
                video_sha256,
                int(track),
                int(frame_start),
                int(frame_end),
                int(frames),
                float(quality),
                when,
                encoder,
                parts,
                dim,
                blob,
                extra_json,
                checksum,
            ),
        )
        return int(cur.lastrowid or 0)

    def find_source(self, video_sha256: str, track: int, cur: sqlite3.Cursor | None = None) -> list[Enrolment]:
        rows = (
            self._reader(cur)
            .execute(
                f"SELECT {_META_COLUMNS} FROM enrolments WHERE video_sha256 = ? AND track = ? ORDER BY id",
                (video_sha256, int(track)),
            )
            .fetchall()
        )
        return [Enrolment.from_row(r) for r in rows]

    def enrolments(self, identity: str | None = None) -> list[Enrolment]:
        if identity is None:
            rows = self.conn.execute(f"SELECT {_META_COLUMNS} FROM enrolments ORDER BY identity, id").fetchall()
        else:
            rows = self.conn.execute(
                f"SELECT {_META_COLUMNS} FROM enrolments WHERE identity = ? ORDER BY id", (identity,)
            ).fetchall()
        return [Enrolment.from_row(r) for r in rows]

    def enrolment(self, enrolment_id: int, cur: sqlite3.Cursor | None = None) -> Enrolment | None:
        row = (
            self._reader(cur)
            .execute(f"SELECT {_META_COLUMNS} FROM enrolments WHERE id = ?", (int(enrolment_id),))
            .fetchone()
        )
        return None if row is None else Enrolment.from_row(row)

    def identities(self) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            "SELECT identity, count(*) AS n FROM enrolments GROUP BY identity ORDER BY identity"
        ).fetchall()
        return [(str(r["identity"]), int(r["n"])) for r in rows]

    def identity_count(self, identity: str) -> int:
        return int(
            self.conn.execute("SELECT count(*) AS n FROM enrolments WHERE identity = ?", (identity,)).fetchone()["n"]
        )

    def identity_of(self, ids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            q = f"SELECT id, identity FROM enrolments WHERE id IN ({','.join('?' * len(chunk))})"
            out.update({int(r["id"]): str(r["identity"]) for r in self.conn.execute(q, chunk).fetchall()})
        return out

    def iter_templates(
        self, min_id: int = 0, max_id: int | None = None, batch: int = 4096, cur: sqlite3.Cursor | None = None
    ) -> Iterator[list[StoredTemplate]]:
        """Yield batches of whole rows with ``min_id < id <= max_id``, in id order."""
        c = self._reader(cur)
        last = int(min_id)
        top = (1 << 62) if max_id is None else int(max_id)
        checksum = ", checksum" if self.has_checksums else ""
        while True:
            rows = c.execute(
                f"SELECT {_TEMPLATE_COLUMNS}{checksum} FROM enrolments WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                (last, top, batch),
            ).fetchall()
            if not rows:
                return
            templates = [StoredTemplate.from_row(r) for r in rows]
            yield templates
            last = templates[-1].id

    def ids(self, max_id: int | None = None, cur: sqlite3.Cursor | None = None) -> np.ndarray:
        """Every enrolment id (up to ``max_id``), ascending (read from an index: no template is read)."""
        rows = self._reader(cur).execute("SELECT id FROM enrolments").fetchall()
        ids = np.sort(np.fromiter((int(r[0]) for r in rows), np.int64, len(rows)))
        return ids if max_id is None else ids[ids <= int(max_id)]

    def templates(self, ids: np.ndarray | list[int], cur: sqlite3.Cursor | None = None) -> list[StoredTemplate]:
        """The whole rows of ``ids`` (those that exist), in id order."""
        c = self._reader(cur)
        checksum = ", checksum" if self.has_checksums else ""
        wanted = sorted({int(i) for i in ids})
        out: list[StoredTemplate] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            q = f"SELECT {_TEMPLATE_COLUMNS}{checksum} FROM enrolments WHERE id IN ({','.join('?' * len(chunk))})"
            out.extend(StoredTemplate.from_row(r) for r in c.execute(q, chunk).fetchall())
        out.sort(key=lambda t: t.id)
        return out

    def embedding(self, enrolment_id: int) -> np.ndarray:
        row = self.conn.execute(
            "SELECT parts, dim, embedding FROM enrolments WHERE id = ?", (int(enrolment_id),)
        ).fetchone()
        if row is None:
            raise GalleryError(f"no enrolment #{enrolment_id} in the gallery")
        return decode_embedding(row["embedding"], int(row["parts"]), int(row["dim"]))

    def delete_identity(self, cur: sqlite3.Cursor, identity: str) -> int:
        """Delete every row of ``identity`` (unbinding the encoder if none are left); returns rows deleted."""
        n = int(cur.execute("DELETE FROM enrolments WHERE identity = ?", (identity,)).rowcount)
        self._unbind_if_empty(cur)
        return n

    def delete_enrolment(self, cur: sqlite3.Cursor, enrolment_id: int) -> None:
        cur.execute("DELETE FROM enrolments WHERE id = ?", (int(enrolment_id),))
        self._unbind_if_empty(cur)

    def _unbind_if_empty(self, cur: sqlite3.Cursor) -> None:
        if self.count(cur) == 0:
            # An empty gallery holds nothing to mix with: unbind it from its encoder.
            cur.execute(f"DELETE FROM meta WHERE key IN ({','.join('?' * len(ENCODER_KEYS))})", ENCODER_KEYS)

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

    def fix_modes(self) -> None:
        """Tighten the database and its -wal/-shm files to 0600 (a non-owner cannot: skipped)."""
        for f in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            if f.exists():
                try:
                    os.chmod(f, FILE_MODE)
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


def read_export(db: Path) -> tuple[str | None, list[StoredTemplate]]:
    """The encoder fingerprint and every row of an exported gallery file (opened read-only)."""
    try:
        other = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        other.row_factory = sqlite3.Row
        try:
            enc = other.execute("SELECT value FROM meta WHERE key = 'encoder'").fetchone()
            columns = {str(r["name"]) for r in other.execute("PRAGMA table_info(enrolments)").fetchall()}
            checksum = ", checksum" if "checksum" in columns else ""
            rows = other.execute(f"SELECT {_TEMPLATE_COLUMNS}{checksum} FROM enrolments ORDER BY id").fetchall()
            return (None if enc is None else str(enc["value"])), [StoredTemplate.from_row(r) for r in rows]
        finally:
            other.close()
    except sqlite3.DatabaseError as exc:
        raise GalleryError(f"{db} is not a gaitpipe gallery export ({exc})") from None
