"""Check a PyTorch pickle before a library that unpickles without restriction reads it.

ultralytics loads ``.pt`` files with ``torch.load(weights_only=False)``: a crafted file runs any
code it names the moment it is read. :func:`check_ultralytics_pickle` reads the file first in a
*dry run* that executes nothing from it: every global the pickle names is replaced by an inert
stand-in, and the dry run refuses

* any global outside what a genuine ultralytics checkpoint needs: the globals PyTorch's own
  ``weights_only`` loader allows (tensor rebuilding, storages, dtypes, ordered dicts, ...),
  model *classes* of ``torch.nn`` and ``ultralytics``, and ``getattr``;
* calling (``REDUCE``) one of those model classes: a genuine file only creates them empty
  (``NEWOBJ``) and fills their ``__dict__``, so their constructors never run;
* ``getattr`` on anything but such a class, with anything but a public attribute name, and
  calling what it returns (a genuine file stores ``getattr(Detect, "forward")`` as a value).

Only a file that passes is handed to ultralytics. Formats that are not pickles (ONNX,
TensorRT, OpenVINO folders, ...) need no check. ``trust=True`` skips the check (the caller's
explicit escape for files from a source they trust).
"""

from __future__ import annotations

import _compat_pickle
import importlib
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

from gaitpipe.errors import WeightsError

#: Module prefixes whose classes a genuine ultralytics checkpoint instantiates (empty, then filled).
MODEL_CLASS_PREFIXES = ("torch.nn.modules.", "ultralytics.nn.")
_GETATTR = {"builtins.getattr"}
_PICKLE_PROTOCOL_2_PLUS = b"\x80"
_ZIP_MAGIC = b"PK\x03\x04"


class UnsafePickleError(WeightsError):
    """A weights file names code that loading it would run."""


class _Refused(Exception):
    pass


class _Inert:
    """What every object of the dry run is: accepts any state, does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:  # dict-like BUILD / SETITEMS targets
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


class _InertCallable(_Inert):
    """A stand-in for an allowed function: calling it gives another inert object."""

    def __init__(self, name: str, may_call: bool) -> None:
        self.name = name
        self.may_call = may_call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.may_call:
            raise _Refused(f"calls {self.name}")
        return _Inert()


class _CheckedGetattr(_InertCallable):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) != 2 or kwargs:
            raise _Refused("calls getattr with unusual arguments")
        owner, attr = args
        if not (isinstance(owner, type) and issubclass(owner, _ModelClassStandIn)):
            raise _Refused("calls getattr on something other than a model class")
        if not isinstance(attr, str) or attr.startswith("_"):
            raise _Refused(f"calls getattr for a private attribute {attr!r}")
        return _InertCallable(f"{owner.global_name}.{attr}", may_call=False)


class _ModelClassMeta(type):
    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        # REDUCE on a class runs its constructor with arguments from the file: refused.
        raise _Refused(f"constructs {cls.global_name} with arguments from the file")  # type: ignore[attr-defined]


class _ModelClassStandIn(_Inert, metaclass=_ModelClassMeta):
    global_name = ""


def _is_model_class(module: str, name: str) -> bool:
    if not module.startswith(MODEL_CLASS_PREFIXES) and module != "torch.nn":
        return False
    try:  # importing an installed package's own module runs only that package's code
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except Exception:
        return False
    return isinstance(obj, type)


class _DryRun(pickle.Unpickler):
    def __init__(self, data: bytes, torch_safe: set[str]) -> None:
        super().__init__(io.BytesIO(data))
        self.torch_safe = torch_safe

    def find_class(self, module: str, name: str) -> Any:
        # protocol-2 pickles (torch.save's) spell Python 2 names: map them as pickle itself does
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f"{module}.{name}"
        if full in _GETATTR:
            return _CheckedGetattr(full, may_call=True)
        if full in self.torch_safe:
            return _InertCallable(full, may_call=True)
        if _is_model_class(module, name):
            return _ModelClassMeta(name, (_ModelClassStandIn,), {"global_name": full})
        raise _Refused(f"needs {full}")

    def persistent_load(self, pid: Any) -> Any:
        return _Inert()


def _torch_safe_globals() -> set[str]:
    """The globals PyTorch's ``weights_only`` loader allows, as ``module.name``."""
    import torch
    from torch import _weights_only_unpickler as wou

    names: set[str] = set()
    try:
        allowed = wou._get_allowed_globals()
    except Exception:  # a PyTorch without this helper: fall back on the scan alone
        allowed = {}
    names.update(allowed)
    for obj in torch.serialization.get_safe_globals():
        target = obj[0] if isinstance(obj, tuple) else obj
        module, qual = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
        if module and qual:
            names.add(f"{module}.{qual}")
    return names


def check_ultralytics_pickle(path: str | Path, *, trust: bool = False) -> None:
    """Raise :class:`UnsafePickleError` if ``path`` is a pickle that could run code when loaded.

    Passes (returns) for files that are not pickles, and for anything when ``trust`` is set.
    """
    path = Path(path)
    if trust or not path.is_file():
        return
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as z:
                pickles = [n for n in z.namelist() if n.endswith("data.pkl")]
                if not pickles:
                    return  # a zip PyTorch would not unpickle: nothing runs from it
                data = z.read(pickles[0])
        except (zipfile.BadZipFile, OSError) as exc:
            raise UnsafePickleError(f"{path} is not a readable weights file ({exc})") from None
    elif head.startswith(_PICKLE_PROTOCOL_2_PLUS):
        # PyTorch's legacy format is several pickles in a row; ultralytics always writes the zip
        # format, so a plain pickle is refused rather than half-checked.
        raise UnsafePickleError(
            f"{path} is a plain pickle, not PyTorch's zip format that ultralytics writes; "
            "refusing to unpickle it (trust it only if you trust where the file came from)",
            remedy="trust",
        )
    else:
        return  # not a pickle (ONNX, TensorRT engine, ...): ultralytics reads it without unpickling
    try:
        _DryRun(data, _torch_safe_globals()).load()
    except _Refused as exc:
        raise UnsafePickleError(
            f"{path} {exc}, which loading it would run; refusing to load it "
            "(trust it only if you trust where the file came from)",
            remedy="trust",
        ) from None
    except Exception as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise UnsafePickleError(f"{path} is not a readable weights file ({reason})") from None


__all__ = ["MODEL_CLASS_PREFIXES", "UnsafePickleError", "check_ultralytics_pickle"]
