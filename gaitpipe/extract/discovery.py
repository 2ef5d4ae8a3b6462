"""Turning the files and directories a user names into one job per video."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gaitpipe.errors import GaitpipeError
from gaitpipe.extract.naming import (
    casiab_parts,
    casiab_slot,
    is_casiab_background,
    video_key,
)
from gaitpipe.extract.options import VideoResult


@dataclass
class Job:
    """One video to extract and the name of its sidecar directory (unique within a run)."""

    path: str
    key: str


def collect_inputs(
    paths: Sequence[str | Path], out_dir: str | Path | None = None
) -> tuple[list[Job], list[VideoResult]]:
    """Expand files and directories (recursively) into jobs; unusable paths become failures.

    A file given explicitly is always tried (so a non-video file gets a clear error, not
    silence); directories contribute the videos ``find_videos`` recognises. CASIA-B background
    plates (``SSS-bkgrd-VVV``) hold no walker and are skipped, not failed. Two inputs with the
    same output name get distinct sidecar keys (``name~2``) so they never overwrite each other.
    Anything inside ``out_dir`` (e.g. our own PNG frame folders) is never taken as input.
    """
    from gaitpipe.io.video import find_videos

    jobs: list[Job] = []
    problems: list[VideoResult] = []
    seen: set[Path] = set()
    keys: dict[str, Path] = {}
    slots: dict[str, Path] = {}
    out_resolved = Path(out_dir).expanduser().resolve() if out_dir is not None else None
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            problems.append(VideoResult(str(raw), "failed", error="no such file or directory"))
            continue
        if p.is_dir():
            try:
                found = find_videos([p], recursive=True)
            except GaitpipeError as exc:
                problems.append(VideoResult(str(raw), "failed", error=str(exc)))
                continue
            if not found:
                problems.append(VideoResult(str(raw), "failed", error="no videos found in this directory"))
                continue
        else:
            found = [p]
        for video in found:
            resolved = Path(video).resolve()
            if resolved in seen or (out_resolved is not None and p.is_dir() and resolved.is_relative_to(out_resolved)):
                continue
            seen.add(resolved)
            if is_casiab_background(video):
                problems.append(VideoResult(str(video), "skipped", note="CASIA-B background clip (no walker)"))
                continue
            parts = casiab_parts(video)
            if parts:
                slot = casiab_slot(parts)
                if slot in slots:
                    problems.append(
                        VideoResult(
                            str(video),
                            "failed",
                            remedy_settings=("out_dir",),
                            error=f"same CASIA-B slot {slot} as {slots[slot]}; extract it to another output directory",
                        )
                    )
                    continue
                slots[slot] = resolved
            key = video_key(video)
            n = 2
            while key in keys:
                key = f"{video_key(video)}~{n}"
                n += 1
            keys[key] = resolved
            jobs.append(Job(str(video), key))
    return jobs, problems


__all__ = ["Job", "collect_inputs"]
