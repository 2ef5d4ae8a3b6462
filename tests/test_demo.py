"""``gaitpipe demo``: the shipped examples, the demo end to end, its exit status and the renderer fallback."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import cv2
import pytest

from gaitpipe import demo
from gaitpipe.cli.app import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------- shipped examples
def test_shipped_examples_are_small_readable_and_listed():
    manifest = json.loads((EXAMPLES / "manifest.json").read_text())
    clips = demo.load_examples(EXAMPLES)
    assert {c.file for c in clips} == {r["file"] for r in manifest["clips"]} == {c.file for c in demo.demo_clips()}
    people = {c.person for c in clips}
    assert 4 <= len(people) <= 6
    for person in people:  # an enrol walk; probes at the same view, another view, with a bag, in a coat
        mine = [c for c in clips if c.person == person]
        enrol = [c for c in mine if c.role == "enrol"]
        assert len(enrol) == 1
        probes = {(c.condition, c.view == enrol[0].view) for c in mine if c.role == "probe"}
        assert {("nm", True), ("nm", False), ("bg", True), ("cl", True)} <= probes
    total = sum(p.stat().st_size for p in EXAMPLES.iterdir() if p.is_file())
    assert total <= 10 * 1024 * 1024
    cap = cv2.VideoCapture(str(EXAMPLES / clips[0].file))  # OpenCV reads them back, at full size
    n, shape = 0, None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, shape = n + 1, frame.shape
    cap.release()
    assert shape == (240, 320, 3)
    assert n == manifest["clips"][0]["frames"] >= 40


def test_renderer_reproduces_the_shipped_frames(tmp_path):
    """make_examples.py is deterministic: a re-rendered clip has exactly the shipped frames."""
    shipped = {c["file"]: c for c in json.loads((EXAMPLES / "manifest.json").read_text())["clips"]}
    name = demo.clip_name(demo.DEMO_PEOPLE[1], *demo.PROBE_WALKS[2])  # a bag walk
    fresh = demo.render_examples(tmp_path, progress=False, files=[name])
    assert [c["file"] for c in fresh["clips"]] == [name]
    assert fresh["clips"][0]["frames_sha256"] == shipped[name]["frames_sha256"]
    cap = cv2.VideoCapture(str(tmp_path / name))
    assert cap.read()[0]
    cap.release()


# ----------------------------------------------------------------------------- the demo itself
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    gallery = tmp_path_factory.mktemp("demo") / "gallery"
    rc, out, err = _run_cli(["demo", "--keep-gallery", str(gallery)])
    return rc, out, err, gallery


def test_demo_end_to_end_on_the_examples(demo_run):
    rc, out, err, gallery = demo_run
    assert rc == 0, f"demo failed:\n{out}\n{err}"
    assert "probe clip" in out and "decision" in out and "correct?" in out
    probes = [c for c in demo.demo_clips() if c.role == "probe"]
    for c in probes:
        assert c.file in out
    acc = [line for line in out.splitlines() if line.startswith("accuracy:")]
    assert len(acc) == 1 and f"/{len(probes)} = " in acc[0]
    from gaitpipe.gallery import Gallery

    with Gallery.open(gallery) as g:  # --keep-gallery kept a real gallery of the enrolled people
        assert sorted(i.identity for i in g.identities()) == sorted(demo.DEMO_PEOPLE)


def test_demo_exits_nonzero_below_the_claim(tmp_path, monkeypatch):
    # A one-person subset of the real examples keeps this quick; no run can reach 101 %.
    sub = tmp_path / "examples"
    sub.mkdir()
    person = demo.DEMO_PEOPLE[0]
    manifest = json.loads((EXAMPLES / "manifest.json").read_text())
    manifest["clips"] = [c for c in manifest["clips"] if c["person"] == person]
    for c in manifest["clips"]:
        shutil.copy(EXAMPLES / c["file"], sub / c["file"])
    (sub / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(demo, "CLAIMED_ACCURACY", 1.01)
    rc, out, err = _run_cli(["demo", "--examples", str(sub)])
    assert rc != 0
    assert "FAILED: accuracy" in err and "101%" in err
    assert "accuracy:" in out  # the table and accuracy are still printed


def test_demo_bad_examples_folder_is_one_error_line(tmp_path):
    rc, _out, err = _run_cli(["demo", "--examples", str(tmp_path / "nope")])
    assert rc != 0 and err.startswith("error: examples folder not found") and "Traceback" not in err
    rc, _out, err = _run_cli(["demo", "--examples", str(tmp_path)])
    assert rc != 0 and "has no manifest.json" in err


def test_keep_gallery_must_be_new(tmp_path):
    (tmp_path / "something").write_text("x")
    rc, _out, err = _run_cli(["demo", "--keep-gallery", str(tmp_path)])
    assert rc != 0 and "is not empty" in err


# ----------------------------------------------------------------------------- without examples/
def test_fallback_renders_into_the_cache_once(tmp_path, monkeypatch):
    """Installed from a wheel (no examples/ next to the package): the clips are rendered into the cache."""
    monkeypatch.setattr(demo, "repo_examples_dir", lambda: None)
    monkeypatch.setenv("GAITPIPE_CACHE", str(tmp_path))
    calls = []
    one = demo.clip_name(demo.DEMO_PEOPLE[0], *demo.ENROL_WALK)
    real_render = demo.render_examples

    def render_one(out, progress=True):  # the real renderer, one clip only (speed)
        calls.append(out)
        return real_render(out, progress=False, files=[one])

    monkeypatch.setattr(demo, "render_examples", render_one)
    folder, rendered = demo.resolve_examples(None, progress=False)
    assert rendered and folder.parent == tmp_path and (folder / "manifest.json").is_file()
    assert (folder / one).stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-rendered leftovers
    again, _ = demo.resolve_examples(None, progress=False)
    assert again == folder and len(calls) == 1  # reused, not rendered twice
