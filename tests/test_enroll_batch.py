"""``gaitpipe enroll-batch`` on the local engine (the Ray engine: tests/test_ray_engine.py), its
manifest checks, and the one-line error when ``--engine ray`` is asked for without Ray installed.

A tiny GaitBase weights file stands in for trained weights (plumbing, not accuracy); the videos
are the shipped synthetic walkers in examples/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from gaitpipe.cli.app import main
from gaitpipe.gallery import Gallery

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BGSUB = ["--segmenter", "bgsub"]


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err
    return [ln for ln in err.strip().splitlines() if ln.startswith("error:")]


def test_enroll_batch_local_reports_rows_and_resumes(capsys, tmp_path, tiny_weights, one_torch_thread) -> None:
    (tmp_path / "walks").mkdir()
    (tmp_path / "walks" / "ana.mp4").symlink_to(EXAMPLES / "ana-nm-01-090.mp4")
    manifest = tmp_path / "list.csv"
    # relative to the manifest's folder, absolute, a missing file, and ana's walk again under another name
    manifest.write_text(
        "identity,video\n"
        "ana,walks/ana.mp4\n"
        f"ben,{EXAMPLES / 'ben-nm-01-090.mp4'}\n"
        "\n"
        "carl,walks/nope.mp4\n"
        "dora,walks/ana.mp4\n"
    )
    gallery = tmp_path / "g"
    args = ["enroll-batch", manifest, "--gallery", gallery, "--weights", tiny_weights, *BGSUB]
    code, out, err = cli(capsys, *args)
    assert code == 1
    lines = error_lines(err)
    assert any("line 5" in ln and "video not found" in ln for ln in lines), err
    assert any("line 6" in ln and "already enrolled as 'ana'" in ln and "--force" in ln for ln in lines), err
    assert lines[-1] == "error: 2 of 4 rows failed (see above)"
    assert "2 enrolled, 0 skipped, 2 failed" in out
    with Gallery.open(gallery) as g:
        first = {(e.identity, e.id) for e in g.enrolments()}
    assert {identity for identity, _ in first} == {"ana", "ben"}

    # Run again as JSON: done rows are skipped (nothing doubled), failed rows fail again.
    code, out, err = cli(capsys, *args, "--json")
    assert code == 1
    report = json.loads(out)
    assert [r["status"] for r in report["rows"]] == ["skipped", "skipped", "failed", "failed"]
    assert [r["line"] for r in report["rows"]] == [2, 3, 5, 6]
    with Gallery.open(gallery) as g:
        assert {(e.identity, e.id) for e in g.enrolments()} == first


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "manifest not found"),
        ("", "is empty"),
        ("path,name\nx.mp4,ana\n", "needs the columns video,identity; missing video, identity"),
        ("video,identity\n", "lists no walks"),
        ("video,identity\nx.mp4,\n", "line 2: the identity is empty"),
        ("video,identity\nx.mp4,ana\n,ben\n", "line 3: the video is empty"),
        ("video,identity\nx.mp4," + "a" * 300 + "\n", "line 2:"),
        (b"video,identity\nx.mp4,\xff\xfe\n", "not UTF-8"),
    ],
)
def test_bad_manifest_is_one_line_and_writes_nothing(capsys, tmp_path, text, message) -> None:
    manifest = tmp_path / "list.csv"
    if isinstance(text, bytes):
        manifest.write_bytes(text)
    elif text is not None:
        manifest.write_text(text)
    code, _, err = cli(capsys, "enroll-batch", manifest, "--gallery", tmp_path / "g", *BGSUB)
    lines = error_lines(err)
    assert code != 0 and len(lines) == 1, err
    assert message in lines[0], lines[0]
    assert not (tmp_path / "g").exists()


def test_engine_ray_without_ray_says_how_to_install(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as it does where Ray is absent
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"video,identity\n{EXAMPLES / 'ana-nm-01-090.mp4'},ana\n")
    for args in (
        ["extract-silhouettes", EXAMPLES / "ana-nm-01-090.mp4", "--out", tmp_path / "sils", "--engine", "ray"],
        ["enroll-batch", manifest, "--gallery", tmp_path / "g", "--engine", "ray"],
    ):
        code, _, err = cli(capsys, *args, *BGSUB)
        lines = error_lines(err)
        assert code != 0 and len(lines) == 1, err
        assert "pip install gaitpipe[ray]" in lines[0] and "--engine" in lines[0], lines[0]
    assert not (tmp_path / "sils").exists() and not (tmp_path / "g").exists()


def test_address_needs_the_ray_engine(capsys, tmp_path) -> None:
    code, _, err = cli(
        capsys, "extract-silhouettes", EXAMPLES / "ana-nm-01-090.mp4", "--out", tmp_path / "s", "--address", "auto"
    )
    lines = error_lines(err)
    assert code != 0 and len(lines) == 1 and "--address" in lines[0] and "ray engine" in lines[0], err
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"video,identity\n{EXAMPLES / 'ana-nm-01-090.mp4'},ana\n")
    code, _, err = cli(capsys, "enroll-batch", manifest, "--gallery", tmp_path / "g", "--workers", "2")
    lines = error_lines(err)
    assert code != 0 and len(lines) == 1 and "--workers" in lines[0] and "ray engine" in lines[0], err
