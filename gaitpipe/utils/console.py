"""What people see on the terminal: logging, progress, tables and JSON.

Progress bars draw only when stderr is a terminal; in logs and pipes a bar becomes a few plain
lines (start, every ~10 %, end) so log files are not filled with carriage returns.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from typing import Any

_LOG_FORMAT = "%(message)s"


def setup_logging(verbose: bool = False, *, quiet: bool = False) -> None:
    """Configure gaitpipe's log lines on stderr: INFO with ``verbose``, WARNING otherwise, ERROR when ``quiet``."""
    level = logging.ERROR if quiet else (logging.INFO if verbose else logging.WARNING)
    logger = logging.getLogger("gaitpipe")
    logger.setLevel(level)
    if not any(getattr(h, "_gaitpipe", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        handler._gaitpipe = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    for h in logger.handlers:
        if getattr(h, "_gaitpipe", False) and isinstance(h, logging.StreamHandler):
            # tests swap sys.stderr; write to the current one
            h.setStream(sys.stderr)


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _PlainProgress:
    """Stand-in for a tqdm bar in logs: a line at the start, about every 10 %, and at the end."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int = 0) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self._next = 0.1
        self._closed = False
        self._say(f"{desc}: started ({total if total is not None else '?'} {unit})")

    def _say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total and self.n / self.total >= self._next and self.n < self.total:
            self._say(f"{self.desc}: {self.n}/{self.total} {self.unit}")
            while self._next <= self.n / self.total:
                self._next += 0.1

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:  # tqdm's API; nothing to draw
        pass

    def write(self, text: str) -> None:
        self._say(text)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._say(f"{self.desc}: done ({self.n} {self.unit})")

    def __enter__(self) -> _PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    total: int | None, desc: str, *, unit: str = "it", enabled: bool = True, initial: int = 0, leave: bool = False
) -> Any:
    """A progress bar: tqdm on a terminal, plain lines otherwise, nothing at all when not ``enabled``.

    The returned object has tqdm's ``update``, ``set_postfix_str``, ``close`` and context-manager API.
    """
    from tqdm import tqdm

    if not enabled:
        return tqdm(total=total, disable=True)
    if stderr_is_terminal():
        return tqdm(
            total=total, desc=desc, unit=unit, initial=initial, leave=leave, dynamic_ncols=True, file=sys.stderr
        )
    return _PlainProgress(total, desc, unit, initial)


def progress_write(text: str) -> None:
    """Print a line on stderr without breaking an active tqdm bar."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


def format_table(
    rows: Iterable[Sequence[Any]], columns: Sequence[str], *, title: str | None = None, width: int = 200
) -> str:
    """Render ``rows`` under ``columns`` as a plain-text table (rich, no colours, no box art)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title, box=_ascii_head_box(), show_edge=False, pad_edge=False, highlight=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console = Console(
        width=width, no_color=True, highlight=False, force_terminal=False, color_system=None, record=False, file=_Sink()
    )
    with console.capture() as cap:
        console.print(table)
    return "\n".join(line.rstrip() for line in cap.get().splitlines()).strip("\n")


def _ascii_head_box() -> Any:
    from rich.box import Box

    # no outer lines; the header is underlined with dashes, columns are separated by spaces
    return Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)


class _Sink(io.StringIO):
    """A text stream that discards what is written."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def to_json(obj: Any) -> str:
    """The one JSON style of gaitpipe's ``--json`` outputs (2-space indent)."""
    return json.dumps(obj, indent=2)


__all__ = ["format_table", "progress", "progress_write", "setup_logging", "stderr_is_terminal", "to_json"]
