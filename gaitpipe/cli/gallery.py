"""``gaitpipe gallery ...``: list, show, remove, rebuild, export, import, stats, verify."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gaitpipe.cli.app import app
from gaitpipe.utils.console import format_table, to_json

if TYPE_CHECKING:
    from gaitpipe.gallery import Gallery

gallery_app = typer.Typer(help="Inspect and maintain the gallery of enrolled walkers.", no_args_is_help=True)
app.add_typer(gallery_app, name="gallery")

_GALLERY = typer.Option(
    None, "--gallery", help="Gallery directory (default: $GAITPIPE_GALLERY, else the per-user data directory)."
)
_JSON = typer.Option(False, "--json", help="Print one JSON object.")


def _open(path: Path | None, *, read_only: bool = False) -> Gallery:
    from gaitpipe.gallery import Gallery

    return Gallery.open(path, read_only=read_only)


def _when(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


@gallery_app.command("list")
def list_(gallery: Path | None = _GALLERY, as_json: bool = _JSON) -> None:
    """List identities with their enrolments."""
    with _open(gallery) as g:
        people = g.identities()
        if as_json:
            typer.echo(
                to_json({"gallery": str(g.path), "encoder": g.encoder, "identities": [p.to_dict() for p in people]})
            )
            return
        typer.echo(
            f"{g.path}: {len(people)} identities, {sum(len(p.enrolments) for p in people)} enrolments, "
            f"encoder {g.encoder}"
        )
        if people:
            typer.echo(
                format_table(
                    [(p.identity, len(p.enrolments), _when(max(e.created for e in p.enrolments))) for p in people],
                    ["identity", "enrolments", "last enrolled"],
                )
            )


@gallery_app.command()
def show(
    identity: str = typer.Argument(..., help="Identity to show."),
    gallery: Path | None = _GALLERY,
    as_json: bool = _JSON,
) -> None:
    """Show one identity's enrolments (source video, track, frames, quality, time)."""
    with _open(gallery) as g:
        s = g.show(identity)
        if as_json:
            typer.echo(to_json(s.to_dict()))
            return
        typer.echo(f"{s.identity}: {len(s.enrolments)} enrolment(s)")
        typer.echo(
            format_table(
                [
                    (
                        f"#{e.id}",
                        _when(e.created),
                        e.video,
                        e.video_sha256[:12],
                        e.track,
                        f"{e.frame_start}-{e.frame_end}",
                        e.frames,
                        f"{e.quality:.2f}",
                    )
                    for e in s.enrolments
                ],
                ["enrolment", "enrolled", "video", "sha256", "track", "frames", "used", "quality"],
            )
        )


@gallery_app.command()
def remove(
    identity: str | None = typer.Option(None, "--id", help="Remove every enrolment of this identity."),
    enrolment: int | None = typer.Option(None, "--enrolment", help="Remove one enrolment by number."),
    gallery: Path | None = _GALLERY,
) -> None:
    """Delete an identity (every trace: rows, index entries, freed pages) or one enrolment."""
    from gaitpipe.errors import InputError

    if (identity is None) == (enrolment is None):
        raise InputError("give exactly one of --id NAME or --enrolment N")
    with _open(gallery) as g:
        if identity is not None:
            n = g.remove(identity)
            typer.echo(f"removed {identity!r}: {n} enrolment(s) deleted and purged from {g.path}")
        else:
            assert enrolment is not None
            e = g.remove_enrolment(enrolment)
            typer.echo(f"removed enrolment #{e.id} of {e.identity!r} from {g.path}")


@gallery_app.command()
def rebuild(
    index: str | None = typer.Option(
        None,
        "--index",
        help="Index kind: auto (flat up to the auto threshold, pq-rerank above), flat (exact), hnsw, ivf or "
        "pq-rerank (compressed, exact re-ranking: large galleries).",
    ),
    auto_threshold: int | None = typer.Option(
        None, "--auto-threshold", min=0, help="Most templates 'auto' searches exactly (default 20000)."
    ),
    gallery: Path | None = _GALLERY,
) -> None:
    """Rebuild the FAISS index from the database (optionally switching index kind)."""
    from gaitpipe.errors import InputError
    from gaitpipe.gallery.index import KINDS

    if index is not None and index not in KINDS:
        raise InputError(f"--index must be one of {', '.join(KINDS)}, got {index!r}")
    with _open(gallery) as g:
        st = g.rebuild(index, auto_threshold=auto_threshold)
        typer.echo(f"rebuilt {st['index']['kind']} index of {st['enrolments']} templates in {g.path}")


@gallery_app.command()
def export(
    out: Path = typer.Argument(..., help="New file to write (a SQLite snapshot, mode 0600)."),
    gallery: Path | None = _GALLERY,
) -> None:
    """Export the gallery to one file (biometric data: keep it private)."""
    with _open(gallery) as g:
        typer.echo(f"exported {len(g)} enrolments to {g.export(out)}")


@gallery_app.command("import")
def import_(
    src: Path = typer.Argument(..., help="An exported file or another gallery directory."),
    gallery: Path | None = _GALLERY,
    force: bool = typer.Option(False, "--force", help="Also add walks already enrolled here."),
) -> None:
    """Import enrolments (same encoder only); walks already present are skipped unless --force."""
    from gaitpipe.gallery import Gallery

    with Gallery.open(gallery, create=True) as g:
        added, skipped = g.import_from(src, force=force)
        typer.echo(
            f"imported {added} enrolment(s) into {g.path}" + (f", skipped {skipped} already present" if skipped else "")
        )


@gallery_app.command()
def stats(gallery: Path | None = _GALLERY, as_json: bool = _JSON) -> None:
    """Sizes, encoder and index state."""
    with _open(gallery) as g:
        st = g.stats()
        if as_json:
            typer.echo(to_json(st))
            return
        typer.echo(format_table(list(st.items()), ["", ""]))


@gallery_app.command()
def verify(
    gallery: Path | None = _GALLERY,
    repair: bool = typer.Option(
        False, "--repair", help="Rewrite a missing or damaged index, delete crash leftovers and fix file modes."
    ),
) -> None:
    """Check the database, every template's checksum and the index files; changes nothing without --repair."""
    from gaitpipe.errors import GalleryError

    with _open(gallery, read_only=not repair) as g:
        r = g.verify(repair=repair)
        for line in r["repaired"]:
            typer.echo(f"repaired: {line}")
        for line in r["problems"]:
            typer.echo(f"problem: {line}")
        if r["problems"]:
            hint = "" if repair else "; gaitpipe gallery verify --repair fixes what can be fixed"
            raise GalleryError(f"gallery {g.path} has {len(r['problems'])} problem(s){hint}")
        typer.echo(f"ok: {r['enrolments']} enrolments, index holds {r['index_total']}")
