"""Weights that live elsewhere: the known remote entries and the one place downloads happen.

:data:`REMOTE_WEIGHTS` maps a weights name to where it can be fetched from; it is empty because
every gaitpipe encoder ships inside the package today. A model zoo adds entries here (e.g. a
Hugging Face Hub repository and file) and the function that fetches them into
:func:`gaitpipe.hub.install_dir`; name lookup (:func:`gaitpipe.hub.resolve_weights`) stays the
same and only gains a place to fetch from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteWeights:
    """A weights file that can be downloaded."""

    name: str  #: the name it is installed and looked up under
    repo: str  #: where it lives (e.g. a Hugging Face Hub repository id)
    filename: str  #: the file inside ``repo``
    sha256: str  #: expected hash of the downloaded file (a download that differs is refused)


#: name -> remote entry. Empty: no encoder weights are published outside the package yet.
REMOTE_WEIGHTS: dict[str, RemoteWeights] = {}


def download_ultralytics_asset(name: str) -> str:
    """Ultralytics' own asset download (into its weights folder), for the YOLO segmenter's weights."""
    from ultralytics.utils.downloads import attempt_download_asset

    return str(attempt_download_asset(name))


__all__ = ["REMOTE_WEIGHTS", "RemoteWeights", "download_ultralytics_asset"]
