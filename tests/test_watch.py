"""``gaitpipe watch`` / ``Pipeline.watch``: streaming identification on a file and on a loopback MJPEG
stream, hysteresis, frame dropping behind a live source, sliding windows in the track assembler, and
bad sources as one error line.

The walkers are the shipped synthetic example clips (rendered by :mod:`gaitpipe.synth`), enrolled
with the default weights and the weights-free ``bgsub`` segmenter, so the decisions are real names.
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitpipe.cli.app import main
from gaitpipe.gallery.results import Identification, Match
from gaitpipe.types import SilhouetteSequence
from gaitpipe.watch import FrameFeed, Hysteresis

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ISSUE_FIELDS = ["t", "frame", "track", "decision", "score", "windows"]


# ----------------------------------------------------------------------------- hysteresis
def _window(best: str | None, score: float, second: float = 0.0, *, uncertain: bool = False) -> Identification:
    matches = [] if best is None else [Match(best, score, 1), Match("other", second, 2)]
    return Identification(matches, 0.6, margin=0.05, reasons=["too short: 3"] if uncertain else [])


def test_hysteresis_keeps_a_name_until_the_evidence_turns():
    h = Hysteresis(hold=2, band=0.03)
    assert h.update(_window(None, 0.0, uncertain=True)) and h.shown == "uncertain"  # first: shown at once
    assert h.update(_window("ana", 0.8)) and h.shown == "ana"  # a real decision replaces 'uncertain' at once
    # one window below the threshold but within the band, one within the margin: still ana's evidence
    assert not h.update(_window("ana", 0.58)) and h.shown == "ana"
    assert not h.update(_window("ana", 0.7, second=0.68)) and h.shown == "ana"
    # a single window for somebody else, or a poorly seen one, does not make it flicker
    assert not h.update(_window("ben", 0.9)) and h.shown == "ana"
    assert not h.update(_window("ana", 0.2, uncertain=True)) and h.shown == "ana"
    assert not h.update(_window("ana", 0.8)) and h.shown == "ana"  # back: the challenger's run is broken
    assert not h.update(_window("ben", 0.9))
    assert not h.update(_window("ben", 0.9, uncertain=True))  # no evidence: the run goes on
    assert h.update(_window("ben", 0.9)) and h.shown == "ben"  # two in a row: the evidence has turned
    # a clearly low score is not support (ana below threshold - band): unknown after two windows
    assert not h.update(_window("ben", 0.5)) and h.update(_window("ben", 0.5)) and h.shown == "unknown"


def test_hysteresis_hold_one_follows_every_window_and_bad_settings_fail():
    from gaitpipe.errors import SettingError

    h = Hysteresis(hold=1, band=0.0)
    assert [h.update(_window(n, s)) or h.shown for n, s in [("ana", 0.8), ("ben", 0.8), ("ben", 0.5)]] == [
        True,
        True,
        True,
    ]
    assert h.shown == "unknown"
    with pytest.raises(SettingError, match="hold"):
        Hysteresis(hold=0)


# ----------------------------------------------------------------------------- frame feed
def test_file_feed_is_complete_and_in_order_unless_realtime():
    with FrameFeed(EXAMPLES / "ana-nm-01-090.mp4") as feed:
        indices = [f.index for f in feed]
    assert indices == list(range(55)) and feed.dropped == 0 and not feed.live


def test_realtime_feed_drops_the_oldest_frames_when_the_consumer_is_slow():
    """A consumer at ~1/3 of the source's 25 fps: frames are dropped (counted), never queued up, and
    what is processed stays close to now."""
    got = []
    with FrameFeed(EXAMPLES / "ana-nm-01-090.mp4", realtime=True, queue=2) as feed:
        start = time.perf_counter()
        for frame in feed:
            got.append(frame.index)
            lag = (time.perf_counter() - start) - frame.timestamp  # how late this frame is processed
            assert lag < 0.5, f"frame {frame.index} processed {lag:.2f} s late: the feed queued instead of dropping"
            time.sleep(0.12)
    assert feed.read == 55
    assert feed.dropped > 20 and len(got) + feed.dropped == 55
    assert got == sorted(got) and got[-1] >= 50  # the newest frames are kept, the oldest dropped


# ----------------------------------------------------------------------------- assembler windows
def test_track_assembler_windows_and_trims_a_track():
    from gaitpipe.silhouette.tracks import DROP_BORDER, TrackAssembler
    from gaitpipe.types import Frame, PersonDetections

    asm = TrackAssembler((120, 160), min_frames=1)
    for i in range(40):
        mask = np.zeros((1, 160, 120), np.float32)
        x = 5 if i % 10 == 0 else 40  # every 10th frame: the walker touches the left border
        mask[0, 20:140, x - 5 if x == 5 else x : x + 30] = 1.0
        dets = PersonDetections(i, np.array([3]), np.array([[x, 20, x + 30, 140]], np.float32), np.ones(1), mask)
        asm.add(Frame(i, np.zeros((160, 120, 3), np.uint8), i / 25), dets)
    assert asm.track_ids() == [3] and asm.kept(3) == 36
    window = asm.recent(3, 12)  # frames 26..39 minus the border-cut frame 30
    assert len(window) == 12 and list(window.frame_indices) == [27, 28, 29, *range(31, 40)]
    assert window.dropped == {DROP_BORDER: 1}  # only the window's own drops (frames 0, 10, 20 are older)
    asm.trim(3, 4)
    assert asm.kept(3) == 4 and list(asm.recent(3, 12).frame_indices) == [36, 37, 38, 39]
    assert asm.recent(3, 12).dropped == {}
    asm.trim(3, 0)
    assert asm.track_ids() == [] and asm.kept(3) == 0


# ----------------------------------------------------------------------------- per-frame features
def _swinging(track: int, start: int, length: int) -> SilhouetteSequence:
    """A body with two swinging legs: enough structure for distinct per-frame features."""
    yy, xx = np.mgrid[:64, :64]
    frames = np.zeros((length, 64, 64), np.uint8)
    for t in range(length):
        swing = 8 * np.sin(2 * np.pi * (start + t) / 22)
        body = ((xx - 32) / 7) ** 2 + ((yy - 24) / 20) ** 2 < 1
        legs = [np.abs(xx - 32 - sign * swing * (yy - 40) / 24) < 3 for sign in (1, -1)]
        frames[t][body | ((legs[0] | legs[1]) & (yy >= 40))] = 255
    idx = np.arange(start, start + length, dtype=np.int64)
    return SilhouetteSequence(track, frames, idx, np.zeros((length, 4), np.float32))


def test_per_frame_features_give_the_windows_exact_embeddings(tiny_weights, one_torch_thread):
    """Overlapping windows from features computed once per frame equal embedding each window whole."""
    from gaitpipe.pipeline import Pipeline
    from gaitpipe.watch.features import FrameFeatures

    pipe = Pipeline(weights=str(tiny_weights), device="cpu")
    features = FrameFeatures(pipe.encoder, "cpu")
    for first in (0, 8, 16):  # a track's windows, 30 silhouettes every 8; a second track alongside
        windows = [_swinging(1, first, 30), _swinging(4, 100 + first, 25)]
        whole = pipe.embed_sequences(windows, progress=False)
        for w, e in zip(whole, features.embed(windows)):
            np.testing.assert_allclose(e, w.embedding, rtol=1e-5, atol=1e-6)
        features.forget(1, before=first + 8)
    assert features.held() == 22 + 41  # track 1: frames 24..45; track 4: every frame seen (nothing forgotten)
    features.forget(4)
    assert features.held() == 22


# ----------------------------------------------------------------------------- watching
@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    """ana and ben, each enrolled from one normal walk, with the default weights and bgsub."""
    from gaitpipe.pipeline import Pipeline

    path = tmp_path_factory.mktemp("watch") / "gallery"
    pipe = Pipeline(segmenter="bgsub", device="cpu")
    for who in ("ana", "ben"):
        pipe.enroll(EXAMPLES / f"{who}-nm-01-090.mp4", who, gallery=path)
    return path


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_watch_a_file_names_the_walker_as_windows_complete(gallery, tmp_path, capsys, one_torch_thread):
    render = tmp_path / "watched.mp4"
    args = ["watch", str(EXAMPLES / "ana-bg-01-090.mp4"), "--gallery", str(gallery), "--segmenter", "bgsub"]
    assert main([*args, "--json", "--device", "cpu", "--render", str(render)]) == 0
    captured = capsys.readouterr()
    events = _json_lines(captured.out)
    windows = [e for e in events if e["event"] == "window"]
    assert len(windows) >= 2, captured
    for e in events:  # exactly the issue's fields first, then extras
        assert list(e)[: len(ISSUE_FIELDS)] == ISSUE_FIELDS
        assert e["decision"] in ("ana", "ben", "unknown", "uncertain")
    assert [e["windows"] for e in windows] == list(range(1, len(windows) + 1))  # one track, counted up
    assert windows[-1]["decision"] == "ana" and windows[-1]["score"] > 0.641
    assert windows[0]["changed"] is True and all(e["dropped"] == 0 for e in events)  # a file, not real time
    # windows every 8 silhouettes: frames strictly increase, about 8 apart, and the stream time follows
    frames = [e["frame"] for e in windows]
    assert all(8 <= b - a <= 12 for a, b in itertools.pairwise(frames))
    assert all(abs(e["t"] - e["frame"] / 25.0) < 1e-3 for e in windows)
    assert events[-1]["event"] == "left" and events[-1]["decision"] == "ana"
    assert "stream ended" in captured.err and "none dropped" in captured.err
    video = cv2.VideoCapture(str(render))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 56  # every processed frame, annotated
    video.release()

    # without --json: a text line per decision; --changes-only: only the first one and the leaving
    assert main([*args, "--changes-only", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "track 1: ana" in lines[0] and "left: ana" in lines[1]


def test_ctrl_c_stops_watching_cleanly_and_finishes_the_render(gallery, tmp_path, capsys, monkeypatch):
    """Ctrl-C is how a camera watch ends: exit 0, the summary, and a complete rendered file."""
    from gaitpipe.cli import watch as cli_watch

    def interrupt(self, decision):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_watch._JsonLines, "decision", interrupt)
    render = tmp_path / "stopped.mp4"
    clip = str(EXAMPLES / "ana-nm-02-090.mp4")
    args = ["watch", clip, "--gallery", str(gallery), "--segmenter", "bgsub", "--json", "--render", str(render)]
    assert main([*args, "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "stopped: 29 frames processed" in err and f"rendered {render}" in err
    video = cv2.VideoCapture(str(render))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 29  # up to the frame before the first decision
    video.release()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_watch_on_a_terminal_keeps_live_lines_and_prints_who_left(gallery, capsys, monkeypatch, one_torch_thread):
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # the live display (rich draws nothing here)
    clip = str(EXAMPLES / "ana-nm-02-090.mp4")
    args = ["watch", clip, "--gallery", str(gallery), "--segmenter", "bgsub", "--device", "cpu", "--window", "20"]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "track 1 left: ana" in out.out and "stream ended" in out.err


def test_a_walker_too_quick_for_a_whole_window_is_decided_when_the_track_ends(gallery, one_torch_thread):
    from gaitpipe.pipeline import Pipeline

    pipe = Pipeline(segmenter="bgsub", device="cpu")
    with pipe.watch(EXAMPLES / "ana-nm-02-090.mp4", gallery=gallery, window=80, window_stride=80) as session:
        events = list(session)
    assert [(e.event, e.windows, e.decision) for e in events] == [("window", 1, "ana"), ("left", 1, "ana")]
    assert events[0].frame == 55 and session.held() == {} and session.held_features() == 0


def test_a_slow_consumer_of_a_realtime_stream_makes_it_drop_frames_and_say_so(gallery, one_torch_thread):
    """Played at 25 fps while the consumer dawdles over each decision: the oldest frames are dropped
    (never queued up), every decision says how many so far, and the counts add up."""
    from gaitpipe.pipeline import Pipeline

    pipe = Pipeline(segmenter="bgsub", device="cpu", segmenter_options={"warmup": 10})
    events = []
    with pipe.watch(EXAMPLES / "ana-nm-02-090.mp4", gallery=gallery, realtime=True, queue=2, window=10) as session:
        for event in session:
            events.append(event)
            time.sleep(0.4)
    stats = session.stats
    assert stats.realtime and not stats.live
    assert stats.frames_read == 56 and stats.frames_dropped > 5
    assert stats.frames_processed + stats.frames_dropped == stats.frames_read
    dropped = [e.dropped for e in events]
    assert dropped == sorted(dropped) and dropped[-1] == stats.frames_dropped > 0
    # decisions still come (from fewer windows; what they say is not the point here: the background was
    # learned from only 10 frames and a third of the walk is missing)
    assert [e.event for e in events].count("window") >= 1 and events[-1].event == "left"


class _MjpegServer:
    """A camera on loopback: example clips one after another as multipart/x-mixed-replace JPEG frames
    at 25 fps (the walkers pass the camera in turn)."""

    def __init__(self, clips: list[Path], fps: float = 25.0) -> None:
        self.frames = []
        for clip in clips:
            cap = cv2.VideoCapture(str(clip))
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                self.frames.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
            cap.release()
        frames, delay = self.frames, 1.0 / fps

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for jpg in frames:
                        head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                        self.wfile.write(head + jpg + b"\r\n")
                        time.sleep(delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"

    def __enter__(self) -> _MjpegServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mjpeg() -> Iterator[_MjpegServer]:
    with _MjpegServer([EXAMPLES / "ben-nm-02-090.mp4", EXAMPLES / "ana-nm-02-090.mp4"]) as server:
        yield server


def test_watch_a_loopback_mjpeg_stream(gallery, mjpeg, one_torch_thread):
    from gaitpipe.pipeline import Pipeline

    pipe = Pipeline(segmenter="bgsub", device="cpu")
    events, held, features = [], [], []
    with pipe.watch(mjpeg.url, gallery=gallery, window=20, window_stride=5) as session:
        for event in session:
            events.append(event)
            held.append(session.held())
            features.append(session.held_features())
    stats = session.stats
    assert stats.live and stats.realtime
    assert stats.frames_read == len(mjpeg.frames) > 100
    assert stats.frames_processed + stats.frames_dropped == stats.frames_read
    # two walkers in turn: two tracks, each named, each leaving with its name
    left = [(e.track, e.decision) for e in events if e.event == "left"]
    assert [name for _, name in left] == ["ben", "ana"], [e.to_dict() for e in events]
    for track, name in left:
        windows = [e for e in events if e.track == track and e.event == "window"]
        assert len(windows) >= 3 and windows[-1].decision == name
        assert all(e.latency_s is not None and e.latency_s > 0 for e in windows)
    # memory stays bounded: a track never holds more than one window of silhouettes
    assert all(n <= 20 for h in held for n in h.values()) and held[-1] == {}
    assert all(n <= 20 * max(1, len(h)) for n, h in zip(features, held)) and features[-1] == 0


# ----------------------------------------------------------------------------- bad input
def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "source, extra, message",
    [
        ("missing.mp4", [], "no such file or directory"),
        ("http://127.0.0.1:{port}/stream.mjpg", [], "cannot open stream"),
        ("examples/ana-bg-01-090.mp4", ["--window", "0"], "--window: window must be at least 5"),
        ("examples/ana-bg-01-090.mp4", ["--window-stride", "31"], "--window-stride: the window stride must be"),
        ("examples/ana-bg-01-090.mp4", ["--hold", "0"], "--hold: hold must be at least 1"),
    ],
)
def test_bad_sources_and_settings_are_one_error_line(gallery, capsys, source, extra, message):
    src = source.format(port=_closed_port())
    src = str(EXAMPLES.parent / src) if src.startswith("examples/") else src
    assert main(["watch", src, "--gallery", str(gallery), "--segmenter", "bgsub", *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err, err


def test_a_threshold_that_is_no_score_is_a_usage_error(gallery, capsys):
    clip = str(EXAMPLES / "ana-bg-01-090.mp4")
    assert main(["watch", clip, "--gallery", str(gallery), "--segmenter", "bgsub", "--threshold", "nan"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--threshold" in err and "finite score" in err and "\n" not in err, err


def test_an_empty_gallery_fails_before_the_stream_is_read(tmp_path, capsys):
    assert main(["watch", str(EXAMPLES / "ana-bg-01-090.mp4"), "--gallery", str(tmp_path / "g")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no gallery at") and "\n" not in err
