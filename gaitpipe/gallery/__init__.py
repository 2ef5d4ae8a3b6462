"""Enrolled walkers: SQLite rows (source of truth) + a FAISS index (rebuildable cache).

Modules, one job each: ``store`` (all SQL, typed rows), ``index`` (FAISS index kinds and the
search-vector maths), ``cache`` (the index files as a cache of the rows), ``lock`` (the writer
lock, read-only detection), ``maintenance`` (crash recovery, verify's checks), ``results``
(matches and decisions), ``paths`` (the default location) and ``gallery`` (the :class:`Gallery`
that ties them together).

Imports numpy, sqlite3 and (lazily) faiss only: never torch, so tools and worker processes that
only touch the gallery start fast.
"""

from gaitpipe.errors import GalleryError
from gaitpipe.gallery.gallery import Gallery, check_identity
from gaitpipe.gallery.index import flatten_parts
from gaitpipe.gallery.paths import ENV_VAR, default_gallery_path, resolve_gallery_path
from gaitpipe.gallery.results import (
    DEFAULT_MARGIN,
    DEFAULT_THRESHOLD,
    UNCERTAIN,
    UNKNOWN,
    Identification,
    IdentitySummary,
    Match,
)
from gaitpipe.gallery.store import Enrolment

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_THRESHOLD",
    "ENV_VAR",
    "UNCERTAIN",
    "UNKNOWN",
    "Enrolment",
    "Gallery",
    "GalleryError",
    "Identification",
    "IdentitySummary",
    "Match",
    "check_identity",
    "default_gallery_path",
    "flatten_parts",
    "resolve_gallery_path",
]
