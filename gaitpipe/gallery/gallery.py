"""The gallery: who is enrolled, and who a new walk looks like.

A gallery is a directory (0700) holding

* ``gallery.sqlite``: the source of truth. One row per enrolment: identity, source video path and
  sha256, track, frame range, frames used, quality, time, encoder fingerprint and the ``[P, D]``
  embedding itself.
* ``index.json`` + ``index-<generation>-<random>.faiss``: a FAISS index of the same templates, a
  cache only. ``index.json`` records the database state it was built from (uuid, generation,
  row count, id sum, max id). On open it is checked against the database: equal -> used; rows
  only appended since -> the new rows are added; anything else (removals, a foreign or
  damaged file) -> rebuilt from SQLite. It is written to a fresh file name first, then
  ``index.json`` is swapped in with ``os.replace``, so a crash leaves the old cache or the new.
* ``gallery.lock``: ``flock``-ed by writers, so several processes enrolling at once serialise
  (SQLite's own lock guards the rows; this one also guards the index files).

**Identity score = max over that identity's enrolments.** An identity may be enrolled several
times (different walks, clothing, bags, viewpoints). Those templates are not samples around one
mean: a probe in a coat should be compared with the coat enrolment, not with an average that
the coat pulled away from every walk. Taking the maximum (nearest-neighbour rule) means adding an
enrolment can only help its identity, an identity's score never depends on how many templates it
has, and it is exactly what a FAISS top-k search returns: the first time an identity appears in
the sorted neighbour list is its score. We search enough neighbours to see ``top_k`` distinct
identities (growing k until we do, or the gallery is exhausted).

**Encoders are never mixed.** The first enrolment binds the gallery to its encoder
fingerprint (architecture + preset + weights hash); a template from any other encoder, or opening
the gallery with other weights, raises :class:`GalleryError`.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from gaitpipe.errors import EncoderMismatchError, GalleryError
from gaitpipe.gallery import index as faiss_index
from gaitpipe.gallery.store import DB_NAME, DIR_MODE, FILE_MODE, Enrolment, Store, private_file

INDEX_META = "index.json"
LOCK_NAME = "gallery.lock"
ENV_VAR = "GAITPIPE_GALLERY"
#: Used when the weights carry no calibrated ``open_set.threshold``: part-averaged cosine
#: similarity below which a walker is reported as ``unknown``. See .devnotes/README-gallery.md.
DEFAULT_THRESHOLD = 0.5
_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


def default_gallery_path() -> Path:
    """``$GAITPIPE_GALLERY`` if set, else ``<user data dir>/gaitpipe/gallery`` (platformdirs)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("gaitpipe", appauthor=False)) / "gallery"


def resolve_gallery_path(path: str | os.PathLike | None) -> Path:
    return Path(path).expanduser() if path else default_gallery_path()


@dataclass(frozen=True)
class Match:
    """One identity in a ranked list: its best (max) similarity over its enrolments."""

    identity: str
    score: float  #: part-averaged cosine similarity in [-1, 1]
    enrolment_id: int  #: the enrolment that gave the score

    def to_dict(self) -> dict:
        return {"id": self.identity, "score": round(float(self.score), 6)}


@dataclass
class Identification:
    """Open-set answer for one probe: ranked matches and the decision (a name or ``unknown``)."""

    matches: list[Match]
    threshold: float
    decision: str = "unknown"

    def __post_init__(self) -> None:
        if self.matches and self.matches[0].score >= self.threshold:
            self.decision = self.matches[0].identity


@dataclass
class IdentitySummary:
    identity: str
    enrolments: list[Enrolment] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.identity, "enrolments": [e.to_dict() for e in self.enrolments]}


def _check_identity(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or not _NAME_RE.match(name) or name != name.strip():
        raise GalleryError(f"invalid identity {name!r}: use 1-128 printable characters without leading/trailing spaces")
    if name == "unknown":
        raise GalleryError("'unknown' is reserved for walkers that match nobody; choose another identity")
    return name


class Gallery:
    """A gallery directory: SQLite rows + FAISS cache. Use :meth:`open`; close or use ``with``."""

    def __init__(self, path: Path, store: Store, encoder: str | None) -> None:
        self.path = path
        self.store = store
        self._index = None
        self._index_state: dict | None = None
        if encoder is not None:
            self.check_encoder(encoder)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, create: bool = False, encoder: str | None = None) -> "Gallery":
        """Open the gallery at ``path`` (default :func:`default_gallery_path`).

        ``create``: make it if absent (directory 0700, files 0600). ``encoder``: the fingerprint
        of the weights in use; a gallery bound to another encoder raises :class:`GalleryError`.
        """
        root = resolve_gallery_path(path)
        if root.exists() and not root.is_dir():
            raise GalleryError(f"{root} is a file, not a gallery directory")
        db = root / DB_NAME
        if not db.is_file():
            if not create:
                raise GalleryError(f"no gallery at {root} (enrol someone first: gaitpipe enroll VIDEO --id NAME, or pass --gallery)")
            if root.exists() and any(p.name not in (LOCK_NAME,) for p in root.iterdir()):
                raise GalleryError(f"{root} is not empty and holds no gallery; choose an empty or new directory")
            root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        try:
            os.chmod(root, DIR_MODE)  # mkdir's mode is filtered by the umask; chmod is not
        except PermissionError:
            pass
        with _locked(root):
            store = Store(db, create=create)
        return cls(root, store, encoder)

    def close(self) -> None:
        self.store.close()
        self._index = None

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- properties -------------------------------------------------------------------------
    @property
    def encoder(self) -> str | None:
        """Fingerprint of the encoder this gallery is bound to (None while empty)."""
        return self.store.get_meta("encoder")

    def check_encoder(self, encoder: str) -> None:
        bound = self.encoder
        if bound is not None and bound != encoder:
            raise EncoderMismatchError(
                f"gallery {self.path} holds templates of encoder {bound}, not {encoder}: "
                "templates of different encoders are never mixed; use the same weights or another --gallery",
                bound, encoder)

    def __len__(self) -> int:
        return int(self.store.conn.execute("SELECT count(*) FROM enrolments").fetchone()[0])

    def identities(self) -> list[IdentitySummary]:
        groups: dict[str, IdentitySummary] = {}
        for e in self.store.enrolments():
            groups.setdefault(e.identity, IdentitySummary(e.identity)).enrolments.append(e)
        return list(groups.values())

    def enrolments(self, identity: str | None = None) -> list[Enrolment]:
        return self.store.enrolments(identity)

    def show(self, identity: str) -> IdentitySummary:
        rows = self.store.enrolments(identity)
        if not rows:
            raise GalleryError(self._unknown_message(identity))
        return IdentitySummary(identity, rows)

    def embedding(self, enrolment_id: int) -> np.ndarray:
        return self.store.embedding(enrolment_id)

    # -- writing ----------------------------------------------------------------------------
    def enroll(self, identity: str, embedding: np.ndarray, *, encoder: str, video: str = "", video_sha256: str = "",
               track: int = 0, frame_start: int = 0, frame_end: int = 0, frames: int = 0, quality: float = 1.0,
               extra: dict | None = None, force: bool = False) -> Enrolment:
        """Add one template ``[P, D]`` for ``identity`` atomically; returns the stored enrolment.

        Duplicate rule: if the same walk (same video sha256 and track) is already enrolled, under
        any identity, it is refused with a :class:`GalleryError` naming the existing enrolment,
        unless ``force`` (then a second template is added, which can only raise that identity's
        max score for probes near this walk).
        """
        return self.enroll_many([dict(identity=identity, embedding=embedding, video=video, video_sha256=video_sha256,
                                      track=track, frame_start=frame_start, frame_end=frame_end, frames=frames,
                                      quality=quality, extra=extra)], encoder=encoder, force=force)[0]

    def enroll_many(self, items: list[dict], *, encoder: str, force: bool = False) -> list[Enrolment]:
        """Add several templates in ONE transaction (all or nothing); keys as :meth:`enroll`."""
        if not encoder:
            raise GalleryError("an encoder fingerprint is required to enrol")
        for item in items:
            _check_identity(item["identity"])
        with _locked(self.path):
            ids: list[int] = []
            with self.store.transaction() as cur:
                bound = self.store.get_meta("encoder", cur)
                shape = None if bound is None else (int(self.store.get_meta("parts", cur)), int(self.store.get_meta("dim", cur)))
                if bound is not None and bound != encoder:
                    self.check_encoder(encoder)
                for item in items:
                    emb = np.asarray(item["embedding"], np.float32)
                    if emb.ndim != 2:
                        raise GalleryError(f"an embedding must be [parts, dim], got shape {emb.shape}")
                    if shape is None:
                        shape = (int(emb.shape[0]), int(emb.shape[1]))
                        self.store.set_meta(cur, "encoder", encoder)
                        self.store.set_meta(cur, "parts", str(shape[0]))
                        self.store.set_meta(cur, "dim", str(shape[1]))
                    elif tuple(emb.shape) != shape:
                        raise GalleryError(f"embedding shape {tuple(emb.shape)} does not match the gallery's {shape}")
                    sha = item.get("video_sha256") or ""
                    if sha and not force:
                        dup = self.store.find_source(sha, int(item.get("track", 0)), cur)
                        if dup:
                            d = dup[0]
                            raise GalleryError(
                                f"this walk (video sha256 {sha[:12]}, track {d.track}) is already enrolled as {d.identity!r} "
                                f"(enrolment #{d.id}); use --force to add it again")
                    ids.append(self.store.insert(
                        cur, identity=item["identity"], embedding=emb, video=str(item.get("video", "")), video_sha256=sha,
                        track=int(item.get("track", 0)), frame_start=int(item.get("frame_start", 0)),
                        frame_end=int(item.get("frame_end", 0)), frames=int(item.get("frames", 0)),
                        quality=float(item.get("quality", 1.0)), encoder=encoder, extra=item.get("extra")))
            # The rows are committed: the cache catches up (a crash here only leaves it stale).
            self._sync_index(persist=True, locked=True)
        by_id = {e.id: e for e in self.store.enrolments()}
        return [by_id[i] for i in ids]

    def remove(self, identity: str) -> int:
        """Delete every trace of ``identity``: rows, index entries and freed pages. Returns rows removed."""
        with _locked(self.path):
            with self.store.transaction() as cur:
                n = cur.execute("DELETE FROM enrolments WHERE identity = ?", (identity,)).rowcount
                if n == 0:
                    raise GalleryError(self._unknown_message(identity))
                if cur.execute("SELECT count(*) FROM enrolments").fetchone()[0] == 0:
                    # An empty gallery holds nothing to mix with: unbind it from its encoder.
                    cur.execute("DELETE FROM meta WHERE key IN ('encoder', 'parts', 'dim')")
            self.store.purge()
            self._index = None
            self._sync_index(persist=True, locked=True, force_rebuild=True)
        return int(n)

    def remove_enrolment(self, enrolment_id: int) -> Enrolment:
        """Delete one enrolment by id (same purge as :meth:`remove`)."""
        with _locked(self.path):
            with self.store.transaction() as cur:
                row = [e for e in self.store.enrolments() if e.id == int(enrolment_id)]
                if not row:
                    raise GalleryError(f"no enrolment #{enrolment_id} in gallery {self.path}")
                cur.execute("DELETE FROM enrolments WHERE id = ?", (int(enrolment_id),))
                if cur.execute("SELECT count(*) FROM enrolments").fetchone()[0] == 0:
                    cur.execute("DELETE FROM meta WHERE key IN ('encoder', 'parts', 'dim')")
            self.store.purge()
            self._index = None
            self._sync_index(persist=True, locked=True, force_rebuild=True)
        return row[0]

    def rebuild(self, kind: str | None = None) -> dict:
        """Rebuild the FAISS cache from SQLite (optionally switching index kind); returns its stats."""
        if kind is not None:
            faiss_index.resolve_kind(kind, 0)  # validates
            with _locked(self.path):
                with self.store.transaction() as cur:
                    self.store.set_meta(cur, "index_kind", kind)
        with _locked(self.path):
            self._index = None
            self._sync_index(persist=True, locked=True, force_rebuild=True)
        return self.stats()

    def export(self, dest: str | os.PathLike) -> Path:
        """Write a consistent snapshot of the database (a SQLite file, mode 0600) to ``dest``."""
        dest = Path(dest).expanduser()
        if dest.exists():
            raise GalleryError(f"{dest} exists; choose a new file to export to")
        tmp = dest.with_name(dest.name + f".tmp-{secrets.token_hex(4)}")
        try:
            self.store.backup_to(tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def import_from(self, src: str | os.PathLike, *, force: bool = False) -> tuple[int, int]:
        """Add the enrolments of an exported file or another gallery directory.

        Same encoder required. Rows whose (video sha256, track) are already here are skipped
        unless ``force``. Returns (added, skipped). One transaction: all or nothing.
        """
        src = Path(src).expanduser()
        db = src / DB_NAME if src.is_dir() else src
        if not db.is_file():
            raise GalleryError(f"nothing to import at {src}: expected an exported gallery file or a gallery directory")
        import sqlite3

        try:
            other = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            enc = other.execute("SELECT value FROM meta WHERE key = 'encoder'").fetchone()
            rows = other.execute(
                "SELECT identity, video, video_sha256, track, frame_start, frame_end, frames, quality, created, encoder,"
                " parts, dim, embedding, extra FROM enrolments ORDER BY id").fetchall()
            other.close()
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"{src} is not a gaitpipe gallery export ({exc})") from None
        if not rows:
            return 0, 0
        encoder = enc[0] if enc else rows[0][9]
        self.check_encoder(encoder)
        from gaitpipe.gallery.store import decode_embedding

        added = skipped = 0
        with _locked(self.path):
            with self.store.transaction() as cur:
                if self.store.get_meta("encoder", cur) is None:
                    self.store.set_meta(cur, "encoder", encoder)
                    self.store.set_meta(cur, "parts", str(rows[0][10]))
                    self.store.set_meta(cur, "dim", str(rows[0][11]))
                shape = (int(self.store.get_meta("parts", cur)), int(self.store.get_meta("dim", cur)))
                for r in rows:
                    if r[9] != encoder or (int(r[10]), int(r[11])) != shape:
                        raise GalleryError(f"{src} mixes encoders or shapes; refusing to import it")
                    if not force and r[2] and self.store.find_source(r[2], r[3], cur):
                        skipped += 1
                        continue
                    self.store.insert(cur, identity=_check_identity(r[0]), embedding=decode_embedding(r[12], r[10], r[11]),
                                      video=r[1], video_sha256=r[2], track=r[3], frame_start=r[4], frame_end=r[5],
                                      frames=r[6], quality=r[7], encoder=r[9], extra=json.loads(r[13] or "{}"), created=r[8])
                    added += 1
            self._sync_index(persist=True, locked=True)
        return added, skipped

    # -- searching --------------------------------------------------------------------------
    def search(self, embeddings: np.ndarray, top_k: int = 5) -> list[list[Match]]:
        """Rank identities for each probe ``[n, P, D]`` (or ``[P, D]``) by max similarity, best first."""
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim == 2:
            emb = emb[None]
        shape = self._shape()
        if shape is not None and tuple(emb.shape[1:]) != shape:
            raise GalleryError(f"probe embedding shape {tuple(emb.shape[1:])} does not match the gallery's {shape}")
        index = self._sync_index(persist=True)
        n = int(index.ntotal)
        if n == 0 or len(emb) == 0:
            return [[] for _ in range(len(emb))]
        vectors = faiss_index.flatten_parts(emb)
        top_k = max(1, int(top_k))
        k = min(n, max(4 * top_k, 32))
        while True:
            scores, ids = faiss_index.search(index, vectors, k)
            names = self.store.identity_of(sorted({int(i) for i in ids.ravel() if i >= 0}))
            ranked: list[list[Match]] = []
            for qs, qi in zip(scores, ids):
                seen: dict[str, Match] = {}
                for s, i in zip(qs, qi):
                    if i < 0 or int(i) not in names:
                        continue
                    name = names[int(i)]
                    if name not in seen:  # sorted best first: the first hit is the identity's max
                        seen[name] = Match(name, float(s), int(i))
                ranked.append(list(seen.values())[:top_k])
            if k >= n or all(len(r) >= top_k for r in ranked):
                return ranked
            k = min(n, k * 4)

    def identify(self, embeddings: np.ndarray, *, top_k: int = 5, threshold: float = DEFAULT_THRESHOLD) -> list[Identification]:
        """Open-set identification: ranked matches per probe, decision ``unknown`` below ``threshold``."""
        return [Identification(m, float(threshold)) for m in self.search(embeddings, top_k)]

    # -- maintenance ------------------------------------------------------------------------
    def stats(self) -> dict:
        st = self.store.state()
        meta = self._read_index_meta()
        files = [self.path / DB_NAME, Path(str(self.path / DB_NAME) + "-wal")]
        index_file = self.path / meta["file"] if meta and meta.get("file") else None
        return {
            "path": str(self.path),
            "encoder": self.encoder,
            "shape": list(self._shape() or ()),
            "identities": len(self.store.identities()),
            "enrolments": st["count"],
            "generation": st["generation"],
            "index_kind_setting": self.store.get_meta("index_kind") or "auto",
            "index": (meta or {}).get("params"),
            "index_current": bool(meta and _same_state(meta, st)),
            "database_bytes": sum(f.stat().st_size for f in files if f.exists()),
            "index_bytes": index_file.stat().st_size if index_file and index_file.exists() else 0,
        }

    def verify(self) -> dict:
        """Check SQLite integrity and that the FAISS cache matches the rows (rebuilding it if not)."""
        check = self.store.integrity_check()
        if check != "ok":
            raise GalleryError(f"gallery database {self.path / DB_NAME} failed its integrity check: {check}")
        index = self._sync_index(persist=False)
        st = self.store.state()
        if int(index.ntotal) != st["count"]:
            raise GalleryError(f"index holds {index.ntotal} templates but the database {st['count']}")
        return {"integrity": check, "enrolments": st["count"], "index_total": int(index.ntotal)}

    # -- the FAISS cache --------------------------------------------------------------------
    def _shape(self) -> tuple[int, int] | None:
        p, d = self.store.get_meta("parts"), self.store.get_meta("dim")
        return None if p is None or d is None else (int(p), int(d))

    def _read_index_meta(self) -> dict | None:
        try:
            return json.loads((self.path / INDEX_META).read_text())
        except (OSError, ValueError):
            return None

    def _sync_index(self, *, persist: bool, locked: bool = False, force_rebuild: bool = False):
        """Return a FAISS index equal to the database's rows, reusing/catching up/rebuilding the cache.

        Rows are read inside one read transaction, so the index matches one committed state.
        ``persist`` writes the result back (under the gallery lock) when it changed.
        """
        kind_setting = self.store.get_meta("index_kind") or "auto"
        with self.store.snapshot() as cur:
            st = self.store.state(cur)
            if self._index is not None and self._index_state is not None and _same_state(self._index_state, st) and not force_rebuild:
                return self._index
            meta = None if force_rebuild else self._read_index_meta()
            shape = self._shape()
            dim = shape[0] * shape[1] if shape else 0
            want_kind = faiss_index.resolve_kind(kind_setting, st["count"])
            index = None
            base_id = 0
            if meta and meta.get("uuid") == st["uuid"] and meta.get("params", {}).get("kind") == want_kind \
                    and meta.get("params", {}).get("dim") == dim:
                if _same_state(meta, st) or self.store.prefix_state(meta["id_max"], cur) == (meta["count"], meta["id_sum"]):
                    index = self._load_index_file(meta)
                    if index is not None and int(index.ntotal) == int(meta["count"]):
                        base_id = int(meta["id_max"])
                    else:
                        index = None
            changed = index is None or not _same_state(meta, st)
            if index is None:
                params = faiss_index.IndexParams(want_kind, dim)
                train = None
                if want_kind == "ivf" and st["count"]:
                    train = _sample_vectors(self.store, cur, st["id_max"], 100_000)
                index = faiss_index.new_index(params, train) if dim else faiss_index.new_index(faiss_index.IndexParams("flat", 1))
                self._index_params = params
            else:
                self._index_params = faiss_index.IndexParams.from_dict(meta["params"])
            for ids, embs in self.store.iter_embeddings(base_id, st["id_max"], cur=cur):
                faiss_index.add(index, faiss_index.flatten_parts(embs), ids)
        self._index, self._index_state = index, st
        if persist and changed:
            if locked:
                self._write_index(index, st)
            else:
                with _locked(self.path):
                    self._write_index(index, st)
        return index

    def _load_index_file(self, meta: dict):
        path = self.path / str(meta.get("file", ""))
        if not meta.get("file") or "/" in meta["file"] or not path.is_file():
            return None
        try:
            index = faiss_index.read(str(path))
        except Exception:  # a damaged cache is rebuilt, never trusted
            return None
        faiss_index.configure(index, faiss_index.IndexParams.from_dict(meta["params"]))
        return index

    def _write_index(self, index, st: dict) -> None:
        """Write the index under a new name, then swap ``index.json`` to point at it; drop old files."""
        current = self._read_index_meta()
        if current and _same_state(current, st) and current.get("params") == self._index_params.to_dict():
            return  # another process already wrote this exact state
        name = f"index-{st['generation']}-{secrets.token_hex(4)}.faiss"
        tmp = self.path / (name + ".tmp")
        private_file(tmp)
        faiss_index.write(index, str(tmp))
        _fsync(tmp)
        os.replace(tmp, self.path / name)
        meta = {**{k: st[k] for k in ("uuid", "generation", "count", "id_sum", "id_max")},
                "params": self._index_params.to_dict(), "file": name, "written": time.time()}
        _atomic_write_text(self.path / INDEX_META, json.dumps(meta, indent=1))
        for old in self.path.glob("index-*.faiss*"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def _unknown_message(self, identity: str) -> str:
        names = [n for n, _ in self.store.identities()]
        hint = f"; enrolled: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}" if names else "; the gallery is empty"
        return f"no identity {identity!r} in gallery {self.path}{hint}"


# -- helpers --------------------------------------------------------------------------------
def _same_state(meta: dict | None, st: dict) -> bool:
    return bool(meta) and all(meta.get(k) == st[k] for k in ("uuid", "generation", "count", "id_sum", "id_max"))


def _sample_vectors(store: Store, cur, id_max: int, limit: int) -> np.ndarray:
    out: list[np.ndarray] = []
    total = 0
    for _, embs in store.iter_embeddings(0, id_max, cur=cur):
        out.append(faiss_index.flatten_parts(embs))
        total += len(embs)
        if total >= limit:
            break
    return np.concatenate(out)[:limit]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``root/gallery.lock`` (released by the OS if the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: SQLite's own locking still serialises rows
        yield
        return
    lock = root / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock
