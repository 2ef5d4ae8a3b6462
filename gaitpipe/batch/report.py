"""What a batch enrolment reports: one :class:`RowResult` per manifest row, a table and totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gaitpipe.utils.console import format_table


@dataclass
class RowResult:
    """What happened to one row."""

    video: str
    identity: str
    status: str  #: "enrolled", "skipped" (already in the gallery) or "failed"
    line: int = 0
    enrolment: int | None = None  #: the new enrolment's id
    track: int | None = None
    frames: int = 0
    error: str | None = None
    note: str = ""
    #: the library setting that would let a refused row through (``force``), as in :class:`GaitpipeError`
    remedy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchReport:
    """The outcome of :func:`gaitpipe.batch.enroll_batch`, rows in manifest order."""

    gallery: str
    engine: str
    rows: list[RowResult]
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def _with(self, status: str) -> list[RowResult]:
        return [r for r in self.rows if r.status == status]

    @property
    def enrolled(self) -> list[RowResult]:
        return self._with("enrolled")

    @property
    def skipped(self) -> list[RowResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[RowResult]:
        return self._with("failed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "gallery": self.gallery,
            "engine": self.engine,
            "seconds": round(self.seconds, 3),
            "enrolled": len(self.enrolled),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "rows": [r.to_dict() for r in self.rows],
        }

    def table(self) -> str:
        rows = [
            (
                Path(r.video).name,
                r.identity,
                r.status,
                "-" if r.enrolment is None else r.enrolment,
                "-" if r.track is None else r.track,
                r.frames or "-",
                r.error or r.note,
            )
            for r in self.rows
        ]
        table = format_table(
            rows, ("video", "identity", "status", "enrolment", "track", "frames", "note"), width=100_000
        )
        totals = (
            f"{len(self.enrolled)} enrolled, {len(self.skipped)} skipped, {len(self.failed)} failed "
            f"in {self.gallery} ({self.engine} engine, {self.seconds:.1f} s)"
        )
        return f"{table}\n{totals}"


__all__ = ["BatchReport", "RowResult"]
