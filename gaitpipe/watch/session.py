"""Streaming identification: frames -> tracked silhouettes -> sliding windows -> gallery decisions.

A :class:`WatchSession` runs the pipeline's own stages on a stream, frame by frame:

* the pipeline's segmenter tracks people (:mod:`gaitpipe.segment`), fed by a :class:`FrameFeed`
  that drops the oldest frames when processing falls behind a live source;
* :class:`~gaitpipe.silhouette.tracks.TrackAssembler` normalises each tracked mask the OpenGait
  way and applies the usual frame checks;
* every track that has gathered ``window`` usable silhouettes, then every ``window_stride`` more, has
  its last ``window`` silhouettes embedded (:meth:`Pipeline.embed_sequences`, all windows that
  complete on one frame in one batch) and judged by the quality checks (:mod:`gaitpipe.quality`);
* the track's evidence is the mean part features of its last ``memory`` good windows (the way
  :class:`Pipeline` averages the windows of a long track); the gallery decides on it with the
  usual rules (threshold, margin, ``uncertain`` for a poorly seen window:
  :meth:`Gallery.identify`), and :class:`~gaitpipe.watch.hysteresis.Hysteresis` keeps the shown
  decision from flickering.

Memory is bounded on an endless stream: a track holds at most ``window`` silhouettes and
``memory`` embeddings, tracks not seen for ``lost_after`` seconds are forgotten (a ``left`` event
says so), the frame queue is bounded and the segmenter's own background model is bounded.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gaitpipe.errors import GalleryError, SettingError
from gaitpipe.quality import MIN_FRAMES, TrackQuality, judge, measure
from gaitpipe.results import DecisionMargin, DecisionThreshold
from gaitpipe.silhouette.tracks import TrackAssembler
from gaitpipe.watch.events import LEFT, WINDOW, WatchDecision, WatchStats
from gaitpipe.watch.features import FrameFeatures
from gaitpipe.watch.feed import DEFAULT_QUEUE, FrameFeed
from gaitpipe.watch.hysteresis import DEFAULT_BAND, DEFAULT_HOLD, Hysteresis, is_name
from gaitpipe.watch.render import StreamRenderer

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.gallery import Gallery, Identification
    from gaitpipe.pipeline import Pipeline
    from gaitpipe.types import Frame, PersonDetections, SilhouetteSequence

#: Usable silhouettes per window: a bit over one gait cycle at 25 fps.
DEFAULT_WINDOW = 30
#: New silhouettes between two windows of a track (about three decisions a second at 25 fps).
DEFAULT_WINDOW_STRIDE = 8
#: Good windows averaged into a track's evidence.
DEFAULT_MEMORY = 4
#: Stream seconds a track may go unseen before it is forgotten.
DEFAULT_LOST_AFTER = 2.0
#: Fewest silhouettes a window may have: OpenGait calls shorter sequences suspect.
MIN_WINDOW = 5


@dataclass
class _Track:
    first_frame: int
    first_read: float  #: perf_counter when its first frame was read
    last_frame: int
    hysteresis: Hysteresis
    box: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    evidence: collections.deque[np.ndarray] = field(default_factory=collections.deque)
    windows: int = 0
    last: WatchDecision | None = None


def check_window(window: int, window_stride: int, memory: int) -> tuple[int, int, int]:
    """``SettingError`` for windows that cannot work; the values as ints otherwise."""
    if int(window) < MIN_WINDOW:
        raise SettingError(f"window must be at least {MIN_WINDOW} silhouettes, got {window}", "window")
    if not 1 <= int(window_stride) <= int(window):
        raise SettingError(
            f"the window stride must be between 1 and the window ({window}), got {window_stride}", "window_stride"
        )
    if int(memory) < 1:
        raise SettingError(f"memory must be at least 1 window, got {memory}", "memory")
    return int(window), int(window_stride), int(memory)


class WatchSession:
    """Iterate for :class:`WatchDecision`\\ s as windows complete; ``stats`` says how it kept up.

    Made by :meth:`gaitpipe.pipeline.Pipeline.watch`, which documents the arguments. Everything
    that can be checked before the first frame is checked here (settings, gallery, source), so a
    bad source or an empty gallery fails at once. Iterate once; use as a context manager (or
    :meth:`close`) to stop the reader, close the gallery and finish ``render``.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        source: str | Path | int,
        *,
        gallery: str | Path | Gallery | None = None,
        window: int = DEFAULT_WINDOW,
        window_stride: int = DEFAULT_WINDOW_STRIDE,
        memory: int = DEFAULT_MEMORY,
        hold: int = DEFAULT_HOLD,
        band: float = DEFAULT_BAND,
        threshold: float | None = None,
        margin: float | None = None,
        top_k: int = 3,
        realtime: bool | None = None,
        render: str | Path | None = None,
        lost_after: float = DEFAULT_LOST_AFTER,
        queue: int = DEFAULT_QUEUE,
        max_frames: int | None = None,
        frame_cache: bool = True,
        score_norm: bool | None = None,
    ) -> None:
        from gaitpipe.gallery import Gallery
        from gaitpipe.io.orientation import resolve_rotation
        from gaitpipe.pipeline import _check_margin, _check_threshold

        self.window, self.window_stride, self.memory = check_window(window, window_stride, memory)
        Hysteresis(hold, band)  # bad values fail now, not at the first window
        self.hold, self.band = int(hold), float(band)
        if not lost_after > 0:
            raise SettingError(f"lost_after must be a positive number of seconds, got {lost_after}", "lost_after")
        self.lost_after = float(lost_after)
        self.top_k = max(1, int(top_k))
        self.frame_cache = bool(frame_cache)
        self.source = source
        self._pipe = pipeline
        # the rule identify decides with (raw cosine or AS-norm scores, as the weights say), so a stream
        # and a clip of the same walk get the same answer
        self._normaliser, self.threshold, self.margin = pipeline.decision_rule(score_norm)
        scale = self.threshold.scale
        if threshold is not None:
            self.threshold = DecisionThreshold(_check_threshold(threshold, scale), "given", scale=scale)
        if margin is not None:
            self.margin = DecisionMargin(_check_margin(margin, scale), "given", scale)
        self._own_gallery = not isinstance(gallery, Gallery)
        self.gallery = gallery if isinstance(gallery, Gallery) else Gallery.open(gallery, encoder=pipeline.fingerprint)
        self.feed: FrameFeed | None = None
        self._renderer: StreamRenderer | None = None
        #: the rendered file, once watching has stopped and it is in place
        self.rendered: Path | None = None
        self._iterator: Iterator[WatchDecision] | None = None
        self._assembler: TrackAssembler | None = None
        self._features: FrameFeatures | None = None
        try:
            self.gallery.check_encoder(pipeline.fingerprint)
            if len(self.gallery) == 0:
                raise GalleryError(f"gallery {self.gallery.path} is empty; enrol someone first")
            self.rotation = resolve_rotation(source, pipeline.rotate)  # a live source is not probed
            self.feed = FrameFeed(
                source,
                realtime=realtime,
                queue=queue,
                stride=pipeline.stride,
                max_frames=max_frames if max_frames is not None else pipeline.max_frames,
                rotate=self.rotation.extra,
            )
            if render is not None:
                self._renderer = StreamRenderer(render, self.feed.info.fps)
        except BaseException:
            self._release()
            raise
        self.stats = WatchStats(self.feed.info.fps, self.feed.live, self.feed.realtime)

    # -- iteration ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[WatchDecision]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

    def _run(self) -> Iterator[WatchDecision]:
        feed = self.feed
        assert feed is not None  # set in __init__ or it raised
        encoder = self._pipe.encoder
        rgb = encoder.input_kind == "rgb"
        if self.frame_cache and encoder.frame_separable and not rgb:
            self._features = FrameFeatures(encoder, self._pipe.device)
        assembler = TrackAssembler(feed.info, min_frames=1, keep_rgb=rgb, source=str(self.source))
        self._assembler = assembler
        tracks: dict[int, _Track] = {}
        lost_frames = max(1, round(self.lost_after * feed.info.fps))
        start = time.perf_counter()
        frame: Frame | None = None
        try:
            for frame, dets in self._pipe.segmenter.track(feed):
                read_at = feed.read_at(frame.index) or time.perf_counter()
                assembler.add(frame, dets)
                due = self._see(frame, dets, read_at, tracks, assembler)
                if due:
                    yield from self._decide(frame, due, tracks, assembler, start)
                for tid in [t for t, s in tracks.items() if frame.index - s.last_frame > lost_frames]:
                    yield from self._end(frame, tid, tracks, assembler, start)
                if self._renderer is not None:
                    self._renderer.write(frame.image, self._labels(dets, tracks))
                self.stats.frames_processed += 1
                self._update_stats(start)
            for tid in sorted(tracks):  # the stream ended: every track leaves
                assert frame is not None  # a track was seen, so a frame was
                yield from self._end(frame, tid, tracks, assembler, start)
        finally:
            self._update_stats(start)
            self._release()

    def _see(
        self, frame: Frame, dets: PersonDetections, read_at: float, tracks: dict[int, _Track], assembler: TrackAssembler
    ) -> list[int]:
        """Note the tracks in this frame; the ids of those with a window due."""
        due = []
        for i, tid in enumerate(int(t) for t in dets.track_ids):
            if tid < 0:
                continue
            state = tracks.get(tid)
            if state is None:
                hysteresis = Hysteresis(self.hold, self.band)
                state = _Track(
                    frame.index, read_at, frame.index, hysteresis, evidence=collections.deque(maxlen=self.memory)
                )
                tracks[tid] = state
            state.last_frame = frame.index
            state.box = np.asarray(dets.boxes[i], np.float32)
            if assembler.kept(tid) >= self.window:
                due.append(tid)
        return due

    def _decide(
        self, frame: Frame, due: list[int], tracks: dict[int, _Track], assembler: TrackAssembler, start: float
    ) -> Iterator[WatchDecision]:
        """Embed the windows due on this frame in one batch, decide each track, yield the decisions."""
        windows = [assembler.recent(tid, self.window) for tid in due]
        embedded = self._embed(windows)
        probes, reasons = [], []
        for tid, embedding, checks in embedded:
            state = tracks[tid]
            if checks.ok:
                state.evidence.append(embedding)
            # a poor window is judged on its own (it is 'uncertain' whatever it matches)
            probes.append(np.mean(np.stack(state.evidence), axis=0) if checks.ok else embedding)
            reasons.append(list(checks.reasons))
        results = self.gallery.identify(
            np.stack(probes).astype(np.float32),
            top_k=self.top_k,
            threshold=self.threshold.value,
            margin=self.margin.value,
            reasons=reasons,
            normaliser=self._normaliser,
        )
        now = time.perf_counter()
        for (tid, _, _), result in zip(embedded, results):
            state = tracks[tid]
            changed = state.hysteresis.update(result)
            state.windows += 1
            self.stats.windows += 1
            if state.windows == 1:
                self.stats.tracks += 1
            state.last = WatchDecision(
                t=frame.timestamp,
                frame=frame.index,
                track=tid,
                decision=state.hysteresis.shown or result.decision,
                score=_shown_score(result, state.hysteresis.shown),
                windows=state.windows,
                event=WINDOW,
                changed=changed,
                raw=result.decision,
                best=result.best.identity if result.best is not None else None,
                why=result.why,
                first_frame=state.first_frame,
                latency_s=now - state.first_read,
                wall=now - start,
                dropped=self._dropped(),
            )
            assembler.trim(tid, self.window - self.window_stride)
            if self._features is not None:
                held = assembler.recent(tid, self.window).frame_indices
                self._features.forget(tid, before=int(held.min()) if len(held) else None)
            yield state.last

    def _embed(self, windows: list[SilhouetteSequence]) -> list[tuple[int, np.ndarray, TrackQuality]]:
        """``(track, [parts, dim] embedding, quality checks)`` of each window: from per-frame features
        computed once when the encoder allows it, else by embedding the windows whole."""
        min_frames = min(MIN_FRAMES, self.window)  # a short --window must not make every window 'too short'
        if self._features is not None:
            embeddings = self._features.embed(windows)
            return [
                (w.track_id, e, judge(measure(w.frame_indices, w.dropped, w.frames), min_frames=min_frames))
                for w, e in zip(windows, embeddings)
            ]
        walkers = self._pipe.embed_sequences(windows, progress=False)
        return [
            (w.track_id, w.embedding, judge(w.checks.stats, min_frames=min_frames) if w.checks.stats else w.checks)
            for w in walkers
        ]

    def _end(
        self, frame: Frame, tid: int, tracks: dict[int, _Track], assembler: TrackAssembler, start: float
    ) -> Iterator[WatchDecision]:
        """A track ends. One that passed too quickly (or lost too many frames) for a whole window is
        decided once on what it left, so every walker gets a decision (``uncertain`` when that is
        under the quality rules' minimum); then its ``left`` event, and everything it held is freed."""
        if tracks[tid].windows == 0 and assembler.kept(tid) >= MIN_WINDOW:
            yield from self._decide(frame, [tid], tracks, assembler, start)
        assembler.trim(tid, 0)
        if self._features is not None:
            self._features.forget(tid)
        yield from self._leave(tracks.pop(tid), tid, start)

    def _leave(self, state: _Track, tid: int, start: float) -> Iterator[WatchDecision]:
        if state.last is None:  # never decided: nothing to report
            return
        now = time.perf_counter()
        yield WatchDecision(
            t=state.last_frame / self.stats.source_fps,
            frame=state.last_frame,
            track=tid,
            decision=state.last.decision,
            score=state.last.score,
            windows=state.windows,
            event=LEFT,
            raw=state.last.raw,
            best=state.last.best,
            why=state.last.why,
            first_frame=state.first_frame,
            latency_s=now - state.first_read,
            wall=now - start,
            dropped=self._dropped(),
        )

    def _labels(self, dets: PersonDetections, tracks: dict[int, _Track]) -> list[tuple[np.ndarray, str, bool]]:
        out = []
        for i, tid in enumerate(int(t) for t in dets.track_ids):
            state = tracks.get(tid)
            if state is None:
                continue
            shown = state.hysteresis.shown
            score = state.last.score if state.last is not None else None
            label = f"#{tid} " + (shown or "...") + (f" {score:.2f}" if score is not None and shown else "")
            out.append((np.asarray(dets.boxes[i], np.float32), label, is_name(shown)))
        return out

    def held(self) -> dict[int, int]:
        """Silhouettes held now per track: at most ``window`` each, whatever the stream's length."""
        a = self._assembler
        return {tid: a.kept(tid) for tid in a.track_ids()} if a is not None else {}

    def held_features(self) -> int:
        """Frames whose encoder features are held (0 without the per-frame cache): at most ``window`` per track."""
        return self._features.held() if self._features is not None else 0

    def _dropped(self) -> int:
        return self.feed.dropped if self.feed is not None else 0

    def _update_stats(self, start: float) -> None:
        if self.feed is not None:
            self.stats.frames_read = self.feed.read
            self.stats.frames_dropped = self.feed.dropped
        self.stats.wall_s = time.perf_counter() - start

    # -- life cycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop reading, close the gallery (when opened here) and put the rendered file in place."""
        iterator, self._iterator = self._iterator, None
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # a loop stopped at a yield runs its finally now
        self._release()

    def _release(self) -> None:
        """Idempotent: the reader, the rendered file and the gallery (when opened here)."""
        if self.feed is not None:
            self.feed.close()
        if self._renderer is not None:
            renderer, self._renderer = self._renderer, None
            self.rendered = renderer.close()
        if self._own_gallery and self.gallery is not None:
            self.gallery.close()
            self._own_gallery = False

    def __enter__(self) -> WatchSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shown_score(result: Identification, shown: str | None) -> float | None:
    """The shown name's score when it is among the matches, else the best identity's."""
    if is_name(shown):
        for m in result.matches:
            if m.identity == shown:
                return float(m.score)
    return float(result.best.score) if result.best is not None else None


__all__ = [
    "DEFAULT_LOST_AFTER",
    "DEFAULT_MEMORY",
    "DEFAULT_WINDOW",
    "DEFAULT_WINDOW_STRIDE",
    "WatchSession",
    "check_window",
]
