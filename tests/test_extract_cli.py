"""``gaitpipe extract-silhouettes`` end to end, on small synthetic videos and a real CASIA-B clip.

The synthetic clips are drawn with OpenCV: a textured static room and a walker (head, torso,
swinging arms and legs) crossing it from off-screen left to off-screen right, so the real
background-subtraction segmenter (``--segmenter bgsub``) finds it and the walker is cut by the
image border at both ends (those frames must be dropped).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitpipe.cli.app import main
from gaitpipe.extract import SIDECAR
from gaitpipe.utils.files import atomic_write_bytes

H, W = 120, 160
FPS = 25.0


def _background(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bg = np.zeros((H, W, 3), np.uint8)
    bg[:] = (150, 160, 170)
    bg[90:] = (110, 120, 100)  # floor
    for _ in range(8):  # furniture-like boxes, static
        x, y = int(rng.integers(0, W - 20)), int(rng.integers(0, 80))
        colour = tuple(int(c) for c in rng.integers(60, 220, 3))
        cv2.rectangle(bg, (x, y), (x + int(rng.integers(8, 30)), y + int(rng.integers(6, 20))), colour, -1)
    return cv2.GaussianBlur(bg, (3, 3), 0)


def _draw_walker(
    img: np.ndarray, x: float, phase: float, colour=(40, 30, 140), height: int = 74, foot_y: int = 104
) -> None:
    """A stick-and-blob walker whose feet touch ``foot_y`` and whose centre column is ``x``."""
    top = foot_y - height
    hip = (int(x), top + int(0.55 * height))
    neck = (int(x), top + int(0.2 * height))
    swing = np.sin(phase)
    leg = int(0.45 * height)
    for s in (swing, -swing):
        foot = (int(x + 0.35 * leg * s), foot_y)
        cv2.line(img, hip, foot, colour, 6)
        hand = (int(x - 0.25 * leg * s), top + int(0.55 * height))
        cv2.line(img, neck, hand, colour, 4)
    cv2.line(img, neck, hip, colour, 12)  # torso
    cv2.circle(img, (int(x), top + int(0.1 * height)), int(0.09 * height), (60, 80, 170), -1)  # head


def _write_video(path: Path, n: int, walkers: list[tuple[float, float]] | None, seed: int = 0) -> Path:
    """``walkers``: (start x, speed px/frame) pairs; the first 8 frames are always empty."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    assert writer.isOpened(), "OpenCV cannot write MJPG AVI here"
    bg = _background(seed)
    for i in range(n):
        img = bg.copy()
        if i >= 8:
            for k, (x0, speed) in enumerate(walkers or []):
                _draw_walker(img, x0 + speed * (i - 8), phase=0.45 * i + k, colour=(40 + 60 * k, 30, 140 - 50 * k))
        writer.write(img)
    writer.release()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    good = root / "good"
    (good / "sub").mkdir(parents=True)
    bad = root / "bad"
    bad.mkdir()
    c = {
        # One walker crossing: enters at x=-20, leaves past W+20 (border-cut frames at both ends).
        "walk": _write_video(good / "walk_a.avi", 44, [(-20.0, 5.5)]),
        # CASIA-B style name, in a sub-directory (recursion).
        "casiab": _write_video(good / "sub" / "001-nm-01-090.avi", 44, [(-20.0, 5.5)], seed=1),
        "nobody": _write_video(bad / "nobody.avi", 30, None, seed=2),
        # A walker who has only just fully entered the view when the clip ends: 2 usable frames.
        "brief": _write_video(bad / "brief.avi", 16, [(-20.0, 6.0)], seed=3),
    }
    c["zero"] = bad / "zero.avi"
    c["zero"].write_bytes(b"")
    c["corrupt"] = bad / "corrupt.mp4"
    c["corrupt"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    c["text"] = bad / "notes.txt"
    c["text"].write_text("not a video\n")
    c["missing"] = bad / "does-not-exist.avi"
    c["good_dir"] = good
    return c


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["extract-silhouettes", *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _load(path: Path) -> np.ndarray:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _manifest(out: Path, key: str) -> dict:
    return json.loads((out / SIDECAR / key / "manifest.json").read_text())


def test_layout_manifest_and_extras(clips, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    rc, stdout, err = _run(
        [str(clips["good_dir"]), "--out", str(out), "--segmenter", "bgsub", "--png", "--preview", "--rgb"], capsys
    )
    assert rc == 0, err
    assert "walk_a.avi" in stdout and "001-nm-01-090.avi" in stdout and "2 done" in stdout

    # CASIA-B name -> OUT/SSS/CC-NN/VVV/VVV.pkl (+ VVV-rgb.pkl); nothing but pkls in the tree.
    seq_dir = out / "001" / "nm-01" / "090"
    assert sorted(p.name for p in seq_dir.iterdir()) == ["090-rgb.pkl", "090.pkl"]
    sil = _load(seq_dir / "090.pkl")
    rgb = _load(seq_dir / "090-rgb.pkl")
    assert sil.dtype == np.uint8 and sil.ndim == 3 and sil.shape[1:] == (64, 64)
    assert rgb.dtype == np.uint8 and rgb.shape == (*sil.shape, 3)
    # The walker is fully visible for about (160 - 2 * 20) / 5.5 = 22 frames; it must be found.
    assert 12 <= len(sil) <= 36
    # Colour only where the silhouette is (soft-masked crop aligned with it).
    assert (rgb.max(axis=-1)[sil == 0] <= 40).mean() > 0.95
    assert (rgb.max(axis=-1)[sil == 255] > 0).mean() > 0.95

    m = _manifest(out, "001-nm-01-090")
    assert m["complete"] is True and m["segmenter"]["name"] == "bgsub"
    assert isinstance(m["segmenter"]["settings"], dict)
    assert m["gaitpipe_version"] and m["video_info"]["width"] == W and m["video_info"]["height"] == H
    written = [t for t in m["tracks"] if t["status"] == "written"]
    assert len(written) == 1
    t = written[0]
    assert t["frames"] == len(sil) == len(t["frame_indices"]) == len(t["boxes"])
    assert t["frame_indices"] == sorted(t["frame_indices"]) and all(len(b) == 4 for b in t["boxes"])
    # Entering and leaving through the image border: those frames are dropped, with the reason.
    assert t["dropped"].get("border_cut", 0) >= 4
    assert m["frames_read"] == 44
    for rel in m["outputs"]:
        assert (out / rel).is_file(), rel

    # --png: one PNG per silhouette, equal to the pkl frame; --preview: contact sheet + GEI.
    extras = out / SIDECAR / "001-nm-01-090" / f"track-{t['track_id']}"
    pngs = sorted((extras / "frames").glob("*.png"))
    assert len(pngs) == len(sil)
    assert [int(p.stem) for p in pngs] == t["frame_indices"]
    np.testing.assert_array_equal(cv2.imread(str(pngs[0]), cv2.IMREAD_GRAYSCALE), sil[0])
    assert len(list((extras / "rgb").glob("*.png"))) == len(sil)
    gei = cv2.imread(str(extras / "gei.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(gei, np.rint(sil.astype(np.float32).mean(0)).astype(np.uint8))
    sheet = cv2.imread(str(extras / "contact.png"))
    assert sheet is not None and sheet.shape[0] >= 64 and sheet.shape[1] >= 64 * 2
    assert (extras / "contact-rgb.png").is_file()

    # Any other name -> OUT/<stem>/<track-id>/default/default.pkl
    mw = _manifest(out, "walk_a")
    (tw,) = [t for t in mw["tracks"] if t["status"] == "written"]
    generic = out / "walk_a" / str(tw["track_id"]) / "default"
    assert sorted(p.name for p in generic.iterdir()) == ["default-rgb.pkl", "default.pkl"]
    assert _load(generic / "default.pkl").shape == (tw["frames"], 64, 64)

    # No temporary files are left behind anywhere.
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_several_walkers(tmp_path, capsys) -> None:
    """A generic clip gets one folder per walker; a CASIA-B slot keeps only the longest track."""
    walkers = [(-20.0, 5.0), (-90.0, 5.0)]  # two people, one behind the other
    generic = _write_video(tmp_path / "two.avi", 56, walkers, seed=4)
    casia = _write_video(tmp_path / "002-bg-01-018.avi", 56, walkers, seed=4)
    out = tmp_path / "out"
    rc, stdout, err = _run([str(generic), str(casia), "--out", str(out), "--segmenter", "bgsub"], capsys)
    assert rc == 0, err
    m = _manifest(out, "two")
    written = [t for t in m["tracks"] if t["status"] == "written"]
    assert len(written) == 2
    for t in written:
        assert _load(out / "two" / str(t["track_id"]) / "default" / "default.pkl").shape == (t["frames"], 64, 64)
    mc = _manifest(out, "002-bg-01-018")
    statuses = {t["status"] for t in mc["tracks"]}
    assert statuses >= {"written", "not_main_walker"}
    (main_walker,) = [t for t in mc["tracks"] if t["status"] == "written"]
    assert main_walker["frames"] == max(t["frames"] for t in mc["tracks"])
    assert len(_load(out / "002" / "bg-01" / "018" / "018.pkl")) == main_walker["frames"]
    assert "other walker" in stdout


def test_skip_unless_overwrite_and_workers(clips, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    videos = [str(clips["walk"]), str(clips["casiab"])]
    rc, _, err = _run([*videos, "--out", str(out), "--segmenter", "bgsub", "--workers", "2"], capsys)
    assert rc == 0, err
    pkl = out / "001" / "nm-01" / "090" / "090.pkl"
    first = _load(pkl)
    stamp = pkl.stat().st_mtime_ns
    manifest_stamp = (out / SIDECAR / "walk_a" / "manifest.json").stat().st_mtime_ns

    # Parallel workers give the same silhouettes as one process.
    out1 = tmp_path / "out1"
    rc, _, err = _run([str(clips["casiab"]), "--out", str(out1), "--segmenter", "bgsub"], capsys)
    assert rc == 0, err
    np.testing.assert_array_equal(_load(out1 / "001" / "nm-01" / "090" / "090.pkl"), first)

    # A second run skips finished videos...
    rc, stdout, err = _run([*videos, "--out", str(out), "--segmenter", "bgsub"], capsys)
    assert rc == 0, err
    assert "2 skipped" in stdout
    assert pkl.stat().st_mtime_ns == stamp
    assert (out / SIDECAR / "walk_a" / "manifest.json").stat().st_mtime_ns == manifest_stamp

    # ...unless a finished output is incomplete (manifest says so) ...
    m = _manifest(out, "walk_a")
    m["complete"] = False
    (out / SIDECAR / "walk_a" / "manifest.json").write_text(json.dumps(m))
    rc, stdout, _ = _run([*videos, "--out", str(out), "--segmenter", "bgsub"], capsys)
    assert rc == 0 and "1 done, 1 skipped" in stdout
    # ...or an extra is asked for that was not made (--rgb), or --overwrite is given.
    rc, stdout, _ = _run([str(clips["casiab"]), "--out", str(out), "--segmenter", "bgsub", "--rgb"], capsys)
    assert rc == 0 and "1 done" in stdout and (pkl.parent / "090-rgb.pkl").is_file()
    rc, stdout, _ = _run([*videos, "--out", str(out), "--segmenter", "bgsub", "--overwrite"], capsys)
    assert rc == 0 and "2 done" in stdout
    assert pkl.stat().st_mtime_ns != stamp
    np.testing.assert_array_equal(_load(pkl), first)

    # A redo that fails keeps the earlier complete result (nothing was written yet).
    stamp = pkl.stat().st_mtime_ns
    rc, _, err = _run(
        [str(clips["casiab"]), "--out", str(out), "--segmenter", "bgsub", "--overwrite", "--min-frames", "999"], capsys
    )
    assert rc != 0 and "too few" in err
    assert _manifest(out, "001-nm-01-090")["complete"] is True and pkl.stat().st_mtime_ns == stamp

    # Another file with the same name never silently replaces stored silhouettes.
    other = tmp_path / "elsewhere" / "walk_a.avi"
    other.parent.mkdir()
    other.write_bytes(clips["walk"].read_bytes())
    rc, _, err = _run([str(other), "--out", str(out), "--segmenter", "bgsub"], capsys)
    assert rc != 0 and "already holds silhouettes of" in err and "--overwrite" in err
    assert _manifest(out, "walk_a")["video"] == str(clips["walk"])


def test_every_bad_input_gets_one_line(clips, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    bad = ["missing", "zero", "corrupt", "text", "nobody", "brief"]
    args = [str(clips[k]) for k in bad] + [str(clips["walk"])]
    rc, stdout, err = _run([*args, "--out", str(out), "--segmenter", "bgsub"], capsys)
    assert rc != 0
    assert "Traceback" not in err and "Traceback" not in stdout
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    for k in bad:
        mine = [ln for ln in lines if str(clips[k]) in ln]
        assert len(mine) == 1, (k, lines)
    by_name = {k: next(ln for ln in lines if str(clips[k]) in ln) for k in bad}
    assert "no such file" in by_name["missing"]
    assert "is empty (0 bytes)" in by_name["zero"]
    assert "not a readable video" in by_name["corrupt"]
    assert "is a text file, not a video" in by_name["text"]
    assert "no person" in by_name["nobody"]
    assert "too few" in by_name["brief"]
    assert lines[-1] == f"error: {len(bad)} of {len(bad) + 1} inputs failed (see above)"
    # The good video was still processed.
    assert "1 done" in stdout and _manifest(out, "walk_a")["complete"] is True
    # A video without a usable walker leaves an incomplete manifest saying why, and no pkl.
    nob = _manifest(out, "nobody")
    assert nob["complete"] is False and "no person" in nob["error"]
    assert not (out / "nobody").exists()
    brief = _manifest(out, "brief")
    assert brief["complete"] is False and brief["tracks"] and brief["tracks"][0]["status"] == "too_short"


def test_subprocess_bad_and_good_inputs_no_traceback(clips, tmp_path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gaitpipe",
            "extract-silhouettes",
            str(clips["corrupt"]),
            str(clips["missing"]),
            str(clips["walk"]),
            "--out",
            str(out),
            "--segmenter",
            "bgsub",
            "--max-frames",
            "40",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert any(str(clips["corrupt"]) in ln for ln in errors) and any(str(clips["missing"]) in ln for ln in errors)
    m = _manifest(out, "walk_a")
    assert m["complete"] is True and m["frames_read"] == 40 and m["options"]["max_frames"] == 40


def test_out_is_a_file_is_one_error(clips, tmp_path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    rc, _, err = _run([str(clips["walk"]), "--out", str(target), "--segmenter", "bgsub"], capsys)
    assert rc != 0 and err.strip().splitlines()[-1].startswith("error: --out") and "Traceback" not in err


def test_atomic_write_leaves_old_file_on_failure(tmp_path) -> None:
    target = tmp_path / "x.pkl"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # type: ignore[arg-type]  # fails mid-write
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pkl"]


def _best_aligned_iou(ours: np.ndarray, official: np.ndarray) -> float:
    """Mean IoU of binarised frames at the best frame offset (overlap >= half the shorter one)."""
    a, b = ours > 127, official > 127
    need = max(5, min(len(a), len(b)) // 2)
    best = 0.0
    for off in range(-len(b) + need, len(a) - need + 1):
        i0, i1 = max(0, -off), min(len(b), len(a) - off)
        x, y = a[i0 + off : i1 + off], b[i0:i1]
        iou = (x & y).sum(axis=(1, 2)) / np.maximum((x | y).sum(axis=(1, 2)), 1)
        best = max(best, float(iou.mean()))
    return best


def test_real_casiab_clip(casiab_videos, casiab_pack, tmp_path, capsys) -> None:
    clip = casiab_videos / "001-nm-01-090.avi"
    out = tmp_path / "out"
    rc, _stdout, err = _run(
        [
            str(clip),
            "--out",
            str(out),
            "--segmenter",
            "bgsub",
            "--background",
            str(casiab_videos / "001-bkgrd-090.avi"),
        ],
        capsys,
    )
    assert rc == 0, err
    sil = _load(out / "001" / "nm-01" / "090" / "090.pkl")
    m = _manifest(out, "001-nm-01-090")
    (t,) = [t for t in m["tracks"] if t["status"] == "written"]
    assert m["frames_read"] == 106 and t["frames"] == len(sil)
    assert m["segmenter"]["settings"]["background"].endswith("001-bkgrd-090.avi")
    # The subject crosses the room; frames where he is partly outside the view are dropped.
    assert t["dropped"].get("border_cut", 0) > 0
    # Compare with CASIA's official silhouettes of the same walk (OpenGait-normalised, binary):
    # about as many frames, and the same shapes (mean IoU at the best frame alignment).
    sys.path.insert(0, str(casiab_pack.parent))
    from casiab_pack import read_pack

    ((*_, official),) = list(read_pack(casiab_pack, subjects={"001"}, conds={"nm-01"}, views={"090"}))
    assert abs(len(sil) - len(official)) <= 10, (len(sil), len(official))
    assert _best_aligned_iou(sil, official) > 0.85


def test_extract_video_api(clips) -> None:
    """The in-memory entry point the Pipeline uses: sequences, manifest, drops, NoPersonError."""
    from gaitpipe.errors import NoPersonError
    from gaitpipe.extract import extract_video
    from gaitpipe.segment import create_segmenter

    seg = create_segmenter("bgsub")
    result = extract_video(clips["walk"], seg, stride=2, keep_rgb=True)
    assert result.info.width == W and result.info.height == H
    (seq, *_) = result.sequences
    assert seq.frames.dtype == np.uint8 and seq.frames.shape[1:] == (64, 64)
    assert seq.rgb is not None and seq.rgb.shape == (*seq.frames.shape, 3)
    assert (seq.frame_indices % 2 == 0).all()  # source indices, before the stride
    assert result.manifest["options"]["stride"] == 2 and result.manifest["frames_read"] == 22
    assert result.dropped.get("border_cut", 0) >= 2
    assert result.timings.frames == 22 and result.timings.segment > 0
    with pytest.raises(NoPersonError, match="no person"):
        extract_video(clips["nobody"], seg)
    with pytest.raises(NoPersonError, match="too few"):
        extract_video(clips["brief"], seg)
    assert extract_video(clips["brief"], seg, require_person=False).rejected


def test_usage_error_is_one_line(capsys) -> None:
    rc, _, err = _run(["x.avi", "--out", "o", "--stride", "0"], capsys)
    assert rc != 0 and "Traceback" not in err and "stride" in err
