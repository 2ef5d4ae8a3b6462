"""Batch enrolment of a labelled list of walks (``gaitpipe enroll-batch MANIFEST.csv``).

* :mod:`~gaitpipe.batch.manifest`: the CSV list (``video,identity``) and its checks.
* :mod:`~gaitpipe.batch.report`: per-row results, the table and totals.
* :mod:`~gaitpipe.batch.enroll`: :func:`enroll_batch`, on the local engine or on Ray.
"""

from __future__ import annotations

from gaitpipe.batch.enroll import enroll_batch
from gaitpipe.batch.manifest import COLUMNS, BatchRow, read_manifest
from gaitpipe.batch.report import BatchReport, RowResult

__all__ = ["COLUMNS", "BatchReport", "BatchRow", "RowResult", "enroll_batch", "read_manifest"]
