"""``gaitpipe weights``: list installed weights, import official checkpoints, export ONNX."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli.app import app

weights_app = typer.Typer(help="Manage encoder weights: list, import official checkpoints, export ONNX.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


class ImportArch(str, Enum):
    gaitbase = "gaitbase"
    hstl = "hstl"


@weights_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show the weights installed in $GAITPIPE_WEIGHTS_DIR and the repo's weights/ folder."""
    from gaitpipe.models.checkpoint import describe_installed, weights_dirs

    rows = describe_installed()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no weights installed (searched {', '.join(str(d) for d in weights_dirs())})")
        return
    typer.echo(f"{'name':<32} {'arch':<9} {'preset':<16} {'parts x dim':<11} {'MB':>6}  {'training data':<24} fingerprint")
    for r in rows:
        mark = "*" if r["default"] else " "
        if "error" in r:
            typer.echo(f"{mark}{r['name']:<31} unreadable: {r['error']}")
            continue
        shape = f"{r['parts']}x{r['embed_dim']}"
        data = str(r.get("training_data") or "-")[:24]
        typer.echo(f"{mark}{r['name']:<31} {r['arch']:<9} {r['preset']:<16} {shape:<11} {r['bytes'] / 1e6:>6.1f}  {data:<24} {r['fingerprint']}")
    if any(r["default"] for r in rows):
        typer.echo("* = default (weights/MANIFEST.json)")


@weights_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="Official checkpoint (OpenGait GaitBase or HSTL authors' .pt).", show_default=False),
    arch: ImportArch = typer.Option(..., "--arch", help="Architecture of the checkpoint.", show_default=False),
    preset: Optional[str] = typer.Option(None, "--preset", help="gaitpipe preset (default: inferred from the checkpoint)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output weights file (default <weights dir>/<preset>-<file>.pt)."),
    training_data: Optional[str] = typer.Option(None, "--training-data", help="What it was trained on, for the metadata."),
    half: bool = typer.Option(False, "--half", help="Store float16 (half the size; restored to float32 at load)."),
    trust: bool = typer.Option(False, "--trust", help="Allow unrestricted unpickling (runs code from the file): trusted sources only."),
) -> None:
    """Convert an official checkpoint into a gaitpipe weights file."""
    from gaitpipe.models.convert import import_checkpoint

    meta = {"training_data": training_data} if training_data else None
    path, written = import_checkpoint(file, arch.value, preset=preset, out=out, trust=trust, half=half, meta=meta)
    typer.echo(f"wrote {path} ({written['preset']}, {written['parts']} parts x {written['embed_dim']}, fingerprint {written['fingerprint']})")


@weights_app.command("export-onnx")
def export_onnx_command(
    weights: str = typer.Argument(..., help="Weights file/name, or a preset name (untrained weights).", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Output .onnx file.", show_default=False),
    opset: int = typer.Option(17, help="ONNX opset."),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the onnxruntime vs PyTorch comparison."),
) -> None:
    """Export an encoder to ONNX (dynamic batch and frame axes), checked against PyTorch."""
    from gaitpipe.models.export import export_onnx

    report = export_onnx(weights, out, opset=opset, check=not no_check)
    diff = f", max |onnx - torch| = {report['max_abs_diff']:.1e}" if "max_abs_diff" in report else ""
    untrained = " (untrained preset weights)" if report["trained"] is False else ""
    typer.echo(f"wrote {report['path']}: {report['preset']}{untrained}, output [batch, {report['output'][1]}, {report['output'][2]}]{diff}")
