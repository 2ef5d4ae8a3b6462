"""The gallery's writer lock, and telling a read-only gallery from a writable one.

Writers ``flock`` ``gallery.lock`` so several processes enrolling at once serialise (SQLite's
own lock guards the rows; this one also guards the index files and crash clean-up). Readers
take no lock, so a gallery on a read-only file system can still be searched and listed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gaitpipe.errors import GalleryError
from gaitpipe.gallery.store import FILE_MODE

LOCK_NAME = "gallery.lock"
#: errnos meaning "this directory cannot be written" (root is refused only by a read-only mount).
_READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)


def _open_lock(root: Path) -> int:
    return os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)


def is_writable(root: Path) -> bool:
    """Whether this process can change the gallery at ``root``.

    ``os.access`` answers for read-only mounts and for other users' directories, but root passes
    it on a directory without write bits, so opening the lock file for writing decides.
    """
    if not os.access(root, os.W_OK):
        return False
    try:
        fd = _open_lock(root)
    except OSError as exc:
        if exc.errno in _READ_ONLY_ERRNOS:
            return False
        raise
    os.close(fd)
    return True


def read_only_error(root: Path, reason: str = "") -> GalleryError:
    return GalleryError(
        f"gallery {root} is read-only{f' ({reason})' if reason else ''}: it can be searched and "
        "listed, but enrolling, removing or repairing needs a writable gallery"
    )


@contextmanager
def gallery_lock(root: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``root/gallery.lock`` (released by the OS if the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: SQLite's own locking still serialises rows
        yield
        return
    try:
        fd = _open_lock(root)
    except OSError as exc:
        if exc.errno in _READ_ONLY_ERRNOS:
            raise read_only_error(root, os.strerror(exc.errno).lower()) from None
        raise
    try:
        os.fchmod(fd, FILE_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


class SharedLock:
    """A shared hold on ``gallery.lock`` for a read-only handle: writers wait until it is released.

    The lock file is opened read-only and never created, so taking it changes nothing on disk; a
    gallery without a lock file (a bare copy) has no writer to keep out.
    """

    def __init__(self, root: Path) -> None:
        self._fd: int | None = None
        try:
            import fcntl

            self._fd = os.open(root / LOCK_NAME, os.O_RDONLY)
            fcntl.flock(self._fd, fcntl.LOCK_SH)
        except (ImportError, OSError):
            self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
