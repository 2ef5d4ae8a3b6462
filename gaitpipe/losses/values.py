"""Logged loss values: floats, or tensors left on the device until someone reads them.

Every loss returns ``(total, parts)`` with ``parts`` the numbers worth logging. Turning each into
a Python float waits for the GPU to finish the step (one synchronisation per value, several per
step), which stalls a training loop that only logs every N steps. Inside
``with deferred_values():`` the losses hand back detached 0-d tensors instead, and the caller
converts them (``float(v)``) when it logs; everywhere else they are floats, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

#: A logged value: a float, or (inside :func:`deferred_values`) a detached 0-d tensor.
LogValue = float | torch.Tensor

_DEFERRED: ContextVar[bool] = ContextVar("gaitpipe_deferred_loss_values", default=False)


@contextmanager
def deferred_values(enabled: bool = True) -> Iterator[None]:
    """Within this block, losses return their logged values as detached tensors (no GPU sync)."""
    token = _DEFERRED.set(enabled)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def log_value(value: torch.Tensor) -> LogValue:
    """``value`` detached: as a tensor inside :func:`deferred_values`, else as a float."""
    value = value.detach()
    return value if _DEFERRED.get() else float(value)


def as_floats(parts: dict[str, LogValue]) -> dict[str, float]:
    """``parts`` with every value a float (reads deferred tensors: synchronises once per value)."""
    return {k: float(v) for k, v in parts.items()}


__all__ = ["LogValue", "as_floats", "deferred_values", "log_value"]
