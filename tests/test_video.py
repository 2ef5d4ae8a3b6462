"""Video input: files, image folders, stride/max_frames, rotation metadata, bad inputs, find_videos."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitpipe.errors import InputError
from gaitpipe.io import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, find_videos, natural_key, open_video, rotate_frame

W, H = 64, 48


def _frame(i: int) -> np.ndarray:
    """Frame i: grey level 20*i with a white marker block in the top-left corner."""
    im = np.full((H, W, 3), 20 * i, np.uint8)
    im[:10, :20] = 255
    return im


def write_video(path: Path, n: int = 12, fourcc: str = "MJPG", fps: float = 10.0) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert w.isOpened(), f"OpenCV cannot write {fourcc} here"
    for i in range(n):
        w.write(_frame(i))
    w.release()
    return path


def grey(frame) -> int:
    """The frame's encoded index, read back from the grey level of its bottom-right area."""
    return round(frame.image[20:, 30:].mean() / 20)


@pytest.mark.parametrize("ext,fourcc", [("avi", "MJPG"), ("mp4", "mp4v"), ("mkv", "XVID")])
def test_video_file_streams_all_frames(tmp_path, ext, fourcc):
    path = write_video(tmp_path / f"clip.{ext}", 12, fourcc)
    with open_video(path) as video:
        assert video.info.fps == pytest.approx(10.0)
        assert video.info.frame_count == 12
        assert (video.info.width, video.info.height, video.info.rotation) == (W, H, 0)
        frames = list(video)
    assert [f.index for f in frames] == list(range(12))
    assert [grey(f) for f in frames] == list(range(12))
    assert frames[3].timestamp == pytest.approx(0.3)
    assert frames[0].image.shape == (H, W, 3) and frames[0].image.dtype == np.uint8


def test_stride_and_max_frames(tmp_path):
    path = write_video(tmp_path / "clip.avi", 12)
    with open_video(path, stride=3) as video:
        assert [(f.index, grey(f)) for f in video] == [(0, 0), (3, 3), (6, 6), (9, 9)]
    with open_video(path, stride=2, max_frames=3) as video:
        assert [f.index for f in video] == [0, 2, 4]
    with open_video(path, max_frames=0) as video:
        assert list(video) == []
    with pytest.raises(InputError):
        open_video(path, stride=0)


def test_source_can_be_iterated_twice(tmp_path):
    """A second pass reopens the file (segmenters may learn a background in a first pass)."""
    path = write_video(tmp_path / "clip.avi", 6)
    video = open_video(path)
    first, second = [f.index for f in video], [f.index for f in video]
    video.close()
    assert first == second == list(range(6))


def _with_rotation(src: Path, dst: Path, degrees: int) -> Path:
    """Copy an MP4 and write a rotation into its track header's display matrix (what phones do)."""
    data = bytearray(src.read_bytes())
    i = data.find(b"tkhd")
    assert i > 0 and data[i + 4] == 0  # version 0 header: the matrix sits 40 bytes after the flags
    one, w = 1 << 16, 1 << 30
    matrices = {
        90: (0, one, 0, -one, 0, 0, 0, 0, w),
        180: (-one, 0, 0, 0, -one, 0, 0, 0, w),
        270: (0, -one, 0, one, 0, 0, 0, 0, w),
    }
    off = i + 4 + 40
    data[off : off + 36] = struct.pack(">9i", *matrices[degrees])
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_metadata_is_honoured(tmp_path, degrees):
    plain = write_video(tmp_path / "plain.mp4", 4, "mp4v")
    rotated = _with_rotation(plain, tmp_path / f"rot{degrees}.mp4", degrees)
    cap = cv2.VideoCapture(str(rotated))
    if int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) != degrees:
        pytest.skip("this OpenCV build does not read MP4 rotation metadata")
    cap.release()
    with open_video(rotated) as video:
        info, frames = video.info, list(video)
    assert info.rotation == degrees
    expect_shape = (W, H) if degrees in (90, 270) else (H, W)
    assert (info.height, info.width) == expect_shape
    assert all(f.image.shape[:2] == expect_shape for f in frames)
    # The marker block (top-left in the stored frames) lands where a clockwise rotation puts it.
    with open_video(plain) as video:
        stored = next(iter(video)).image
    expected = rotate_frame(stored, degrees)
    assert np.abs(frames[0].image.astype(int) - expected.astype(int)).mean() < 2.0
    ys, xs = np.nonzero(frames[0].image[..., 0] > 200)
    corner = {
        90: (0, expect_shape[1] - 1),
        180: (expect_shape[0] - 1, expect_shape[1] - 1),
        270: (expect_shape[0] - 1, 0),
    }[degrees]
    assert abs(ys.mean() - corner[0]) < 12 and abs(xs.mean() - corner[1]) < 12


def test_rotate_frame_unit():
    im = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert rotate_frame(im, 0) is im
    assert rotate_frame(im, 90).tolist() == [[3, 0], [4, 1], [5, 2]]  # clockwise
    assert rotate_frame(im, 180).tolist() == [[5, 4, 3], [2, 1, 0]]
    assert rotate_frame(im, -90).tolist() == rotate_frame(im, 270).tolist() == [[2, 5], [1, 4], [0, 3]]
    with pytest.raises(ValueError):
        rotate_frame(im, 45)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_extra_rotation_turns_every_frame_at_the_source(tmp_path, degrees):
    """``rotate=`` (a video stored sideways without a tag) turns files and image folders alike."""
    from gaitpipe.errors import SettingError

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"f{i}.png"), _frame(i))
    for source in (write_video(tmp_path / "clip.avi", 4), frames):
        with open_video(source) as video:
            plain = [f.image for f in video]
        with open_video(source, rotate=degrees, stride=2) as video:
            info, turned = video.info, [f.image for f in video]
        assert (info.rotation, info.extra_rotation) == (0, degrees)
        assert (info.height, info.width) == ((W, H) if degrees in (90, 270) else (H, W))
        assert len(turned) == len(plain[::2])
        for a, b in zip(turned, plain[::2]):
            np.testing.assert_array_equal(a, rotate_frame(b, degrees))
    for bad in (45, -90, 360, "sideways", True):
        with pytest.raises(SettingError, match="rotation must be 0, 90, 180 or 270") as err:
            open_video(frames, rotate=bad)  # type: ignore[arg-type]
        assert err.value.setting == "rotate"


def test_image_directory_natural_order(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    for i in (1, 2, 10, 3):
        cv2.imwrite(str(d / f"frame{i}.png"), _frame(i))
    (d / "notes.txt").write_text("ignored")
    with open_video(d, fps=5) as video:
        assert video.info.frame_count == 4 and video.info.fps == 5
        frames = list(video)
    assert [grey(f) for f in frames] == [1, 2, 3, 10]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[1].timestamp == pytest.approx(0.2)
    assert natural_key("f2.png") < natural_key("f10.png")
    # grey images come out as 3-channel BGR
    g = tmp_path / "gray"
    g.mkdir()
    cv2.imwrite(str(g / "0.png"), np.zeros((H, W), np.uint8))
    with open_video(g) as video:
        assert next(iter(video)).image.shape == (H, W, 3)
        assert video.info.fps == 25.0


def test_single_image_is_one_frame(tmp_path):
    p = tmp_path / "still.jpg"
    cv2.imwrite(str(p), _frame(4))
    assert [f.index for f in open_video(p)] == [0]


def test_bad_inputs_raise_one_line_input_errors(tmp_path):
    cases = {
        "missing": tmp_path / "nope.mp4",
        "empty": tmp_path / "empty.mp4",
        "garbage": tmp_path / "garbage.mp4",
        "text": tmp_path / "readme.txt",
        "empty_dir": tmp_path / "emptydir",
    }
    cases["empty"].write_bytes(b"")
    cases["garbage"].write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    cases["text"].write_text("this is not a video\n" * 50)
    cases["empty_dir"].mkdir()
    for what, path in cases.items():
        with pytest.raises(InputError) as exc:
            open_video(path)
        msg = str(exc.value)
        assert str(path) in msg, (what, msg)
        assert "\n" not in msg, (what, msg)
    assert "0 bytes" in _err(cases["empty"])
    assert "no such file" in _err(cases["missing"])


def test_corrupt_image_in_frame_dir(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    cv2.imwrite(str(d / "0001.png"), _frame(1))
    (d / "0002.png").write_bytes(b"not a png at all")
    video = open_video(d)
    with pytest.raises(InputError, match=re.escape("0002.png")):
        list(video)
    # a first frame that cannot be read fails at open time
    (d / "0000.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(InputError, match=re.escape("0000.png")):
        open_video(d)


def test_unavailable_camera_and_stream():
    with pytest.raises(InputError, match="camera 97"):
        open_video(97)
    with pytest.raises(InputError, match="camera 97"):
        open_video("97")


def _err(path) -> str:
    with pytest.raises(InputError) as exc:
        open_video(path)
    return str(exc.value)


def test_find_videos(tmp_path):
    root = tmp_path / "data"
    (root / "a" / "b").mkdir(parents=True)
    (root / "frames_seq").mkdir()
    (root / ".hidden").mkdir()
    write_video(root / "walk10.avi", 2)
    write_video(root / "walk2.avi", 2)
    write_video(root / "a" / "b" / "deep.mp4", 2, "mp4v")
    (root / "a" / "notes.txt").write_text("x")
    write_video(root / ".hidden" / "secret.avi", 2)
    for i in range(3):
        cv2.imwrite(str(root / "frames_seq" / f"{i}.png"), _frame(i))
    found = find_videos([root])
    rel = [p.relative_to(root).as_posix() for p in found]
    assert rel == ["a/b/deep.mp4", "frames_seq", "walk2.avi", "walk10.avi"]
    assert [p.relative_to(root).as_posix() for p in find_videos(root, recursive=False)] == ["walk2.avi", "walk10.avi"]
    # explicit files are kept whatever their extension; duplicates removed; order as given
    txt = root / "a" / "notes.txt"
    assert find_videos([txt, root / "walk2.avi", root / "walk2.avi"]) == [txt, root / "walk2.avi"]
    # a folder of images given directly is one video
    assert find_videos([root / "frames_seq"]) == [root / "frames_seq"]
    with pytest.raises(InputError, match="no such file"):
        find_videos([root / "missing"])
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="no video"):
        find_videos([tmp_path / "nothing"])
    assert ".mp4" in VIDEO_EXTENSIONS and ".png" in IMAGE_EXTENSIONS
