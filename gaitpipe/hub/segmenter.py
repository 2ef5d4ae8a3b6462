"""YOLO segmentation weights for the ``yolo`` segmenter: found locally, else ultralytics' download.

A *name* (``yolo11n-seg.pt``) is looked for in gaitpipe's weights folders
(:func:`gaitpipe.hub.weights_dirs`), the shipped segmenters folder (the synthetic-people test model),
then ultralytics' weights folder; a *path* is used as given.
The working directory is never searched: a file dropped there must not be picked up (and run,
see :mod:`gaitpipe.hub.pickle_guard`) without the user naming it. Only when nothing local exists
does ultralytics download its asset, into gaitpipe's user weights folder
(:func:`gaitpipe.hub.remote.download_ultralytics_asset`).
"""

from __future__ import annotations

from pathlib import Path

from gaitpipe.errors import SegmenterWeightsError
from gaitpipe.hub import remote
from gaitpipe.hub.locations import env_weights_dirs, packaged_weights_dir, user_weights_dir, weights_dirs

#: The segmenter's weights when none are given (ultralytics' nano segmentation model).
DEFAULT_SEGMENTER_WEIGHTS = "yolo11n-seg.pt"
#: A small YOLO11n-seg trained on synthetic people only (gaitpipe.synth), shipped in the source
#: tree for tests of the yolo path offline; not for real footage and never picked by ``auto``
#: (see docs/models/yolo11n-seg-synthpeople.md).
SYNTHETIC_TEST_SEGMENTER_WEIGHTS = "yolo11n-seg-synthpeople.pt"


def packaged_segmenter_dir() -> Path:
    """Segmenter weights shipped in the source tree (a subfolder, so the encoder index ignores them)."""
    return packaged_weights_dir() / "segmenters"


def download_dir() -> Path:
    """Where downloaded segmenter weights go: the first ``$GAITPIPE_WEIGHTS_DIR`` folder, else the
    per-user weights folder (never the package, even in a source checkout)."""
    env = env_weights_dirs()
    return env[0] if env else user_weights_dir()


def segmenter_search_dirs() -> list[Path]:
    """Where a segmenter weights *name* (not a path) is looked for, in order.

    Not ultralytics' own ``weights_dir`` setting: ultralytics sets it, the first time it runs, to
    ``weights/`` under whatever git checkout or working directory that was, so looking there
    would read files from a working directory the user never named.
    """
    dirs = [*weights_dirs(), packaged_segmenter_dir()]
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def find_segmenter_weights(weights: str | Path | None = None) -> Path | None:
    """The local file for ``weights`` (a path, or a name looked up in :func:`segmenter_search_dirs`)."""
    name = DEFAULT_SEGMENTER_WEIGHTS
    if weights is not None:  # named by the user: a relative path means the working directory
        given = Path(str(weights)).expanduser()
        if given.is_file():
            return given
        if given.parent != Path("."):  # an explicit path: no searching elsewhere
            return None
        name = given.name
    for d in segmenter_search_dirs():
        cand = d / name
        if cand.is_file():
            return cand
    return None


def _unavailable(weights: str, why: str) -> str:
    return (
        f"YOLO segmentation weights {weights!r} are not available ({why}); download them once "
        f"(e.g. https://github.com/ultralytics/assets/releases) into {download_dir()} or give their path, "
        f"or use the bgsub segmenter, which needs no weights"
    )


def resolve_segmenter_weights(weights: str | Path | None = None) -> Path:
    """A local segmenter weights file: found locally, else fetched by ultralytics' download.

    Raises :class:`SegmenterWeightsError` (one line) when the file is missing and cannot be downloaded.
    """
    name = str(weights or DEFAULT_SEGMENTER_WEIGHTS)
    local = find_segmenter_weights(weights)
    if local is not None:
        return local
    p = Path(name).expanduser()
    if p.parent != Path("."):
        raise SegmenterWeightsError(_unavailable(name, f"no file at {p}"), reason=f"no file at {p}")
    try:
        fetched = Path(remote.download_ultralytics_asset(p.name, download_dir()))
    except Exception as exc:  # offline, network errors, HTTP errors, unknown asset names ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = f"download failed: {first.lstrip('❌ ').strip()}"
        raise SegmenterWeightsError(_unavailable(name, reason), reason=reason) from None
    if not fetched.is_file():
        raise SegmenterWeightsError(_unavailable(name, "download produced no file"), reason="download produced no file")
    return fetched


__all__ = [
    "DEFAULT_SEGMENTER_WEIGHTS",
    "SYNTHETIC_TEST_SEGMENTER_WEIGHTS",
    "download_dir",
    "find_segmenter_weights",
    "packaged_segmenter_dir",
    "resolve_segmenter_weights",
    "segmenter_search_dirs",
]
