"""OpenGait's silhouette pretreatment, reproduced exactly (OpenGait's datasets/pretreatment.py).

Every public gait checkpoint was trained on frames made this way; a different crop, centre or
resolution silently ruins accuracy, so each rule below is one step of that recipe, in order.
:func:`normalize_mask` also returns the geometry it applied so that the same crop/resize/shift
can be applied to the soft-masked RGB frame (GaitNet's input) and stay pixel-aligned.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 64  #: output height and width
HALF = SIZE // 2
#: A frame whose pixel sum is <= this holds nothing (about 40 full pixels).
MIN_PIXEL_SUM = 10000
#: Sequences shorter than this are suspect (OpenGait warns about them).
MIN_SEQUENCE_FRAMES = 5
#: Columns cut from each side for the model input: ``W // 64 * 10``.
SIDE_CUT = SIZE // 64 * 10

# Reasons a frame is dropped, as written to manifests.
DROP_EMPTY = "empty"  # pixel sum <= 10000
DROP_NO_CENTRE = "no_centre"  # no column passes half the mass (or it is column 0, as in OpenGait)
DROP_DEGENERATE = "degenerate"  # resized width would be 0


@dataclass(frozen=True)
class Geometry:
    """The crop/resize/shift that turned one frame into its 64 x 64 silhouette."""

    top: int  #: first row with foreground (inclusive)
    bottom: int  #: last row with foreground (inclusive)
    resized_width: int  #: width after resizing the row crop to height 64
    left: int  #: first column taken, in the (possibly padded) resized image
    padded: bool  #: whether 32 zero columns were added on both sides first

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Apply the same geometry to another image of the frame's size (e.g. soft-masked RGB).

        ``image`` is H x W or H x W x C, any dtype cv2 can resize; returns 64 x 64 (x C), uint8.
        """
        crop = image[self.top : self.bottom + 1]
        resized = cv2.resize(crop, (self.resized_width, SIZE), interpolation=cv2.INTER_CUBIC)
        if self.padded:
            pad = [(0, 0), (HALF, HALF)] + [(0, 0)] * (resized.ndim - 2)
            resized = np.pad(resized, pad)
        out = resized[:, self.left : self.left + SIZE]
        if out.dtype == np.uint8:
            return out
        # Round, don't truncate: a float 254.9 from the cubic resize is 255, as cv2's uint8 path gives.
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def normalize_mask(mask: np.ndarray) -> tuple[np.ndarray | None, Geometry | str]:
    """Normalise one silhouette frame the OpenGait way.

    ``mask``: H x W uint8 (0..255), one channel. Returns ``(frame, geometry)`` with ``frame``
    64 x 64 uint8, or ``(None, reason)`` when OpenGait would drop the frame.
    """
    if mask.ndim != 2:
        raise ValueError(f"mask must be H x W, got shape {mask.shape}")
    img = mask if mask.dtype == np.uint8 else np.clip(mask, 0, 255).astype(np.uint8)
    # 1. Nothing there.
    if int(img.sum(dtype=np.int64)) <= MIN_PIXEL_SUM:
        return None, DROP_EMPTY
    # 2. Crop rows to the first..last row holding any foreground.
    rows = np.flatnonzero(img.sum(axis=1, dtype=np.int64) != 0)
    top, bottom = int(rows[0]), int(rows[-1])
    img = img[top : bottom + 1]
    # 3. Height 64, aspect kept, width int(64 * w / h), cubic.
    height, width = img.shape
    new_width = int(SIZE * (width / height))
    if new_width <= 0:
        return None, DROP_DEGENERATE
    img = cv2.resize(img, (new_width, SIZE), interpolation=cv2.INTER_CUBIC)
    # 4. Centre = first column whose cumulative mass exceeds half the total (a mass median).
    col_cumsum = img.sum(axis=0, dtype=np.int64).cumsum()
    half_mass = img.sum(dtype=np.int64) / 2
    above = np.flatnonzero(col_cumsum > half_mass)
    # OpenGait tests `if not x_center`, so a centre at column 0 is dropped too.
    if above.size == 0 or above[0] == 0:
        return None, DROP_NO_CENTRE
    centre = int(above[0])
    # 5. Columns [c - 32, c + 32); pad 32 zero columns on both sides when that touches an edge
    #    (OpenGait's test is `left <= 0 or right >= width`, inclusive).
    left, right = centre - HALF, centre + HALF
    padded = left <= 0 or right >= img.shape[1]
    if padded:
        img = np.pad(img, [(0, 0), (HALF, HALF)])
        left += HALF
    out = img[:, left : left + SIZE].astype(np.uint8)
    return out, Geometry(top, bottom, new_width, left, padded)


def to_model_input(frames: np.ndarray) -> np.ndarray:
    """64 x 64 uint8 silhouettes -> the 64 x 44 model input in [0, 1] (float32).

    Accepts [..., 64, 64]; cuts ``W // 64 * 10`` = 10 columns from each side.
    """
    if frames.shape[-2:] != (SIZE, SIZE):
        raise ValueError(f"expected [..., 64, 64] silhouettes, got {frames.shape}")
    cut = frames[..., :, SIDE_CUT : SIZE - SIDE_CUT]
    return cut.astype(np.float32) / 255.0
