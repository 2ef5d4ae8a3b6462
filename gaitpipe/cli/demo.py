"""``gaitpipe demo``: enrol the example walkers, identify their other walks, print the score card."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli.app import app


@app.command("demo")
def demo_command(
    examples: Optional[Path] = typer.Option(
        None, "--examples", help="Folder with the example clips and manifest.json (default: the repo's examples/; "
        "rendered on the fly into the user cache when gaitpipe is installed without them)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Weights file or name in weights/ (default: the installed default weights)."),
    segmenter: str = typer.Option("bgsub", "--segmenter", help="Person segmenter: bgsub (no weights needed), yolo or auto."),
    keep_gallery: Optional[Path] = typer.Option(None, "--keep-gallery", help="Keep the demo gallery in this new/empty folder (default: a temporary one)."),
    device: Optional[str] = typer.Option(None, "--device", help="cuda, cpu, ... (default: CUDA when available)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object instead of the table."),
) -> None:
    """Enrol each example person from one walk, identify their other walks, print a table and the accuracy.

    Exits non-zero when the accuracy falls below the one the README claims.
    """
    import logging
    import sys

    from gaitpipe import demo

    if not logging.getLogger().handlers:  # the segmenter's one line about its backend goes to stderr
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
        logging.getLogger("ultralytics").setLevel(logging.WARNING)
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    report = demo.run_demo(examples, weights=weights, segmenter=segmenter, keep_gallery=keep_gallery, device=device,
                           progress=not as_json)
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        where = f"{report.examples_dir} (rendered on the fly)" if report.rendered else report.examples_dir
        typer.echo(f"examples: {where}")
        typer.echo(f"weights:  {report.weights} ({report.fingerprint}); segmenter {report.segmenter}, "
                   f"device {report.device}, threshold {report.threshold:.4f}")
        typer.echo("enrolled: " + ", ".join(f"{k} ({v} silhouettes)" for k, v in report.enrolled.items()))
        typer.echo("")
        typer.echo(report.table())
        typer.echo("")
        for line in report.summary_lines():
            typer.echo(line)
        if report.gallery:
            typer.echo(f"gallery kept in {report.gallery}")
    if not report.passed:
        typer.echo(f"FAILED: accuracy {100 * report.accuracy:.1f}% is below the claimed "
                   f"{100 * report.claimed:.0f}% (gaitpipe.demo.CLAIMED_ACCURACY)", err=True)
        raise typer.Exit(code=1)
