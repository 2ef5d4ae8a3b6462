"""``gaitpipe synth``: render a synthetic CASIA-B-like dataset of walkers (thin CLI layer)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli.app import app
from gaitpipe.errors import InputError


def _parse_views(text: str) -> list[int]:
    try:
        views = [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise InputError(f"--views must be comma-separated degrees (e.g. 0,90,180), got {text!r}") from None
    if not views:
        raise InputError("--views is empty")
    return views


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must be WIDTHxHEIGHT (e.g. 320x240), got {text!r}") from None
    if not (32 <= w <= 4096 and 32 <= h <= 4096):
        raise InputError(f"--size {w}x{h} is out of range (32..4096 per side)")
    return w, h


@app.command("synth")
def synth_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory.", show_default=False),
    people: int = typer.Option(10, "--people", min=1, max=999, help="Number of synthetic identities."),
    walks: int = typer.Option(6, "--walks", min=0, max=99, help="Normal walks per person (nm-01..)."),
    views: str = typer.Option(
        "0,18,36,54,72,90,108,126,144,162,180", "--views", help="Camera views in degrees (90 = side view)."
    ),
    bag: bool = typer.Option(False, "--bag", help="Also render 2 walks carrying a bag (bg-01/02)."),
    coat: bool = typer.Option(False, "--coat", help="Also render 2 walks wearing a coat (cl-01/02)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the whole dataset is deterministic from it)."),
    size: str = typer.Option("320x240", "--size", help="Frame size WIDTHxHEIGHT."),
    fps: float = typer.Option(25.0, "--fps", min=1.0, max=240.0, help="Frames per second."),
    frames: Optional[int] = typer.Option(
        None,
        "--frames",
        min=5,
        max=2000,
        help="Frames per clip (default: while the walker is fully in view, at most 100).",
    ),
    video_format: str = typer.Option("avi", "--format", help="Video container: avi (Motion-JPEG) or mp4 (MPEG-4)."),
    silhouettes: bool = typer.Option(
        False, "--silhouettes", help="Also write OpenGait-layout silhouettes from the ground-truth masks."
    ),
) -> None:
    """Render synthetic walkers (videos, exact masks, manifest; optionally OpenGait silhouettes)."""
    from gaitpipe.synth.dataset import generate_dataset

    fmt = video_format.lower().lstrip(".")
    if fmt not in ("avi", "mp4"):
        raise InputError(f"--format must be avi or mp4, got {video_format!r}")
    report = generate_dataset(
        out,
        people=people,
        walks=walks,
        views=_parse_views(views),
        bag=bag,
        coat=coat,
        seed=seed,
        size=_parse_size(size),
        fps=fps,
        n_frames=frames,
        silhouettes=silhouettes,
        video_ext=f".{fmt}",
    )
    typer.echo(f"wrote {len(report.videos)} videos ({report.frames} frames) under {report.out_dir}")
    if silhouettes:
        typer.echo(f"wrote {report.silhouette_sequences} silhouette sequences under {report.out_dir / 'silhouettes'}")
        if report.skipped_silhouettes:
            typer.echo(f"{len(report.skipped_silhouettes)} clips had no fully visible frame (no silhouettes)")
    typer.echo(f"manifest: {report.manifest}")


@app.command("synth-train-pack")
def synth_train_pack_command(
    out: Path = typer.Argument(..., help="Pack to write (.npz, or .npz.xz compressed).", show_default=False),
    people: int = typer.Option(200, "--people", help="Synthetic identities (2-5000)."),
    scenes: int = typer.Option(50, "--scenes", help="Scenes in the shared pool (2-1000)."),
    scenes_per_person: int = typer.Option(3, "--scenes-per-person", help="Scenes each person walks in."),
    walks_per_scene: int = typer.Option(
        2, "--walks-per-scene", help="Walks per person and scene (the second goes the other way)."
    ),
    seed: int = typer.Option(
        2000, "--seed", help="Random seed (people and scenes come from seed streams the cross-scene check never uses)."
    ),
    size: str = typer.Option("320x240", "--size", help="Frame size WIDTHxHEIGHT the walkers are rendered at."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Render synthetic people, each filmed in several shared scenes, as a pack to train on
    (`gaitpipe train --extra-data PACK`): teaches an encoder that another room is not another person."""
    from gaitpipe.synth.training_walkers import render_training_walkers, write_training_pack

    if not out.name.endswith((".npz", ".npz.xz")):
        raise InputError(f"{out} must end in .npz or .npz.xz")
    walkers = render_training_walkers(
        people=people,
        scenes=scenes,
        scenes_per_person=scenes_per_person,
        walks_per_scene=walks_per_scene,
        seed=seed,
        size=_parse_size(size),
        progress=progress,
    )
    path = write_training_pack(walkers, out)
    typer.echo(f"wrote {len(walkers)} walks of {people} synthetic people in {scenes} scenes to {path}")
