"""Silhouette extraction: raw video -> tracked walkers -> OpenGait-layout silhouette files.

Two entry points:

* :func:`extract_video` (used by the Pipeline): one video through a segmenter and a
  :class:`~gaitpipe.silhouette.tracks.TrackAssembler`, returning :class:`VideoSilhouettes`
  in memory; nothing is written.
* :func:`extract_silhouettes` (used by ``gaitpipe extract-silhouettes``): many files/directories,
  written to disk in the OpenGait dataset layout, one JSON manifest per video, resumable,
  optionally in parallel processes. One bad input never stops the others; each gets one line.

Output layout (``OUT`` = ``out_dir``)::

    OUT/001/nm-01/090/090.pkl            CASIA-B-named clip 001-nm-01-090.avi (main walker)
    OUT/001/nm-01/090/090-rgb.pkl        with rgb: soft-masked RGB crops, T x 64 x 64 x 3
    OUT/<stem>/<track-id>/default/default.pkl      any other video, one per usable track
    OUT/_gaitpipe/<key>/manifest.json    per video: tracks, kept frames, boxes, drops, settings
    OUT/_gaitpipe/<key>/track-<id>/...   with png: frames; with preview: contact sheet + GEI

One module per job, in data-flow order:

* :mod:`~gaitpipe.extract.core`: one video in memory (:func:`extract_video`).
* :mod:`~gaitpipe.extract.timing`: per-stage timings.
* :mod:`~gaitpipe.extract.naming`: CASIA-B names and where each file goes.
* :mod:`~gaitpipe.extract.writers` / :mod:`~gaitpipe.extract.preview`: pickles, PNGs, previews.
* :mod:`~gaitpipe.extract.options`: :class:`ExtractOptions`, per-input results, the report table.
* :mod:`~gaitpipe.extract.discovery`: files and directories -> one job per video.
* :mod:`~gaitpipe.extract.manifest`: manifests and resuming.
* :mod:`~gaitpipe.extract.process`: one video to disk; :mod:`~gaitpipe.extract.pool`: worker processes
  (the Ray engine, ``engine="ray"``, is :mod:`gaitpipe.cluster.extract`).
* :mod:`~gaitpipe.extract.batch`: the directory driver (:func:`extract_silhouettes`).
"""

from __future__ import annotations

from gaitpipe.extract.batch import extract_silhouettes
from gaitpipe.extract.core import NoWalkerError, VideoSilhouettes, extract_video
from gaitpipe.extract.discovery import Job, collect_inputs
from gaitpipe.extract.manifest import MANIFEST_VERSION, dumps_manifest
from gaitpipe.extract.naming import (
    MANIFEST,
    SIDECAR,
    casiab_parts,
    manifest_path,
    track_paths,
    video_key,
)
from gaitpipe.extract.options import ExtractOptions, ExtractReport, VideoResult
from gaitpipe.extract.preview import contact_sheet, gait_energy_image
from gaitpipe.extract.process import process_video
from gaitpipe.extract.timing import STAGES, StageTimes
from gaitpipe.extract.writers import write_pickle

__all__ = [
    "MANIFEST",
    "MANIFEST_VERSION",
    "SIDECAR",
    "STAGES",
    "ExtractOptions",
    "ExtractReport",
    "Job",
    "NoWalkerError",
    "StageTimes",
    "VideoResult",
    "VideoSilhouettes",
    "casiab_parts",
    "collect_inputs",
    "contact_sheet",
    "dumps_manifest",
    "extract_silhouettes",
    "extract_video",
    "gait_energy_image",
    "manifest_path",
    "process_video",
    "track_paths",
    "video_key",
    "write_pickle",
]
