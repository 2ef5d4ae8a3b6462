"""``gaitpipe`` entry point.

Each command group lives in its own module and registers on :data:`app`; :func:`main` turns
every :class:`~gaitpipe.errors.GaitpipeError` into one ``error: ...`` line and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator

import typer

from gaitpipe.cli.options import error_message
from gaitpipe.errors import GaitpipeError, shorten

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
    "gaitpipe.cli.train",
    "gaitpipe.cli.evaluate",
    "gaitpipe.cli.weights",
    "gaitpipe.cli.enroll",
    "gaitpipe.cli.watch",
    "gaitpipe.cli.batch",
    "gaitpipe.cli.gallery",
    "gaitpipe.cli.synth",
    "gaitpipe.cli.demo",
]
for _name in _COMMAND_MODULES:
    importlib.import_module(_name)


def _click():
    # typer >= 0.29 vendors click as typer._click; older typer depends on the click package.
    try:
        return importlib.import_module("typer._click")
    except ImportError:  # pragma: no cover - depends on the installed typer
        return importlib.import_module("click")


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """Undo a command's logging setup on return, so calling :func:`main` in-process leaves none behind."""
    logger = logging.getLogger("gaitpipe")
    level, propagate, handlers = logger.level, logger.propagate, list(logger.handlers)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers[:] = handlers


def _silence_at_exit() -> None:
    """After an interrupt, libraries' exit hooks print nothing.

    An interrupt while torch is still being imported leaves its loggers unconfigured, and its
    exit hook then logs "FakeTensor cache stats" through whatever the root logger prints.
    """
    logging.getLogger("torch").setLevel(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status instead of raising (so tests can call it)."""
    with _logging_restored():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    click = _click()
    try:
        result = app(args=argv, standalone_mode=False)
    except GaitpipeError as exc:
        typer.echo(f"error: {error_message(exc)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        _silence_at_exit()
        typer.echo("error: interrupted", err=True)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.exceptions.ClickException as exc:  # usage errors: click's message as one line, not its usage block
        if not exc.format_message():  # a group called without a command: click shows its help
            exc.show()
            return exc.exit_code
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {shorten(exc.format_message(), 500)}{hint}", err=True)
        return exc.exit_code
    except typer.Abort:  # typer's own class (its vendored click has none)
        typer.echo("error: aborted", err=True)
        return 1
    except OSError as exc:  # disk full, permission denied, ...: the user can act on these
        typer.echo(f"error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", err=True)
        return 1
    except Exception as exc:  # a bug of ours: one line, the traceback only on request
        if os.environ.get("GAITPIPE_DEBUG"):
            raise
        typer.echo(
            f"error: internal error ({type(exc).__name__}: {shorten(exc, 500)}); "
            "rerun with GAITPIPE_DEBUG=1 for the traceback",
            err=True,
        )
        return 1
    # standalone_mode=False returns typer.Exit codes as ints and command return values otherwise.
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
