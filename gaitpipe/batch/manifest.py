"""The labelled list of a batch enrolment: a CSV file with a header and one ``video,identity`` row per walk.

Relative video paths are relative to the CSV's folder, so a dataset folder and its list move
together. The whole list is checked before any work starts (header, empty cells, identity names);
a missing video is reported on its own row and does not stop the others.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from gaitpipe.errors import GaitpipeError, InputError

#: The columns a manifest must have, in any order.
COLUMNS = ("video", "identity")
#: A manifest is a short text file; a larger one is most likely the wrong file.
MAX_MANIFEST_BYTES = 64 << 20


@dataclass(frozen=True)
class BatchRow:
    """One walk to enrol: the video, the name, and the CSV line it came from (for messages)."""

    video: str
    identity: str
    line: int = 0


def read_manifest(path: str | Path) -> list[BatchRow]:
    """Parse and check a manifest; any problem with the list itself is one :class:`InputError` naming the line."""
    from gaitpipe.gallery import check_identity

    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"manifest not found: {p}" if not p.exists() else f"manifest {p} is not a file")
    if p.stat().st_size > MAX_MANIFEST_BYTES:
        raise InputError(f"manifest {p} is larger than {MAX_MANIFEST_BYTES >> 20} MB; is it the right file?")
    try:
        text = p.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often save a byte-order mark
    except UnicodeDecodeError:
        raise InputError(f"manifest {p} is not UTF-8 text (a CSV with columns video,identity)") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(f"manifest {p} is empty; it needs a header line 'video,identity' and one row per walk")
        names = [h.strip().lower() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise InputError(
                f"manifest {p} line 1: the header needs the columns {','.join(COLUMNS)}; "
                f"missing {', '.join(missing)} (found {','.join(names) or 'nothing'})"
            )
        col = {c: names.index(c) for c in COLUMNS}
        rows: list[BatchRow] = []
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines are allowed between groups
            values = {c: cells[i].strip() if i < len(cells) else "" for c, i in col.items()}
            for c in COLUMNS:
                if not values[c]:
                    raise InputError(f"manifest {p} line {line}: the {c} is empty")
            try:
                check_identity(values["identity"])
            except GaitpipeError as exc:
                raise InputError(f"manifest {p} line {line}: {exc}") from None
            video = Path(values["video"]).expanduser()
            rows.append(BatchRow(str(video if video.is_absolute() else p.parent / video), values["identity"], line))
    except csv.Error as exc:
        raise InputError(f"manifest {p} line {reader.line_num}: not valid CSV ({exc})") from None
    if not rows:
        raise InputError(f"manifest {p} lists no walks (only a header)")
    return rows


__all__ = ["COLUMNS", "BatchRow", "read_manifest"]
