"""Drawing identification results onto a video: a box and a label per walker, per frame.

Drawing uses supervision's annotators and its ``VideoSink`` (mp4v), so boxes and labels look
like every other supervision-based tool and no drawing code lives here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from gaitpipe.errors import InputError, SettingError
from gaitpipe.results import IdentifyResult
from gaitpipe.utils.files import TMP_MARK

#: Video containers the mp4v codec writes.
RENDER_SUFFIXES = (".mp4", ".m4v", ".mov")
#: Decisions drawn in the "not recognised" colour.
UNRECOGNISED = ("unknown", "uncertain", "too short")


def walker_labels(result: IdentifyResult) -> dict[int, list[tuple[np.ndarray, str, bool]]]:
    """Per source frame: ``(box xyxy, label, recognised)`` of every walker shown in it.

    A walker is drawn from its first to its last silhouette; frames in between that have no
    silhouette of its own keep the walker's last box.
    """
    shown: dict[int, list[tuple[np.ndarray, str, bool]]] = {}
    everyone = [
        (w.walker, w.result.decision, w.result.matches[0].score if w.result.matches else None) for w in result.walkers
    ]
    everyone += [(w, "too short", None) for w in result.skipped]
    for walker, decision, score in everyone:
        label = f"#{walker.track_id} {decision}" + (f" {score:.2f}" if score is not None else "")
        fi, bx = walker.frame_indices, walker.boxes
        if len(fi) == 0:
            continue
        j = 0
        for f in range(int(fi[0]), int(fi[-1]) + 1):
            while j + 1 < len(fi) and fi[j + 1] <= f:
                j += 1
            shown.setdefault(f, []).append((np.asarray(bx[j], np.float32), label, decision not in UNRECOGNISED))
    return shown


def check_render_path(out: str | Path) -> Path:
    """``out`` as a path the mp4v writer can fill (its folder created); ``SettingError`` (``render``) otherwise."""
    out = Path(out).expanduser()
    if out.suffix.lower() not in RENDER_SUFFIXES:
        raise SettingError(f"the rendered video is an mp4 (mp4v codec): give a .mp4 file, not {out.name}", "render")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def render_temp_path(out: Path) -> Path:
    """Where ``out`` is written before it is renamed into place: the suffix kept (OpenCV picks the
    container from it) and the TMP_MARK (so crash clean-up recognises it)."""
    return out.with_name(f".{out.stem}.{TMP_MARK}{os.getpid()}{out.suffix}")


class Annotator:
    """Draws ``(box xyxy, label, recognised)`` entries on a BGR frame: recognised walkers green,
    the others orange (supervision's annotators)."""

    def __init__(self) -> None:
        import supervision as sv

        palette = sv.ColorPalette([sv.Color(r=0, g=200, b=0), sv.Color(r=255, g=165, b=0)])  # recognised, not
        self._boxes = sv.BoxAnnotator(color=palette, thickness=2, color_lookup=sv.ColorLookup.CLASS)
        self._labels = sv.LabelAnnotator(
            color=palette,
            color_lookup=sv.ColorLookup.CLASS,
            text_color=sv.Color.BLACK,
            text_scale=0.45,
            text_thickness=1,
            text_padding=3,
        )

    def __call__(self, image: np.ndarray, shown: list[tuple[np.ndarray, str, bool]]) -> np.ndarray:
        if not shown:
            return image
        import supervision as sv

        detections = sv.Detections(
            xyxy=np.stack([box for box, _, _ in shown]).astype(np.float32),
            class_id=np.array([0 if ok else 1 for _, _, ok in shown]),
        )
        image = self._boxes.annotate(image, detections)
        return self._labels.annotate(image, detections, labels=[label for _, label, _ in shown])


def render_identities(clip: str | Path, result: IdentifyResult, out: str | Path) -> Path:
    """Write ``clip`` to ``out`` (mp4v) with each walker's box, track id and decision drawn.

    Recognised walkers are drawn green, unknown and too-short ones orange. The clip is drawn
    turned as it was analysed (``result.rotation``), since the boxes are in those frames.
    """
    import supervision as sv

    from gaitpipe.io.video import open_video

    out = check_render_path(out)
    shown = walker_labels(result)
    draw = Annotator()
    tmp = render_temp_path(out)
    frames = 0
    try:
        rotate = result.rotation.extra if result.rotation is not None else 0
        with open_video(clip, rotate=rotate) as src, contextlib.ExitStack() as stack:
            fps = src.info.fps or 25.0
            sink = None
            for frame in src:
                img = frame.image.copy()
                if sink is None:
                    h, w = img.shape[:2]
                    try:
                        sink = stack.enter_context(sv.VideoSink(str(tmp), sv.VideoInfo(w, h, float(fps)), codec="mp4v"))
                    except RuntimeError:
                        raise InputError(f"cannot write video {out} (OpenCV has no mp4v encoder here)") from None
                sink.write_frame(draw(img, shown.get(frame.index, [])))
                frames += 1
        if frames == 0:
            raise InputError(f"{clip} has no frames to render")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


__all__ = ["Annotator", "check_render_path", "render_identities", "render_temp_path", "walker_labels"]
