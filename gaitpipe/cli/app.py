"""``gaitpipe`` entry point.

Each command group lives in its own module and registers on :data:`app`; :func:`main` turns
every :class:`~gaitpipe.errors.GaitpipeError` into one ``error: ...`` line and a non-zero exit.
"""
from __future__ import annotations

import importlib
import sys

import typer

from gaitpipe.errors import GaitpipeError

app = typer.Typer(
    name="gaitpipe",
    help="Recognise people by the way they walk, straight from raw video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules, imported for their registrations on `app` (add new ones here).
_COMMAND_MODULES = [
    "gaitpipe.cli.extract",
]
for _name in _COMMAND_MODULES:
    importlib.import_module(_name)


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, standalone_mode=False)
    except GaitpipeError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 130
    except SystemExit as exc:  # typer/click usage errors and explicit exits
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            typer.echo("error: aborted", err=True)
            return 1
        raise
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
