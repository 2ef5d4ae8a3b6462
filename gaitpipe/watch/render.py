"""Writing the watched stream, annotated, as it is processed (``--render OUT.mp4``).

Frames are written as they are processed; frames dropped because processing fell behind are not
in the file, so a run that dropped frames plays faster than the source did. The file is written
under a temporary name and renamed into place when watching stops (also on Ctrl-C), so it is
never half-written under its real name.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from gaitpipe.annotate import Annotator, check_render_path, render_temp_path
from gaitpipe.errors import InputError


class StreamRenderer:
    """``write(image, shown)`` per processed frame; ``close()`` puts the file in place."""

    def __init__(self, out: str | Path, fps: float) -> None:
        self.out = check_render_path(out)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self._tmp = render_temp_path(self.out)
        self._draw = Annotator()
        self._sink: contextlib.ExitStack | None = None
        self._writer: Any = None  # supervision's VideoSink, opened with the first frame's size
        self.frames = 0

    def write(self, image: np.ndarray, shown: list[tuple[np.ndarray, str, bool]]) -> None:
        """Draw ``(box, label, recognised)`` entries on a copy of ``image`` and append it."""
        if self._writer is None:
            import supervision as sv

            h, w = image.shape[:2]
            stack = contextlib.ExitStack()
            try:
                self._writer = stack.enter_context(
                    sv.VideoSink(str(self._tmp), sv.VideoInfo(w, h, self.fps), codec="mp4v")
                )
            except RuntimeError:
                raise InputError(f"cannot write video {self.out} (OpenCV has no mp4v encoder here)") from None
            self._sink = stack
        self._writer.write_frame(self._draw(image.copy(), shown))
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and rename it into place; the path, or None when nothing was written."""
        sink, self._sink = self._sink, None
        try:
            if sink is not None:
                sink.close()
                if self.frames:
                    self._tmp.replace(self.out)
                    return self.out
            return None
        finally:
            self._tmp.unlink(missing_ok=True)


__all__ = ["StreamRenderer"]
