"""``gaitpipe weights``: list installed weights, fetch from the model zoo, import official checkpoints, export ONNX."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli.app import app

weights_app = typer.Typer(
    help="Manage encoder weights: list, fetch from the model zoo, import official checkpoints, export ONNX.",
    no_args_is_help=True,
)
app.add_typer(weights_app, name="weights")


class ImportArch(str, Enum):
    gaitbase = "gaitbase"
    hstl = "hstl"
    deepgaitv2 = "deepgaitv2"


def _trained_on(row: dict) -> str:
    data = row.get("training_data")
    if isinstance(data, dict):
        return str(data.get("train_subjects") or "-")[:12]
    return str(data or "-")[:12]


def _validation_record(row: dict) -> dict:
    return (row.get("metrics") or {}).get("validation") or {}


def _validation(row: dict) -> str:
    validation = _validation_record(row)
    rank1 = validation.get("rank1") or {}
    if not all(k in rank1 for k in ("NM", "BG", "CL")):
        return "-"
    # "~": a final model trained on every subject carries its held-out twin's figures
    mark = "~" if validation.get("transferred_from") else ""
    return mark + "/".join(f"{rank1[k]:.1f}" for k in ("NM", "BG", "CL"))


def _threshold(row: dict) -> str:
    threshold = (row.get("open_set") or {}).get("threshold")
    return "-" if threshold is None else f"{threshold:.4f}"


def _zoo_status(row: dict) -> str:
    if row["fetched"]:
        return "fetched"
    if not row["downloadable"]:
        return "by hand"
    return "available" if row["published"] else "unpublished"


def _zoo_table(zoo: list[dict]) -> str:
    from gaitpipe.utils.console import format_table

    table = [
        (
            " " + z["name"],
            _zoo_status(z),
            z["preset"],
            "-" if z["bytes"] is None else f"{z['bytes'] / 1e6:.0f}",
            z["trained_on"].split(" (")[0].split(",")[0][:30],
            " / ".join(f"{k} {v:.1f}" for k, v in z["rank1"].items()) or "-",
        )
        for z in zoo
    ]
    columns = (" model zoo", "status", "preset", "download MB", "trained on", "published rank-1")
    return format_table(table, columns, width=240)


@weights_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    zoo_only: bool = typer.Option(
        False, "--zoo", help="Only the model zoo's entries (with --json: one object per entry)."
    ),
) -> None:
    """Show the installed weights ($GAITPIPE_WEIGHTS_DIR, the user's weights folder, fetched zoo weights,
    the shipped ones), then the model zoo's entries (`gaitpipe weights fetch NAME`)."""
    from gaitpipe.hub import describe_installed, describe_zoo, weights_dirs
    from gaitpipe.utils.console import format_table, to_json

    zoo = describe_zoo()
    if zoo_only:
        typer.echo(to_json(zoo) if as_json else _zoo_table(zoo))
        return
    rows = describe_installed()
    if as_json:  # installed weights only (fetched zoo weights are installed); --zoo --json for the zoo
        typer.echo(to_json(rows))
        return
    if not rows:
        typer.echo(f"no weights installed (searched {', '.join(str(d) for d in weights_dirs())})")
        typer.echo(_zoo_table(zoo))
        return
    table = []
    for r in rows:
        name = ("*" if r["default"] else " ") + r["name"]
        if "error" in r:
            table.append((name, f"unreadable: {r['error']}", "", "", "", "", "", ""))
            continue
        table.append(
            (
                name,
                r["preset"],
                f"{r['parts']}x{r['embed_dim']}",
                f"{r['bytes'] / 1e6:.1f}",
                _trained_on(r),
                _validation(r),
                _threshold(r),
                r["fingerprint"],
            )
        )
    columns = (" name", "preset", "parts x dim", "MB", "trained on", "val NM/BG/CL", "threshold", "fingerprint")
    typer.echo(format_table(table, columns, width=240))
    if any(r["default"] for r in rows):
        typer.echo("* = default")
    for r in rows:
        origin = _validation_record(r).get("transferred_from")
        if origin and "error" not in r:
            typer.echo(
                f"~ {r['name']}: trained on every subject; figures of its held-out twin {origin.get('file')} "
                f"(trained on {origin.get('train_subjects')}), not measured on this file"
            )
    typer.echo("")
    typer.echo(_zoo_table(zoo))
    typer.echo("fetch one with `gaitpipe weights fetch NAME`; then use it as --weights NAME")


@weights_app.command("fetch")
def fetch_command(
    name: str = typer.Argument(..., help="Model-zoo name (see `gaitpipe weights list`).", show_default=False),
    force: bool = typer.Option(False, "--force", help="Convert again even if already fetched."),
) -> None:
    """Download an official checkpoint from the model zoo, convert it and keep it in the user cache."""
    from gaitpipe.hub import fetch_weights

    result = fetch_weights(name, force=force)
    e = result.entry
    if not result.converted:
        typer.echo(f"{e.name}: already fetched ({result.path}); use it as --weights {e.name}")
        return
    typer.echo(f"fetched {e.name} -> {result.path}")
    typer.echo(f"  {e.preset}, trained on {e.trained_on}; published rank-1: {e.rank1_text}")
    typer.echo(f"  licence: {e.licence}")
    typer.echo(
        "  its open-set threshold is not calibrated on your footage: run `gaitpipe weights calibrate` "
        "on your own data before trusting 'unknown'"
    )


@weights_app.command("import")
def import_command(
    file: Path = typer.Argument(
        ..., help="Official checkpoint (OpenGait GaitBase or HSTL authors' .pt).", show_default=False
    ),
    arch: ImportArch = typer.Option(..., "--arch", help="Architecture of the checkpoint.", show_default=False),
    preset: Optional[str] = typer.Option(
        None, "--preset", help="gaitpipe preset (default: inferred from the checkpoint)."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output weights file (default <weights dir>/<preset>-<file>.pt)."
    ),
    training_data: Optional[str] = typer.Option(
        None, "--training-data", help="What it was trained on, for the metadata."
    ),
    half: bool = typer.Option(False, "--half", help="Store float16 (half the size; restored to float32 at load)."),
    trust: bool = typer.Option(
        False, "--trust", help="Allow unrestricted unpickling (runs code from the file): trusted sources only."
    ),
) -> None:
    """Convert an official checkpoint into a gaitpipe weights file."""
    from gaitpipe.models.convert import import_checkpoint

    meta = {"training_data": training_data} if training_data else None
    path, written = import_checkpoint(file, arch.value, preset=preset, out=out, trust=trust, half=half, meta=meta)
    typer.echo(
        f"wrote {path} ({written['preset']}, {written['parts']} parts x {written['embed_dim']}, "
        f"fingerprint {written['fingerprint']})"
    )


@weights_app.command("export-onnx")
def export_onnx_command(
    weights: str = typer.Argument(
        ..., help="Weights file/name, or a preset name (untrained weights).", show_default=False
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output .onnx file.", show_default=False),
    opset: int = typer.Option(17, help="ONNX opset."),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the onnxruntime vs PyTorch comparison."),
) -> None:
    """Export an encoder to ONNX (dynamic batch and frame axes), checked against PyTorch."""
    from gaitpipe.models.export import export_onnx

    report = export_onnx(weights, out, opset=opset, check=not no_check)
    diff = f", max |onnx - torch| = {report['max_abs_diff']:.1e}" if "max_abs_diff" in report else ""
    untrained = " (untrained preset weights)" if report["trained"] is False else ""
    typer.echo(
        f"wrote {report['path']}: {report['preset']}{untrained}, "
        f"output [batch, {report['output'][1]}, {report['output'][2]}]{diff}"
    )


@weights_app.command("calibrate")
def calibrate_command(
    weights: str = typer.Argument(..., help="Weights file or name.", show_default=False),
    data: Optional[Path] = typer.Option(
        None, "--data", help="Validation data: OpenGait folder or CASIA-B pack.", show_default=False
    ),
    validated: Optional[str] = typer.Option(
        None,
        "--from",
        help="Instead of measuring: copy the figures of this held-out "
        "run of the same recipe (for a final model trained on every subject).",
        show_default=False,
    ),
    subjects: str = typer.Option("063-074", "--subjects", help="Validation subjects (never the training ones)."),
    far: float = typer.Option(0.01, "--far", help="False-accept rate the default threshold is chosen for."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Use the first N frames of each sequence."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu / cuda (default: CUDA when present)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the figures without writing them into the weights."),
    cross_scene: bool = typer.Option(
        False,
        "--cross-scene",
        help="Calibrate the threshold and margin on AS-norm scores across scenes instead: synthetic walkers "
        "filmed in two places (rendered once, a few minutes) plus --data's held-out --subjects when given.",
    ),
    people: int = typer.Option(60, "--people", min=2, help="--cross-scene: synthetic people per set."),
    scenes: int = typer.Option(6, "--scenes", min=2, help="--cross-scene: synthetic scenes per set."),
) -> None:
    """Measure validation rank-1 and calibrate the open-set threshold; store both in the weights."""
    from gaitpipe.engine.release import calibrate_weights, transfer_calibration
    from gaitpipe.errors import InputError

    if cross_scene:
        _calibrate_cross_scene(weights, data, subjects, far, device, people, scenes, write=not dry_run)
        return
    if (data is None) == (validated is None):
        raise InputError("pass either --data (measure on held-out subjects) or --from (copy a held-out run's figures)")
    if validated is not None:
        out = transfer_calibration(validated, weights)
        os_ = out["open_set"]
        typer.echo(
            f"copied from {validated}: validation rank-1 "
            + ", ".join(f"{k} {v:.1f}" for k, v in out["validation"]["rank1"].items())
            + f"; threshold {os_['threshold']:.4f} (marked transferred_from) -> {out['weights']}"
        )
        return
    assert data is not None  # exactly one of --data and --from, checked above
    out = calibrate_weights(
        weights, data, subjects, target_far=far, max_frames=max_frames, device=device, write=not dry_run
    )
    r1, os_ = out["validation"]["rank1"], out["open_set"]
    typer.echo(
        f"validation rank-1 ({subjects}): "
        + ", ".join(f"{k} {v:.1f}" for k, v in r1.items())
        + "; with the gallery's cosine: "
        + ", ".join(f"{k} {v:.1f}" for k, v in out["validation"]["rank1_cosine"].items())
    )
    typer.echo(
        f"open set: threshold {os_['threshold']:.4f} at FAR {os_['target_far']:g}; TAR "
        + ", ".join(f"{v * 100:.1f}% at FAR {k}" for k, v in os_["tar_at_far"].items())
        + f" ({os_['genuine_pairs']} genuine / {os_['impostor_pairs']} impostor pairs)"
    )
    if os_.get("margin") is not None:
        eff = os_.get("margin_effect") or {}
        typer.echo(
            f"margin: {os_['margin']:.4f} (probes named wrongly: {eff.get('wrong_above_threshold')} at the threshold "
            f"alone, {eff.get('wrong_named')} with the margin, of {eff.get('probes')}; rightly named probes "
            f"turned unknown: {100 * float(eff.get('right_lost') or 0):.1f}%)"
        )
    if not dry_run:
        typer.echo(f"written into {out['weights']}")


def _calibrate_cross_scene(
    weights: str,
    data: Optional[Path],
    subjects: str,
    far: float,
    device: Optional[str],
    people: int,
    scenes: int,
    *,
    write: bool,
) -> None:
    from gaitpipe.engine.cohort import ensure_cohort
    from gaitpipe.engine.scene_calibration import cross_scene_report, write_normalised_calibration
    from gaitpipe.hub import resolve_weights, user_cache_dir
    from gaitpipe.models.checkpoint import read_meta

    path = resolve_weights(weights)
    cohort = ensure_cohort(path, str(read_meta(path)["fingerprint"]), device=device, progress=True)
    report = cross_scene_report(
        path,
        casiab=data,
        subjects=subjects,
        people=people,
        scenes=scenes,
        target_far=far,
        cohort=cohort.normaliser(),
        synth_dir=user_cache_dir() / "synth",
        device=device,
        progress=True,
    )
    for scale, entry in report["scales"].items():
        op = entry["operating_point"]
        test = entry["at_operating_point"]["synthetic-test"]
        typer.echo(
            f"{scale}: threshold {op['threshold']:.4f}, margin {op['margin']:.4f} (set by {op['set_by']}); on unseen "
            f"scenes: same-scene impostors accepted {100 * test['far_same_scene_impostor']:.1f}%, cross-scene "
            f"genuine pairs accepted {100 * test['tar_genuine_cross_scene']:.1f}%"
        )
    if write:
        write_normalised_calibration(path, report)
        typer.echo(f"written into {path} (open_set.normalised: identify now decides on AS-norm scores)")


@weights_app.command("cohort")
def cohort_command(
    weights: str = typer.Argument(..., help="Weights file or name.", show_default=False),
    data: Optional[Path] = typer.Option(
        None, "--data", help="CASIA-B pack: add its training subjects 001-062 to the synthetic walkers."
    ),
    synthetic: int = typer.Option(96, "--synthetic", min=0, help="Synthetic walkers (each in a scene of its own)."),
    beside: bool = typer.Option(
        False, "--beside", help="Store it beside the weights file (how shipped weights carry theirs) not in the cache."
    ),
    device: Optional[str] = typer.Option(None, "--device", help="cpu / cuda (default: CUDA when present)."),
) -> None:
    """(Re)compute the score-normalisation cohort of WEIGHTS (AS-norm impostor templates; identify
    otherwise computes it on first use from synthetic walkers)."""
    from gaitpipe.engine.cohort import build_cohort, write_cohort
    from gaitpipe.hub import resolve_weights
    from gaitpipe.hub.cohort import cached_path, save_cohort

    path = resolve_weights(weights)
    cohort = build_cohort(path, casiab=data, synthetic=synthetic, device=device, progress=True)
    out = write_cohort(cohort, path) if beside else save_cohort(cohort, cached_path(path, cohort.encoder))
    typer.echo(f"cohort of {path.name}: {len(cohort.vectors)} templates ({cohort.sources}) -> {out}")


@weights_app.command("default")
def default_command(
    name: str = typer.Argument(..., help="Installed weights name (see `gaitpipe weights list`).", show_default=False),
) -> None:
    """Make installed weights the default encoder of enroll/identify/demo."""
    from gaitpipe.engine.release import set_default_weights

    path = set_default_weights(name)
    typer.echo(f"default weights: {name} ({path})")


@weights_app.command("set-feature")
def set_feature_command(
    weights: str = typer.Argument(..., help="Weights file or name (GaitBase or DyGait).", show_default=False),
    feature: str = typer.Argument(
        ..., help="fc (OpenGait's test feature) or bnneck (BatchNorm-ed, cosine-friendly).", show_default=False
    ),
    out: Path = typer.Option(..., "--out", help="Where to write the copy.", show_default=False),
) -> None:
    """Copy weights with another retrieval feature (same weights, new fingerprint); recalibrate after."""
    from gaitpipe.engine.release import set_retrieval_feature

    meta = set_retrieval_feature(weights, out, feature)
    typer.echo(
        f"wrote {out} ({meta['fingerprint']}); "
        f"run `gaitpipe weights calibrate {out} --data ...` before using its threshold"
    )


@weights_app.command("install")
def install_command(
    source: Path = typer.Argument(
        ..., help="A gaitpipe weights file (e.g. from `gaitpipe train`).", show_default=False
    ),
    name: str = typer.Option(..., "--name", help="Installed name (weights/<name>.pt).", show_default=False),
    default: bool = typer.Option(False, "--default", help="Make it the default encoder of enroll/identify/demo."),
    full_precision: bool = typer.Option(False, "--fp32", help="Store float32 (default: float16, half the size)."),
    notes: Optional[str] = typer.Option(None, "--notes", help="Free text recorded in the weights file's metadata."),
) -> None:
    """Install weights into the weights folder (its index, MANIFEST.json, is regenerated)."""
    from gaitpipe.engine.release import install_weights

    entry = install_weights(source, name, half=not full_precision, default=default, notes=notes)
    typer.echo(
        f"installed {entry['file']} ({entry['arch']}/{entry['preset']}, {entry['bytes'] / 1e6:.1f} MB, "
        f"sha256 {entry['sha256'][:12]})" + (" as default" if default else "")
    )
