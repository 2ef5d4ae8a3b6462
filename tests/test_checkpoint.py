"""gaitpipe weight files: round trip, fp16 storage, safe loading, fingerprints, clear errors; lookup (gaitpipe.hub)."""

from __future__ import annotations

import json

import pytest
import torch

from gaitpipe import hub
from gaitpipe.errors import WeightsError
from gaitpipe.models import checkpoint as ckpt
from gaitpipe.models import create_model

TINY_GB = {"channels": (8, 16, 16, 32), "embed_dim": 16, "num_classes": 5}
TINY_HSTL = {"stem": (1, 4), "stages": ((4, 4, 8), (8, 8, 8)), "embed_dim": 8, "num_classes": 5}


# Tiny models gain nothing from threads (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _trained_like(model):
    """Give BN running stats non-default values so the round trip checks them too."""
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        model(torch.rand(3, 5, 64, 44))
    return model.eval()


@pytest.fixture
def gaitbase():
    torch.manual_seed(1)
    return _trained_like(create_model("gaitbase-casiab", **TINY_GB))


@pytest.fixture
def frames():
    return (torch.rand(2, 7, 64, 44, generator=torch.Generator().manual_seed(3)) > 0.5).float()


def test_round_trip_is_exact_and_meta_complete(tmp_path, gaitbase, frames):
    path = tmp_path / "gb.pt"
    meta = {
        "training_data": "CASIA-B 001-074",
        "metrics": {"rank1_nm": 0.9},
        "open_set": {"threshold": 0.62, "tar_at_far": {"0.01": 0.8}},
    }
    written = ckpt.save_checkpoint(path, gaitbase, meta=meta)
    model, loaded = ckpt.load_checkpoint(path)
    assert not model.training
    assert torch.equal(model.embed(frames), gaitbase.embed(frames))
    for key in (
        "arch",
        "preset",
        "config",
        "input_size",
        "part_layout",
        "embed_dim",
        "parts",
        "training_data",
        "metrics",
        "gaitpipe_version",
        "created",
        "fingerprint",
        "open_set",
    ):
        assert key in loaded, key
    assert loaded == written
    assert loaded["arch"] == "gaitbase" and loaded["preset"] == "gaitbase-casiab"
    assert loaded["input_size"] == [64, 44] and loaded["parts"] == 16 and loaded["embed_dim"] == 16
    assert loaded["open_set"]["threshold"] == 0.62
    arch, preset, digest = loaded["fingerprint"].split("/")
    assert (arch, preset, len(digest)) == ("gaitbase", "gaitbase-casiab", 16)
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_file_is_plain_weights_only_data(tmp_path, gaitbase):
    path = tmp_path / "gb.pt"
    ckpt.save_checkpoint(path, gaitbase)
    payload = torch.load(path, weights_only=True)  # nothing but tensors and primitives
    assert payload["format"] == "gaitpipe-weights"
    assert isinstance(payload["meta"], str) and json.loads(payload["meta"])["arch"] == "gaitbase"


def test_fingerprint_is_stable_and_tracks_weights(tmp_path, gaitbase):
    a = ckpt.save_checkpoint(tmp_path / "a.pt", gaitbase)["fingerprint"]
    b = ckpt.save_checkpoint(tmp_path / "b.pt", gaitbase, meta={"training_data": "other text"})["fingerprint"]
    assert a == b, "metadata must not change the fingerprint"
    with torch.no_grad():
        gaitbase.fcs.fc_bin[0, 0, 0] += 1e-3
    c = ckpt.save_checkpoint(tmp_path / "c.pt", gaitbase)["fingerprint"]
    assert c != a


def test_half_storage_is_smaller_and_restored_to_fp32(tmp_path, gaitbase, frames):
    full, half = tmp_path / "full.pt", tmp_path / "half.pt"
    ckpt.save_checkpoint(full, gaitbase)
    meta = ckpt.save_checkpoint(half, gaitbase, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    model, loaded = ckpt.load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.backbone.bn1.num_batches_tracked.dtype == torch.int64
    assert loaded["stored_half"] is True and loaded["fingerprint"] == meta["fingerprint"]
    ref, got = gaitbase.embed(frames), model.embed(frames)
    assert torch.nn.functional.cosine_similarity(ref, got, dim=-1).min() > 0.999
    # the fingerprint describes the weights as used, so saving the loaded model reproduces it
    again = ckpt.save_checkpoint(tmp_path / "again.pt", model)
    assert again["fingerprint"] == meta["fingerprint"]


def test_non_json_meta_is_refused(tmp_path, gaitbase):
    with pytest.raises(ValueError, match="JSON"):
        ckpt.save_checkpoint(tmp_path / "x.pt", gaitbase, meta={"metrics": {"r1": torch.tensor(1.0)}})
    assert not (tmp_path / "x.pt").exists()


def test_wrong_architecture_is_a_clear_error(tmp_path, gaitbase):
    path = tmp_path / "gb.pt"
    ckpt.save_checkpoint(path, gaitbase)
    with pytest.raises(WeightsError, match="holds gaitbase weights, expected hstl"):
        ckpt.load_checkpoint(path, expect_arch="hstl")
    hstl = create_model("hstl-casiab", **TINY_HSTL)
    with pytest.raises(WeightsError, match="holds gaitbase weights, the model is hstl"):
        ckpt.load_weights_into(hstl, path)


def test_shape_mismatch_names_key_and_shapes(tmp_path, gaitbase):
    path = tmp_path / "gb.pt"
    ckpt.save_checkpoint(path, gaitbase)
    other = create_model("gaitbase-casiab", **{**TINY_GB, "embed_dim": 24})
    with pytest.raises(WeightsError) as err:
        ckpt.load_weights_into(other, path)
    msg = str(err.value)
    assert "'fcs.fc_bin' expected shape [16, 32, 24], got [16, 32, 16]" in msg and "\n" not in msg


def test_damaged_and_foreign_files(tmp_path, gaitbase):
    path = tmp_path / "gb.pt"
    ckpt.save_checkpoint(path, gaitbase)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["fcs.fc_bin"][0, 0, 0] += 1.0  # silent corruption of one weight
    torch.save(payload, tmp_path / "damaged.pt")
    with pytest.raises(WeightsError, match="damaged"):
        ckpt.load_checkpoint(tmp_path / "damaged.pt")
    data = path.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="cannot read weights"):
        ckpt.load_checkpoint(tmp_path / "truncated.pt")
    torch.save({"model": gaitbase.state_dict(), "iteration": 5}, tmp_path / "opengait.pt")
    with pytest.raises(WeightsError, match="gaitpipe weights import"):
        ckpt.load_checkpoint(tmp_path / "opengait.pt")
    with pytest.raises(WeightsError, match="not found"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")


def test_update_meta_keeps_weights(tmp_path, gaitbase, frames):
    path = tmp_path / "gb.pt"
    before = ckpt.save_checkpoint(path, gaitbase)
    after = ckpt.update_meta(path, open_set={"threshold": 0.5, "tar_at_far": {}})
    model, meta = ckpt.load_checkpoint(path)
    assert meta["open_set"]["threshold"] == 0.5 and meta["fingerprint"] == before["fingerprint"] == after["fingerprint"]
    assert torch.equal(model.embed(frames), gaitbase.embed(frames))
    with pytest.raises(ValueError, match="fingerprint"):
        ckpt.update_meta(path, fingerprint="x")


def test_resolve_default_and_load_encoder(tmp_path, monkeypatch, gaitbase, frames):
    empty_repo = tmp_path / "repo-weights"
    empty_repo.mkdir()
    monkeypatch.setattr(hub.locations, "packaged_weights_dir", lambda: empty_repo)
    monkeypatch.setattr(hub.locations, "user_weights_dir", lambda: tmp_path / "no-user-weights")
    monkeypatch.setenv(hub.CACHE_ENV, str(tmp_path / "no-cache"))  # no fetched zoo weights either
    wdir = tmp_path / "w"
    monkeypatch.setenv(hub.WEIGHTS_DIR_ENV, str(wdir))
    assert hub.default_weights() is None
    with pytest.raises(WeightsError, match="no default weights"):
        hub.load_encoder(None)
    ckpt.save_checkpoint(wdir / "mine.pt", gaitbase)
    assert hub.resolve_weights("mine") == wdir / "mine.pt"
    assert hub.resolve_weights("mine.pt") == wdir / "mine.pt"
    assert hub.resolve_weights(str(wdir / "mine.pt")) == wdir / "mine.pt"
    with pytest.raises(WeightsError, match=r"weights 'nope' not found .*available: mine"):
        hub.resolve_weights("nope")
    (wdir / "MANIFEST.json").write_text(json.dumps({"default": "mine"}))
    assert hub.default_weights() == wdir / "mine.pt"
    model, meta = hub.load_encoder(None, device="cpu")
    assert meta["path"] == str(wdir / "mine.pt") and not model.training
    assert torch.equal(model.embed(frames), gaitbase.embed(frames))
    rows = hub.describe_installed()
    assert (
        [r["name"] for r in rows] == ["mine"] and rows[0]["default"] and rows[0]["fingerprint"] == meta["fingerprint"]
    )


def test_hstl_round_trip(tmp_path, frames):
    torch.manual_seed(2)
    model = _trained_like(create_model("hstl-casiab", **TINY_HSTL))
    ckpt.save_checkpoint(tmp_path / "h.pt", model, half=True)
    loaded, meta = ckpt.load_checkpoint(tmp_path / "h.pt", expect_arch="hstl")
    assert meta["part_layout"] == [1, 2, 2, 4, 64] and meta["parts"] == 73
    cos = torch.nn.functional.cosine_similarity(loaded.embed(frames), model.embed(frames), dim=-1)
    assert cos.min() > 0.999


@pytest.mark.parametrize("preset", __import__("gaitpipe.models", fromlist=["list_models"]).list_models())
def test_every_preset_round_trips(tmp_path, preset):
    """Configs of every architecture survive the JSON metadata (tuples, nested tuples, floats)."""
    with torch.device("meta"):
        probe = create_model(preset)
    torch.manual_seed(0)
    model = create_model(preset, **probe.tiny_overrides()).eval()
    meta = ckpt.save_checkpoint(tmp_path / "m.pt", model)
    loaded, _ = ckpt.load_checkpoint(tmp_path / "m.pt")
    assert type(loaded) is type(model) and loaded.config == model.config and loaded.preset == preset
    assert ckpt.save_checkpoint(tmp_path / "again.pt", loaded)["fingerprint"] == meta["fingerprint"]
