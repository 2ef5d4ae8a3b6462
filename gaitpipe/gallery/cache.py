"""The gallery's FAISS index as a cache of the SQLite rows: build, catch up, write, read, check.

On disk the cache is ``index.json`` + ``index-<generation>-<random>.faiss``. ``index.json``
records the database state the index was built from (uuid, generation, row count, id sum, max
id) and the index file's size and sha256. Whenever an index is needed it is checked against the
database: equal state and a file of the recorded size -> loaded; rows only appended since ->
the new rows are added; anything else (removals, a foreign, missing, truncated or damaged file)
-> rebuilt from SQLite and written again. Both files are written through
:func:`~gaitpipe.utils.files.atomic_write_bytes` (index file first, ``index.json`` second), so a
crash leaves the old cache or the new one, plus at most a temporary file that the next writer
removes (:meth:`IndexCache.leftovers`).

Every row added to an index has its checksum checked first: a template that changed since it
was enrolled is refused instead of being searched as if it were someone's walk.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitpipe.errors import GalleryError
from gaitpipe.gallery import index as faiss_index
from gaitpipe.gallery.index import IndexParams
from gaitpipe.gallery.lock import gallery_lock
from gaitpipe.gallery.store import FILE_MODE, DbState, Store, StoredTemplate
from gaitpipe.utils.files import atomic_write_bytes, atomic_write_json, file_sha256, is_temp_file

if TYPE_CHECKING:  # pragma: no cover
    import faiss

INDEX_META = "index.json"
_INDEX_FILE_RE = re.compile(r"^index-\d+-[0-9a-f]+\.faiss$")
#: Temporary names of writers before the shared atomic writer (``*.faiss.tmp``, ``index.json.tmp-*``).
_OLD_TEMP_RE = re.compile(r"^(index-.*\.faiss\.tmp|index\.json\.tmp-.*)$")
#: Rows sampled to train an IVF index.
IVF_TRAIN_SAMPLE = faiss_index.IVF_TRAIN_SAMPLE
#: Rows read per batch while sampling the rows a pq-rerank index is trained on.
_SAMPLE_BATCH = 2048


@dataclass(frozen=True)
class CacheRecord:
    """What ``index.json`` says: the state the index file was built from, and the file itself."""

    state: DbState
    params: IndexParams
    file: str
    size: int | None  #: None in records written before sizes were recorded
    sha256: str | None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CacheRecord | None:
        try:
            state = DbState(str(d["uuid"]), int(d["generation"]), int(d["count"]), int(d["id_sum"]), int(d["id_max"]))
            name = str(d["file"])
            if not _INDEX_FILE_RE.match(name):
                return None
            return cls(
                state,
                IndexParams.from_dict(d["params"]),
                name,
                None if d.get("bytes") is None else int(d["bytes"]),
                d.get("sha256"),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.state.to_dict(),
            "params": self.params.to_dict(),
            "file": self.file,
            "bytes": self.size,
            "sha256": self.sha256,
            "written": time.time(),
        }


class ChecksumError(GalleryError):
    """Enrolments whose template or metadata no longer match the checksum stored with them."""

    def __init__(self, bad: list[StoredTemplate]) -> None:
        shown = ", ".join(f"#{t.id} ({t.identity!r})" for t in bad[:10]) + (" ..." if len(bad) > 10 else "")
        super().__init__(
            f"{len(bad)} enrolment(s) changed since they were enrolled (checksum mismatch): {shown}; "
            "remove them and enrol those walks again"
        )
        self.ids = [t.id for t in bad]


def read_record(root: Path) -> CacheRecord | None:
    """What ``root/index.json`` says, or None when it is missing or unusable."""
    try:
        data = json.loads((root / INDEX_META).read_text())
    except (OSError, ValueError):
        return None
    return CacheRecord.from_json(data) if isinstance(data, dict) else None


def check_templates(templates: list[StoredTemplate]) -> None:
    bad = [t for t in templates if not t.checksum_ok()]
    if bad:
        raise ChecksumError(bad)


class IndexCache:
    """The FAISS cache of one gallery directory; :meth:`index` returns an index equal to the rows."""

    def __init__(self, root: Path, store: Store, *, writable: bool) -> None:
        self.root = root
        self.store = store
        self.writable = writable
        self._index: faiss.Index | None = None
        self._state: DbState | None = None
        self._params: IndexParams | None = None
        self._token: tuple[int, int] | None = None

    @property
    def params(self) -> IndexParams | None:
        """Parameters of the index :meth:`index` last returned (None before the first call)."""
        return self._params

    # -- index.json and the index file ----------------------------------------------------
    def read_record(self) -> CacheRecord | None:
        return read_record(self.root)

    def file_problem(self, record: CacheRecord) -> str | None:
        """Why ``record``'s index file cannot be used (missing, wrong size), without reading it."""
        path = self.root / record.file
        try:
            size = path.stat().st_size
        except OSError:
            return f"index file {record.file} is missing"
        if size == 0 or (record.size is not None and size != record.size):
            return f"index file {record.file} is truncated ({size} bytes, {record.size} recorded)"
        return None

    def load(self, record: CacheRecord) -> faiss.Index | None:
        """The index file of ``record``, or None when it is missing, truncated or unreadable."""
        if self.file_problem(record) is not None:
            return None
        try:
            index = faiss_index.read(str(self.root / record.file))
        except (RuntimeError, OSError, ValueError):  # a damaged cache is rebuilt, never trusted
            return None
        faiss_index.configure(index, record.params)
        return index

    def content_problem(self, record: CacheRecord) -> str | None:
        """Full check of the index file (for verify): present, full size, loadable, same sha256."""
        problem = self.file_problem(record)
        if problem is not None:
            return problem
        if record.sha256 is not None:
            if file_sha256(self.root / record.file) != record.sha256:
                return f"index file {record.file} does not match its recorded sha256"
        index = self.load(record)
        if index is None:
            return f"index file {record.file} is unreadable"
        if int(index.ntotal) != record.state.count:
            return f"index file {record.file} holds {index.ntotal} templates, {record.state.count} recorded"
        return None

    def is_current(self, state: DbState) -> bool:
        record = self.read_record()
        return record is not None and record.state == state and self.file_problem(record) is None

    def index_files(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if _INDEX_FILE_RE.match(p.name))

    def leftovers(self) -> list[Path]:
        """Temporary files of interrupted writes and index files ``index.json`` no longer names."""
        record = self.read_record()
        current = record.file if record else None
        out = []
        for p in sorted(self.root.iterdir()):
            stray_index = _INDEX_FILE_RE.match(p.name) is not None and p.name != current
            if is_temp_file(p) or _OLD_TEMP_RE.match(p.name) or stray_index:
                out.append(p)
        return out

    def drop_files(self) -> None:
        """Delete ``index.json`` and every index file (call under the gallery lock)."""
        (self.root / INDEX_META).unlink(missing_ok=True)
        for p in self.index_files():
            p.unlink(missing_ok=True)
        self.invalidate()

    def invalidate(self) -> None:
        self._index = self._state = self._params = self._token = None

    # -- building -------------------------------------------------------------------------
    def index(self, *, persist: bool, locked: bool = False, force_rebuild: bool = False) -> faiss.Index:
        """A FAISS index equal to the database's rows, reusing, catching up or rebuilding the cache.

        Rows are read inside one read transaction, so the index matches one committed state.
        ``persist`` writes the result back (under the gallery lock) when it changed and the
        gallery is writable; ``force_rebuild`` ignores every cached index.
        """
        # Nothing committed since the index in memory was checked: skip the state query, which
        # reads an index of every row (tens of ms at a million templates, on every search).
        token = self.store.change_token()
        if not force_rebuild and self._index is not None and self._token == token:
            return self._index
        with self.store.snapshot() as cur:
            kind_setting = self.store.get_meta("index_kind", cur) or "auto"
            threshold = self.store.get_meta("index_auto_threshold", cur)
            st = self.store.state(cur)
            if not force_rebuild and self._index is not None and self._state == st:
                self._token = token
                return self._index
            record = None if force_rebuild else self.read_record()
            shape = self.store.shape(cur)
            dim = shape[0] * shape[1] if shape else 0
            want_kind = faiss_index.resolve_kind(kind_setting, st.count, None if threshold is None else int(threshold))
            index, params, base_id = None, None, 0
            if (
                record is not None
                and record.state.uuid == st.uuid
                and record.params.kind == want_kind
                and record.params.dim == dim
                and not record.params.outgrown(st.count)
            ):
                only_appended = record.state == st or self.store.prefix_state(record.state.id_max, cur) == (
                    record.state.count,
                    record.state.id_sum,
                )
                if only_appended:
                    index = self.load(record)
                    if index is not None and int(index.ntotal) == record.state.count:
                        params, base_id = record.params, record.state.id_max
                    else:
                        index = None
            reused = index is not None and record is not None and record.state == st
            # a record of this very state whose file failed to load must be replaced, not trusted
            failed = record.file if record is not None and record.state == st and not reused else None
            if index is None or params is None:
                params = IndexParams(want_kind, dim)
                if not dim:
                    index = faiss_index.new_index(IndexParams("flat", 1))
                elif want_kind == faiss_index.PQ_RERANK:
                    index = faiss_index.new_pq_rerank(params, lambda: self._sample_batches(cur, st.id_max))
                else:
                    train = self._sample_vectors(cur, st.id_max) if want_kind == "ivf" and st.count else None
                    index = faiss_index.new_index(params, train)
            for templates in self.store.iter_templates(base_id, st.id_max, cur=cur):
                check_templates(templates)
                ids = np.array([t.id for t in templates], np.int64)
                faiss_index.add(index, faiss_index.flatten_parts(np.stack([t.embedding for t in templates])), ids)
        self._index, self._state, self._params, self._token = index, st, params, token
        if persist and not reused and self.writable:
            if locked:
                self.write(index, st, params, force=force_rebuild, failed_file=failed)
            else:
                with gallery_lock(self.root):
                    self.write(index, st, params, force=force_rebuild, failed_file=failed)
        return index

    def _sample_vectors(self, cur: sqlite3.Cursor, id_max: int) -> np.ndarray:
        out: list[np.ndarray] = []
        total = 0
        for templates in self.store.iter_templates(0, id_max, cur=cur):
            out.append(faiss_index.flatten_parts(np.stack([t.embedding for t in templates])))
            total += len(templates)
            if total >= IVF_TRAIN_SAMPLE:
                break
        return np.concatenate(out)[:IVF_TRAIN_SAMPLE]

    def _sample_batches(self, cur: sqlite3.Cursor, id_max: int) -> Iterator[np.ndarray]:
        """Search vectors of up to ``PQ_TRAIN_SAMPLE`` rows spread evenly over the whole gallery."""
        ids = self.store.ids(id_max, cur)
        if len(ids) > faiss_index.PQ_TRAIN_SAMPLE:
            ids = ids[np.linspace(0, len(ids) - 1, faiss_index.PQ_TRAIN_SAMPLE).round().astype(np.int64)]
        for start in range(0, len(ids), _SAMPLE_BATCH):
            templates = self.store.templates(ids[start : start + _SAMPLE_BATCH], cur)
            if templates:
                yield faiss_index.flatten_parts(np.stack([t.embedding for t in templates]))

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(ids found, search vectors)`` of the rows ``ids``, read from SQLite (the exact
        re-ranking of ``pq-rerank``); a template failing its checksum raises :class:`ChecksumError`."""
        templates = self.store.templates(ids)
        if not templates:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        check_templates(templates)
        found = np.array([t.id for t in templates], np.int64)
        parts, dim = templates[0].parts, templates[0].dim
        if any(len(t.blob) != parts * dim * 4 for t in templates):
            raise GalleryError("a stored template has the wrong size: the gallery is corrupt")
        # one copy of the blobs (decoding each template separately copies them twice more)
        raw = np.frombuffer(b"".join(t.blob for t in templates), dtype="<f4").reshape(len(templates), parts, dim)
        return found, faiss_index.flatten_parts(raw)

    def write(
        self,
        index: faiss.Index,
        st: DbState,
        params: IndexParams,
        *,
        force: bool = True,
        failed_file: str | None = None,
    ) -> None:
        """Write the index under a new name, then swap ``index.json`` to it; drop the old files.

        Without ``force``, skipped when another process already wrote a usable index of this
        exact state (one other than ``failed_file``, the file this process could not load).
        """
        current = self.read_record()
        if (
            not force
            and current is not None
            and current.state == st
            and current.params == params
            and current.file != failed_file
            and self.file_problem(current) is None
        ):
            return
        import faiss

        data = faiss.serialize_index(index)
        name = f"index-{st.generation}-{secrets.token_hex(4)}.faiss"
        atomic_write_bytes(self.root / name, data.data, mode=FILE_MODE)
        record = CacheRecord(st, params, name, int(data.nbytes), hashlib.sha256(data.data).hexdigest())
        atomic_write_json(self.root / INDEX_META, record.to_json(), indent=1, mode=FILE_MODE)
        for old in self.index_files():
            if old.name != name:
                old.unlink(missing_ok=True)
