"""Videos stored sideways or upside down (no rotation tag): ``rotate="auto"`` finds the turn, and the
silhouettes and embeddings match the upright clip's.

Rotated copies of a shipped synthetic walker (``examples/``) and, when present, of a real CASIA-B
clip are written on the fly with OpenCV, without rotation metadata: losslessly (FFV1), so that the
upright clip's frames come back exactly once turned, and once with a lossy codec (mp4v) as phones
would. A tiny untrained GaitBase stands in for trained weights; segmentation is bgsub.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gaitpipe.cli.app import main
from gaitpipe.errors import SettingError
from gaitpipe.io.orientation import check_rotate, estimate_orientation
from gaitpipe.io.video import open_video, rotate_frame

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ana-nm-01-090.mp4"
CASIAB_CLIP = "001-nm-01-090.avi"
NEEDED = (90, 180, 270)


def write_rotated(src: Path, dst: Path, needed: int, fourcc: str = "FFV1") -> Path:
    """``src`` stored turned so that it needs ``needed`` degrees clockwise to stand upright (no tag)."""
    writer = None
    with open_video(src) as video:
        for frame in video:
            image = rotate_frame(frame.image, (360 - needed) % 360)
            if writer is None:
                size = (image.shape[1], image.shape[0])
                writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*fourcc), video.info.fps, size)
                if not writer.isOpened():
                    pytest.skip(f"this OpenCV build cannot write {fourcc} video")
            writer.write(image)
    assert writer is not None
    writer.release()
    return dst


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 127, b > 127
    return float((a & b).sum() / max(int((a | b).sum()), 1))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    from gaitpipe.models import create_model
    from gaitpipe.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("gaitbase-casiab", **create_model("gaitbase-casiab").tiny_overrides())
    path = tmp_path_factory.mktemp("w") / "tiny-gaitbase.pt"
    save_checkpoint(path, model, meta={"open_set": {"threshold": 0.3}})
    return path


@pytest.fixture(scope="module", params=["example", "casiab"])
def clip(request) -> Path:
    """The upright clip: a shipped synthetic walker, or a real CASIA-B walk (skipped when absent)."""
    if request.param == "example":
        return EXAMPLE
    return request.getfixturevalue("casiab_videos") / CASIAB_CLIP


@pytest.fixture(scope="module")
def copies(clip, tmp_path_factory) -> dict[int, Path]:
    out = tmp_path_factory.mktemp("rotated")
    return {n: write_rotated(clip, out / f"{clip.stem}-needs{n}.avi", n) for n in NEEDED}


@pytest.fixture(scope="module")
def pipe(tiny_weights, one_torch_thread):
    from gaitpipe.pipeline import Pipeline

    return Pipeline(segmenter="bgsub", weights=str(tiny_weights), device="cpu")


def main_walker(pipe, video: Path):
    """(silhouettes of the longest track, its embedding vector, the rotation record)."""
    sil = pipe.extract(video)
    seq = max(sil.sequences, key=len)
    return seq, pipe.embed_sequences([seq])[0].vector, sil.rotation


def assert_same_walker(ref, got, min_iou: float, min_cos: float) -> None:
    (rseq, rvec, _), (gseq, gvec, _) = ref, got
    rpos = {int(i): k for k, i in enumerate(rseq.frame_indices)}
    gpos = {int(i): k for k, i in enumerate(gseq.frame_indices)}
    common = sorted(rpos.keys() & gpos.keys())
    assert len(common) >= 0.9 * max(len(rpos), len(gpos))
    mean_iou = np.mean([iou(rseq.frames[rpos[i]], gseq.frames[gpos[i]]) for i in common])
    assert mean_iou > min_iou
    assert cosine(rvec, gvec) > min_cos


def test_check_rotate():
    assert [check_rotate(v) for v in ("auto", " AUTO ", 0, "90", 180, "270")] == ["auto", "auto", 0, 90, 180, 270]
    for bad in (45, "45", -90, 360, "sideways", None, True, 90.5):
        with pytest.raises(SettingError, match=r"rotate must be auto, 0, 90, 180 or 270") as err:
            check_rotate(bad)
        assert err.value.setting == "rotate"


def test_auto_finds_the_turn_of_rotated_copies(clip, copies):
    upright = estimate_orientation(clip)
    assert (upright.degrees, upright.decided) == (0, True) and upright.confidence >= 0.9, upright
    for needed, path in copies.items():
        found = estimate_orientation(path)
        assert (found.degrees, found.decided) == (needed, True), (needed, found)
        assert found.confidence >= 0.9 and found.blobs >= 8


def test_rotated_copies_give_the_upright_silhouettes_and_embeddings(clip, copies, pipe):
    from gaitpipe.pipeline import Pipeline

    ref = main_walker(pipe, clip)
    assert ref[2] is not None and ref[2].to_dict()["degrees"] == 0
    for needed, path in copies.items():
        got = main_walker(pipe, path)
        rotation = got[2].to_dict()
        assert rotation["extra"] == rotation["degrees"] == needed and rotation["decided_by"] == "auto"
        assert rotation["confidence"] >= 0.9 and rotation["metadata"] == 0
        assert_same_walker(ref, got, 0.95, 0.99)
        if needed == 90:  # asking for the turn gives what auto found
            fixed = Pipeline(segmenter="bgsub", weights=pipe.weights, device="cpu", rotate=needed)
            seq, _, rot = main_walker(fixed, path)
            assert rot.decided_by == "user" and rot.extra == needed
            np.testing.assert_array_equal(seq.frames, got[0].frames)


def test_lossy_phone_like_copy(pipe, tmp_path):
    """Re-encoded with a lossy codec (as a phone would) the walker still matches the upright clip."""
    path = write_rotated(EXAMPLE, tmp_path / "sideways.mp4", 90, fourcc="mp4v")
    got = main_walker(pipe, path)
    assert got[2].extra == 90
    assert_same_walker(main_walker(pipe, EXAMPLE), got, 0.9, 0.98)  # measured: IoU 0.94, cosine 0.99


def test_nothing_to_go_on_keeps_the_video_as_it_is(tmp_path):
    live = estimate_orientation("rtsp://camera.invalid/stream")  # never opened
    assert (live.degrees, live.decided) == (0, False) and "not probed" in live.note
    # a scene where nothing moves: no walker-like blobs, so no decision
    still = tmp_path / "still.avi"
    image = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8), (5, 5), 2)
    writer = cv2.VideoWriter(str(still), cv2.VideoWriter_fourcc(*"FFV1"), 25, (160, 120))
    for _ in range(30):
        writer.write(image)
    writer.release()
    found = estimate_orientation(still)
    assert (found.degrees, found.decided) == (0, False) and "kept as it is" in found.note


def test_extract_silhouettes_reports_and_honours_the_rotation(capsys, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_rotated(EXAMPLE, videos / "walk.avi", 90)
    out = tmp_path / "out"
    args = ["extract-silhouettes", videos, "--out", out, "--segmenter", "bgsub"]
    code, stdout, err = cli(capsys, *args)
    assert code == 0, err
    assert "rotated 90° clockwise (90° auto-detected, confidence" in stdout
    (manifest_path,) = out.glob("_gaitpipe/*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["options"]["rotate"] == "auto"
    assert manifest["rotation"]["extra"] == 90 and manifest["rotation"]["decided_by"] == "auto"
    info = manifest["video_info"]
    assert info["extra_rotation"] == 90 and (info["width"], info["height"]) == (320, 240)  # stored 240 x 320
    pkl = out / manifest["outputs"][0]
    auto = pickle.loads(pkl.read_bytes())
    # another rotation asked: extracted again, not skipped as done; --rotate 90 gives what auto found
    code, stdout, err = cli(capsys, *args, "--rotate", "90")
    assert code == 0, err
    assert "1 done, 0 skipped" in stdout
    manifest = json.loads(manifest_path.read_text())
    assert manifest["rotation"]["decided_by"] == "user" and manifest["options"]["rotate"] == 90
    np.testing.assert_array_equal(pickle.loads(pkl.read_bytes()), auto)
    code, stdout, _ = cli(capsys, *args, "--rotate", "90")
    assert code == 0 and "0 done, 1 skipped" in stdout


def test_enroll_identify_report_the_rotation(capsys, tmp_path, tiny_weights):
    clip = write_rotated(EXAMPLE, tmp_path / "walk.avi", 270)
    common = ["--gallery", tmp_path / "g", "--weights", tiny_weights, "--segmenter", "bgsub"]
    code, out, err = cli(capsys, "enroll", clip, "--id", "ana", "--json", *common)
    assert code == 0, err
    rotation = json.loads(out)["rotation"]
    assert rotation["extra"] == 270 and rotation["decided_by"] == "auto" and rotation["confidence"] >= 0.9
    code, out, err = cli(capsys, "identify", clip, *common)
    assert code == 0, err
    assert "rotated 270° clockwise (270° auto-detected, confidence" in out
    render = tmp_path / "drawn.mp4"
    code, out, err = cli(capsys, "identify", clip, "--rotate", "270", "--json", "--render", render, *common)
    assert code == 0, err
    result = json.loads(out)
    assert result["rotation"]["decided_by"] == "user" and result["walkers"][0]["matches"][0]["id"] == "ana"
    with open_video(render) as video:  # drawn upright, where the boxes are
        assert (video.info.width, video.info.height) == (320, 240)


@pytest.mark.parametrize("command", ["enroll", "identify", "extract-silhouettes", "demo"])
def test_bad_rotate_is_one_error_line(capsys, tmp_path, command):
    args = {
        "enroll": ["enroll", EXAMPLE, "--id", "x"],
        "identify": ["identify", EXAMPLE],
        "extract-silhouettes": ["extract-silhouettes", EXAMPLE, "--out", tmp_path / "out"],
        "demo": ["demo"],
    }[command]
    code, _, err = cli(capsys, *args, "--rotate", "45")
    assert code != 0
    assert err.strip().splitlines() == [
        "error: --rotate: rotate must be auto, 0, 90, 180 or 270 (degrees clockwise), got 45"
    ]
    assert not (tmp_path / "out").exists()
