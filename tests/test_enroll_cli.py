"""``gaitpipe enroll / identify / gallery``: every bad input gives one ``error:`` line and a non-zero exit.

A tiny GaitBase saved as a real weights file stands in for trained weights (these tests are about
the plumbing, not accuracy; accuracy is tests/test_enroll_identify_casiab.py). Tests that need
real video use the shipped synthetic walkers in examples/ (and clips cut from them); one more
reads the real CASIA-B empty room from ../shared and skips when that data is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gaitpipe.cli.app import main
from gaitpipe.gallery import Gallery

BGSUB = ["--segmenter", "bgsub"]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: A shipped synthetic walker (examples/manifest.json): enrolled from this walk...
ENROL_CLIP = EXAMPLES / "ana-nm-01-090.mp4"
#: ...and identified from this one (same person, same view, 320 x 240).
PROBE_CLIP = EXAMPLES / "ana-nm-02-090.mp4"


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str, pattern: str) -> None:
    assert code != 0
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert pattern.lower() in lines[0].lower(), lines[0]


def test_missing_video_and_missing_gallery(capsys, tmp_path, tiny_weights):
    code, _, err = cli(
        capsys, "enroll", tmp_path / "nope.mp4", "--id", "a", "--weights", tiny_weights, "--gallery", tmp_path / "g"
    )
    assert_clean_error(code, err, "video not found")
    clip = tmp_path / "clip.avi"
    clip.write_bytes(b"\0" * 100)
    code, _, err = cli(capsys, "identify", clip, "--weights", tiny_weights, "--gallery", tmp_path / "missing")
    assert_clean_error(code, err, "no gallery at")
    code, _, err = cli(capsys, "gallery", "list", "--gallery", tmp_path / "missing")
    assert_clean_error(code, err, "no gallery at")
    assert not (tmp_path / "missing").exists() and not (tmp_path / "g").exists()


def test_gallery_of_another_encoder_is_refused(capsys, tmp_path, tiny_weights):
    g = Gallery.open(tmp_path / "g", create=True)
    g.enroll("someone", np.ones((16, 16), np.float32), encoder="gaitbase/gaitbase-casiab/0000000000000000")
    g.close()
    clip = tmp_path / "clip.avi"
    clip.write_bytes(b"\0" * 100)
    for cmd in (["enroll", clip, "--id", "x"], ["identify", clip]):
        code, _, err = cli(capsys, *cmd, "--weights", tiny_weights, "--gallery", tmp_path / "g")
        assert_clean_error(code, err, "never mixed")
    assert len(Gallery.open(tmp_path / "g")) == 1  # untouched


def test_gallery_of_other_installed_weights_names_them(capsys, tmp_path, tiny_weights, monkeypatch):
    """After a change of default encoder, the error says which installed weights built the gallery."""
    from gaitpipe.hub import WEIGHTS_DIR_ENV
    from gaitpipe.models import create_model
    from gaitpipe.models.checkpoint import read_meta, save_checkpoint

    wdir = tmp_path / "w"
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(wdir))
    torch.manual_seed(1)
    older = save_checkpoint(
        wdir / "older-model.pt", create_model("gaitbase-casiab", **create_model("gaitbase-casiab").tiny_overrides())
    )
    (wdir / "broken.pt").write_bytes(b"not a checkpoint")  # unreadable files are passed over
    g = Gallery.open(tmp_path / "g", create=True)
    g.enroll("someone", np.ones((16, 16), np.float32), encoder=older["fingerprint"])
    g.close()
    clip = tmp_path / "clip.avi"
    clip.write_bytes(b"\0" * 100)
    assert read_meta(tiny_weights)["fingerprint"] != older["fingerprint"]
    for cmd in (["enroll", clip, "--id", "x"], ["identify", clip]):
        code, _, err = cli(capsys, *cmd, "--weights", tiny_weights, "--gallery", tmp_path / "g")
        assert_clean_error(code, err, "built with the installed weights 'older-model' (--weights older-model)")
    assert len(Gallery.open(tmp_path / "g")) == 1  # untouched


def test_gallery_commands_and_unknown_id_on_remove(capsys, tmp_path):
    g = Gallery.open(tmp_path / "g", create=True)
    rng = np.random.default_rng(0)
    for name in ("ann", "bob"):
        for k in range(2):
            g.enroll(
                name,
                rng.normal(size=(16, 256)),
                encoder="enc:1",
                video=f"/v/{name}{k}.avi",
                video_sha256=f"{name}{k}",
                track=1,
            )
    g.close()
    G = ["--gallery", tmp_path / "g"]
    code, out, _ = cli(capsys, "gallery", "list", "--json", *G)
    assert code == 0
    listed = json.loads(out)
    assert [p["id"] for p in listed["identities"]] == ["ann", "bob"]
    assert [len(p["enrolments"]) for p in listed["identities"]] == [2, 2]
    assert listed["identities"][0]["enrolments"][0]["video"] == "/v/ann0.avi"
    code, out, _ = cli(capsys, "gallery", "show", "bob", *G)
    assert code == 0 and "bob: 2 enrolment(s)" in out
    code, _, err = cli(capsys, "gallery", "remove", "--id", "nobody", *G)
    assert_clean_error(code, err, "no identity 'nobody'")
    code, _, err = cli(capsys, "gallery", "show", "nobody", *G)
    assert_clean_error(code, err, "no identity 'nobody'")
    code, _, err = cli(capsys, "gallery", "remove", *G)
    assert_clean_error(code, err, "exactly one of")
    code, out, _ = cli(capsys, "gallery", "export", tmp_path / "x.sqlite", *G)
    assert code == 0 and "exported 4" in out
    code, out, _ = cli(capsys, "gallery", "remove", "--id", "ann", *G)
    assert code == 0 and "2 enrolment(s) deleted" in out
    code, out, _ = cli(capsys, "gallery", "rebuild", "--index", "hnsw", *G)
    assert code == 0 and "rebuilt hnsw index of 2" in out
    code, out, _ = cli(capsys, "gallery", "import", tmp_path / "x.sqlite", *G)
    assert code == 0 and "imported 2" in out and "skipped 2" in out
    code, out, _ = cli(capsys, "gallery", "stats", "--json", *G)
    st = json.loads(out)
    assert st["enrolments"] == 4 and st["identities"] == 2 and st["index_current"]
    code, out, _ = cli(capsys, "gallery", "verify", *G)
    assert code == 0 and "ok: 4 enrolments" in out


def test_corrupt_video_is_refused(capsys, tmp_path, tiny_weights):
    bad = tmp_path / "broken.avi"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    code, _, err = cli(
        capsys, "enroll", bad, "--id", "a", "--weights", tiny_weights, "--gallery", tmp_path / "g", *BGSUB
    )
    assert_clean_error(code, err, "not a readable video")
    assert not (tmp_path / "g").exists()  # a refused video leaves no gallery behind


def _frames(src: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(src))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def _write(dst: Path, frames: list[np.ndarray]) -> Path:
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        out.write(frame)
    out.release()
    return dst


@pytest.fixture(scope="module")
def example_scene(tmp_path_factory) -> dict[str, Path]:
    """Clips made from a shipped example walk: its empty scene (the per-pixel median: the walker
    covers any pixel in a minority of the frames), a still clip of that scene, and a 12-frame cut."""
    root = tmp_path_factory.mktemp("example-scene")
    frames = _frames(ENROL_CLIP)
    background = np.median(np.stack(frames), axis=0).astype(np.uint8)
    cv2.imwrite(str(root / "empty-scene.png"), background)
    return {
        "background": root / "empty-scene.png",
        "empty": _write(root / "empty-scene.avi", [background] * 30),
        "short": _write(root / "short.avi", frames[20:32]),
    }


def test_no_person_is_refused(capsys, tmp_path, tiny_weights, example_scene):
    code, _, err = cli(
        capsys,
        "enroll",
        example_scene["empty"],
        "--id",
        "ghost",
        "--weights",
        tiny_weights,
        "--gallery",
        tmp_path / "g",
        *BGSUB,
        "--background",
        example_scene["background"],
    )
    assert_clean_error(code, err, "no person found walking in")
    assert not (tmp_path / "g").exists()


def test_no_person_in_the_real_empty_room(capsys, tmp_path, tiny_weights, casiab_videos):
    """Real camera noise in an empty CASIA-B room must not be taken for a walker."""
    empty = casiab_videos / "001-bkgrd-090.avi"  # the empty room
    code, _, err = cli(
        capsys,
        "enroll",
        empty,
        "--id",
        "ghost",
        "--weights",
        tiny_weights,
        "--gallery",
        tmp_path / "g",
        *BGSUB,
        "--background",
        empty,
    )
    assert_clean_error(code, err, "no person found walking in")


def test_too_short_walk_is_refused(capsys, tmp_path, tiny_weights, example_scene):
    code, _, err = cli(
        capsys,
        "enroll",
        example_scene["short"],
        "--id",
        "brief",
        "--weights",
        tiny_weights,
        "--gallery",
        tmp_path / "g",
        *BGSUB,
        "--background",
        example_scene["background"],
    )
    assert_clean_error(code, err, "has only 12 usable silhouettes")
    assert not (tmp_path / "g").exists()


def test_enrol_identify_json_and_render_plumbing(capsys, tmp_path, tiny_weights):
    """With untrained weights the names mean nothing; this checks outputs, duplicates and the render."""
    G = ["--gallery", tmp_path / "g", "--weights", tiny_weights, *BGSUB]
    video = ENROL_CLIP
    code, out, err = cli(capsys, "enroll", video, "--id", "001", *G)
    assert code == 0, err
    assert "enrolled '001' as enrolment #1" in out and "silhouettes used" in out and "quality" in out
    code, _, err = cli(capsys, "enroll", video, "--id", "001", *G)
    assert_clean_error(code, err, "already enrolled as '001'")
    assert "(use --force)" in err  # the library's remedy named as the CLI's flag
    code, out, err = cli(capsys, "enroll", video, "--id", "001", "--force", "--json", *G)
    assert code == 0, err
    assert json.loads(out)["enrolment"]["id"] == 2
    render = tmp_path / "out.mp4"
    code, out, err = cli(capsys, "identify", PROBE_CLIP, "--json", "--top-k", "3", "--render", render, *G)
    assert code == 0, err
    result = json.loads(out)  # exactly one JSON object on stdout
    assert set(result) == {"video", "rotation", "threshold", "margin", "walkers"}
    assert result["video"].endswith(PROBE_CLIP.name)
    assert result["threshold"]["value"] == 0.3 and result["threshold"]["source"] == "calibrated"
    assert result["margin"] == {"value": 0.05, "source": "default", "scale": "raw"}  # the weights carry no margin
    assert result["rotation"]["degrees"] == 0 and result["rotation"]["decided_by"] == "auto"  # upright clip
    assert len(result["walkers"]) >= 1
    w = result["walkers"][0]
    assert set(w) == {"track", "frames", "decision", "why", "best", "second", "candidates", "quality", "matches"}
    assert w["matches"][0]["id"] == "001" and len(w["matches"]) == 1  # one identity enrolled (twice: max)
    assert w["second"] is None and w["best"] == w["matches"][0]
    assert w["quality"]["reasons"] == []  # a clean walk
    assert w["decision"] == ("001" if w["matches"][0]["score"] >= 0.3 else "unknown")  # threshold from the weights
    code, out, _ = cli(capsys, "identify", PROBE_CLIP, "--json", "--threshold", "1.0", *G)
    assert all(x["decision"] == "unknown" for x in json.loads(out)["walkers"])
    cap = cv2.VideoCapture(str(render))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    src = cv2.VideoCapture(str(PROBE_CLIP))
    assert ok and frame.shape[:2] == (240, 320) and n == int(src.get(cv2.CAP_PROP_FRAME_COUNT))
    src.release()
