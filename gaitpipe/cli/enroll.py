"""``gaitpipe enroll`` and ``gaitpipe identify``: thin wrappers over :class:`gaitpipe.pipeline.Pipeline`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli.app import app

# Options shared by enroll and identify (typer reads these defaults per command, so one object serves both).
_GALLERY = typer.Option(None, "--gallery", help="Gallery directory (default: $GAITPIPE_GALLERY, else the per-user data directory).")
_WEIGHTS = typer.Option(None, "--weights", help="Weights file or name in weights/ (default: the installed default weights).")
_SEGMENTER = typer.Option("auto", "--segmenter", help="Person segmenter: auto, yolo or bgsub (see `gaitpipe extract-silhouettes --help`).")
_SEG_WEIGHTS = typer.Option(None, "--seg-weights", help="YOLO-seg weights (name or path).")
_BACKGROUND = typer.Option(None, "--background", help="Empty-scene image or clip for the bgsub segmenter.")
_DEVICE = typer.Option(None, "--device", help="cuda, cpu, ... (default: CUDA when available).")
_STRIDE = typer.Option(1, "--stride", min=1, help="Use every Nth frame.")


def _pipeline(segmenter: str, weights: Optional[str], device: Optional[str], stride: int, progress: bool,
              seg_weights: Optional[str], background: Optional[str]):
    import logging
    import sys

    from gaitpipe.pipeline import Pipeline

    if not logging.getLogger().handlers:  # the segmenter's one line about its backend goes to stderr
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
        logging.getLogger("ultralytics").setLevel(logging.WARNING)
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is noise
    options = {k: v for k, v in (("weights", seg_weights), ("background", background)) if v is not None}
    return Pipeline(segmenter=segmenter, weights=weights, device=device, stride=stride, progress=progress,
                    segmenter_options=options)


@app.command()
def enroll(
    video: Path = typer.Argument(..., help="Video of the person walking (the longest usable track is enrolled)."),
    identity: str = typer.Option(..., "--id", help="Name to enrol the walker under."),
    track: Optional[int] = typer.Option(None, "--track", help="Enrol this track id instead of the main walker."),
    gallery: Optional[Path] = _GALLERY,
    weights: Optional[str] = _WEIGHTS,
    segmenter: str = _SEGMENTER,
    seg_weights: Optional[str] = _SEG_WEIGHTS,
    background: Optional[str] = _BACKGROUND,
    device: Optional[str] = _DEVICE,
    stride: int = _STRIDE,
    force: bool = typer.Option(False, "--force", help="Add the walk even if this video+track is already enrolled."),
    as_json: bool = typer.Option(False, "--json", help="Print the enrolment as one JSON object."),
) -> None:
    """Enrol the main walker of VIDEO in the gallery under --id."""
    res = _pipeline(segmenter, weights, device, stride, not as_json, seg_weights, background).enroll(video, identity, gallery=gallery, track=track, force=force)
    e, w = res.enrolment, res.walker
    if as_json:
        typer.echo(json.dumps({"gallery": res.gallery, "enrolment": e.to_dict(), "walker": w.summary(),
                               "other_tracks": res.other_tracks}))
        return
    typer.echo(f"enrolled {e.identity!r} as enrolment #{e.id} in {res.gallery}")
    typer.echo(f"  track {w.track_id}: frames {w.frame_start}-{w.frame_end}, {w.frames} silhouettes used, "
               f"quality {w.quality:.2f}" + (f", dropped {w.dropped}" if w.dropped else ""))
    if res.other_tracks:
        typer.echo(f"  other usable tracks not enrolled: {', '.join(map(str, res.other_tracks))} (use --track)")


@app.command()
def identify(
    clip: Path = typer.Argument(..., help="Video in which to identify every walker."),
    top_k: int = typer.Option(5, "--top-k", min=1, help="Identities listed per walker."),
    threshold: Optional[float] = typer.Option(None, "--threshold",
                                              help="Similarity below which a walker is 'unknown' (default: from the weights)."),
    gallery: Optional[Path] = _GALLERY,
    weights: Optional[str] = _WEIGHTS,
    segmenter: str = _SEGMENTER,
    seg_weights: Optional[str] = _SEG_WEIGHTS,
    background: Optional[str] = _BACKGROUND,
    device: Optional[str] = _DEVICE,
    stride: int = _STRIDE,
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    render: Optional[Path] = typer.Option(None, "--render", help="Also write the clip with boxes, track ids and names (.mp4)."),
) -> None:
    """Rank the gallery's identities for every walker in CLIP ('unknown' below the threshold)."""
    res = _pipeline(segmenter, weights, device, stride, not as_json, seg_weights, background).identify(
        clip, gallery=gallery, top_k=top_k, threshold=threshold, render=render)
    if as_json:
        typer.echo(json.dumps(res.to_dict()))
        return
    typer.echo(f"{res.video}: {len(res.walkers)} walker(s), threshold {res.threshold:.3f}")
    for w in res.walkers:
        ranked = ", ".join(f"{m.identity} {m.score:.3f}" for m in w.result.matches)
        typer.echo(f"  track {w.walker.track_id} ({w.walker.frames} frames): {w.result.decision}   [{ranked}]")
    for w in res.skipped:
        typer.echo(f"  track {w.track_id} ({w.frames} frames): skipped, too short")
    if res.rendered:
        typer.echo(f"rendered {res.rendered}")
