"""``gaitpipe enroll`` and ``gaitpipe identify``: thin wrappers over :class:`gaitpipe.pipeline.Pipeline`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from gaitpipe.cli import options as opt
from gaitpipe.cli.app import app
from gaitpipe.cli.options import SegmenterChoice
from gaitpipe.utils.console import to_json

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.gallery import Match
    from gaitpipe.io.orientation import Rotation


def _pipeline(
    segmenter: SegmenterChoice,
    weights: Optional[str],
    device: Optional[str],
    stride: int,
    progress: bool,
    seg_weights: Optional[str],
    background: Optional[str],
    trust: bool,
    rotate: str = "auto",
):
    from gaitpipe.pipeline import Pipeline

    opt.setup_cli_logging()  # the segmenter's one line about its backend goes to stderr
    options: dict[str, Any] = {k: v for k, v in (("weights", seg_weights), ("background", background)) if v is not None}
    if trust:
        options["trust"] = True
    return Pipeline(
        segmenter=segmenter.value,
        weights=weights,
        device=device,
        stride=stride,
        progress=progress,
        segmenter_options=options,
        rotate=rotate,
    )


def _echo_rotation(rotation: Rotation | None) -> None:
    """One line saying how the video was turned, when it was (nothing for an upright video)."""
    if rotation is not None and (rotation.degrees or rotation.extra):
        typer.echo(f"  {rotation.describe()}")


@app.command()
def enroll(
    video: Path = typer.Argument(..., help="Video of the person walking (the longest usable track is enrolled)."),
    identity: str = typer.Option(..., "--id", help="Name to enrol the walker under."),
    track: Optional[int] = typer.Option(None, "--track", help="Enrol this track id instead of the main walker."),
    gallery: Optional[Path] = opt.GALLERY,
    weights: Optional[str] = opt.WEIGHTS,
    segmenter: SegmenterChoice = opt.segmenter_option(),
    seg_weights: Optional[str] = opt.SEG_WEIGHTS,
    trust: bool = opt.TRUST,
    background: Optional[str] = opt.BACKGROUND,
    device: Optional[str] = opt.device_option(),
    stride: int = opt.STRIDE,
    rotate: str = opt.ROTATE,
    force: bool = typer.Option(
        False,
        "--force",
        help="Add the walk even if this video+track is already enrolled, or its track fails the quality "
        "checks (too short, border-cut, fragmented, inconsistent silhouettes).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the enrolment as one JSON object."),
) -> None:
    """Enrol the main walker of VIDEO in the gallery under --id."""
    pipe = _pipeline(segmenter, weights, device, stride, not as_json, seg_weights, background, trust, rotate)
    res = pipe.enroll(video, identity, gallery=gallery, track=track, force=force)
    e, w = res.enrolment, res.walker
    if as_json:
        typer.echo(
            to_json(
                {
                    "gallery": res.gallery,
                    "enrolment": e.to_dict(),
                    "walker": w.summary(),
                    "other_tracks": res.other_tracks,
                    "rotation": res.rotation.to_dict() if res.rotation is not None else None,
                }
            )
        )
        return
    typer.echo(f"enrolled {e.identity!r} as enrolment #{e.id} in {res.gallery}")
    typer.echo(
        f"  track {w.track_id}: frames {w.frame_start}-{w.frame_end}, {w.frames} silhouettes used, "
        f"quality {w.quality:.2f}" + (f", dropped {w.dropped}" if w.dropped else "")
    )
    checks = (e.extra or {}).get("checks") or {}
    if checks.get("forced"):
        typer.echo(f"  enrolled despite: {'; '.join(checks.get('reasons') or [])} (--force)")
    if res.other_tracks:
        typer.echo(f"  other usable tracks not enrolled: {', '.join(map(str, res.other_tracks))} (use --track)")
    _echo_rotation(res.rotation)


def _score_text(m: Match) -> str:
    """``name score``, with the raw cosine beside a normalised score."""
    raw = f" (raw {m.raw:.3f})" if m.raw is not None else ""
    return f"{m.identity} {m.score:.3f}{raw}"


@app.command()
def identify(
    clip: Path = typer.Argument(..., help="Video in which to identify every walker."),
    top_k: int = typer.Option(5, "--top-k", min=1, help="Identities listed per walker."),
    threshold: Optional[float] = opt.THRESHOLD,
    margin: Optional[float] = opt.MARGIN,
    gallery: Optional[Path] = opt.GALLERY,
    weights: Optional[str] = opt.WEIGHTS,
    segmenter: SegmenterChoice = opt.segmenter_option(),
    seg_weights: Optional[str] = opt.SEG_WEIGHTS,
    trust: bool = opt.TRUST,
    background: Optional[str] = opt.BACKGROUND,
    device: Optional[str] = opt.device_option(),
    stride: int = opt.STRIDE,
    rotate: str = opt.ROTATE,
    as_json: bool = opt.JSON,
    render: Optional[Path] = typer.Option(
        None, "--render", help="Also write the clip with boxes, track ids and names (.mp4)."
    ),
    score_norm: Optional[bool] = opt.SCORE_NORM,
) -> None:
    """Name every walker in CLIP: a name, 'unknown' (below the threshold, or too close to a second
    identity) or 'uncertain' (the track is too poorly seen to name anyone), with why."""
    pipe = _pipeline(segmenter, weights, device, stride, not as_json, seg_weights, background, trust, rotate)
    res = pipe.identify(
        clip, gallery=gallery, top_k=top_k, threshold=threshold, margin=margin, render=render, score_norm=score_norm
    )
    if as_json:
        typer.echo(to_json(res.to_dict()))
        return
    margin_used = f", margin {res.margin.value:.3f} ({res.margin.source})" if res.margin is not None else ""
    source = f" ({res.threshold_source.source})" if res.threshold_source is not None else ""
    if res.threshold_source is not None and res.threshold_source.scale != "raw":
        source += f" on {res.threshold_source.scale} scores"
    typer.echo(
        f"{res.video}: {len(res.walkers) + len(res.skipped)} walker(s), threshold {res.threshold:.3f}{source}"
        + margin_used
    )
    if res.threshold_source is not None and res.threshold_source.note:
        typer.echo(f"note: {res.threshold_source.note}", err=True)
    _echo_rotation(res.rotation)
    for w in res.walkers:
        r = w.result
        ranked = ", ".join(f"{m.identity} {m.score:.3f}" for m in r.matches)
        typer.echo(f"  track {w.walker.track_id} ({w.walker.frames} frames): {r.decision}   [{ranked}]")
        second = f", second {_score_text(r.second)}" if r.second is not None else ""
        best = f"best {_score_text(r.best)}{second}; " if r.best is not None else ""
        typer.echo(f"      {best}{r.why}, quality {w.walker.quality:.2f}")
        if r.candidates:
            typer.echo(f"      candidates: {', '.join(r.candidates)}")
    for s in res.skipped:
        why = "; ".join(s.checks.reasons)
        typer.echo(f"  track {s.track_id} ({s.frames} frames): uncertain   (not compared: {why})")
    if res.rendered:
        typer.echo(f"rendered {res.rendered}")
