"""`gaitpipe weights calibrate` and `weights install`: validation + open-set figures into the weights,
then a weights folder with a MANIFEST.json naming the default."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from gaitpipe.cli.app import main
from gaitpipe.data.packed import write_pack
from gaitpipe.hub import default_weights
from gaitpipe.models import create_model
from gaitpipe.models.checkpoint import load_checkpoint, read_meta, save_checkpoint

CONDS = ["nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02"]
VIEWS = ["000", "090"]


def _walker(subject: int, cond: int, view: int, t: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.zeros((t, 64, 64), np.uint8)
    for i in range(t):
        w, h = 6 + 3 * subject + (i % 3) + (cond % 2), 20 + 2 * subject + 3 * view
        frames[i][((xx - 32) / w) ** 2 + ((yy - 32) / h) ** 2 <= 1] = 255
    return frames


def test_calibrate_then_install(tmp_path, monkeypatch, capsys):
    pack = write_pack(
        tmp_path / "val.npz",
        [
            (f"{s:03d}", c, v, _walker(s, ci, vi))
            for s in range(1, 5)
            for ci, c in enumerate(CONDS)
            for vi, v in enumerate(VIEWS)
        ],
    )
    torch.manual_seed(0)
    weights = tmp_path / "run.pt"
    save_checkpoint(
        weights,
        create_model("gaitbase-small", channels=[4, 8, 8, 8], embed_dim=8, num_classes=4),
        meta={"training_data": {"train_subjects": "none (test)"}, "training": {"iterations": 0}},
    )
    fingerprint = read_meta(weights)["fingerprint"]

    assert main(["weights", "calibrate", str(weights), "--data", str(pack), "--subjects", "001-004"]) == 0
    out = capsys.readouterr().out
    assert "validation rank-1" in out and "open set: threshold" in out
    meta = read_meta(weights)
    assert meta["fingerprint"] == fingerprint  # metadata changed, weights did not
    assert (
        set(meta["metrics"]["validation"]["rank1"])
        == set(meta["metrics"]["validation"]["rank1_cosine"])
        >= {"NM", "BG", "CL", "mean"}
    )
    cal = meta["open_set"]
    assert -1 <= cal["threshold"] <= 1 and cal["subjects"] == 4 and cal["genuine_pairs"] == 4 * (20 * 19 // 2)

    monkeypatch.setenv("GAITPIPE_WEIGHTS_DIR", str(tmp_path / "installed"))
    assert main(["weights", "install", str(weights), "--name", "mine", "--default"]) == 0
    installed = tmp_path / "installed" / "mine.pt"
    manifest = json.loads((tmp_path / "installed" / "MANIFEST.json").read_text())
    entry = manifest["weights"]["mine"]
    assert manifest["default"] == "mine" and default_weights() == installed
    assert entry["sha256"] == hashlib.sha256(installed.read_bytes()).hexdigest()
    assert (
        entry["open_set"]["threshold"] == cal["threshold"]
        and entry["validation_rank1"] == meta["metrics"]["validation"]["rank1"]
    )
    model, installed_meta = load_checkpoint(installed)
    assert installed_meta["stored_half"] is True and model.preset == "gaitbase-small"


def test_set_feature_copies_weights_with_bnneck_retrieval(tmp_path, capsys):
    torch.manual_seed(0)
    model = create_model("gaitbase-small", channels=[4, 8, 8, 8], embed_dim=8, num_classes=4)
    # Non-trivial BN statistics so that the BNNeck feature really differs from the FC feature.
    model.bnnecks.bn1d.running_mean.uniform_(-1, 1)
    model.bnnecks.bn1d.running_var.uniform_(0.5, 2)
    source = tmp_path / "fc.pt"
    save_checkpoint(
        source, model, meta={"open_set": {"threshold": 0.9}, "metrics": {"validation": {"rank1": {}}, "train": 1}}
    )
    dest = tmp_path / "bnneck.pt"
    assert main(["weights", "set-feature", str(source), "bnneck", "--out", str(dest)]) == 0
    assert "calibrate" in capsys.readouterr().out

    fc_model, fc_meta = load_checkpoint(source)
    bn_model, bn_meta = load_checkpoint(dest)  # verifies the new fingerprint
    assert bn_model.config.retrieval_feature == "bnneck" and fc_model.config.retrieval_feature == "fc"
    # Same weights, new embedding space: the fingerprint's hash is shared, its preset tag is not.
    assert fc_meta["fingerprint"].split("/")[2] == bn_meta["fingerprint"].split("/")[2]
    assert bn_meta["fingerprint"].split("/")[1] == "gaitbase-small+bnneck" != fc_meta["fingerprint"].split("/")[1]
    # Stale figures are dropped, the rest is kept.
    assert "open_set" not in bn_meta and bn_meta["metrics"] == {"train": 1}
    assert bn_meta["derived_from"]["fingerprint"] == fc_meta["fingerprint"]

    frames = torch.rand(3, 7, 64, 44)
    fc_emb, bn_emb = fc_model.embed(frames), bn_model.embed(frames)
    bn = fc_model.bnnecks.bn1d
    expected = (fc_emb.reshape(3, -1) - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    assert torch.allclose(bn_emb, expected.reshape(fc_emb.shape), atol=1e-5)
    # Training still sees the FC feature (the triplet loss is defined on it).
    bn_model.train()
    assert torch.allclose(bn_model(frames).embeddings, fc_model.train()(frames).embeddings, atol=1e-6)


def test_set_feature_refuses_bad_input(tmp_path, capsys):
    hstl = tmp_path / "hstl.pt"
    save_checkpoint(hstl, create_model("hstl-casiab", **create_model("hstl-casiab").tiny_overrides()))
    assert main(["weights", "set-feature", str(hstl), "bnneck", "--out", str(tmp_path / "x.pt")]) != 0
    assert "no BNNeck feature choice" in capsys.readouterr().err
    gb = tmp_path / "gb.pt"
    save_checkpoint(gb, create_model("gaitbase-small", channels=[4, 8, 8, 8], embed_dim=8, num_classes=4))
    assert main(["weights", "set-feature", str(gb), "pre-bn", "--out", str(tmp_path / "y.pt")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fc, bnneck" in err and not (tmp_path / "y.pt").exists()


def _tiny_gaitbase(num_classes: int = 4):
    return create_model("gaitbase-small", channels=[4, 8, 8, 8], embed_dim=8, num_classes=num_classes)


def test_final_model_gets_its_recipes_calibration_not_a_measurement_on_training_subjects(tmp_path, capsys):
    pack = write_pack(
        tmp_path / "val.npz",
        [
            (f"{s:03d}", c, v, _walker(s, ci, vi))
            for s in range(1, 5)
            for ci, c in enumerate(CONDS)
            for vi, v in enumerate(VIEWS)
        ],
    )
    torch.manual_seed(0)
    held_out = tmp_path / "held-out.pt"
    save_checkpoint(held_out, _tiny_gaitbase(), meta={"training_data": {"train_subjects": "005-009"}})
    assert main(["weights", "calibrate", str(held_out), "--data", str(pack), "--subjects", "001-004"]) == 0
    final = tmp_path / "final.pt"
    save_checkpoint(final, _tiny_gaitbase(num_classes=9), meta={"training_data": {"train_subjects": "001-009"}})
    capsys.readouterr()

    # Measuring the final model on subjects it was trained on is refused, and writes nothing.
    assert main(["weights", "calibrate", str(final), "--data", str(pack), "--subjects", "001-004"]) != 0
    assert "was trained on subjects 001-004" in capsys.readouterr().err
    assert "open_set" not in read_meta(final)

    # --from copies the held-out run's figures, marked as such; the weights stay untouched.
    fingerprint = read_meta(final)["fingerprint"]
    assert main(["weights", "calibrate", str(final), "--from", str(held_out)]) == 0
    src, dst = read_meta(held_out), read_meta(final)
    assert dst["fingerprint"] == fingerprint
    assert dst["open_set"]["threshold"] == src["open_set"]["threshold"]
    assert dst["open_set"]["transferred_from"]["fingerprint"] == src["fingerprint"]
    assert dst["metrics"]["validation"]["rank1"] == src["metrics"]["validation"]["rank1"]
    assert dst["metrics"]["validation"]["transferred_from"]["train_subjects"] == "005-009"


def test_calibration_transfer_and_flags_refuse_bad_input(tmp_path, capsys):
    a, b, c = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"
    save_checkpoint(
        a, _tiny_gaitbase(), meta={"open_set": {"threshold": 0.5}, "metrics": {"validation": {"rank1": {}}}}
    )
    save_checkpoint(b, create_model("gaitbase-small", channels=[4, 8, 8, 16], embed_dim=8, num_classes=4))
    # free-text training data (imported weights) is no reason to refuse a calibration
    save_checkpoint(c, _tiny_gaitbase(), meta={"training_data": "OpenGait CASIA-B release, subjects 001-074"})
    for argv, message in (
        (["weights", "calibrate", str(b), "--from", str(a)], "different models"),
        (["weights", "calibrate", str(a), "--from", str(c)], "has no calibration"),
        (["weights", "calibrate", str(c)], "either --data"),
        (["weights", "calibrate", str(c), "--data", str(tmp_path), "--from", str(a)], "either --data"),
        (["weights", "calibrate", str(c), "--data", str(tmp_path), "--subjects", "1-x"], "bad subject range"),
    ):
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (argv, err)
    assert "open_set" not in read_meta(b) and "open_set" not in read_meta(c)


def test_weights_default_switches_the_manifest(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAITPIPE_WEIGHTS_DIR", str(tmp_path / "w"))
    for name in ("first", "second"):
        src = tmp_path / f"{name}.pt"
        save_checkpoint(
            src, _tiny_gaitbase(), meta={"training_data": {"train_subjects": "001-004", "split": "my-data"}}
        )
        assert main(["weights", "install", str(src), "--name", name]) == 0
    manifest = json.loads((tmp_path / "w" / "MANIFEST.json").read_text())
    assert manifest["default"] == "first" and "licence_note" not in manifest["weights"]["first"]  # not CASIA-B data
    assert main(["weights", "default", "second"]) == 0
    assert default_weights() == tmp_path / "w" / "second.pt"
    capsys.readouterr()
    assert main(["weights", "default", "third"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no weights named 'third'" in err and "first, second" in err
    assert default_weights() == tmp_path / "w" / "second.pt"
