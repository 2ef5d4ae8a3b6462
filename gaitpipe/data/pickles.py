"""Safe reading of OpenGait ``.pkl`` silhouette files.

A ``.pkl`` is a pickle, and unpickling runs whatever callables the file names. Datasets are
downloaded from strangers, so :func:`load_pkl_array` uses an unpickler that resolves only the
few numpy globals needed to rebuild an ``ndarray`` and refuses everything else: a crafted file
cannot execute code, it raises :class:`~gaitpipe.errors.InputError`.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from gaitpipe.errors import InputError

# (module, name) pairs numpy uses in an ndarray's pickle. Both the numpy>=2 (`numpy._core`) and
# numpy<2 (`numpy.core`) spellings appear in files written by either version.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),  # pickle protocol 5 (out-of-band capable) arrays
    ("numpy._core.numeric", "_frombuffer"),
}


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use to store bytes; latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("only latin-1 byte strings are allowed in a silhouette file")
    return text.encode("latin1")


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a silhouette file")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed in a silhouette file")


def loads_array(data: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Unpickle ``data`` that must hold exactly one numeric numpy array."""
    try:
        obj = _ArrayOnlyUnpickler(io.BytesIO(data)).load()
    except InputError:
        raise
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... : all mean "not a safe array"
        raise InputError(f"{source}: not a numpy-array pickle ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    if not isinstance(obj, np.ndarray) or obj.dtype.kind not in "biuf":
        raise InputError(f"{source}: expected a numeric numpy array, found {type(obj).__name__}")
    return obj


def load_pkl_array(path: str | Path) -> np.ndarray:
    """Read one OpenGait ``.pkl`` (a pickled numpy array) without executing anything."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return loads_array(data, source=str(path))


def as_silhouettes(array: np.ndarray, *, source: str = "") -> np.ndarray:
    """Validate a silhouette array: ``[T, H, W]`` (or ``[T, H, W, 3]`` RGB), returned as uint8."""
    if array.ndim not in (3, 4) or array.shape[0] < 1 or (array.ndim == 4 and array.shape[-1] != 3):
        raise InputError(f"{source}: expected frames shaped T x H x W (or T x H x W x 3), got {array.shape}")
    if array.dtype != np.uint8:
        if array.dtype.kind == "f" and array.size and float(array.max()) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    return array
