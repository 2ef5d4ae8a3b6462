"""``gaitpipe evaluate``: a gallery-vs-probe protocol (CASIA-B, OU-MVLP, GREW, Gait3D, generic)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli.app import app
from gaitpipe.utils.console import to_json


@app.command("evaluate")
def evaluate_command(
    weights: Optional[str] = typer.Option(
        None, "--weights", help="Weights file or installed name (default: the installed default weights)."
    ),
    data: Path = typer.Option(
        ..., "--data", help="Dataset folder (<subject>/<cond>/<view>/*.pkl) or a .npz/.npz.xz pack."
    ),
    protocol: str = typer.Option("casiab", "--protocol", help="casiab | oumvlp | grew | gait3d | gallery-probe."),
    subjects: Optional[str] = typer.Option(
        None, "--subjects", help="Subjects to evaluate, e.g. 063-074 (default: the split's test set, else all)."
    ),
    split: Optional[str] = typer.Option(
        None, "--split", help="Split file or built-in name: test subjects (and Gait3D's PROBE_SET)."
    ),
    views: Optional[str] = typer.Option(None, "--views", help="Only these views, e.g. 054,090,126."),
    max_frames: Optional[int] = typer.Option(
        None, "--max-frames", help="Use the first N frames of each sequence (default: all)."
    ),
    metric: str = typer.Option("euc", "--metric", help="euc (part-averaged Euclidean, OpenGait) or cos."),
    gallery_conditions: Optional[str] = typer.Option(
        None, "--gallery-conditions", help="gallery-probe: gallery conditions, comma-separated."
    ),
    probe_conditions: Optional[str] = typer.Option(
        None, "--probe-conditions", help="gallery-probe: probe conditions, comma-separated."
    ),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda (default: CUDA when present)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Sequences per forward pass."),
    amp: bool = typer.Option(
        False, "--amp/--no-amp", help="Autocast: fp16 on CUDA, bf16 on the CPU (faster; scores move slightly)."
    ),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the CMC curve(s) to this PNG."),
    save_embeddings: Optional[Path] = typer.Option(
        None, "--save-embeddings", help="Write embeddings + subject/condition/view to this .npz."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Embed every sequence (all frames) and print the protocol's rank-1 table / retrieval metrics."""
    from gaitpipe.engine.evaluator import evaluate_weights
    from gaitpipe.errors import InputError
    from gaitpipe.metrics.evaluation import format_result

    if metric not in ("euc", "cos"):
        raise InputError(f"--metric must be euc or cos, got {metric!r}")
    result = evaluate_weights(
        weights,
        data,
        protocol,
        subjects=subjects,
        split=split,
        views=views,
        max_frames=max_frames,
        metric=metric,
        device=device,
        batch_size=batch_size,
        gallery_conditions=gallery_conditions,
        probe_conditions=probe_conditions,
        save_embeddings=save_embeddings,
        plot=plot,
        amp=amp,
        progress=not as_json,
    )
    if as_json:
        typer.echo(to_json(result))
        return
    typer.echo(
        f"weights {result['weights']} ({result['fingerprint']}), "
        f"{result['num_sequences']} sequences of subjects {result['subjects']}"
    )
    typer.echo(format_result(result))
    for key, label in (("plot", "CMC plot"), ("embeddings_file", "embeddings")):
        if key in result:
            typer.echo(f"{label}: {result[key]}")
