"""The gallery: who is enrolled, and who a new walk looks like.

A gallery is a directory (0700) holding

* ``gallery.sqlite``: the source of truth (:mod:`gaitpipe.gallery.store`). One row per
  enrolment: identity, source video path and sha256, track, frame range, frames used, quality,
  time, encoder fingerprint, the ``[P, D]`` embedding itself and a checksum over all of them.
* ``index.json`` + ``index-<generation>-<random>.faiss``: a FAISS index of the same templates, a
  cache only (:mod:`gaitpipe.gallery.cache`), checked against the database whenever it is used.
* ``gallery.lock``: ``flock``-ed by writers (:mod:`gaitpipe.gallery.lock`). Readers take no
  lock, so a gallery on a read-only file system can still be searched.

**Identity score = max over that identity's enrolments.** An identity may be enrolled several
times (different walks, clothing, bags, viewpoints). Those templates are not samples around one
mean: a probe in a coat should be compared with the coat enrolment, not with an average that
the coat pulled away from every walk. Taking the maximum (nearest-neighbour rule) means adding an
enrolment can only help its identity, an identity's score never depends on how many templates it
has, and it is exactly what a FAISS top-k search returns: the first time an identity appears in
the sorted neighbour list is its score. We search enough neighbours to see ``top_k`` distinct
identities (growing k until we do, or the gallery is exhausted). (The alternatives, a mean of
the top-k enrolment scores or one fused template per identity, were not measured against it: both
pull an identity enrolled in several conditions towards an average that fits none of them.)

**Decision = threshold + margin + quality** (:class:`~gaitpipe.gallery.results.Identification`):
a name is given only when the best identity clears the threshold *and* beats the next identity by
the margin; otherwise ``unknown``, with the identities within the margin listed as candidates. A
probe whose track failed the quality checks (:mod:`gaitpipe.quality`) is ``uncertain``.

**Encoders are never mixed.** The first enrolment binds the gallery to its encoder
fingerprint (architecture + preset + weights hash); a template from any other encoder, or opening
the gallery with other weights, raises :class:`GalleryError`.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitpipe.errors import EncoderMismatchError, GalleryError, shorten
from gaitpipe.gallery import index as faiss_index
from gaitpipe.gallery import maintenance
from gaitpipe.gallery.cache import IndexCache, check_templates, read_record
from gaitpipe.gallery.lock import (
    LOCK_NAME,
    SharedLock,
    gallery_lock,
    is_writable,
    read_only_error,
)
from gaitpipe.gallery.paths import resolve_gallery_path
from gaitpipe.gallery.results import (
    DEFAULT_MARGIN,
    DEFAULT_THRESHOLD,
    UNCERTAIN,
    Identification,
    IdentitySummary,
    Match,
)
from gaitpipe.gallery.store import (
    DB_NAME,
    DIR_MODE,
    Enrolment,
    Store,
    low_on_space,
    read_export,
)

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self  # typing.Self is Python 3.11+

    from gaitpipe.metrics.asnorm import ScoreNormaliser

log = logging.getLogger(__name__)

#: Identities re-scored per probe when scores are normalised: normalisation reorders identities
#: whose raw scores are close; one far down the raw ranking rarely overtakes the best (not re-scored).
NORM_CANDIDATES = 20
_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


def check_identity(name: str) -> str:
    """``name`` if it can be an enrolled identity; :class:`GalleryError` (one line) otherwise."""
    if not isinstance(name, str) or not name.strip() or not _NAME_RE.match(name) or name != name.strip():
        raise GalleryError(
            f"invalid identity '{shorten(name)}': use 1-128 printable characters without leading/trailing spaces"
        )
    if name == "unknown":
        raise GalleryError("'unknown' is reserved for walkers that match nobody; choose another identity")
    if name == UNCERTAIN:
        raise GalleryError(f"'{UNCERTAIN}' is reserved for walkers too poorly seen to name; choose another identity")
    return name


def check_location(path: str | os.PathLike[str] | None) -> Path:
    """The gallery directory of ``path`` (default :func:`default_gallery_path`), if a gallery is there
    or can be made there; :class:`GalleryError` for a file, a directory of other things, or a database
    emptied by damage. Changes nothing on disk.
    """
    root = resolve_gallery_path(path)
    if root.exists() and not root.is_dir():
        raise GalleryError(f"{root} is a file, not a gallery directory")
    db = root / DB_NAME
    if db.is_file():
        # an interrupted creation also leaves an empty database, but never an index of enrolments
        record = read_record(root) if db.stat().st_size == 0 else None
        if record is not None and record.state.count:
            raise GalleryError(
                f"gallery database {db} is empty (0 bytes) but the gallery's index records "
                f"{record.state.count} enrolment(s): the database was truncated; restore it from a backup"
            )
    # `db.is_file()` again after the listing: a process creating this gallery right now made it meanwhile
    elif root.exists() and any(p.name != LOCK_NAME for p in root.iterdir()) and not db.is_file():
        raise GalleryError(f"{root} is not empty and holds no gallery; choose an empty or new directory")
    return root


class Gallery:
    """A gallery directory: SQLite rows + FAISS cache. Use :meth:`open`; close or use ``with``."""

    def __init__(
        self,
        path: Path,
        store: Store,
        encoder: str | None,
        *,
        writable: bool = True,
        shared_lock: SharedLock | None = None,
        recovered: list[str] | None = None,
    ) -> None:
        self.path = path
        self.store = store
        self.writable = writable
        self.cache = IndexCache(path, store, writable=writable)
        #: what opening the gallery repaired (crash leftovers, an interrupted removal)
        self.recovered: list[str] = list(recovered or [])
        #: set when rows were committed but the search index could not be written afterwards
        self.index_error: str | None = None
        self._shared_lock = shared_lock
        if encoder is not None:
            self.check_encoder(encoder)

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = False,
        encoder: str | None = None,
        read_only: bool = False,
    ) -> Gallery:
        """Open the gallery at ``path`` (default :func:`default_gallery_path`).

        ``create``: make it if absent (directory 0700, files 0600). ``encoder``: the fingerprint
        of the weights in use; a gallery bound to another encoder raises :class:`GalleryError`.
        ``read_only``: change nothing on disk (no lock file, mode fix or clean-up); a gallery
        whose directory cannot be written is opened this way by itself. An interrupted removal
        is still finished when the directory is writable: removed templates must not survive.
        """
        root = check_location(path)
        db = root / DB_NAME
        if not db.is_file():
            if not create or read_only:
                raise GalleryError(f"no gallery at {root} (enrol someone first, or give another gallery directory)")
            root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            if not is_writable(root):
                raise read_only_error(root)
        check_writable = not read_only or maintenance.removal_pending(root)
        writable = check_writable and is_writable(root)
        if read_only or not writable:
            recovered = []
            if writable:  # read-only asked for, but a removal must be finished first
                with gallery_lock(root):
                    store = Store(db, create=False)
                    try:
                        recovered = maintenance.recover(root, store, IndexCache(root, store, writable=True))
                    finally:
                        store.close()
            lock = SharedLock(root)
            try:
                store = Store(db, create=False, read_only=True)
            except BaseException:
                lock.release()
                raise
            return cls(root, store, encoder, writable=False, shared_lock=lock, recovered=recovered)
        try:
            os.chmod(root, DIR_MODE)  # mkdir's mode is filtered by the umask; chmod is not
        except PermissionError:
            pass
        with gallery_lock(root):
            store = Store(db, create=create)
            try:
                store.fix_modes()
                recovered = maintenance.recover(root, store, IndexCache(root, store, writable=True))
            except BaseException:
                store.close()
                raise
        return cls(root, store, encoder, recovered=recovered)

    def close(self) -> None:
        self.store.close()
        self.cache.invalidate()
        if self._shared_lock is not None:
            self._shared_lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_writable(self) -> None:
        if not self.writable:
            raise read_only_error(self.path)

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
                "templates of different encoders are never mixed; use the same weights or another gallery",
                bound,
                encoder,
            )

    def __len__(self) -> int:
        return self.store.count()

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
    def enroll(
        self,
        identity: str,
        embedding: np.ndarray,
        *,
        encoder: str,
        video: str = "",
        video_sha256: str = "",
        track: int = 0,
        frame_start: int = 0,
        frame_end: int = 0,
        frames: int = 0,
        quality: float = 1.0,
        extra: dict[str, Any] | None = None,
        force: bool = False,
    ) -> Enrolment:
        """Add one template ``[P, D]`` for ``identity`` atomically; returns the stored enrolment.

        Duplicate rule: if the same walk (same video sha256 and track) is already enrolled, under
        any identity, it is refused with a :class:`GalleryError` naming the existing enrolment,
        unless ``force`` (then a second template is added, which can only raise that identity's
        max score for probes near this walk).
        """
        item = {
            "identity": identity,
            "embedding": embedding,
            "video": video,
            "video_sha256": video_sha256,
            "track": track,
            "frame_start": frame_start,
            "frame_end": frame_end,
            "frames": frames,
            "quality": quality,
            "extra": extra,
        }
        return self.enroll_many([item], encoder=encoder, force=force)[0]

    def enroll_many(self, items: list[dict[str, Any]], *, encoder: str, force: bool = False) -> list[Enrolment]:
        """Add several templates in ONE transaction (all or nothing); keys as :meth:`enroll`."""
        if not encoder:
            raise GalleryError("an encoder fingerprint is required to enrol")
        for item in items:
            check_identity(item["identity"])
        self._require_writable()
        with gallery_lock(self.path):
            ids: list[int] = []
            with self.store.transaction() as cur:
                bound = self.store.get_meta("encoder", cur)
                shape = None if bound is None else self.store.shape(cur)
                if bound is not None and bound != encoder:
                    self.check_encoder(encoder)
                for item in items:
                    emb = np.asarray(item["embedding"], np.float32)
                    if emb.ndim != 2:
                        raise GalleryError(f"an embedding must be [parts, dim], got shape {emb.shape}")
                    if shape is None:
                        shape = (int(emb.shape[0]), int(emb.shape[1]))
                        self.store.bind_encoder(cur, encoder, *shape)
                    elif tuple(emb.shape) != shape:
                        raise GalleryError(f"embedding shape {tuple(emb.shape)} does not match the gallery's {shape}")
                    sha = item.get("video_sha256") or ""
                    if sha and not force:
                        dup = self.store.find_source(sha, int(item.get("track", 0)), cur)
                        if dup:
                            d = dup[0]
                            raise GalleryError(
                                f"this walk (video sha256 {sha[:12]}, track {d.track}) is already enrolled as "
                                f"{d.identity!r} (enrolment #{d.id}); enrolling it again with force adds a "
                                "second template",
                                remedy="force",
                            )
                    ids.append(
                        self.store.insert(
                            cur,
                            identity=item["identity"],
                            embedding=emb,
                            video=str(item.get("video", "")),
                            video_sha256=sha,
                            track=int(item.get("track", 0)),
                            frame_start=int(item.get("frame_start", 0)),
                            frame_end=int(item.get("frame_end", 0)),
                            frames=int(item.get("frames", 0)),
                            quality=float(item.get("quality", 1.0)),
                            encoder=encoder,
                            extra=item.get("extra"),
                        )
                    )
            # The rows are committed: the cache catches up (a crash here only leaves it stale).
            self._update_index_after_commit()
        by_id = {e.id: e for e in self.store.enrolments()}
        return [by_id[i] for i in ids]

    def _update_index_after_commit(self, *, force_rebuild: bool = False) -> None:
        """Bring the index files up to the committed rows; a failure to write them is reported, not raised.

        The rows are already saved, so raising would make the caller believe the change failed
        (and a retry would then be refused as a duplicate). Every later command rebuilds the
        index from the rows.
        """
        try:
            self.cache.index(persist=True, locked=True, force_rebuild=force_rebuild)
        except OSError as exc:
            nospace = exc.errno == errno.ENOSPC or low_on_space(self.path)
            self.index_error = os.strerror(errno.ENOSPC).lower() if nospace else (exc.strerror or str(exc))
            log.warning(
                "the search index of gallery %s could not be written (%s); it is rebuilt on the next command",
                self.path,
                self.index_error,
            )

    def _delete_rows(self, delete: Callable[[sqlite3.Cursor], object]) -> None:
        """Run ``delete(cursor)`` as a removal: index files first, then rows, then erase freed pages."""
        maintenance.begin_removal(self.path)
        self.cache.drop_files()
        with self.store.transaction() as cur:
            delete(cur)
        self.store.purge()
        maintenance.end_removal(self.path)
        self._update_index_after_commit(force_rebuild=True)

    def remove(self, identity: str) -> int:
        """Delete every trace of ``identity``: rows, index entries and freed pages. Returns rows removed."""
        self._require_writable()
        with gallery_lock(self.path):
            n = self.store.identity_count(identity)
            if n == 0:
                raise GalleryError(self._unknown_message(identity))
            self._delete_rows(lambda cur: self.store.delete_identity(cur, identity))
        return n

    def remove_enrolment(self, enrolment_id: int) -> Enrolment:
        """Delete one enrolment by id (same purge as :meth:`remove`)."""
        self._require_writable()
        with gallery_lock(self.path):
            row = self.store.enrolment(int(enrolment_id))
            if row is None:
                raise GalleryError(f"no enrolment #{enrolment_id} in gallery {self.path}")
            self._delete_rows(lambda cur: self.store.delete_enrolment(cur, row.id))
        return row

    def rebuild(self, kind: str | None = None, *, auto_threshold: int | None = None) -> dict[str, Any]:
        """Rebuild the FAISS cache from SQLite and write it (optionally switching index kind); returns its stats.

        ``auto_threshold``: the most templates the ``auto`` kind searches exactly before it
        switches to ``pq-rerank`` (stored in the gallery; default
        :data:`~gaitpipe.gallery.index.APPROX_THRESHOLD`). Every template's checksum is checked
        first; a damaged one raises :class:`GalleryError`.
        """
        self._require_writable()
        if kind is not None:
            faiss_index.resolve_kind(kind, 0)  # validates
        if auto_threshold is not None and (isinstance(auto_threshold, bool) or int(auto_threshold) < 0):
            raise GalleryError(f"the auto threshold must be a number of templates >= 0, got {auto_threshold!r}")
        with gallery_lock(self.path):
            if kind is not None or auto_threshold is not None:
                with self.store.transaction() as cur:
                    if kind is not None:
                        self.store.set_meta(cur, "index_kind", kind)
                    if auto_threshold is not None:
                        self.store.set_meta(cur, "index_auto_threshold", str(int(auto_threshold)))
            self.cache.invalidate()
            self.cache.index(persist=True, locked=True, force_rebuild=True)
        return self.stats()

    def export(self, dest: str | os.PathLike[str]) -> Path:
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

    def import_from(self, src: str | os.PathLike[str], *, force: bool = False) -> tuple[int, int]:
        """Add the enrolments of an exported file or another gallery directory.

        Same encoder required. Rows whose (video sha256, track) are already here are skipped
        unless ``force``. Rows failing their checksum are refused. Returns (added, skipped).
        One transaction: all or nothing.
        """
        src = Path(src).expanduser()
        db = src / DB_NAME if src.is_dir() else src
        if not db.is_file():
            raise GalleryError(f"nothing to import at {src}: expected an exported gallery file or a gallery directory")
        bound, rows = read_export(db)
        if not rows:
            return 0, 0
        encoder = bound if bound is not None else rows[0].encoder
        self.check_encoder(encoder)
        check_templates(rows)
        self._require_writable()
        added = skipped = 0
        with gallery_lock(self.path):
            with self.store.transaction() as cur:
                if self.store.get_meta("encoder", cur) is None:
                    self.store.bind_encoder(cur, encoder, rows[0].parts, rows[0].dim)
                shape = self.store.shape(cur)
                for r in rows:
                    if r.encoder != encoder or (r.parts, r.dim) != shape:
                        raise GalleryError(f"{src} mixes encoders or shapes; refusing to import it")
                    if not force and r.video_sha256 and self.store.find_source(r.video_sha256, r.track, cur):
                        skipped += 1
                        continue
                    self.store.insert(
                        cur,
                        identity=check_identity(r.identity),
                        embedding=r.embedding,
                        video=r.video,
                        video_sha256=r.video_sha256,
                        track=r.track,
                        frame_start=r.frame_start,
                        frame_end=r.frame_end,
                        frames=r.frames,
                        quality=r.quality,
                        encoder=r.encoder,
                        extra=r.extra,
                        created=r.created,
                    )
                    added += 1
            self._update_index_after_commit()
        return added, skipped

    # -- searching --------------------------------------------------------------------------
    def search(self, embeddings: np.ndarray, top_k: int = 5) -> list[list[Match]]:
        """Rank identities for each probe ``[n, P, D]`` (or ``[P, D]``) by max similarity, best first."""
        emb = np.asarray(embeddings, np.float32)
        if emb.ndim == 2:
            emb = emb[None]
        shape = self.store.shape()
        if shape is not None and tuple(emb.shape[1:]) != shape:
            raise GalleryError(f"probe embedding shape {tuple(emb.shape[1:])} does not match the gallery's {shape}")
        index = self.cache.index(persist=True)
        n = int(index.ntotal)
        if n == 0 or len(emb) == 0:
            return [[] for _ in range(len(emb))]
        vectors = faiss_index.flatten_parts(emb)
        top_k = max(1, int(top_k))
        k = min(n, max(4 * top_k, 32))
        while True:
            scores, ids = faiss_index.search(index, vectors, k, self.cache.params, self.cache.vectors)
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

    def identify(
        self,
        embeddings: np.ndarray,
        *,
        top_k: int = 5,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        reasons: list[list[str]] | None = None,
        normaliser: ScoreNormaliser | None = None,
    ) -> list[Identification]:
        """Open-set identification: ranked matches per probe and the decision of :class:`Identification`.

        A name needs a score of at least ``threshold`` and at least ``margin`` above the next
        identity; ``reasons`` (one list per probe: its track's quality problems) make that probe
        ``uncertain``. The runner-up identity is always searched for, even with ``top_k`` 1.
        ``normaliser``: decide on AS-norm scores (:mod:`gaitpipe.metrics.asnorm`; ``threshold`` and
        ``margin`` are then on that scale), see :meth:`_normalised`.
        """
        wanted = max(2, int(top_k))
        ranked = self.search(embeddings, max(wanted, NORM_CANDIDATES) if normaliser is not None else wanted)
        if normaliser is not None:
            ranked = self._normalised(embeddings, ranked, normaliser)
        why = reasons if reasons is not None else [[] for _ in ranked]
        if len(why) != len(ranked):
            raise GalleryError(f"{len(why)} lists of quality reasons for {len(ranked)} probes")
        return [
            Identification(
                m[: max(1, int(top_k))],
                float(threshold),
                margin=float(margin),
                reasons=list(r),
                second=m[1] if len(m) > 1 else None,
            )
            for m, r in zip(ranked, why)
        ]

    def _normalised(
        self, embeddings: np.ndarray, ranked: list[list[Match]], normaliser: ScoreNormaliser
    ) -> list[list[Match]]:
        """Each probe's identities re-scored with AS-norm and re-ranked (raw scores kept in ``raw``).

        An identity's normalised score is that of its best raw enrolment (the one the search
        returned), normalised with both sides' cohort statistics; the candidates are the best
        :data:`NORM_CANDIDATES` identities by raw score, enough for the few that can change places.
        """
        from gaitpipe.metrics.asnorm import CohortStats, normalise

        emb = np.asarray(embeddings, np.float32)
        probes = faiss_index.flatten_parts(emb[None] if emb.ndim == 2 else emb)
        ids = sorted({m.enrolment_id for r in ranked for m in r})
        if not ids:
            return ranked
        rows = {t.id: t for t in self.store.templates(ids)}
        missing = [i for i in ids if i not in rows]
        if missing:  # removed between the search and now: searching again sees the change
            raise GalleryError(f"enrolments {missing[:5]} vanished during the search; try again")
        col = {i: k for k, i in enumerate(ids)}
        enrol = normaliser.stats(faiss_index.flatten_parts(np.stack([rows[i].embedding for i in ids])))
        probe = normaliser.stats(probes)
        out = []
        for q, matches in enumerate(ranked):
            if not matches:
                out.append(matches)
                continue
            cols = [col[m.enrolment_id] for m in matches]
            raw = np.array([[m.score for m in matches]])
            z = normalise(
                raw,
                CohortStats(probe.mean[q : q + 1], probe.std[q : q + 1]),
                CohortStats(enrol.mean[cols], enrol.std[cols]),
            )[0]
            rescored = [Match(m.identity, float(s), m.enrolment_id, raw=m.score) for m, s in zip(matches, z)]
            out.append(sorted(rescored, key=lambda m: -m.score))
        return out

    # -- maintenance ------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        st = self.store.state()
        record = self.cache.read_record()
        files = [self.path / DB_NAME, Path(f"{self.path / DB_NAME}-wal")]
        index_file = self.path / record.file if record else None
        return {
            "path": str(self.path),
            "encoder": self.encoder,
            "shape": list(self.store.shape() or ()),
            "identities": len(self.store.identities()),
            "enrolments": st.count,
            "generation": st.generation,
            "index_kind_setting": self.store.get_meta("index_kind") or "auto",
            "index_auto_threshold": int(self.store.get_meta("index_auto_threshold") or faiss_index.APPROX_THRESHOLD),
            "index": record.params.to_dict() if record else None,
            "index_current": self.cache.is_current(st),
            "database_bytes": sum(f.stat().st_size for f in files if f.exists()),
            "index_bytes": index_file.stat().st_size if index_file and index_file.exists() else 0,
        }

    def verify(self, *, repair: bool = False) -> dict[str, Any]:
        """Check the database, every template's checksum and the index files; change nothing unless ``repair``.

        Returns ``integrity``, ``enrolments``, ``index_total`` (templates in an index built from
        the rows), ``problems`` (what is still wrong) and ``repaired`` (what opening the gallery
        or ``repair`` fixed). A failed SQLite integrity check raises :class:`GalleryError`.
        ``repair`` rewrites a missing or damaged index, deletes crash leftovers and fixes modes;
        templates failing their checksum are reported, never deleted.
        """
        check = self.store.integrity_check()
        if check != "ok":
            raise GalleryError(f"gallery database {self.path / DB_NAME} failed its integrity check: {check}")
        repaired = list(self.recovered)
        if repair:
            self._require_writable()
            with gallery_lock(self.path):
                repaired += maintenance.recover(self.path, self.store, self.cache)
                findings = maintenance.inspect(self.path, self.store, self.cache)
                if findings.index and not findings.checksum_ids:
                    self.cache.invalidate()
                    self.cache.index(persist=True, locked=True, force_rebuild=True)
                    repaired += [f"rebuilt the search index ({p})" for p in findings.index]
                    findings.index = []
            try:
                os.chmod(self.path, DIR_MODE)
            except PermissionError:
                pass
            self.store.fix_modes()
        else:
            findings = maintenance.inspect(self.path, self.store, self.cache)
        count = self.store.count()
        total = -1
        if not findings.checksum_ids:  # an index of damaged templates would not say anything useful
            index = self.cache.index(persist=False)
            total = int(index.ntotal)
            if total != count:
                raise GalleryError(f"index holds {total} templates but the database {count}")
        return maintenance.verify_report(check, count, total, findings.messages(), repaired)

    def _unknown_message(self, identity: str) -> str:
        names = [n for n, _ in self.store.identities()]
        hint = (
            f"; enrolled: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
            if names
            else "; the gallery is empty"
        )
        return f"no identity '{shorten(identity)}' in gallery {self.path}{hint}"
