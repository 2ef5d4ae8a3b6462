"""Enrolled walkers: SQLite rows (source of truth) + a FAISS index (rebuildable cache).

Imports numpy, sqlite3 and (lazily) faiss only: never torch, so tools and worker processes that
only touch the gallery start fast.
"""
from gaitpipe.errors import GalleryError
from gaitpipe.gallery.gallery import (
    DEFAULT_THRESHOLD,
    ENV_VAR,
    Gallery,
    Identification,
    IdentitySummary,
    Match,
    default_gallery_path,
    resolve_gallery_path,
)
from gaitpipe.gallery.index import flatten_parts
from gaitpipe.gallery.store import Enrolment

__all__ = [
    "DEFAULT_THRESHOLD", "ENV_VAR", "Enrolment", "Gallery", "GalleryError", "Identification", "IdentitySummary",
    "Match", "default_gallery_path", "flatten_parts", "resolve_gallery_path",
]
