"""``gaitpipe gallery ...``: list, show, remove, rebuild, export, import, stats, verify."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli.app import app

gallery_app = typer.Typer(help="Inspect and maintain the gallery of enrolled walkers.", no_args_is_help=True)
app.add_typer(gallery_app, name="gallery")

_GALLERY = typer.Option(None, "--gallery", help="Gallery directory (default: $GAITPIPE_GALLERY, else the per-user data directory).")


def _open(path: Optional[Path]):
    from gaitpipe.gallery import Gallery

    return Gallery.open(path)


def _when(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


@gallery_app.command("list")
def list_(gallery: Optional[Path] = _GALLERY, as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """List identities with their enrolments."""
    with _open(gallery) as g:
        people = g.identities()
        if as_json:
            typer.echo(json.dumps({"gallery": str(g.path), "encoder": g.encoder, "identities": [p.to_dict() for p in people]}))
            return
        typer.echo(f"{g.path}: {len(people)} identities, {sum(len(p.enrolments) for p in people)} enrolments, encoder {g.encoder}")
        for p in people:
            typer.echo(f"  {p.identity}: {len(p.enrolments)} enrolment(s), last {_when(max(e.created for e in p.enrolments))}")


@gallery_app.command()
def show(identity: str = typer.Argument(..., help="Identity to show."), gallery: Optional[Path] = _GALLERY,
         as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Show one identity's enrolments (source video, track, frames, quality, time)."""
    with _open(gallery) as g:
        s = g.show(identity)
        if as_json:
            typer.echo(json.dumps(s.to_dict()))
            return
        typer.echo(f"{s.identity}: {len(s.enrolments)} enrolment(s)")
        for e in s.enrolments:
            typer.echo(f"  #{e.id} {_when(e.created)}  {e.video} (sha256 {e.video_sha256[:12]}) track {e.track} "
                       f"frames {e.frame_start}-{e.frame_end} used {e.frames} quality {e.quality:.2f}")


@gallery_app.command()
def remove(identity: Optional[str] = typer.Option(None, "--id", help="Remove every enrolment of this identity."),
           enrolment: Optional[int] = typer.Option(None, "--enrolment", help="Remove one enrolment by number."),
           gallery: Optional[Path] = _GALLERY) -> None:
    """Delete an identity (every trace: rows, index entries, freed pages) or one enrolment."""
    from gaitpipe.errors import InputError

    if (identity is None) == (enrolment is None):
        raise InputError("give exactly one of --id NAME or --enrolment N")
    with _open(gallery) as g:
        if identity is not None:
            n = g.remove(identity)
            typer.echo(f"removed {identity!r}: {n} enrolment(s) deleted and purged from {g.path}")
        else:
            e = g.remove_enrolment(enrolment)
            typer.echo(f"removed enrolment #{e.id} of {e.identity!r} from {g.path}")


@gallery_app.command()
def rebuild(index: Optional[str] = typer.Option(None, "--index", help="Index kind: auto, flat (exact), hnsw or ivf."),
            gallery: Optional[Path] = _GALLERY) -> None:
    """Rebuild the FAISS index from the database (optionally switching index kind)."""
    from gaitpipe.errors import InputError
    from gaitpipe.gallery.index import KINDS

    if index is not None and index not in KINDS:
        raise InputError(f"--index must be one of {', '.join(KINDS)}, got {index!r}")
    with _open(gallery) as g:
        st = g.rebuild(index)
        typer.echo(f"rebuilt {st['index']['kind']} index of {st['enrolments']} templates in {g.path}")


@gallery_app.command()
def export(out: Path = typer.Argument(..., help="New file to write (a SQLite snapshot, mode 0600)."),
           gallery: Optional[Path] = _GALLERY) -> None:
    """Export the gallery to one file (biometric data: keep it private)."""
    with _open(gallery) as g:
        typer.echo(f"exported {len(g)} enrolments to {g.export(out)}")


@gallery_app.command("import")
def import_(src: Path = typer.Argument(..., help="An exported file or another gallery directory."),
            gallery: Optional[Path] = _GALLERY,
            force: bool = typer.Option(False, "--force", help="Also add walks already enrolled here.")) -> None:
    """Import enrolments (same encoder only); walks already present are skipped unless --force."""
    from gaitpipe.gallery import Gallery

    with Gallery.open(gallery, create=True) as g:
        added, skipped = g.import_from(src, force=force)
        typer.echo(f"imported {added} enrolment(s) into {g.path}" + (f", skipped {skipped} already present" if skipped else ""))


@gallery_app.command()
def stats(gallery: Optional[Path] = _GALLERY, as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Sizes, encoder and index state."""
    with _open(gallery) as g:
        st = g.stats()
        if as_json:
            typer.echo(json.dumps(st))
            return
        for k, v in st.items():
            typer.echo(f"{k:20s} {v}")


@gallery_app.command()
def verify(gallery: Optional[Path] = _GALLERY) -> None:
    """Check database integrity and that the index matches it (rebuilding the index if stale)."""
    with _open(gallery) as g:
        r = g.verify()
        typer.echo(f"ok: {r['enrolments']} enrolments, index holds {r['index_total']}")
