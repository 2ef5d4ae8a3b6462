"""YOLO segmentation weights for the ``yolo`` segmenter: found locally, else ultralytics' download.

A *name* (``yolo11n-seg.pt``) is looked for in gaitpipe's weights folders
(:func:`gaitpipe.hub.weights_dirs`), then ``./weights``, the working directory and ultralytics'
weights folder; a *path* is used as given. Only when nothing local exists does ultralytics
download its asset (see :func:`gaitpipe.hub.remote.download_ultralytics_asset`).
"""

from __future__ import annotations

from pathlib import Path

from gaitpipe.errors import SegmenterWeightsError
from gaitpipe.hub import remote
from gaitpipe.hub.locations import install_dir, weights_dirs

#: The segmenter's weights when none are given (ultralytics' nano segmentation model).
DEFAULT_SEGMENTER_WEIGHTS = "yolo11n-seg.pt"


def segmenter_search_dirs() -> list[Path]:
    """Where a segmenter weights *name* (not a path) is looked for, in order."""
    dirs = [*weights_dirs(), Path.cwd() / "weights", Path.cwd()]
    try:
        from ultralytics.utils import SETTINGS

        dirs.append(Path(SETTINGS["weights_dir"]))
    except Exception:  # settings unreadable: the other places still count
        pass
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def find_segmenter_weights(weights: str | Path | None = None) -> Path | None:
    """The local file for ``weights`` (a path, or a name looked up in :func:`segmenter_search_dirs`)."""
    name = Path(str(weights or DEFAULT_SEGMENTER_WEIGHTS)).expanduser()
    if name.is_file():
        return name
    if name.parent != Path("."):  # an explicit path: no searching elsewhere
        return None
    for d in segmenter_search_dirs():
        cand = d / name.name
        if cand.is_file():
            return cand
    return None


def _unavailable(weights: str, why: str) -> str:
    return (
        f"YOLO segmentation weights {weights!r} are not available ({why}); download them once "
        f"(e.g. https://github.com/ultralytics/assets/releases) into {install_dir()} or give their path, "
        f"or use the bgsub segmenter, which needs no weights"
    )


def resolve_segmenter_weights(weights: str | Path | None = None) -> Path:
    """A local segmenter weights file: found locally, else fetched by ultralytics' download.

    Raises :class:`SegmenterWeightsError` (one line) when the file is missing and cannot be downloaded.
    """
    name = str(weights or DEFAULT_SEGMENTER_WEIGHTS)
    local = find_segmenter_weights(name)
    if local is not None:
        return local
    p = Path(name).expanduser()
    if p.parent != Path(".") or p.exists():
        raise SegmenterWeightsError(_unavailable(name, f"no file at {p}"))
    try:
        fetched = Path(remote.download_ultralytics_asset(p.name))
    except Exception as exc:  # network errors, HTTP errors, unknown asset names ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SegmenterWeightsError(_unavailable(name, f"download failed: {reason}")) from None
    if not fetched.is_file():
        raise SegmenterWeightsError(_unavailable(name, "download produced no file"))
    return fetched


__all__ = ["DEFAULT_SEGMENTER_WEIGHTS", "find_segmenter_weights", "resolve_segmenter_weights", "segmenter_search_dirs"]
