"""Training augmentations for the silhouettes our own front end makes, not only CASIA-B's.

CASIA-B's official silhouettes are clean: one room, one camera height, background subtraction
tuned by hand. Silhouettes from ``gaitpipe``'s segmenters on other footage differ in ways a
model trained on CASIA-B alone never sees, and each augmentation here imitates one of them:

``rotate``  camera roll: the walker tilted by up to 10 degrees (OpenGait's GaitBase_DA
            ``RandomRotate``), re-normalised the way the pipeline normalises a tilted mask;
``erase``   an occluder or a missed body part: one rectangle blanked in every frame of the
            sequence (OpenGait's ``RandomErasing``: 5-20 % of the frame, aspect 0.3-3.3);
``holes``   segmentation holes inside the body and specks outside it, different in every frame;
``edges``   a mask that is one pixel too fat or too thin all along its edge (dilated or eroded);
``cut``     feet or head cut off at a frame border (the crop then stretches what is left to 64
            rows, as the pipeline's normalisation does);
``shadow``  a floor shadow joined to the feet, widening and lowering the mask before it is
            normalised;
``jitter``  a crop that wobbles from frame to frame: small per-frame shifts and scale changes.

A sequence is augmented at all with probability ``rate`` (1: every sequence; lower keeps that
share of the batch as clean as CASIA-B's own silhouettes, which the held-out figure rewards), and
then gets each augmentation with probability :data:`PROBABILITY` and its own random
parameters (fixed across its frames, except ``holes`` and ``jitter``), drawn from the batch's own
generator, so a resumed run draws exactly the augmentations of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gaitpipe.errors import SettingError
from gaitpipe.silhouette.normalize import SIZE, normalize_mask

#: Every augmentation, in the order they are applied.
AUGMENTATIONS = ("edges", "holes", "shadow", "cut", "rotate", "jitter", "erase")
#: Named sets: OpenGait's GaitBase_DA recipe, and everything that imitates our front end.
PRESETS = {"none": (), "da": ("rotate", "erase"), "real": AUGMENTATIONS}
#: Chance that one sequence gets one augmentation.
PROBABILITY = {
    "edges": 0.3,
    "holes": 0.3,
    "shadow": 0.2,
    "cut": 0.2,
    "rotate": 0.5,
    "jitter": 0.3,
    "erase": 0.5,
}
#: Margin added around a 64 x 64 frame before geometric changes, so nothing is clipped.
PAD = 16


def parse_augment(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"rotate,erase"`` or a preset name (``none``, ``da``, ``real``) -> the augmentations, in
    application order; unknown names are an error that lists the known ones."""
    if text is None:
        return ()
    names = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    chosen: set[str] = set()
    for name in names:
        if name in PRESETS:
            chosen.update(PRESETS[name])
        elif name in AUGMENTATIONS:
            chosen.add(name)
        else:
            known = ", ".join([*PRESETS, *AUGMENTATIONS])
            raise SettingError(f"unknown augmentation {name!r} (known: {known})", "augment")
    return tuple(a for a in AUGMENTATIONS if a in chosen)


def _renormalize(canvas: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """A changed padded frame -> 64 x 64 the pipeline's way; the unchanged frame when the change
    left nothing OpenGait would keep (a tiny mask after a cut, say)."""
    out, _ = normalize_mask(canvas)
    return fallback if out is None else out


def _disc_mask(shape: tuple[int, int], centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for (y, x), r in zip(centres, radii):
        cv2.circle(mask, (int(x), int(y)), int(r), 255, -1)
    return mask > 0


class SilhouetteAugmenter:
    """Applies the chosen augmentations to one sequence of 64 x 64 uint8 silhouettes at a time."""

    def __init__(self, names: Sequence[str], rate: float = 1.0, probability: float | None = None) -> None:
        """``probability``: every chosen augmentation's chance per sequence (None: :data:`PROBABILITY`;
        1 applies each of them to every sequence, as the corruption benchmark does)."""
        if not 0.0 <= rate <= 1.0:
            raise SettingError(f"augment rate must be between 0 and 1, got {rate}", "augment_rate")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise SettingError(f"augment probability must be between 0 and 1, got {probability}", "augment")
        self.names = parse_augment(list(names))
        self.rate = rate
        self.probability = {n: PROBABILITY[n] if probability is None else probability for n in self.names}

    def __bool__(self) -> bool:
        return bool(self.names)

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``frames`` uint8 ``[t, 64, 64]`` -> augmented ``[t, 64, 64]`` (a new array)."""
        if frames.ndim != 3 or frames.shape[1:] != (SIZE, SIZE):
            raise ValueError(f"expected [t, 64, 64] silhouettes, got {frames.shape}")
        # rate 1 draws nothing extra, so runs started before the rate existed resume identically.
        if self.rate < 1.0 and rng.random() >= self.rate:
            return frames.copy()
        picked = {n for n in self.names if rng.random() < self.probability[n]}
        out = frames.copy()
        geometric = picked & {"edges", "holes", "shadow", "cut", "rotate"}
        if geometric:
            out = self._on_canvas(out, picked, rng)
        if "jitter" in picked:
            out = self._jitter(out, rng)
        if "erase" in picked:
            out = self._erase(out, rng)
        return out

    def _on_canvas(self, frames: np.ndarray, picked: set[str], rng: np.random.Generator) -> np.ndarray:
        t = len(frames)
        # Parameters fixed for the sequence: one camera, one segmenter bias, one shadow.
        kernel = np.ones((3, 3), np.uint8)
        grow = bool(rng.random() < 0.5)
        shadow_side = 1 if rng.random() < 0.5 else -1
        shadow_len = rng.uniform(0.15, 0.5) * SIZE
        shadow_thick = rng.uniform(2.0, 5.0)
        cut_feet = bool(rng.random() < 0.6)
        cut_rows = round(rng.uniform(0.05, 0.15) * SIZE)
        # A walker entering or leaving through a border is cut in a run of frames, not all of them.
        cut_start = int(rng.integers(0, t))
        cut_stop = t if rng.random() < 0.5 else int(rng.integers(cut_start + 1, t + 1))
        angle = rng.uniform(-10.0, 10.0)
        side = SIZE + 2 * PAD
        rotation = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        out = np.empty_like(frames)
        for i, frame in enumerate(frames):
            canvas = np.pad(frame, PAD)
            if "edges" in picked:
                canvas = (cv2.dilate if grow else cv2.erode)(canvas, kernel)
            if "holes" in picked:
                canvas = self._holes(canvas, rng)
            if "shadow" in picked:
                rows = np.flatnonzero(canvas.max(axis=1))
                cols = np.flatnonzero(canvas[rows[-1]]) if rows.size else np.empty(0, int)
                if cols.size:
                    foot_x = int(cols.mean())
                    centre = (int(foot_x + shadow_side * shadow_len / 2), int(rows[-1] + shadow_thick / 2))
                    axes = (int(shadow_len / 2 + 2), max(1, int(shadow_thick)))
                    cv2.ellipse(canvas, centre, axes, 0, 0, 360, 255, -1)
            if "cut" in picked and cut_start <= i < cut_stop:
                rows = np.flatnonzero(canvas.max(axis=1))
                if rows.size:
                    if cut_feet:
                        canvas[rows[-1] - cut_rows + 1 :] = 0
                    else:
                        canvas[: rows[0] + cut_rows] = 0
            if "rotate" in picked:
                canvas = cv2.warpAffine(canvas, rotation, (side, side), flags=cv2.INTER_LINEAR)
            out[i] = _renormalize(canvas, frame)
        return out

    @staticmethod
    def _holes(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        body = canvas > 127
        ys, xs = np.nonzero(body)
        if ys.size == 0:
            return canvas
        canvas = canvas.copy()
        n_holes, n_specks = int(rng.integers(1, 5)), int(rng.integers(0, 4))
        pick = rng.integers(0, ys.size, n_holes)
        holes = _disc_mask(canvas.shape, np.stack([ys[pick], xs[pick]], 1), rng.integers(1, 4, n_holes))
        canvas[holes] = 0
        if n_specks:
            # Specks sit near the body (clutter the segmenter half-took), not anywhere in the frame.
            y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
            centres = np.stack([rng.integers(y0, y1 + 1, n_specks), rng.integers(max(0, x0 - 8), x1 + 9, n_specks)], 1)
            canvas[_disc_mask(canvas.shape, centres, rng.integers(1, 3, n_specks))] = 255
        return canvas

    @staticmethod
    def _jitter(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty_like(frames)
        for i, frame in enumerate(frames):
            scale = rng.uniform(0.95, 1.05)
            dx, dy = rng.uniform(-2.0, 2.0, 2)
            m = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), 0.0, scale)
            m[:, 2] += (dx, dy)
            out[i] = cv2.warpAffine(frame, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
        return out

    @staticmethod
    def _erase(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # On the 64 x 44 area the model sees (OpenGait erases after the side cut).
        height, width, left = SIZE, SIZE - 20, 10
        for _ in range(10):  # OpenGait's retry loop: a drawn rectangle may not fit
            area = rng.uniform(0.05, 0.2) * height * width
            aspect = np.exp(rng.uniform(np.log(0.3), np.log(1 / 0.3)))
            h, w = round(np.sqrt(area * aspect)), round(np.sqrt(area / aspect))
            if 0 < h < height and 0 < w < width:
                y, x = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
                out = frames.copy()
                out[:, y : y + h, left + x : left + x + w] = 0
                return out
        return frames


__all__ = ["AUGMENTATIONS", "PRESETS", "PROBABILITY", "SilhouetteAugmenter", "parse_augment"]
