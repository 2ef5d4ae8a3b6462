"""Frames from a source as it plays: a live source (or a file in real time) never makes the watcher lag.

A camera or stream produces frames at its own pace whether we keep up or not. Reading it in the
processing loop would let frames pile up in the decoder's and the network's buffers, so every
decision would come later and later. :class:`FrameFeed` instead reads the source on its own
thread into a small bounded queue; when processing falls behind and the queue is full, the
*oldest* waiting frame is dropped (and counted), so what is processed is always close to now and
memory stays bounded on an endless stream. A file is read in the processing loop, as fast as
processing goes and without dropping anything, unless ``realtime``: then it is played at its own
frame rate on the reader thread, exactly like a live source.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from gaitpipe.errors import SettingError
from gaitpipe.io.video import is_live, open_video
from gaitpipe.types import Frame, VideoInfo

#: Frames waiting for processing before the oldest is dropped: one second at 25 fps. Enough to ride
#: out the short stalls of a healthy run (a window's embedding, bgsub's periodic background refresh)
#: without losing frames, while a run that is too slow for the source is never more than this behind.
DEFAULT_QUEUE = 25


class FrameFeed:
    """Iterate for :class:`Frame`\\ s; ``dropped`` counts frames skipped because processing fell behind.

    ``source``: as :func:`gaitpipe.io.open_video` takes it (file, folder of images, camera index,
    stream URL); a missing or unreadable source raises :class:`~gaitpipe.errors.InputError` here.
    ``realtime``: play at the source's pace and drop what processing cannot take (None: for live
    sources only; a live source is always real time). ``queue``: frames that may wait. Use as a
    context manager, or call :meth:`close`, to stop the reader thread.
    """

    def __init__(
        self,
        source: str | Path | int,
        *,
        realtime: bool | None = None,
        queue: int = DEFAULT_QUEUE,
        stride: int = 1,
        max_frames: int | None = None,
        rotate: int = 0,
    ) -> None:
        if int(queue) < 1:
            raise SettingError(f"the frame queue must hold at least 1 frame, got {queue}", "queue")
        self.live = is_live(source)
        self.realtime = True if self.live else bool(realtime)
        self.queue_size = int(queue)
        self._video = open_video(source, stride=stride, max_frames=max_frames, rotate=rotate)
        self.info: VideoInfo = self._video.info
        #: frames taken from the source, and frames of them dropped before processing
        self.read = 0
        self.dropped = 0
        self._read_at: dict[int, float] = {}  # frame index -> time.perf_counter() when it was read
        self._waiting: collections.deque[Frame] = collections.deque()
        self._cond = threading.Condition()
        self._done = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        if not self.realtime:
            for frame in self._video:
                self.read += 1
                self._read_at[frame.index] = time.perf_counter()
                yield frame
            return
        self._thread = threading.Thread(target=self._reader, name="gaitpipe-watch-reader", daemon=True)
        self._thread.start()
        while True:
            with self._cond:
                while not self._waiting and not self._done:
                    self._cond.wait(0.5)
                if self._waiting:
                    frame = self._waiting.popleft()
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield frame

    def _reader(self) -> None:
        """Thread: take frames at the source's pace; a full queue loses its oldest frame."""
        start: float | None = None
        first_t = 0.0
        try:
            for frame in self._video:
                if self._stop.is_set():
                    break
                if not self.live:  # a file in real time: wait for the frame's moment to come
                    if start is None:
                        start, first_t = time.perf_counter(), frame.timestamp
                    delay = start + (frame.timestamp - first_t) - time.perf_counter()
                    if delay > 0 and self._stop.wait(delay):
                        break
                with self._cond:
                    self.read += 1
                    self._read_at[frame.index] = time.perf_counter()
                    if len(self._waiting) >= self.queue_size:
                        old = self._waiting.popleft()
                        self._read_at.pop(old.index, None)
                        self.dropped += 1
                    self._waiting.append(frame)
                    self._cond.notify()
        except BaseException as exc:  # handed to the consumer, raised there
            self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify()

    def read_at(self, index: int) -> float | None:
        """When frame ``index`` was read (``time.perf_counter()``); each frame's time is given once."""
        with self._cond:
            return self._read_at.pop(index, None)

    # -- life cycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the reader thread and release the source (idempotent)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)
            if thread.is_alive():
                # still blocked in a read of a stalled stream: releasing the decoder under it could
                # crash; the thread releases it itself when the read returns and it sees the stop
                return
        self._video.close()
        self._read_at.clear()
        self._waiting.clear()

    def __enter__(self) -> FrameFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEFAULT_QUEUE", "FrameFeed"]
