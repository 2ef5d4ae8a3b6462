"""``gaitpipe demo``: enrol the example walkers, identify their other walks, print the score card."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli import options as opt
from gaitpipe.cli.app import app
from gaitpipe.cli.options import SegmenterChoice
from gaitpipe.utils.console import to_json


@app.command("demo")
def demo_command(
    examples: Optional[Path] = typer.Option(
        None,
        "--examples",
        help="Folder with the example clips and manifest.json (default: the repo's examples/; "
        "rendered on the fly into the user cache when gaitpipe is installed without them).",
    ),
    weights: Optional[str] = opt.WEIGHTS,
    segmenter: SegmenterChoice = opt.segmenter_option(SegmenterChoice.bgsub),
    keep_gallery: Optional[Path] = typer.Option(
        None, "--keep-gallery", help="Keep the demo gallery in this new/empty folder (default: a temporary one)."
    ),
    device: Optional[str] = opt.device_option(),
    rotate: str = opt.ROTATE,
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object instead of the table."),
) -> None:
    """Enrol each example person from one walk, identify their other walks, print a table and the accuracy.

    Exits non-zero when the accuracy falls below the one the README claims.
    """
    from gaitpipe import demo

    opt.setup_cli_logging()  # the segmenter's one line about its backend goes to stderr
    report = demo.run_demo(
        examples,
        weights=weights,
        segmenter=segmenter.value,
        keep_gallery=keep_gallery,
        device=device,
        progress=not as_json,
        rotate=rotate,
    )
    if as_json:
        typer.echo(to_json(report.to_dict()))
    else:
        where = f"{report.examples_dir} (rendered on the fly)" if report.rendered else report.examples_dir
        typer.echo(f"examples: {where}")
        typer.echo(
            f"weights:  {report.weights} ({report.fingerprint}); segmenter {report.segmenter}, "
            f"device {report.device}, threshold {report.threshold:.4f}"
        )
        typer.echo("enrolled: " + ", ".join(f"{k} ({v} silhouettes)" for k, v in report.enrolled.items()))
        typer.echo("")
        typer.echo(report.table())
        typer.echo("")
        for line in report.summary_lines():
            typer.echo(line)
        if report.gallery:
            typer.echo(f"gallery kept in {report.gallery}")
    if not report.passed:
        typer.echo(
            f"FAILED: accuracy {100 * report.accuracy:.1f}% is below the claimed "
            f"{100 * report.claimed:.0f}% (gaitpipe.demo.CLAIMED_ACCURACY)",
            err=True,
        )
        raise typer.Exit(code=1)
