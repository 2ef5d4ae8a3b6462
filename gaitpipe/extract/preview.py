"""Pictures of a silhouette sequence for people: a contact sheet and the gait energy image."""

from __future__ import annotations

import numpy as np


def contact_sheet(frames: np.ndarray, *, columns: int = 12, max_frames: int = 48, gap: int = 2) -> np.ndarray:
    """An image of up to ``max_frames`` evenly spaced frames in a grid (grey or colour)."""
    n = len(frames)
    picks = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int)) if n else np.zeros(0, int)
    cols = max(1, min(columns, len(picks)))
    rows = max(1, -(-len(picks) // cols))
    h, w = frames.shape[1:3]
    sheet = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, *frames.shape[3:]), 96, np.uint8)
    for k, i in enumerate(picks):
        r, c = divmod(k, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        sheet[y : y + h, x : x + w] = frames[i]
    return sheet


def gait_energy_image(frames: np.ndarray) -> np.ndarray:
    """The mean silhouette (GEI), uint8 64 x 64."""
    return np.rint(frames.astype(np.float32).mean(axis=0)).astype(np.uint8)


__all__ = ["contact_sheet", "gait_energy_image"]
