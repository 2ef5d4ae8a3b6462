"""Batch work on a Ray cluster (``pip install gaitpipe[ray]``), for users who outgrow one machine.

Ray is imported only here, and only when the ray engine is asked for:

* :mod:`~gaitpipe.cluster.session`: the engine names, the one-line error when Ray is missing, and
  :func:`ray_session` (a cluster this process already joined, one at an address, or a local one
  started for the run and stopped after it).
* :mod:`~gaitpipe.cluster.extract`: ``extract-silhouettes --engine ray``, one Ray task per video.
* :mod:`~gaitpipe.cluster.enroll`: the Ray side of ``enroll-batch``: segmentation tasks per video,
  encoders as Ray actors (one per GPU where there are GPUs); the gallery is written by the caller.

Fault tolerance is Ray's: a task or actor whose worker process dies is retried; every task here
is a pure function of its inputs or writes its files atomically, so a retry never duplicates.
"""

from __future__ import annotations

from gaitpipe.cluster.session import ENGINES, RAY_INSTALL, check_engine, import_ray, ray_session

__all__ = ["ENGINES", "RAY_INSTALL", "check_engine", "import_ray", "ray_session"]
