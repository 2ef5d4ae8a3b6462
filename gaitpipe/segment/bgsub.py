"""Weights-free person segmentation for fixed cameras: background subtraction + blob tracking.

How a frame becomes person masks:

1. **Background model.** ``method="median"`` (default): the per-pixel temporal median of the
   clip's own frames. The first ``warmup`` frames (capped by a memory budget) are buffered, the
   median of them is the background, and the model is refreshed every ``refresh`` frames from a
   ring of sampled frames, so long videos follow slow lighting changes. A walker crossing the
   view covers any pixel for a minority of the frames, so the median is the empty scene; this
   works even when the camera moved slightly since a separate background clip was shot (as
   between CASIA-B sessions). With ``background=PATH`` (a clip or an image of the empty scene)
   the model is the median of that instead and stays fixed (no buffering, no latency).
   ``method="mog2"``/``"knn"`` use OpenCV's adaptive subtractors instead, warmed up on the
   buffered frames (their shadow label is treated as background).
2. **Foreground.** Colour distance to the background above ``threshold`` (Euclidean, BGR), minus
   **shadows** (pixels darker than the background by a ratio in ``shadow_ratio`` with the same
   chromaticity: floor shadows and reflections; but only where the background's texture still
   shows through, local normalised cross-correlation above ``shadow_texture``, since dark
   trousers over a floor of the same hue pass the colour test too), then a 3x3 opening (noise) and an elliptical
   closing (small gaps).
3. **People.** Foreground pixels are grouped by connected components of a slightly dilated
   (taller than wide) copy, so a body split by a light shirt on a light wall stays one person;
   groups smaller than ``min_area`` (fraction of the frame) are dropped.
4. **Soft mask.** The group's pixels, Gaussian-smoothed (sigma 1 px): a smoothed foreground
   probability whose 0.5 level follows the binary mask. Score = 0.5 + the fraction of its box
   the blob fills (capped at 1): solid blobs score high, scattered noise low (``conf`` drops
   blobs scoring below it).
5. **Tracking.** Blob boxes go to ultralytics' ByteTrack (or BoT-SORT) via
   :class:`~gaitpipe.segment.base.BoxTracker`; only confirmed tracks are reported.

Tuned on the real CASIA-B 90-degree clips against the official silhouettes
(``benchmarks/casiab_iou.py``).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gaitpipe.errors import InputError
from gaitpipe.segment.base import BoxTracker, Segmenter, check_tracker, detections_from_tracks
from gaitpipe.types import Frame, PersonDetections

METHODS = ("median", "mog2", "knn")
#: Bytes of frames the median model may buffer (caps ``warmup`` for large frames).
BUFFER_BUDGET = 256 * 1024 * 1024
#: Frames read from a ``background`` clip to build its median.
BACKGROUND_SAMPLES = 60
#: Side (px) of the square in which a shadow candidate's texture is compared with the background's,
#: and the background brightness variance under which a square counts as flat (no texture to compare).
TEXTURE_WINDOW = 7
TEXTURE_MIN_VAR = 4.0


class BgSubSegmenter(Segmenter):
    """Background-subtraction person segmenter with ultralytics tracking (no weights needed)."""

    name = "bgsub"

    def __init__(
        self,
        *,
        background: str | Path | None = None,
        method: str = "median",
        tracker: str = "bytetrack",
        threshold: float = 40.0,
        shadow_ratio: tuple[float, float] = (0.5, 0.97),
        shadow_chroma: float = 0.027,
        min_area: float = 0.002,
        warmup: int = 150,
        refresh: int = 50,
        history: int = 60,
        conf: float | None = None,
        shadow_texture: float | None = 0.7,
    ) -> None:
        if method not in METHODS:
            raise InputError(f"unknown background method {method!r}: choose one of {', '.join(METHODS)}")
        self.method = method
        self.tracker = check_tracker(tracker)
        self.threshold = float(threshold)
        self.shadow_ratio = (float(shadow_ratio[0]), float(shadow_ratio[1]))
        self.shadow_chroma = float(shadow_chroma)
        self.shadow_texture = float(shadow_texture) if shadow_texture is not None else None
        self.min_area = float(min_area)
        self.warmup = max(1, int(warmup))
        self.refresh = max(1, int(refresh))
        self.history = max(1, int(history))
        self.conf = float(conf) if conf is not None else None  # blobs scoring below are ignored
        self.background_path = str(background) if background is not None else None
        self._background = load_background(background) if background is not None else None

    def settings(self) -> dict[str, Any]:
        return {
            "segmenter": self.name,
            "method": self.method,
            "background": self.background_path,
            "tracker": self.tracker,
            "threshold": self.threshold,
            "shadow_ratio": list(self.shadow_ratio),
            "shadow_chroma": self.shadow_chroma,
            "shadow_texture": self.shadow_texture,
            "min_area": self.min_area,
            "warmup": self.warmup,
            "refresh": self.refresh,
            "conf": self.conf,
            "soft_mask": "gaussian-smoothed foreground blob (sigma 1 px)",
        }

    # ------------------------------------------------------------------ per-frame foreground
    def foreground(self, image: np.ndarray, background: np.ndarray) -> np.ndarray:
        """Binary foreground (uint8 0/1) of ``image`` against a float32 BGR ``background``."""
        x = image.astype(np.float32)
        diff = x - background
        fg = np.einsum("ijk,ijk->ij", diff, diff) > self.threshold**2
        # Shadows and floor reflections: darker than the background, same chromaticity. Only the
        # (few) candidate foreground pixels are tested.
        ys, xs = np.nonzero(fg)
        if ys.size:
            px, pb = x[ys, xs], background[ys, xs]
            px_sum, pb_sum = px.sum(axis=1) + 1.0, pb.sum(axis=1) + 1.0
            ratio = px_sum / pb_sum
            chroma = np.abs(px / px_sum[:, None] - pb / pb_sum[:, None]).sum(axis=1)
            shadow = (ratio > self.shadow_ratio[0]) & (ratio < self.shadow_ratio[1]) & (chroma < self.shadow_chroma)
            if self.shadow_texture is not None and shadow.any():
                # Dark trousers over a floor of the same hue pass the colour test too. A shadow
                # keeps the floor's texture (tiles, markings, grain) underneath; a body hides it.
                keeps = texture_kept(x, background, ys[shadow], xs[shadow], self.shadow_texture)
                shadow[np.flatnonzero(shadow)[~keeps]] = False
            fg[ys[shadow], xs[shadow]] = False
        return fg.astype(np.uint8)

    def clean(self, fg: np.ndarray) -> np.ndarray:
        """Morphology: 3x3 opening against speckle, 7x7 elliptical closing against small gaps."""
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, _ellipse(3))
        return cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _ellipse(7))

    def blobs(self, fg: np.ndarray) -> list[np.ndarray]:
        """Split a cleaned foreground into person blobs (boolean masks), largest first."""
        h, w = fg.shape
        # Group nearby pieces of one body: dilate by a tall ellipse (9 x 19) for labelling only.
        grouped = cv2.dilate(fg, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 19)))
        n, labels = cv2.connectedComponents(grouped)
        if n <= 1:
            return []
        areas = np.bincount(labels[fg > 0], minlength=n)
        areas[0] = 0
        min_pixels = max(20, self.min_area * h * w)
        out = []
        for k in np.argsort(-areas):
            if areas[k] < min_pixels:
                break
            out.append((labels == k) & (fg > 0))
        return out

    def detect(self, image: np.ndarray, background: np.ndarray | None, fg: np.ndarray | None = None):
        """Boxes [N,4], scores [N] and soft masks [N,H,W] of the person blobs in one frame."""
        if fg is None:
            if background is None:
                raise TypeError("detect() needs a background or a foreground mask fg")
            fg = self.foreground(image, background)
        fg = self.clean(fg)
        h, w = fg.shape
        blobs = self.blobs(fg)
        boxes = np.zeros((len(blobs), 4), np.float32)
        scores = np.zeros(len(blobs), np.float32)
        masks = np.zeros((len(blobs), h, w), np.float32)
        for i, blob in enumerate(blobs):
            ys, xs = np.nonzero(blob)
            boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            soft = cv2.GaussianBlur(blob.astype(np.float32), (5, 5), 1.0)
            masks[i] = soft
            # Confidence: how solidly the blob's box is filled (people fill ~40-70%), capped at 1.
            box_area = float((boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1]))
            scores[i] = min(1.0, 0.5 + blob.sum() / max(box_area, 1.0))
        if self.conf is not None and len(blobs):
            keep = scores >= self.conf
            boxes, scores, masks = boxes[keep], scores[keep], masks[keep]
        return boxes, scores, masks

    # ------------------------------------------------------------------ streaming
    def track(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, PersonDetections]]:
        tracker = BoxTracker(self.tracker)
        for frame, fg in self._foregrounds(iter(frames)):
            boxes, scores, masks = self.detect(frame.image, None, fg)
            det_index, ids, tboxes = tracker.update(boxes, scores, frame.image)
            yield frame, detections_from_tracks(frame, det_index, ids, tboxes, scores, masks)

    def _foregrounds(self, frames: Iterator[Frame]) -> Iterator[tuple[Frame, np.ndarray]]:
        """Yield (frame, raw foreground) with the configured background model."""
        if self._background is not None and self.method == "median":
            bg = None
            for frame in frames:
                bg = self._fit(self._background, frame.image) if bg is None else bg
                yield frame, self.foreground(frame.image, bg)
            return
        buffer, rest = _buffer(frames, self.warmup)
        if not buffer:
            return
        if self.method == "median":
            samples: collections.deque = collections.deque(maxlen=self.history)
            step = max(1, -(-len(buffer) // self.history))  # ceil: samples span the buffer
            samples.extend(f.image for f in buffer[::step])
            bg = median_background(samples)
            for frame in buffer:
                yield frame, self.foreground(frame.image, bg)
            for n, frame in enumerate(rest, start=1):
                if n % max(1, self.refresh // 5) == 0:
                    samples.append(frame.image)
                if n % self.refresh == 0:
                    bg = median_background(samples)
                yield frame, self.foreground(frame.image, bg)
            return
        subtractor = (
            cv2.createBackgroundSubtractorMOG2(history=max(self.warmup, 100), detectShadows=True)
            if self.method == "mog2"
            else cv2.createBackgroundSubtractorKNN(history=max(self.warmup, 100), detectShadows=True)
        )
        if self._background is not None:
            for _ in range(20):
                subtractor.apply(self._background.astype(np.uint8), learningRate=-1)
        for frame in buffer:  # warm the model up on the buffered frames first
            subtractor.apply(frame.image)
        for frame in _chain(buffer, rest):
            mask = subtractor.apply(frame.image)
            yield frame, (mask == 255).astype(np.uint8)  # 127 = shadow

    def _fit(self, background: np.ndarray, image: np.ndarray) -> np.ndarray:
        if background.shape[:2] != image.shape[:2]:
            raise InputError(
                f"background {self.background_path} is {background.shape[1]}x{background.shape[0]}, "
                f"the video is {image.shape[1]}x{image.shape[0]}"
            )
        return background


def texture_kept(
    image: np.ndarray, background: np.ndarray, ys: np.ndarray, xs: np.ndarray, min_ncc: float
) -> np.ndarray:
    """Whether the background's texture shows through at pixels ``(ys, xs)`` (bool per pixel).

    Normalised cross-correlation of image and background brightness in a TEXTURE_WINDOW square:
    above ``min_ncc`` the background pattern is still there (a shadow darkens it, it does not
    replace it). Where the background is flat (variance under TEXTURE_MIN_VAR) there is no
    texture to tell by, and the pixel counts as kept (a shadow, as the colour test said).
    """
    pad = TEXTURE_WINDOW
    y0, y1 = max(0, int(ys.min()) - pad), min(image.shape[0], int(ys.max()) + pad + 1)
    x0, x1 = max(0, int(xs.min()) - pad), min(image.shape[1], int(xs.max()) + pad + 1)
    gi = image[y0:y1, x0:x1].mean(axis=2)
    gb = background[y0:y1, x0:x1].mean(axis=2)
    k = (TEXTURE_WINDOW, TEXTURE_WINDOW)
    mi, mb = cv2.boxFilter(gi, -1, k), cv2.boxFilter(gb, -1, k)
    var_i = cv2.boxFilter(gi * gi, -1, k) - mi * mi
    var_b = cv2.boxFilter(gb * gb, -1, k) - mb * mb
    cov = cv2.boxFilter(gi * gb, -1, k) - mi * mb
    yy, xx = ys - y0, xs - x0
    ncc = cov[yy, xx] / np.sqrt(np.maximum(var_i[yy, xx] * var_b[yy, xx], 1e-6))
    return (var_b[yy, xx] <= TEXTURE_MIN_VAR) | (ncc > min_ncc)


def median_background(images: Iterable[np.ndarray]) -> np.ndarray:
    """The per-pixel temporal median of BGR frames (float32): the empty scene when people keep moving."""
    return np.median(np.stack(list(images)), axis=0).astype(np.float32)


def _ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _buffer(frames: Iterator[Frame], warmup: int) -> tuple[list[Frame], Iterator[Frame]]:
    """Read up to ``warmup`` frames (fewer for large frames: BUFFER_BUDGET bytes)."""
    buffer: list[Frame] = []
    limit = warmup
    for frame in frames:
        buffer.append(frame)
        if len(buffer) == 1:
            limit = max(1, min(warmup, BUFFER_BUDGET // max(1, frame.image.nbytes)))
        if len(buffer) >= limit:
            break
    return buffer, frames


def _chain(buffer: list[Frame], rest: Iterator[Frame]) -> Iterator[Frame]:
    yield from buffer
    yield from rest


def load_background(source: str | Path) -> np.ndarray:
    """The empty scene as float32 BGR: an image, or the per-pixel median of a clip's frames."""
    from gaitpipe.io.video import open_video

    with open_video(source) as video:
        count = video.info.frame_count or BACKGROUND_SAMPLES
        stride = max(1, count // BACKGROUND_SAMPLES)
        frames = [f.image for f in _strided(video, stride, BACKGROUND_SAMPLES)]
    if not frames:
        raise InputError(f"background {source} holds no frames")
    return median_background(frames)


def _strided(video, stride: int, limit: int) -> Iterator[Frame]:
    for n, frame in enumerate(video):
        if n % stride == 0:
            yield frame
            limit -= 1
            if limit <= 0:
                return
