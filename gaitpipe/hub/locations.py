"""Where weights files are looked for, and where new ones are written.

Search order for a weights *name* (first match wins):

1. the folders in ``$GAITPIPE_WEIGHTS_DIR`` (``os.pathsep``-separated), in order;
2. the per-user weights folder (``<user data dir>/gaitpipe/weights``, from platformdirs);
3. the model zoo's converted weights, kept in the user cache (``<user cache dir>/gaitpipe/zoo``, or
   ``$GAITPIPE_CACHE/zoo``): what ``gaitpipe weights fetch NAME`` writes (:mod:`gaitpipe.hub.zoo`);
4. the weights shipped inside the package (``gaitpipe/_weights``: the wheel carries them; in a
   source checkout the top-level ``weights/`` is a link to that folder).
"""

from __future__ import annotations

import os
from pathlib import Path

#: environment variable with extra weight folders (``os.pathsep``-separated), searched first.
WEIGHTS_DIR_ENV = "GAITPIPE_WEIGHTS_DIR"
#: environment variable overriding the user cache folder (zoo weights, rendered demo clips).
CACHE_ENV = "GAITPIPE_CACHE"
#: file suffixes a gaitpipe weights file may have.
WEIGHT_SUFFIXES = (".pt", ".pth")

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def packaged_weights_dir() -> Path:
    """The default weights shipped with gaitpipe (package data, present in a wheel and a checkout)."""
    return _PACKAGE_ROOT / "_weights"


def user_weights_dir() -> Path:
    """The per-user weights folder (weights installed by this user outside the package)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("gaitpipe", appauthor=False)) / "weights"


def user_cache_dir() -> Path:
    """gaitpipe's user cache folder: ``$GAITPIPE_CACHE``, else the platform's (``~/.cache/gaitpipe``)."""
    import platformdirs

    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("gaitpipe", appauthor=False))


def zoo_dir() -> Path:
    """Where fetched model-zoo weights are kept, converted (re-created by fetching again if deleted)."""
    return user_cache_dir() / "zoo"


def env_weights_dirs() -> list[Path]:
    """The folders named by ``$GAITPIPE_WEIGHTS_DIR``, in order."""
    return [Path(p).expanduser() for p in os.environ.get(WEIGHTS_DIR_ENV, "").split(os.pathsep) if p]


def weights_dirs() -> list[Path]:
    """Folders searched by name, in order (see the module docstring); repeats removed."""
    seen: set[str] = set()
    out: list[Path] = []
    for d in [*env_weights_dirs(), user_weights_dir(), zoo_dir(), packaged_weights_dir()]:
        key = str(d.resolve()) if d.exists() else str(d)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def is_source_checkout() -> bool:
    """Whether gaitpipe runs from a source checkout (editable install), not from an installed wheel."""
    return (_PACKAGE_ROOT.parent / "pyproject.toml").is_file()


def install_dir() -> Path:
    """Where new weights go by default.

    The first ``$GAITPIPE_WEIGHTS_DIR`` entry; else, in a source checkout, the shipped weights
    folder (so maintainers release weights by committing them); else the per-user folder (an
    installed package is not written to).
    """
    env = env_weights_dirs()
    if env:
        return env[0]
    return packaged_weights_dir() if is_source_checkout() else user_weights_dir()


def is_weights_file(path: Path) -> bool:
    """A visible file with a weights suffix (temporary files of interrupted writes are hidden)."""
    return path.is_file() and path.suffix in WEIGHT_SUFFIXES and not path.name.startswith(".")


__all__ = [
    "CACHE_ENV",
    "WEIGHTS_DIR_ENV",
    "WEIGHT_SUFFIXES",
    "env_weights_dirs",
    "install_dir",
    "is_source_checkout",
    "is_weights_file",
    "packaged_weights_dir",
    "user_cache_dir",
    "user_weights_dir",
    "weights_dirs",
    "zoo_dir",
]
