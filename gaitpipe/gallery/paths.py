"""Where the gallery lives when no path is given."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "GAITPIPE_GALLERY"


def default_gallery_path() -> Path:
    """``$GAITPIPE_GALLERY`` if set, else ``<user data dir>/gaitpipe/gallery`` (platformdirs)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("gaitpipe", appauthor=False)) / "gallery"


def resolve_gallery_path(path: str | os.PathLike[str] | None) -> Path:
    return Path(path).expanduser() if path else default_gallery_path()
