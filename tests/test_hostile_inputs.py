"""The hostile-input sweep of issue 15, kept as a test: every bad input is one clear line, never a crash.

121 cases (``pytest --collect-only -q tests/test_hostile_inputs.py``), about 30 s on 2 idle CPU cores.
Each case runs the CLI (in-process through :func:`gaitpipe.cli.app.main`, or as real ``python -m
gaitpipe`` processes where a process has to die) and checks its contract:

* a non-zero exit status, or zero where the input is legitimately fine (a video named with spaces
  and non-ASCII letters, ``--device cpu:0`` ...);
* on failure exactly one line on stderr, ``error: ...``, naming the problem (no usage block, no
  FFmpeg chatter), and no Python traceback or ``internal error`` anywhere in the output;
* no stored enrolment lost or changed: a gallery enrolled before the bad command still lists the same
  identities with byte-identical templates, and ``gaitpipe gallery verify`` passes afterwards. Where
  the database itself is the damage, the command must leave it exactly as it was (no silent new
  gallery over it).

Groups: bad video files made on the fly (enrol and identify each), bad options (options that cannot
work fail before the video is touched: ``Pipeline.extract`` is made to raise), damaged galleries
(every gallery command on each), malicious pickles dropped into a gallery (their marker file never
appears), SIGKILL of real ``gaitpipe enroll`` processes at seeded random points (starting up,
segmenting, writing the gallery; into an existing and into a new gallery), and several processes
creating the same new gallery at once.

Covered elsewhere and not repeated here:

* 4 concurrent writers through the library into one existing gallery:
  tests/test_gallery.py::test_four_concurrent_writers_serialise;
* SIGKILL at 6 random moments of library enrolment:
  tests/test_gallery.py::test_sigkill_during_enrolment_never_corrupts_the_gallery;
* SIGKILL during remove (stalled inside the index rewrite, and at 3 random delays), crash leftovers,
  template bit rot, a read-only gallery, a full disk, missing/truncated index files at the library
  level: tests/test_gallery_faults.py;
* a gallery directory without write permission: not testable as root (root ignores the mode bits);
  the read-only case is tests/test_gallery_faults.py::test_read_only_gallery_reads_and_refuses_writes;
* a gallery of another encoder, a too-short walk, the real CASIA-B empty room: tests/test_enroll_cli.py.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gaitpipe.cli.app import main
from gaitpipe.gallery import Gallery
from gaitpipe.gallery.store import DB_NAME
from gaitpipe.io.video import open_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
#: A shipped synthetic walker (examples/manifest.json): a usable walk of 55 frames, 320 x 240.
CLIP = EXAMPLES / "ana-nm-01-090.mp4"
#: Who the gallery holds before every bad command.
PEOPLE = ("p0", "p1", "p2")
BGSUB = ["--segmenter", "bgsub"]
HAS_CUDA = torch.cuda.is_available()


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template_gallery(tmp_path_factory, tiny_weights) -> Path:
    """A gallery of PEOPLE with random templates, bound to the tiny weights (so enrol/identify get past
    the encoder check); each case works on a copy."""
    from gaitpipe.models.checkpoint import read_meta

    meta = read_meta(tiny_weights)
    path = tmp_path_factory.mktemp("template") / "g"
    with Gallery.open(path, create=True) as g:
        for i, name in enumerate(PEOPLE):
            template = np.random.default_rng(i).normal(size=(meta["parts"], meta["embed_dim"])).astype(np.float32)
            g.enroll(name, template, encoder=meta["fingerprint"], video=f"/v/{name}.avi", video_sha256=f"{i:02d}" * 32)
    return path


@pytest.fixture()
def gallery(tmp_path, template_gallery) -> Path:
    path = tmp_path / "gallery"
    shutil.copytree(template_gallery, path)
    return path


def _frames(src: Path) -> list[np.ndarray]:
    with open_video(src) as frames:
        return [f.image for f in frames]


def _write(dst: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    assert out.isOpened()
    for frame in frames:
        out.write(frame)
    out.release()
    return dst


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory) -> dict[str, Path]:
    """Videos made on the fly, one per kind of bad input (plus one fine clip with an awkward name)."""
    root = tmp_path_factory.mktemp("bad videos")
    frames = _frames(CLIP)
    v = {
        "empty": root / "empty.mp4",
        "random-bytes": root / "random.mp4",
        "text": root / "notes.mp4",
        "truncated": root / "truncated.mp4",
        "directory": root / "a-folder.mp4",
        "missing": root / "does-not-exist.mp4",
    }
    v["empty"].write_bytes(b"")
    v["random-bytes"].write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    v["text"].write_text("this is not a video\n" * 50)
    v["truncated"].write_bytes(CLIP.read_bytes()[:10_000])
    v["directory"].mkdir()
    v["one-frame"] = _write(root / "one-frame.mp4", frames[20:21])
    v["black"] = _write(root / "black.mp4", [np.zeros_like(frames[0])] * 40)
    v["8x8"] = _write(root / "tiny.mp4", [cv2.resize(f, (8, 8), interpolation=cv2.INTER_AREA) for f in frames])
    v["image"] = root / "still.png"
    cv2.imwrite(str(v["image"]), frames[20])
    v["unicode-name"] = root / "wälk ér 步态 - copy (2).mp4"
    shutil.copyfile(CLIP, v["unicode-name"])
    return v


# -- helpers ---------------------------------------------------------------------------------------
def cli(capfd, *args) -> tuple[int, str, str]:
    """Run the CLI in-process; fd-level capture also sees what C libraries (FFmpeg) print."""
    code = main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err


def assert_contract(code: int, out: str, err: str, pattern: str | None) -> None:
    """``pattern`` None: the input is fine (exit 0); else one ``error:`` line containing ``pattern``."""
    for text in (out, err):
        assert "Traceback" not in text and "internal error" not in text, text
    if pattern is None:
        assert code == 0, err
        return
    assert code != 0, out
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert pattern.lower() in lines[0].lower(), lines[0]


def snapshot(path: Path) -> dict[int, tuple[str, bytes]]:
    """Every enrolment: id -> (identity, template bytes)."""
    with Gallery.open(path, read_only=True) as g:
        return {e.id: (e.identity, g.embedding(e.id).tobytes()) for e in g.enrolments()}


def assert_intact(
    capfd, path: Path, before: dict[int, tuple[str, bytes]], *, removed: str | None = None, crashed: bool = False
) -> None:
    """The enrolments of ``before`` (less ``removed``) are all listed, unchanged, and verify passes.

    ``gallery list`` runs first, as the next command after a crash would (a writable open clears crash
    leftovers and finishes an interrupted removal, which a read-only verify only reports). ``crashed``:
    a writer was killed just now, so the index of a new gallery may not be written yet; verify may
    report that, and nothing else.
    """
    expected = {k: v for k, v in before.items() if v[0] != removed}
    code, out, err = cli(capfd, "gallery", "list", "--json", "--gallery", path)
    assert code == 0, err
    listed = {p["id"] for p in json.loads(out)["identities"]}
    assert {name for name, _ in expected.values()} <= listed
    if removed:
        assert removed not in listed
    after = snapshot(path)
    assert {k: after.get(k) for k in expected} == expected, "an enrolment was lost or changed"
    code, out, err = cli(capfd, "gallery", "verify", "--gallery", path)
    if crashed and code != 0:  # killed between the commit and the index write: the next search rebuilds it
        assert out.splitlines() == ["problem: the search index is missing (no usable index.json)"], out
        assert_contract(code, out, err, "has 1 problem(s)")
        return
    assert code == 0 and "ok:" in out, out + err


@dataclass
class Ctx:
    """What a case's command line may refer to."""

    gallery: Path
    weights: Path
    tmp: Path

    def run(self, *tail: object) -> list[object]:
        return [*tail, "--weights", self.weights, "--gallery", self.gallery, *BGSUB, "--json"]


# -- 1: bad video files ----------------------------------------------------------------------------
VIDEO_CASES = {
    "empty": "is empty (0 bytes)",
    "random-bytes": "not a readable video",
    "text": "is a text file, not a video",
    "truncated": "not a readable video",
    "directory": "is a directory; give one video file",
    "missing": "video not found",
    "one-frame": "no person found walking in",
    "black": "no person found walking in",
    "8x8": "no person found walking in",
    "image": "no person found walking in",
    "unicode-name": None,  # a fine clip; only its name is awkward
}


@pytest.mark.parametrize("command", ["enroll", "identify"])
@pytest.mark.parametrize("kind", list(VIDEO_CASES))
def test_bad_video(capfd, gallery, tiny_weights, tmp_path, bad_videos, kind, command):
    before = snapshot(gallery)
    video = bad_videos[kind]
    args = ["enroll", video, "--id", "nïna 名前"] if command == "enroll" else ["identify", video]
    code, out, err = cli(capfd, *Ctx(gallery, tiny_weights, tmp_path).run(*args))
    assert_contract(code, out, err, VIDEO_CASES[kind])
    if VIDEO_CASES[kind] is None:
        result = json.loads(out)
        if command == "enroll":
            assert result["enrolment"]["identity"] == "nïna 名前" and result["enrolment"]["video"] == str(video)
        else:
            assert result["video"] == str(video) and result["walkers"]
    assert_intact(capfd, gallery, before)


# -- 2: bad options --------------------------------------------------------------------------------
def _text_file(ctx: Ctx) -> Path:
    (ctx.tmp / "weights.txt").write_text("not weights\n")
    return ctx.tmp / "weights.txt"


def _empty_file(ctx: Ctx) -> Path:
    (ctx.tmp / "empty.pt").write_bytes(b"")
    return ctx.tmp / "empty.pt"


def _folder(ctx: Ctx) -> Path:
    (ctx.tmp / "weights-folder").mkdir(exist_ok=True)
    return ctx.tmp / "weights-folder"


class _Evil:
    """Unpickling this runs ``touch <marker>``: proof that untrusted bytes were unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_weights(ctx: Ctx) -> Path:
    path = ctx.tmp / "evil.pt"
    path.write_bytes(pickle.dumps({"format": "gaitpipe-weights", "x": _Evil(ctx.tmp / "PWNED")}, protocol=2))
    return path


def _a_file(ctx: Ctx) -> Path:
    (ctx.tmp / "not-a-dir").write_text("x")
    return ctx.tmp / "not-a-dir"


def _foreign_dir(ctx: Ctx) -> Path:
    (ctx.tmp / "photos").mkdir(exist_ok=True)
    (ctx.tmp / "photos" / "holiday.jpg").write_bytes(b"\xff\xd8\xff")
    return ctx.tmp / "photos"


LONG_ID = "x" * 100_000
#: id -> (command line from the context, expected error text or None when the input is fine).
OPTION_CASES: dict[str, tuple[Callable[[Ctx], list[object]], str | None]] = {
    "threshold-nan": (lambda c: c.run("identify", CLIP, "--threshold", "nan"), "--threshold"),
    "threshold-2": (lambda c: c.run("identify", CLIP, "--threshold", "2"), "--threshold"),
    "threshold--5": (lambda c: c.run("identify", CLIP, "--threshold", "-5"), "--threshold"),
    "threshold-abc": (lambda c: c.run("identify", CLIP, "--threshold", "abc"), "--threshold"),
    "top-k-0": (lambda c: c.run("identify", CLIP, "--top-k", "0"), "--top-k"),
    "top-k--1": (lambda c: c.run("identify", CLIP, "--top-k", "-1"), "--top-k"),
    "device-tpu:99": (lambda c: c.run("enroll", CLIP, "--id", "d", "--device", "tpu:99"), "unknown device 'tpu:99'"),
    "device-cuda": (
        lambda c: c.run("enroll", CLIP, "--id", "d", "--device", "cuda"),
        None if HAS_CUDA else "no usable CUDA GPU",
    ),
    "device-cuda:99": (lambda c: c.run("identify", CLIP, "--device", "cuda:99"), "cuda:99"),
    "segmenter-nonsense": (lambda c: ["enroll", CLIP, "--id", "s", "--segmenter", "nonsense", "--weights", c.weights,
                                      "--gallery", c.gallery], "--segmenter"),
    "id-empty": (lambda c: c.run("enroll", CLIP, "--id", ""), "invalid identity ''"),
    "id-newline": (lambda c: c.run("enroll", CLIP, "--id", "ann\nbob"), "invalid identity 'ann\\nbob'"),
    "id-unknown": (lambda c: c.run("enroll", CLIP, "--id", "unknown"), "'unknown' is reserved"),
    "id-100k-chars": (lambda c: c.run("enroll", CLIP, "--id", LONG_ID), "invalid identity"),
    "remove-id-100k-chars": (lambda c: ["gallery", "remove", "--id", LONG_ID, "--gallery", c.gallery], "no identity"),
    "weights-text-file": (lambda c: ["enroll", CLIP, "--id", "w", "--weights", _text_file(c), "--gallery", c.gallery],
                          "is not a weights file"),
    "weights-empty-file": (lambda c: ["identify", CLIP, "--weights", _empty_file(c), "--gallery", c.gallery, *BGSUB],
                           "is not a weights file"),
    "weights-directory": (lambda c: ["enroll", CLIP, "--id", "w", "--weights", _folder(c), "--gallery", c.gallery],
                          "is a directory"),
    "weights-missing-name": (lambda c: ["identify", CLIP, "--weights", "no-such-weights", "--gallery", c.gallery],
                             "weights 'no-such-weights' not found"),
    "weights-malicious-pickle": (lambda c: ["enroll", CLIP, "--id", "w", "--weights", _evil_weights(c),
                                            "--gallery", c.gallery], "cannot read weights"),
    "gallery-is-file-enroll": (lambda c: ["enroll", CLIP, "--id", "f", "--weights", c.weights,
                                          "--gallery", _a_file(c), *BGSUB], "is a file, not a gallery directory"),
    "gallery-is-file-identify": (lambda c: ["identify", CLIP, "--weights", c.weights, "--gallery", _a_file(c)],
                                 "is a file, not a gallery directory"),
    "gallery-is-file-list": (lambda c: ["gallery", "list", "--gallery", _a_file(c)], "is a file"),
    "gallery-is-file-verify": (lambda c: ["gallery", "verify", "--gallery", _a_file(c)], "is a file"),
    "gallery-is-file-remove": (lambda c: ["gallery", "remove", "--id", "p0", "--gallery", _a_file(c)], "is a file"),
    "gallery-foreign-dir-enroll": (lambda c: ["enroll", CLIP, "--id", "f", "--weights", c.weights,
                                              "--gallery", _foreign_dir(c), *BGSUB], "holds no gallery"),
    "device-cpu:0": (lambda c: c.run("enroll", CLIP, "--id", "cpu-user", "--device", "cpu:0"), None),
    "threshold-minus-1": (lambda c: c.run("identify", CLIP, "--threshold", "-1"), None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_bad_option(capfd, monkeypatch, gallery, tiny_weights, tmp_path, case):
    build, pattern = OPTION_CASES[case]
    before = snapshot(gallery)
    ctx = Ctx(gallery, tiny_weights, tmp_path)
    argv = build(ctx)
    foreign = sorted(p.name for p in (tmp_path / "photos").iterdir()) if (tmp_path / "photos").exists() else None
    if pattern is not None:  # an option that cannot work fails before the video is read

        def no_video(self, video):
            raise AssertionError(f"the video was processed before the bad option was refused ({case})")

        monkeypatch.setattr("gaitpipe.pipeline.Pipeline.extract", no_video)
    code, out, err = cli(capfd, *argv)
    assert_contract(code, out, err, pattern)
    if "100k" in case:  # the error echoes at most ~100 characters of a huge value
        assert "x" * 101 not in err and len(err) < 400, len(err)
    assert not (tmp_path / "PWNED").exists(), "a malicious pickle was unpickled"
    if foreign is not None:  # nothing was written into somebody else's folder
        assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == foreign
    assert_intact(capfd, gallery, before)


# -- 3: damaged galleries --------------------------------------------------------------------------
def _index_file(g: Path) -> Path:
    return next(g.glob("index-*.faiss"))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "db-truncated": lambda g: (g / DB_NAME).write_bytes((g / DB_NAME).read_bytes()[:5000]),
    "db-random-bytes": lambda g: (g / DB_NAME).write_bytes(
        np.random.default_rng(1).integers(0, 256, (g / DB_NAME).stat().st_size, dtype=np.uint8).tobytes()
    ),
    "db-zero-bytes": lambda g: (g / DB_NAME).write_bytes(b""),
    "index-json-garbage": lambda g: (g / "index.json").write_text('{"uuid": [1, 2, ,,, not json'),
    "index-file-removed": lambda g: _index_file(g).unlink(),
    "index-file-truncated": lambda g: _index_file(g).write_bytes(_index_file(g).read_bytes()[:100]),
}
#: What each command says on a gallery whose database is damaged (every command refuses it).
DB_DAMAGE = {
    "db-truncated": "is unreadable or corrupt",
    "db-random-bytes": "is unreadable or corrupt",
    "db-zero-bytes": "is empty (0 bytes)",
}
COMMANDS: dict[str, Callable[[Ctx], list[object]]] = {
    "list": lambda c: ["gallery", "list", "--gallery", c.gallery],
    "show": lambda c: ["gallery", "show", "p1", "--gallery", c.gallery],
    "stats": lambda c: ["gallery", "stats", "--gallery", c.gallery],
    "verify": lambda c: ["gallery", "verify", "--gallery", c.gallery],
    "verify-repair": lambda c: ["gallery", "verify", "--repair", "--gallery", c.gallery],
    "rebuild": lambda c: ["gallery", "rebuild", "--gallery", c.gallery],
    "remove": lambda c: ["gallery", "remove", "--id", "p0", "--gallery", c.gallery],
    "identify": lambda c: c.run("identify", CLIP),
    "enroll": lambda c: c.run("enroll", CLIP, "--id", "newcomer"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_gallery(capfd, gallery, tiny_weights, tmp_path, damage, command):
    before = snapshot(gallery)
    DAMAGES[damage](gallery)
    damaged = (gallery / DB_NAME).read_bytes()
    code, out, err = cli(capfd, *COMMANDS[command](Ctx(gallery, tiny_weights, tmp_path)))
    if damage in DB_DAMAGE:  # the templates are gone; the command says so and writes nothing over them
        assert_contract(code, out, err, DB_DAMAGE[damage])
        assert (gallery / DB_NAME).read_bytes() == damaged
        wal = gallery / f"{DB_NAME}-wal"
        assert not wal.exists() or wal.stat().st_size == 0, "something was written into the damaged database"
        return
    # only the search index (a cache) is damaged: a read-only verify reports it, the other commands work
    assert_contract(code, out, err, "problem(s)" if command == "verify" else None)
    if command == "verify":
        assert out.startswith("problem: ") and "--repair" in err
    if command in ("list", "show", "stats", "verify"):  # these never need the index: repair it as verify says
        code, out, err = cli(capfd, "gallery", "verify", "--repair", "--gallery", gallery)
        assert_contract(code, out, err, None)
        assert "repaired: rebuilt the search index" in out
    assert_intact(capfd, gallery, before, removed="p0" if command == "remove" else None)


# -- 4: malicious pickles dropped into a gallery -----------------------------------------------------
PICKLE_DROPS: dict[str, Callable[[Path, bytes], None]] = {
    "extra-files": lambda g, b: [(g / n).write_bytes(b) for n in ("index.pkl", "gallery.pkl", "templates.pickle")],
    "as-stray-index": lambda g, b: (g / "index-99-0badc0de.faiss").write_bytes(b),
    "as-current-index": lambda g, b: _index_file(g).write_bytes(b),
    "as-index-json": lambda g, b: (g / "index.json").write_bytes(b),
}


@pytest.mark.parametrize("where", list(PICKLE_DROPS))
def test_malicious_pickle_in_gallery_is_never_unpickled(capfd, gallery, tiny_weights, tmp_path, where):
    marker = tmp_path / "PWNED"
    before = snapshot(gallery)
    PICKLE_DROPS[where](gallery, pickle.dumps(_Evil(marker)))
    ctx = Ctx(gallery, tiny_weights, tmp_path)
    for command in ("list", "verify", "identify", "rebuild", "verify-repair"):
        code, out, err = cli(capfd, *COMMANDS[command](ctx))
        # a damaged index is a problem a read-only verify reports (non-zero, one error line)
        assert_contract(code, out, err, None if code == 0 or command != "verify" else "problem(s)")
        assert not marker.exists(), f"{command} unpickled a file dropped into the gallery"
    assert_intact(capfd, gallery, before)
    assert not marker.exists()


# -- 5: SIGKILL of real `gaitpipe enroll` processes at random points --------------------------------
def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


#: kill point -> (stderr line after which the delay starts, None: at spawn; delay range in seconds).
KILL_POINTS = {
    "starting-up": (None, (0.05, 1.5)),
    "segmenting": (": started", (0.0, 0.3)),
    "writing-gallery": ("embedding: done", (0.0, 0.05)),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
@pytest.mark.parametrize("state", ["existing-gallery", "new-gallery"])
def test_sigkill_during_cli_enrol(capfd, gallery, tiny_weights, tmp_path, state, point):
    path = gallery if state == "existing-gallery" else tmp_path / "new" / "gallery"
    before = snapshot(gallery) if state == "existing-gallery" else {}
    after_line, (low, high) = KILL_POINTS[point]
    delay = random.Random(f"{state}/{point}").uniform(low, high)  # seeded: the same offsets every run
    enrol = ["enroll", CLIP, "--id", "walker", "--weights", tiny_weights, "--gallery", path, *BGSUB]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gaitpipe", *map(str, enrol)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    try:
        if after_line is not None:
            seen = []
            while (line := proc.stderr.readline()) and after_line not in line:
                seen.append(line)
            assert line, f"never saw {after_line!r}: {''.join(seen)}"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate()
    # the next command finds the gallery as it was, or with the walker enrolled once, never damaged
    if state == "existing-gallery" or (path / DB_NAME).exists():
        assert_intact(capfd, path, before, crashed=True)
    # enrolling again works (or says the walk is already enrolled, when the kill came after the commit)
    code, out, err = cli(capfd, *enrol, "--json")
    assert_contract(code, out, err, None if code == 0 else "is already enrolled as 'walker'")
    after = snapshot(path)
    assert sorted(name for name, _ in after.values()).count("walker") == 1, f"delay {delay:.3f}s"
    assert_intact(capfd, path, before, crashed=code != 0)  # a refused enrolment writes no index either
    if code != 0:  # then the remedy verify names leaves a gallery that verifies
        code, out, err = cli(capfd, "gallery", "verify", "--repair", "--gallery", path)
        assert_contract(code, out, err, None)
        assert_intact(capfd, path, before)


# -- 6: several processes creating the same new gallery at once -------------------------------------
CREATOR = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from gaitpipe.gallery import Gallery
    path, k, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print("ready", flush=True)
    while not os.path.exists(go):  # a barrier: every process opens the new gallery at the same moment
        time.sleep(0.0002)
    with Gallery.open(path, create=True) as g:
        e = np.random.default_rng(k).normal(size=(16, 16)).astype(np.float32)
        g.enroll(f"w{k}", e, encoder="gaitbase-test:0123456789ab", video_sha256=f"{k:02d}" * 32, track=1)
    """
)


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_creators_of_a_new_gallery(capfd, tmp_path, round_):
    """4 processes enrol into a gallery that does not exist yet: each one succeeds (none is told the
    directory 'is not empty and holds no gallery' because another one was creating it)."""
    path, go = tmp_path / "new-gallery", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(path), str(k), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for k in range(4)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert sorted(name for name, _ in snapshot(path).values()) == ["w0", "w1", "w2", "w3"]
    assert_intact(capfd, path, snapshot(path))


def test_gallery_created_by_another_process_between_the_checks(capfd, monkeypatch, tmp_path):
    """The interleaving the rounds above can hit, made certain: another process creates the gallery in the
    (empty) directory right after this one found no database there, before it looks at what else is in it."""
    path = tmp_path / "g"
    path.mkdir()
    real_iterdir = Path.iterdir
    created = []

    def iterdir(self):
        if self == path and not created:
            created.append(True)
            with Gallery.open(path, create=True) as other:
                other.enroll("first", np.ones((16, 16), np.float32), encoder="gaitbase-test:0123456789ab")
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with Gallery.open(path, create=True) as g:
        g.enroll("second", np.full((16, 16), 2.0, np.float32), encoder="gaitbase-test:0123456789ab")
    monkeypatch.undo()
    assert created and sorted(name for name, _ in snapshot(path).values()) == ["first", "second"]
    assert_intact(capfd, path, snapshot(path))


def test_concurrent_cli_enrolments_into_a_new_gallery(capfd, tiny_weights, tmp_path):
    """2 `gaitpipe enroll` processes (2 different walks) into one gallery that neither found there (2, not 4:
    each process costs seconds of CPU; the 4-process rounds above exercise the gallery the same way)."""
    path = tmp_path / "new-gallery"
    clips = sorted(EXAMPLES.glob("*-nm-01-090.mp4"))[:2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gaitpipe", "enroll", str(clip), "--id", clip.name.split("-")[0],
             "--weights", str(tiny_weights), "--gallery", str(path), *BGSUB, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for clip in clips
    ]  # fmt: skip
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert_contract(p.returncode, out, err, None)
    names = sorted(name for name, _ in snapshot(path).values())
    assert names == sorted(clip.name.split("-")[0] for clip in clips)
    assert_intact(capfd, path, snapshot(path))
