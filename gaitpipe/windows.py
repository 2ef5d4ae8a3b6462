"""Cutting long tracks into equal windows, so memory stays bounded when embedding long videos."""

from __future__ import annotations

import itertools
import math

import numpy as np


def split_windows(length: int, window: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of ~equal size <= ``window`` covering ``range(length)``."""
    n = max(1, math.ceil(length / max(1, window)))
    edges = np.linspace(0, length, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]


__all__ = ["split_windows"]
