"""Which subjects train and which test: OpenGait split files and the field's conventions.

A split file is OpenGait's JSON ``{"TRAIN_SET": [...], "TEST_SET": [...]}`` (Gait3D's also has
``PROBE_SET``). Built-in names follow each dataset's published protocol:

- ``casiab``: train 001-074, test 075-124 (the large-sample training setting).
- ``oumvlp``: odd subject numbers train, even numbers test (5,154 / 5,153 of 00001-10307).
- ``grew``: subjects 00001-20000 train, the rest test (GREW's 20,000 training identities).
- ``gait3d``: subjects 0000-2999 train, the rest test (Gait3D's 3,000 / 1,000 identities).

GREW and Gait3D ship official ID lists; pass their JSON files to use those lists exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gaitpipe.errors import InputError

_ID = re.compile(r"([A-Za-z_]*)(\d+)")


def parse_id_range(text: str, *, width: int | None = None) -> list[str]:
    """``"001-062,070"`` -> ``["001", ..., "062", "070"]`` (zero-padded to the width written);
    ids with a letter prefix range too: ``"syn0000-syn0199"`` (both ends with the same prefix)."""
    out: list[str] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not sep:
            out.append(part)
            continue
        a, b = _ID.fullmatch(lo), _ID.fullmatch(hi)
        if a is None or b is None or (b.group(1) and a.group(1) != b.group(1)):
            raise InputError(f"bad subject range {part!r}: expected e.g. 001-062, 001,005 or syn0000-syn0199")
        prefix, start, end = a.group(1), int(a.group(2)), int(b.group(2))
        if end < start:
            raise InputError(f"bad subject range {part!r}: end before start")
        w = width or len(a.group(2))
        out.extend(f"{prefix}{i:0{w}d}" for i in range(start, end + 1))
    if not out:
        raise InputError(f"empty subject list {text!r}")
    return out


def compact_ids(ids: Iterable[str]) -> str:
    """Inverse of :func:`parse_id_range` for metadata: ``["001", "002", "003", "007"]`` -> ``"001-003,007"``
    (``syn0000``, ``syn0001`` -> ``syn0000-syn0001``)."""

    def split(s: str) -> tuple[str, str]:
        m = _ID.fullmatch(s)
        return (m.group(1), m.group(2)) if m else (s, "")

    ids = sorted(set(ids), key=lambda s: (split(s)[0], len(s), s))
    runs: list[list[str]] = []
    for s in ids:
        prefix, digits = split(s)
        if runs:
            last_prefix, last_digits = split(runs[-1][-1])
            if (
                digits
                and last_digits
                and prefix == last_prefix
                and len(digits) == len(last_digits)
                and int(digits) == int(last_digits) + 1
            ):
                runs[-1].append(s)
                continue
        runs.append([s])
    return ",".join(r[0] if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


@dataclass
class Split:
    """Train/test subject sets; either may be a rule (callable) instead of a list."""

    name: str
    train: Callable[[str], bool]
    test: Callable[[str], bool]
    probe: list[str] | None = None  #: Gait3D probe sequences (PROBE_SET), when the file has one
    lists: dict[str, list[str]] = field(default_factory=dict)

    def train_subjects(self, available: Iterable[str]) -> list[str]:
        return sorted(s for s in set(available) if self.train(s))

    def test_subjects(self, available: Iterable[str]) -> list[str]:
        return sorted(s for s in set(available) if self.test(s))


def _int_rule(lo: int, hi: int) -> Callable[[str], bool]:
    def rule(s: str) -> bool:
        return s.isdigit() and lo <= int(s) <= hi

    return rule


def _parity_rule(odd: bool) -> Callable[[str], bool]:
    return lambda s: s.isdigit() and (int(s) % 2 == 1) == odd


BUILTIN_SPLITS = {
    "casiab": lambda: Split("casiab", _int_rule(1, 74), _int_rule(75, 124)),
    "oumvlp": lambda: Split("oumvlp", _parity_rule(True), _parity_rule(False)),
    "grew": lambda: Split("grew", _int_rule(1, 20000), lambda s: not _int_rule(1, 20000)(s)),
    "gait3d": lambda: Split("gait3d", _int_rule(0, 2999), lambda s: not _int_rule(0, 2999)(s)),
}


def load_split(spec: str | Path) -> Split:
    """A built-in name (``casiab``, ``oumvlp``, ``grew``, ``gait3d``) or an OpenGait JSON split file."""
    key = str(spec).lower().replace("-", "").replace("_", "")
    if key in BUILTIN_SPLITS:
        return BUILTIN_SPLITS[key]()
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"split {spec!r} is neither a file nor one of {', '.join(BUILTIN_SPLITS)}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read split file {path}: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict) or ("TRAIN_SET" not in data and "TEST_SET" not in data):
        raise InputError(f"split file {path} has neither TRAIN_SET nor TEST_SET")
    lists: dict[str, list[str]] = {}
    for k in ("TRAIN_SET", "TEST_SET", "PROBE_SET"):
        v = data.get(k)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(x, (str, int)) for x in v):
            raise InputError(f"split file {path}: {k} must be a list of subject ids")
        lists[k] = [str(x) for x in v]
    train, test = set(lists.get("TRAIN_SET", [])), set(lists.get("TEST_SET", []))
    return Split(path.stem, train.__contains__, test.__contains__, probe=lists.get("PROBE_SET"), lists=lists)
