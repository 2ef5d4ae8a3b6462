"""The Ray engine (``--engine ray``) on a small local Ray cluster: same output as the local engine,
resumable, and a Ray worker killed mid-task (SIGKILL from outside) costs a retry, not a video.

One 2-CPU cluster per module (starting one takes seconds); inputs are the synthetic example clips.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gaitpipe.batch import BatchRow, enroll_batch
from gaitpipe.extract import extract_silhouettes
from gaitpipe.gallery import Gallery
from gaitpipe.pipeline import Pipeline
from gaitpipe.utils.files import is_temp_file

REPO = Path(__file__).resolve().parents[1]
#: two plain walks and one with a second, briefly seen track (written too, under its own name)
CLIPS = [REPO / "examples" / name for name in ("ana-nm-01-090.mp4", "ben-nm-01-090.mp4", "chloe-bg-01-090.mp4")]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[object]:
    try:
        import ray
    except ImportError:
        pytest.skip("Ray is not installed (it is the optional extra: pip install gaitpipe[ray])")
    if not Path("/proc/self/cmdline").is_file():
        pytest.skip("finding Ray worker processes to kill reads /proc (Linux only)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


class WorkerKiller:
    """Kills (SIGKILL) the first process whose title starts with each prefix, as soon as it appears.

    Ray names a worker process ``ray::<task or actor method>`` while it runs one, so this kills a
    worker in the middle of its task, from outside, the way the OOM killer or a lost node would.
    """

    def __init__(self, *prefixes: str) -> None:
        self.todo = list(prefixes)
        self.killed: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while self.todo and not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    title = (proc / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
                except OSError:
                    continue
                for prefix in list(self.todo):
                    if title.startswith(prefix) and _descends_from_us(int(proc.name)):
                        try:
                            os.kill(int(proc.name), signal.SIGKILL)
                        except ProcessLookupError:
                            continue
                        self.killed[prefix] = int(proc.name)
                        self.todo.remove(prefix)
            time.sleep(0.002)


def _descends_from_us(pid: int) -> bool:
    """Whether ``pid`` belongs to this test's cluster (started by this process), not to anyone else's."""
    while pid > 1:
        if pid == os.getpid():
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: the parent's pid
    return False


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path; manifests without their run-dependent fields."""
    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = str(p.relative_to(root))
        data = p.read_bytes()
        if p.name == "manifest.json":
            m = json.loads(data)
            for key in ("timing_s", "created"):  # wall-clock time: differs between any two runs
                m.pop(key, None)
            data = json.dumps(m, sort_keys=True).encode()
        out[rel] = data
    return out


@pytest.fixture(scope="module")
def local_extraction(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("local") / "sils"
    report = extract_silhouettes(CLIPS, out, segmenter="bgsub", progress=False)
    assert len(report.done) == len(CLIPS)
    return _files(out)


def test_extract_on_ray_matches_local_despite_a_killed_worker(ray_cluster, local_extraction, tmp_path) -> None:
    out = tmp_path / "sils"
    with WorkerKiller("ray::extract_video_task") as killer:
        report = extract_silhouettes(CLIPS, out, segmenter="bgsub", engine="ray", progress=False)
    assert killer.killed, "no extraction task was seen running, so none was killed"
    assert [r.status for r in report.results] == ["done"] * len(CLIPS), report.table()
    assert not [p for p in out.rglob("*") if is_temp_file(p)]
    files = _files(out)
    assert sum(k.endswith(".pkl") for k in files) >= len(CLIPS)  # one per walker; chloe's clip has a second
    # same silhouettes byte for byte and the same manifests: nothing missing, nothing doubled
    assert files == local_extraction

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.pkl")}
    again = extract_silhouettes(CLIPS, out, segmenter="bgsub", engine="ray", progress=False)
    assert [r.status for r in again.results] == ["skipped"] * len(CLIPS)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.pkl")} == stamps


def _templates(gallery: Path) -> dict[str, list[np.ndarray]]:
    with Gallery.open(gallery) as g:
        out: dict[str, list[np.ndarray]] = {}
        for e in g.enrolments():
            out.setdefault(e.identity, []).append(g.embedding(e.id))
        return out


ROWS = [BatchRow(str(clip), clip.name.split("-")[0], i + 2) for i, clip in enumerate(CLIPS)]


@pytest.fixture(scope="module")
def local_gallery(tmp_path_factory, one_torch_thread) -> dict[str, list[np.ndarray]]:
    gallery = tmp_path_factory.mktemp("local") / "gallery"
    report = enroll_batch(ROWS, Pipeline("bgsub"), gallery=gallery, progress=False)
    assert len(report.enrolled) == len(ROWS), report.table()
    return _templates(gallery)


def _assert_same_templates(got: dict[str, list[np.ndarray]], want: dict[str, list[np.ndarray]]) -> None:
    assert sorted(got) == sorted(want)
    for identity, templates in want.items():
        assert len(got[identity]) == len(templates) == 1, identity  # one enrolment each: none doubled
        np.testing.assert_allclose(got[identity][0], templates[0], rtol=0, atol=1e-5)


def test_enroll_batch_on_ray_matches_local_despite_killed_workers(ray_cluster, local_gallery, tmp_path) -> None:
    gallery = tmp_path / "gallery"
    # a segmentation task's worker, and the encoder actor in the middle of embedding a video
    with WorkerKiller("ray::segment_video_task", "ray::EncoderActor.embed") as killer:
        report = enroll_batch(ROWS, Pipeline("bgsub"), gallery=gallery, engine="ray", progress=False)
    assert sorted(killer.killed) == ["ray::EncoderActor.embed", "ray::segment_video_task"], "a worker was not seen"
    assert [r.status for r in report.rows] == ["enrolled"] * len(ROWS), report.table()
    _assert_same_templates(_templates(gallery), local_gallery)

    again = enroll_batch(ROWS, Pipeline("bgsub"), gallery=gallery, engine="ray", progress=False)
    assert [r.status for r in again.rows] == ["skipped"] * len(ROWS)
    _assert_same_templates(_templates(gallery), local_gallery)


def test_enroll_batch_on_ray_refuses_other_weights_on_the_cluster(ray_cluster, tmp_path, tiny_weights) -> None:
    import shutil

    import torch

    from gaitpipe.errors import WeightsError
    from gaitpipe.models import create_model
    from gaitpipe.models.checkpoint import save_checkpoint

    weights = tmp_path / "tiny.pt"
    shutil.copy(tiny_weights, weights)
    pipe = Pipeline("bgsub", weights=weights)
    assert pipe.fingerprint  # loaded here, before the file changes
    torch.manual_seed(1)  # other weights under the same path, as on a node set up differently
    save_checkpoint(weights, create_model("gaitbase-casiab", **create_model("gaitbase-casiab").tiny_overrides()))
    with pytest.raises(WeightsError, match="is not this machine's"):
        enroll_batch(ROWS[:1], pipe, gallery=tmp_path / "g", engine="ray", progress=False)
    assert not (tmp_path / "g").exists()  # nothing enrolled with templates of another encoder
