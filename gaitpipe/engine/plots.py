"""Small line charts drawn with OpenCV (loss curves, CMC curves) so matplotlib is not a dependency."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

_COLORS = [(200, 90, 30), (40, 40, 220), (40, 160, 40), (160, 40, 160), (0, 140, 220), (120, 120, 0)]


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = np.ceil(lo / step) * step
    return [float(x) for x in np.arange(start, hi + step * 1e-6, step)]


def line_chart(path: str | Path, series: Mapping[str, tuple[ArrayLike, ArrayLike]], **options: Any) -> Path:
    """Write a PNG with one polyline per ``name: (xs, ys)``, axes, ticks and a legend."""
    return write_png(path, render_chart(series, **options))


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Encode ``image`` (BGR) as PNG and write it atomically."""
    import cv2

    from gaitpipe.utils.files import atomic_write_bytes

    path = Path(path)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        from gaitpipe.errors import InputError

        raise InputError(f"cannot encode image {path}")
    return atomic_write_bytes(path, encoded.tobytes(), sync=False)


def plot_log(log_path: Path, png: Path, title: str = "training") -> Path:
    """Loss curve from a ``train_log.jsonl``; below it, validation rank-1 per condition when present."""
    xs: list[float] = []
    ys: list[float] = []
    val: dict[str, tuple[list[float], list[float]]] = {}
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("type") == "train" and math.isfinite(r.get("loss", float("nan"))):
                xs.append(r["iter"])
                ys.append(r["loss"])
            elif r.get("type") == "val":
                for k, v in r.get("metrics", {}).items():
                    val.setdefault(k, ([], []))
                    val[k][0].append(r["iter"])
                    val[k][1].append(v)
    image = render_chart({"train loss": (xs, ys)}, title=title, xlabel="iteration", ylabel="loss")
    if val:
        panel = render_chart(
            val, title="validation rank-1 (%)", xlabel="iteration", ylabel="rank-1 %", size=(image.shape[1], 420)
        )
        image = np.concatenate([image, panel], axis=0)
    return write_png(png, image)


def render_chart(
    series: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[int, int] = (900, 560),
    log_y: bool = False,
) -> np.ndarray:
    """A BGR image with one polyline per ``name: (xs, ys)``, axes, ticks and a legend."""
    import cv2

    w, h = size
    left, right, top, bottom = 80, 20, 40, 60
    img = np.full((h, w, 3), 255, np.uint8)
    pts_all = [(np.asarray(x, float), np.asarray(y, float)) for x, y in series.values()]
    xs = np.concatenate([x for x, _ in pts_all]) if pts_all else np.zeros(1)
    ys = np.concatenate([y for _, y in pts_all]) if pts_all else np.zeros(1)
    ok = np.isfinite(ys) & (ys > 0 if log_y else True)
    tf = (lambda v: np.log10(np.maximum(v, 1e-12))) if log_y else (lambda v: v)
    x0, x1 = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1
    y0, y1 = (float(tf(ys[ok]).min()), float(tf(ys[ok]).max())) if ok.any() else (0.0, 1.0)
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def px(x, y):
        return (
            int(left + (x - x0) / (x1 - x0) * (w - left - right)),
            int(h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)),
        )

    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    for t in _nice_ticks(y0, y1):
        p = px(x0, t)
        cv2.line(img, (left, p[1]), (w - right, p[1]), (225, 225, 225), 1)
        label = f"{10**t:.3g}" if log_y else f"{t:.3g}"
        cv2.putText(img, label, (5, p[1] + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for t in _nice_ticks(x0, x1):
        p = px(t, y0)
        cv2.line(img, (p[0], h - bottom), (p[0], h - bottom + 5), (0, 0, 0), 1)
        cv2.putText(img, f"{t:.6g}", (p[0] - 15, h - bottom + 20), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for i, (name, (x, y)) in enumerate(zip(series, pts_all)):
        color = _COLORS[i % len(_COLORS)]
        good = np.isfinite(y) & (y > 0 if log_y else True)
        pts = np.array([px(a, b) for a, b in zip(x[good], tf(y[good]))], np.int32)
        if len(pts) > 1:
            cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, color, 2, cv2.LINE_AA)
        for p in pts if len(pts) <= 40 else []:
            cv2.circle(img, tuple(int(v) for v in p), 3, color, -1, cv2.LINE_AA)
        cv2.putText(img, name, (w - right - 220, top + 20 + 18 * i), font, 0.5, color, 1, cv2.LINE_AA)
    cv2.putText(img, title, (left, 25), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, (w // 2 - 40, h - 15), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, ylabel, (5, top - 10), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return img
