"""Crash recovery and checking of a gallery directory.

Removal is a biometric promise: after ``remove`` returns, or after a crash during it followed by
any command that can write, no file in the gallery holds the removed templates. A removal
therefore (1) writes the marker ``removal.pending``, (2) deletes every index file (they hold the
templates' search vectors), (3) deletes the rows, (4) ``VACUUM``\\ s and truncates the WAL, and
only then (5) deletes the marker. A gallery opened writable with the marker present redoes (2)
and (4) before anything else, under the gallery lock. The same step removes the temporary files
of interrupted writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaitpipe.gallery.cache import ChecksumError, IndexCache
from gaitpipe.gallery.store import FILE_MODE, SCHEMA_VERSION, Store, StoredTemplate
from gaitpipe.utils.files import fsync_dir

REMOVAL_MARK = "removal.pending"


def begin_removal(root: Path) -> None:
    fd = os.open(root / REMOVAL_MARK, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(root)


def end_removal(root: Path) -> None:
    (root / REMOVAL_MARK).unlink(missing_ok=True)
    fsync_dir(root)


def removal_pending(root: Path) -> bool:
    return (root / REMOVAL_MARK).exists()


def recover(root: Path, store: Store, cache: IndexCache) -> list[str]:
    """Finish an interrupted removal and delete crash leftovers (call under the gallery lock)."""
    done: list[str] = []
    if removal_pending(root):
        cache.drop_files()
        store.purge()
        end_removal(root)
        done.append("finished an interrupted removal (index files deleted, freed pages erased)")
    for p in cache.leftovers():
        p.unlink(missing_ok=True)
        done.append(f"removed crash leftover {p.name}")
    return done


@dataclass
class Findings:
    """What :func:`inspect` found wrong; ``index`` problems are the ones a rebuild fixes."""

    checksum_ids: list[int] = field(default_factory=list)
    checksum_message: str = ""
    index: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def messages(self) -> list[str]:
        return ([self.checksum_message] if self.checksum_message else []) + self.index + self.other


def inspect(root: Path, store: Store, cache: IndexCache) -> Findings:
    """Look for damage without changing anything: checksums, the index files, leftovers."""
    found = Findings()
    bad: list[StoredTemplate] = []
    for templates in store.iter_templates():
        bad.extend(t for t in templates if not t.checksum_ok())
    if bad:
        err = ChecksumError(bad)
        found.checksum_ids, found.checksum_message = err.ids, str(err)
    if not store.has_checksums or store.get_meta("schema_version") != str(SCHEMA_VERSION):
        found.other.append("the database predates per-enrolment checksums; opening it writable adds them")
    st = store.state()
    record = cache.read_record()
    if record is None:
        if st.count:
            found.index.append("the search index is missing (no usable index.json)")
    elif record.state.uuid != st.uuid:
        found.index.append("the search index was built from another database")
    else:
        problem = cache.content_problem(record)
        if problem is not None:
            found.index.append(problem)
    if removal_pending(root):
        found.other.append("a removal was interrupted; its templates may remain until the gallery is opened writable")
    found.other.extend(f"crash leftover {p.name}" for p in cache.leftovers())
    return found


def verify_report(
    integrity: str, enrolments: int, index_total: int, problems: list[str], repaired: list[str]
) -> dict[str, Any]:
    return {
        "integrity": integrity,
        "enrolments": enrolments,
        "index_total": index_total,
        "problems": problems,
        "repaired": repaired,
    }
