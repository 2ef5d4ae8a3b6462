"""The model zoo: ``gaitpipe weights fetch NAME`` -> download, check, convert, keep; ``--weights NAME``.

Nothing here reaches the internet. A loopback HTTP server stands in for the Hugging Face Hub with
just what ``huggingface_hub.hf_hub_download`` asks of it: ``HEAD`` / ``GET`` on
``/{repo_id}/resolve/{revision}/{filename}``, answered with ``X-Repo-Commit``, ``ETag`` and
``Content-Length`` (or a 404 with ``X-Error-Code: EntryNotFound``). It serves, under a zoo entry's
own path in OpenGait's repository layout, an OpenGait snapshot made from a randomly initialised
small GaitBase; ``$HF_ENDPOINT`` points at it. The suite's ``$GAITPIPE_OFFLINE`` (conftest) is
unset only by the tests that download, and only after pointing ``$HF_ENDPOINT`` at the server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
import torch

from gaitpipe import hub
from gaitpipe.cli.app import main
from gaitpipe.errors import NotFetchedError, WeightsError
from gaitpipe.hub import remote, zoo
from gaitpipe.models import create_model
from gaitpipe.models.gaitbase import GaitBase
from gaitpipe.models.registry import list_models

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAME = "opengait-gaitbase-casiab"  # the zoo entry whose path the server serves a stand-in under
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------------------------ the stand-in Hub
class LoopbackHub:
    """A threaded HTTP server on 127.0.0.1 (port 0) answering ``/{repo}/resolve/{rev}/{path}``.

    ``files``: ``"repo/path" -> bytes``. ``truncate``: keys whose first ``GET`` sends half the body
    and drops the connection; the client's retry then gets a 500. The server stops when the fixture
    ends, and by itself after ``lifetime`` seconds at the latest.
    """

    def __init__(self, lifetime: float = 120.0) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        hub_ = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, body: bool) -> None:
                hub_.requests.append((self.command, self.path))
                m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", unquote(self.path.split("?")[0]))
                commit = m.group(2) if m and re.fullmatch(r"[0-9a-f]{40}", m.group(2)) else COMMIT
                key = f"{m.group(1)}/{m.group(3)}" if m else ""
                if key not in hub_.files:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Repo-Commit", commit)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = hub_.files[key]
                if body and key in hub_.truncate and sum(r == ("GET", self.path) for r in hub_.requests) > 1:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data[: len(data) // 2] if key in hub_.truncate else data)
                    self.wfile.flush()
                    self.close_connection = True

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.deadline = threading.Timer(lifetime, self.server.shutdown)
        self.deadline.daemon = True

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, entry: remote.RemoteWeights, data: bytes) -> None:
        self.files[f"{entry.repo}/{entry.filename}"] = data

    def __enter__(self) -> LoopbackHub:
        self.thread.start()
        self.deadline.start()
        return self

    def __exit__(self, *exc) -> None:
        self.deadline.cancel()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Private user cache (zoo) and Hugging Face cache; nothing else searched for weights."""
    monkeypatch.setenv("GAITPIPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(hub.locations, "user_weights_dir", lambda: tmp_path / "no-user-weights")
    monkeypatch.delenv(hub.WEIGHTS_DIR_ENV, raising=False)
    return tmp_path


@pytest.fixture
def loopback(caches, monkeypatch):
    from huggingface_hub import constants

    with LoopbackHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        # huggingface_hub reads its settings at import: its telemetry (agent detection, sent with the
        # first request) would call the Hub it was imported with, not this one
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.delenv(remote.OFFLINE_ENV, raising=False)  # downloads on, to the loopback server only
        yield server


# ----------------------------------------------------------------------- an OpenGait checkpoint
def _source_model(seed: int = 0) -> GaitBase:
    """A small randomly initialised GaitBase with random BatchNorm statistics."""
    torch.manual_seed(seed)
    model = create_model("gaitbase-casiab", **GaitBase.test_overrides)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape))
            elif name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(t.shape))
    return model.eval()


def _opengait_keys(model: GaitBase) -> dict[str, torch.Tensor]:
    """Our GaitBase state dict under OpenGait's Baseline keys (BNNeck BatchNorm channel-major)."""
    parts, embed = model.config.bins, model.config.embed_dim
    out = {}
    for key, value in model.state_dict().items():
        if key == "backbone.conv1.weight":
            out["Backbone.forward_block.conv1.conv.weight"] = value
        elif key.startswith("backbone."):
            out["Backbone.forward_block." + key[len("backbone.") :]] = value
        elif key == "fcs.fc_bin":
            out["FCs.fc_bin"] = value
        elif key.startswith("bnnecks.bn1d.") and value.numel() == parts * embed:
            out["BNNecks." + key[len("bnnecks.") :]] = value.reshape(parts, embed).t().reshape(-1).clone()
        else:
            out["BNNecks." + key[len("bnnecks.") :]] = value
    return out


def _snapshot_bytes(model: GaitBase, iteration: int = 60000) -> bytes:
    buf = io.BytesIO()
    torch.save({"model": _opengait_keys(model), "iteration": iteration}, buf)
    return buf.getvalue()


def _frames(n=2, t=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, t, 64, 44)
    x[:, :, 4:60, 12:32] = (torch.rand(n, t, 56, 20, generator=g) > 0.3).float()
    return x


def _entry_for(monkeypatch, data: bytes, name: str = NAME, **changes) -> remote.RemoteWeights:
    """The zoo entry ``name`` expecting ``data`` (the stand-in file's size and hash)."""
    entry = dataclasses.replace(
        remote.REMOTE_WEIGHTS[name], sha256=hashlib.sha256(data).hexdigest(), size=len(data), **changes
    )
    monkeypatch.setitem(remote.REMOTE_WEIGHTS, name, entry)
    return entry


def _nothing_final(root: Path) -> list[Path]:
    """Files under ``root`` other than Hugging Face's own bookkeeping (locks, refs, no-exist markers, tag)."""
    skip = {".locks", ".no_exist", "refs", "CACHEDIR.TAG"}
    return [p for p in root.rglob("*") if p.is_file() and not skip & set(p.relative_to(root).parts)]


# ---------------------------------------------------------------------------------------- tests
def test_fetch_convert_embed_over_loopback(capsys, caches, loopback, monkeypatch):
    source = _source_model()
    data = _snapshot_bytes(source)
    entry = _entry_for(monkeypatch, data)
    loopback.serve(entry, data)
    with pytest.raises(NotFetchedError, match=r"fetch_weights\('opengait-gaitbase-casiab'\)"):
        hub.resolve_weights(NAME)  # before fetching: says how, downloads nothing
    assert loopback.requests == []

    code, out, err = _run(capsys, "weights", "fetch", NAME)
    assert code == 0, err
    assert entry.filename in loopback.requests[0][1] and f"/resolve/{entry.revision}/" in loopback.requests[0][1]
    assert out.count("licence: OpenGait's released checkpoints are for academic use only") == 1
    assert "published rank-1: NM 97.6 / BG 94.0 / CL 77.4" in out and "not calibrated" in out
    path = hub.zoo_dir() / f"{NAME}.pt"
    assert path.is_file() and hub.resolve_weights(NAME) == path

    # --weights NAME: the same embeddings as the network the snapshot was made from
    model, meta = hub.load_encoder(NAME, device="cpu")
    x = _frames()
    assert torch.allclose(model.embed(x), source.embed(x), rtol=1e-5, atol=1e-6)
    lengths = torch.tensor([3, 6])
    assert torch.allclose(model.embed(x, lengths), source.embed(x, lengths), rtol=1e-5, atol=1e-6)
    assert meta["licence"] == entry.licence and meta["training_data"] == entry.trained_on
    assert meta["source"]["zoo"] == NAME and meta["source"]["iteration"] == 60000
    assert meta["source"]["sha256"] == entry.sha256 and meta["source"]["commit"] == entry.revision
    assert meta["metrics"]["published"]["rank1"] == {"NM": 97.6, "BG": 94.0, "CL": 77.4}
    assert meta["preset"] == "gaitbase-casiab" and "open_set" not in meta
    code, out, err = _run(capsys, "weights", "export-onnx", NAME, "--out", caches / "zoo.onnx", "--no-check")
    assert code == 0 and "gaitbase-casiab" in out, err  # a command given the name finds the fetched file

    # fetched once: a second fetch neither downloads nor prints the licence again
    n = len(loopback.requests)
    code, out, _ = _run(capsys, "weights", "fetch", NAME)
    assert code == 0 and "already fetched" in out and "licence" not in out and len(loopback.requests) == n

    # offline, a file already in the Hugging Face cache still converts (no request is made)
    monkeypatch.setenv(remote.OFFLINE_ENV, "1")
    assert hub.fetch_weights(NAME, force=True).converted and len(loopback.requests) == n

    # weights list: fetched, installed, and the zoo's other entries available
    code, out, _ = _run(capsys, "weights", "list")
    assert code == 0 and f" {NAME}" in out and "opengait-deepgaitv2-gait3d" in out and "weights fetch NAME" in out
    zoo_line = next(line for line in out.splitlines() if line.startswith(f" {NAME}") and "fetched" in line)
    assert "97.6" in zoo_line
    code, out, _ = _run(capsys, "weights", "list", "--json")  # installed weights: every row a file
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows[NAME]["licence"] == entry.licence and rows[NAME]["default"] is False and "fetched" not in rows[NAME]
    code, out, _ = _run(capsys, "weights", "list", "--zoo", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(remote.REMOTE_WEIGHTS) and rows[NAME]["fetched"] is True
    assert rows["opengait-deepgaitv2-gait3d"]["fetched"] is False and rows["opengait-deepgaitv2-gait3d"]["bytes"]


def test_offline_is_one_line_and_touches_nothing(capsys, caches, monkeypatch):
    monkeypatch.setenv(remote.OFFLINE_ENV, "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # were a request made, it would fail differently
    code, out, err = _run(capsys, "weights", "fetch", "opengait-deepgaitv2-gait3d")
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "downloads are off ($GAITPIPE_OFFLINE is set)" in err
    assert _nothing_final(caches) == []


def test_unknown_name_lists_the_zoo(capsys, caches):
    code, _, err = _run(capsys, "weights", "fetch", "opengait-gaitset-casiab")
    assert code != 0 and err.count("\n") == 1
    assert "no model-zoo entry 'opengait-gaitset-casiab'" in err
    assert all(name in err for name in remote.REMOTE_WEIGHTS)


def test_not_fetched_name_in_a_command(capsys, caches):
    code, _, err = _run(capsys, "weights", "export-onnx", "opengait-deepgaitv2-gait3d", "--out", caches / "x.onnx")
    assert code != 0 and err.count("\n") == 1
    assert "not fetched yet: run `gaitpipe weights fetch opengait-deepgaitv2-gait3d`" in err


def test_missing_upstream(capsys, caches, loopback):
    code, _, err = _run(capsys, "weights", "fetch", "opengait-deepgaitv2-casiab")
    assert code != 0 and err.count("\n") == 1 and "not found upstream" in err
    assert "CASIA-B/DeepGaitV2/DeepGaitV2/checkpoints/DeepGaitV2-60000.pt" in err
    assert "no DeepGaitV2 CASIA-B checkpoint" in err  # the entry says why
    assert _nothing_final(caches) == []


def test_download_stopping_midway_leaves_nothing(capsys, caches, loopback, monkeypatch):
    data = _snapshot_bytes(_source_model())
    entry = _entry_for(monkeypatch, data)
    loopback.serve(entry, data)
    loopback.truncate.add(f"{entry.repo}/{entry.filename}")
    code, _, err = _run(capsys, "weights", "fetch", NAME)
    # huggingface_hub logs its retry; the outcome is one error line
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code != 0 and len(errors) == 1 and "download from" in errors[0] and "failed" in errors[0], err
    assert _nothing_final(caches) == []  # neither a zoo file nor a partial blob
    assert any(method == "GET" for method, _ in loopback.requests)


@pytest.mark.parametrize("case", ["truncated", "other-arch", "wrong-hash"])
def test_bad_downloads_are_refused_and_evicted(capsys, caches, loopback, monkeypatch, case):
    data = _snapshot_bytes(_source_model())
    if case == "truncated":  # a file cut short upstream (served whole, with its own length and hash)
        bad = data[: len(data) // 2]
        entry = _entry_for(monkeypatch, bad)
        loopback.serve(entry, bad)
        expected = "does not convert: cannot read checkpoint"
    elif case == "other-arch":  # a GaitBase snapshot where the DeepGaitV2 Gait3D checkpoint should be
        entry = _entry_for(monkeypatch, data, name="opengait-deepgaitv2-gait3d")
        loopback.serve(entry, data)
        expected = "does not convert: not an OpenGait DeepGaitV2 checkpoint"
    else:  # the Hub serves something else than the zoo recorded
        entry = _entry_for(monkeypatch, data)
        monkeypatch.setitem(remote.REMOTE_WEIGHTS, NAME, dataclasses.replace(entry, sha256="0" * 64))
        loopback.serve(entry, data)
        expected = "downloaded file has sha256"
    code, _, err = _run(capsys, "weights", "fetch", entry.name)
    assert code != 0 and err.count("\n") == 1 and expected in err, err
    assert _nothing_final(caches) == []  # neither a zoo file nor the bad blob is kept


def test_zoo_entries_are_consistent():
    presets = set(list_models())
    for name, e in remote.REMOTE_WEIGHTS.items():
        assert name == e.name and e.preset in presets and e.licence and e.trained_on
        with torch.device("meta"):
            assert create_model(e.preset).arch == e.arch
        if e.repo == remote.OPENGAIT_HUB_REPO:
            # OpenGait's save path: <dataset>/<model>/<save_name>/checkpoints/<save_name>-<iter>.pt
            m = re.fullmatch(r"([\w-]+)/(Baseline|DeepGaitV2)/(\w+)/checkpoints/(\w+)-(\d+)\.pt", e.filename or "")
            assert m and m.group(3) == m.group(4), e.filename
            assert {"Baseline": "gaitbase", "DeepGaitV2": "deepgaitv2"}[m.group(2)] == e.arch
            assert e.published == (e.sha256 is not None and e.size is not None)
            assert e.licence.startswith("OpenGait's released checkpoints are for academic use only")
        else:
            assert e.url and not e.downloadable
    names = {e.name for e in remote.REMOTE_WEIGHTS.values()}
    for arch in ("gaitbase", "deepgaitv2"):
        assert {f"opengait-{arch}-{d}" for d in ("casiab", "oumvlp", "grew", "gait3d")} <= names


def test_manual_entry_says_where(capsys, caches):
    code, _, err = _run(capsys, "weights", "fetch", "hstl-authors-casiab")
    assert code != 0 and err.count("\n") == 1 and "drive.google.com" in err and "'hstl'" in err
    with pytest.raises(WeightsError, match="not fetched yet"):
        hub.load_encoder("hstl-authors-casiab")
    assert zoo.fetched("hstl-authors-casiab") is None
