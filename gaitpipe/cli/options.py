"""Typer options shared by several commands, and the mapping of library settings to flags.

Each option is declared once here, so ``--segmenter`` or ``--device`` means the same thing (same
choices, same help, same validation) in every command. The library reports problems in its own
terms (a setting name such as ``keep_gallery``); :func:`error_message` adds the flag a CLI user
has to change.
"""

from __future__ import annotations

import logging
import math
from enum import Enum
from typing import Any, Optional

import typer

from gaitpipe.errors import EncoderMismatchError, GaitpipeError, NotFetchedError, SegmenterWeightsError, SettingError

#: Library setting names whose flag is not ``--`` + the name with dashes.
_SETTING_FLAGS = {
    "segmenter_weights": "--seg-weights",
    "out_dir": "--out",
    "n_frames": "--frames",
    "video_ext": "--format",
}
#: What the CLI adds to a missing/unusable YOLO-seg weights error.
_SEG_WEIGHTS_HINT = "pass --seg-weights PATH, or use --segmenter bgsub, which needs no weights"


class SegmenterChoice(str, Enum):
    """The person segmenters (``gaitpipe.segment.SEGMENTERS``)."""

    auto = "auto"
    yolo = "yolo"
    bgsub = "bgsub"


class EngineChoice(str, Enum):
    """Where batch work runs (``gaitpipe.cluster.ENGINES``)."""

    local = "local"
    ray = "ray"


class TrackerChoice(str, Enum):
    """The trackers every segmenter can use (``gaitpipe.segment.TRACKERS``)."""

    bytetrack = "bytetrack"
    botsort = "botsort"


def flag_for(setting: str) -> str:
    """The CLI flag of a library setting name (``keep_gallery`` -> ``--keep-gallery``)."""
    return _SETTING_FLAGS.get(setting, "--" + setting.replace("_", "-"))


def error_message(exc: GaitpipeError) -> str:
    """The one line the CLI prints for ``exc``: the library's message plus the flag to change."""
    if isinstance(exc, SettingError) and exc.setting:
        return f"{flag_for(exc.setting)}: {exc}"
    if exc.remedy:
        return f"{exc} (use {flag_for(exc.remedy)})"
    if isinstance(exc, SegmenterWeightsError):
        return f"{exc} ({_SEG_WEIGHTS_HINT})"
    if isinstance(exc, NotFetchedError):
        return f"weights {exc.name!r} are in the model zoo but not fetched yet: run `gaitpipe weights fetch {exc.name}`"
    if isinstance(exc, EncoderMismatchError) and exc.installed_weights:
        return f"{exc} (--weights {exc.installed_weights})"
    return str(exc)


class FlagHints(logging.Filter):
    """Adds the flag to gaitpipe log lines that name a setting (``extra={"setting": ...}``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        setting = record.__dict__.get("setting")
        if isinstance(setting, str) and not record.__dict__.get("_flag_added"):
            flag = flag_for(setting)
            hint = f"{flag} PATH" if setting == "segmenter_weights" else flag
            record.msg = f"{record.msg} [{hint}]"
            record._flag_added = True
        return True


def setup_cli_logging(verbose: bool = True) -> None:
    """``setup_logging`` for commands that run the pipeline: gaitpipe's INFO lines (which
    segmenter was picked and why) with flag hints; ultralytics' and faiss' chatter stays quiet."""
    from gaitpipe.utils.console import setup_logging

    setup_logging(verbose)
    logger = logging.getLogger("gaitpipe")
    for handler in logger.handlers:
        if not any(isinstance(f, FlagHints) for f in handler.filters):
            handler.addFilter(FlagHints())
    logging.getLogger("ultralytics").setLevel(logging.WARNING)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is noise


def _check_device(value: Optional[str]) -> Optional[str]:
    """Validate ``--device`` before any work starts (a missing GPU is one clear line)."""
    if value is not None:
        from gaitpipe.utils.device import resolve_device

        resolve_device(value)  # raises DeviceError
    return value


def _check_threshold(value: Optional[float]) -> Optional[float]:
    """NaN or infinity is never a threshold; the range depends on the score scale (cosine -1..1, or
    AS-norm scores), which only the weights tell: the library checks it (``SettingError``)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite score, got {value}")
    return value


def _check_margin(value: Optional[float]) -> Optional[float]:
    """A margin is a score difference: at least 0 (0 turns the rule off); NaN is meaningless. Its upper
    bound depends on the score scale (cosine: 2), which the library checks."""
    if value is not None and not (math.isfinite(value) and value >= 0.0):
        raise typer.BadParameter(f"must be a score difference of at least 0, got {value}")
    return value


def _check_rotate(value: str) -> str:
    """Validate ``--rotate`` before any work starts (one clear line for ``--rotate 45``)."""
    from gaitpipe.io.orientation import check_rotate

    return str(check_rotate(value))  # raises SettingError("rotate must be ...", "rotate")


def device_option(help_text: str = "Torch device: auto, cpu, cuda, cuda:N (default: CUDA when available).") -> Any:
    return typer.Option(None, "--device", help=help_text, callback=_check_device)


def segmenter_option(default: SegmenterChoice = SegmenterChoice.auto) -> Any:
    return typer.Option(
        default,
        "--segmenter",
        help="Person segmenter: auto (yolo when its weights are here, else bgsub), yolo, "
        "or bgsub (background subtraction, no weights needed).",
    )


SEG_WEIGHTS = typer.Option(None, "--seg-weights", help="YOLO-seg weights for the yolo segmenter (name or path).")
TRUST = typer.Option(
    False,
    "--trust",
    help="Load YOLO weights even if they name code to run when read (only for files from a source you trust).",
)
BACKGROUND = typer.Option(None, "--background", help="Empty-scene image or clip for the bgsub segmenter.")
TRACKER = typer.Option(None, "--tracker", help="Tracker linking detections across frames (default: bytetrack).")
WEIGHTS = typer.Option(
    None, "--weights", help="Gait weights file or name in weights/ (default: the installed default weights)."
)
GALLERY = typer.Option(
    None, "--gallery", help="Gallery directory (default: $GAITPIPE_GALLERY, else the per-user data directory)."
)
STRIDE = typer.Option(1, "--stride", min=1, help="Use every Nth frame.")
THRESHOLD = typer.Option(
    None,
    "--threshold",
    callback=_check_threshold,
    help="Score below which a walker is 'unknown': a cosine similarity (-1..1), or an AS-norm score when "
    "scores are normalised (default: from the weights).",
)
MARGIN = typer.Option(
    None,
    "--margin",
    callback=_check_margin,
    help="How far the best identity must score above the next one to be named (cosine: 0..2); closer is "
    "'unknown' with both listed (default: from the weights, else 0.05, or 0.25 on AS-norm scores).",
)
SCORE_NORM = typer.Option(
    None,
    "--score-norm/--no-score-norm",
    help="Decide on AS-norm normalised scores (cohort of impostors) or on raw cosine scores "
    "(default: as the weights are calibrated).",
)
JSON = typer.Option(False, "--json", help="Print exactly one JSON object.")
ENGINE = typer.Option(
    EngineChoice.local,
    "--engine",
    help="local: processes on this machine; ray: one Ray task per video on a Ray cluster (needs gaitpipe's ray extra).",
)
ADDRESS = typer.Option(
    None,
    "--address",
    help="Ray cluster to join (host:port, ray://host:10001 or auto); default: start a local one for this run.",
)
ROTATE = typer.Option(
    "auto",
    "--rotate",
    metavar="auto|0|90|180|270",
    callback=_check_rotate,
    help="Turn the video's frames clockwise by this many degrees (after any rotation metadata), for "
    "phone videos stored sideways or upside down; auto: detect it from the moving people.",
)

__all__ = [
    "ADDRESS",
    "BACKGROUND",
    "ENGINE",
    "GALLERY",
    "JSON",
    "MARGIN",
    "ROTATE",
    "SEG_WEIGHTS",
    "STRIDE",
    "THRESHOLD",
    "TRACKER",
    "TRUST",
    "WEIGHTS",
    "EngineChoice",
    "FlagHints",
    "SegmenterChoice",
    "TrackerChoice",
    "device_option",
    "error_message",
    "flag_for",
    "segmenter_option",
    "setup_cli_logging",
]
