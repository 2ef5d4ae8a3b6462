"""``gaitpipe weights import / list / export-onnx``.

Official checkpoints are not downloadable here, so the import tests build snapshots with the
documented key names and shapes (OpenGait's GaitBase config, configs/gaitbase/; the HSTL authors'
CASIA-B model definition) holding random weights, and compare our converted model with an
independent functional re-implementation of the original forward pass that reads the original
keys directly. A wrong permutation or a swapped key makes them differ.
"""

from __future__ import annotations

import argparse
import json
import pickle
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from gaitpipe.cli.app import main
from gaitpipe.models import checkpoint as ckpt
from gaitpipe.models import create_model

# Tiny models gain nothing from threads (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


def _silhouettes(n=1, t=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, t, 64, 44)
    x[:, :, 4:60, 12:32] = (torch.rand(n, t, 56, 20, generator=g) > 0.3).float()  # a blobby walker
    return x


class _Random:
    def __init__(self, seed=0):
        self.g = torch.Generator().manual_seed(seed)

    def conv(self, *shape):
        fan_in = 1
        for s in shape[1:]:
            fan_in *= s
        return torch.randn(*shape, generator=self.g) * (2.0 / fan_in) ** 0.5

    def bn(self, sd, prefix, c):
        sd[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(c, generator=self.g)
        sd[f"{prefix}.bias"] = 0.1 * torch.randn(c, generator=self.g)
        sd[f"{prefix}.running_mean"] = 0.1 * torch.randn(c, generator=self.g)
        sd[f"{prefix}.running_var"] = 0.5 + torch.rand(c, generator=self.g)
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(60000)

    def mat(self, *shape, scale=0.05):
        return scale * torch.randn(*shape, generator=self.g)


# --------------------------------------------------------------------------- OpenGait GaitBase
def opengait_gaitbase_state(classes=74):
    """Keys and shapes as in OpenGait's GaitBase (ResNet9 64/128/256/512, configs/gaitbase/)."""
    r, sd, p = _Random(0), {}, "Backbone.forward_block."
    sd[p + "conv1.conv.weight"] = r.conv(64, 1, 3, 3)
    r.bn(sd, p + "bn1", 64)
    cin = 64
    for i, c in enumerate((64, 128, 256, 512), start=1):
        q = f"{p}layer{i}.0."
        sd[q + "conv1.weight"] = r.conv(c, cin, 3, 3)
        r.bn(sd, q + "bn1", c)
        sd[q + "conv2.weight"] = r.conv(c, c, 3, 3)
        r.bn(sd, q + "bn2", c)
        if i > 1:
            sd[q + "downsample.0.weight"] = r.conv(c, cin, 1, 1)
            r.bn(sd, q + "downsample.1", c)
        cin = c
    sd["FCs.fc_bin"] = r.mat(16, 512, 256)
    sd["BNNecks.fc_bin"] = r.mat(16, 256, classes)
    r.bn(sd, "BNNecks.bn1d", 16 * 256)
    return sd


def _bn(x, sd, prefix):
    return F.batch_norm(
        x,
        sd[prefix + ".running_mean"],
        sd[prefix + ".running_var"],
        sd[prefix + ".weight"],
        sd[prefix + ".bias"],
        False,
        0.0,
        1e-5,
    )


def reference_gaitbase(sd, sils):
    """OpenGait GaitBase at test time, written against its own keys: (FC features, BNNeck features), [n, p, c]."""
    n, s, h, w = sils.shape
    p = "Backbone.forward_block."
    x = F.relu(_bn(F.conv2d(sils.reshape(n * s, 1, h, w), sd[p + "conv1.conv.weight"], padding=1), sd, p + "bn1"))
    for i, stride in zip(range(1, 5), (1, 2, 2, 1)):
        q = f"{p}layer{i}.0."
        out = F.relu(_bn(F.conv2d(x, sd[q + "conv1.weight"], stride=stride, padding=1), sd, q + "bn1"))
        out = _bn(F.conv2d(out, sd[q + "conv2.weight"], padding=1), sd, q + "bn2")
        short = (
            _bn(F.conv2d(x, sd[q + "downsample.0.weight"], stride=stride), sd, q + "downsample.1")
            if q + "downsample.0.weight" in sd
            else x
        )
        x = F.relu(out + short)
    c = x.shape[1]
    x = x.reshape(n, s, *x.shape[1:]).max(1).values  # temporal max: [n, c, h, w]
    z = x.reshape(n, c, 16, -1)
    feat = z.mean(-1) + z.max(-1).values  # HPP: [n, c, p]
    emb = feat.permute(2, 0, 1).matmul(sd["FCs.fc_bin"]).permute(1, 2, 0)  # [n, 256, p]
    bnft = _bn(emb.reshape(n, -1), sd, "BNNecks.bn1d").reshape(n, 256, 16)  # channel-major flatten
    return emb.permute(0, 2, 1), bnft.permute(0, 2, 1)


def _snapshot(model_sd):
    """An OpenGait training snapshot: model + optimizer + MultiStepLR (whose milestones are a Counter)."""
    w = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=5e-4)
    w.grad = torch.ones(3)
    opt.step()
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20000, 40000, 50000], gamma=0.1)
    snap = {"model": model_sd, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "iteration": 60000}
    assert isinstance(snap["scheduler"]["milestones"], Counter)
    return snap


@pytest.fixture(scope="module")
def gaitbase_snapshot(tmp_path_factory):
    sd = opengait_gaitbase_state()
    path = tmp_path_factory.mktemp("og") / "GaitBase-60000.pt"
    torch.save(_snapshot(sd), path)
    return path, sd


def test_import_opengait_gaitbase_matches_reference(capsys, tmp_path, gaitbase_snapshot):
    src, sd = gaitbase_snapshot
    out = tmp_path / "gb.pt"
    code, stdout, stderr = _run(
        capsys, "weights", "import", src, "--arch", "gaitbase", "--out", out, "--training-data", "CASIA-B (test)"
    )
    assert code == 0, stderr
    assert "gaitbase-casiab" in stdout and "16 parts x 256" in stdout
    model, meta = ckpt.load_checkpoint(out, expect_arch="gaitbase")
    assert meta["source"]["iteration"] == 60000 and meta["training_data"] == "CASIA-B (test)"
    x = _silhouettes(2, 5)
    want_emb, want_bn = reference_gaitbase(sd, x)
    got = model.embed(x)
    torch.testing.assert_close(got, want_emb, atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        got_bn, _ = model.bnnecks(got)  # checks the channel-major -> part-major permutation
    torch.testing.assert_close(got_bn, want_bn, atol=1e-4, rtol=1e-4)
    assert torch.equal(model.bnnecks.fc_bin, sd["BNNecks.fc_bin"])


def test_import_infers_class_count(tmp_path):
    from gaitpipe.models.convert import convert_state_dict

    sd = opengait_gaitbase_state()
    sd["BNNecks.fc_bin"] = sd["BNNecks.fc_bin"][:, :, :10].clone()
    model, preset = convert_state_dict("gaitbase", sd)
    assert preset == "gaitbase-casiab" and model.config.num_classes == 10


# --------------------------------------------------------------------------------------- HSTL
CB_SPLIT2, CB_SPLIT3 = [40, 24], [8, 32, 16, 8]


def hstl_authors_state(classes=74):
    """Keys and shapes of the authors' CASIA-B HSTL (channels 32/64/128, 73 parts)."""
    r, sd = _Random(1), {}
    sd["arme1.0.conv3d.weight"] = r.conv(32, 1, 3, 3, 3)
    sd["astp1.hpp.0.p"] = 5 + 3 * torch.rand(1, generator=r.g)
    sd["astp1.proj.conv.weight"] = r.conv(128, 32, 1, 1)
    for j, (cin, cout) in enumerate([(32, 32), (32, 64)]):
        for i in range(2):
            sd[f"arme2.{j}.conv3d.{i}.conv3d.weight"] = r.conv(cout, cin, 3, 3, 3)
    for name in ("astp2", "astp2_fta"):
        for i in range(2):
            sd[f"{name}.hpp.{i}.p"] = 5 + 3 * torch.rand(1, generator=r.g)
        sd[f"{name}.proj.conv.weight"] = r.conv(128, 64, 1, 1)
    for i in range(2):
        for k in range(2):
            sd[f"fta.mma.{i}.fcs.{k}.weight"] = r.conv(64, 64, 1)
            sd[f"fta.mma.{i}.fcs.{k}.bias"] = r.mat(64, scale=0.1)
    for j, (cin, cout) in enumerate([(64, 128), (128, 128)]):
        for i in range(4):
            sd[f"arme3.{j}.conv3d.{i}.conv3d.weight"] = r.conv(cout, cin, 3, 3, 3)
    for i in range(4):
        sd[f"astp3.hpp.{i}.p"] = 5 + 3 * torch.rand(1, generator=r.g)
    sd["HPP.p"] = 5 + 3 * torch.rand(1, generator=r.g)
    sd["Head0.fc_bin"] = r.mat(73, 128, 128)
    r.bn(sd, "Bn", 128)
    sd["Head1.fc_bin"] = r.mat(73, 128, classes)
    return sd


def reference_hstl(sd, sils):
    """The authors' HSTL (CASIA-B) at test time, against their keys: BN features [n, 73, 128]."""
    n = sils.shape[0]

    def gem(z, p):  # z [n, c, bins, pixels] -> [n, c, bins]
        return z.clamp(min=1e-6).pow(p).mean(-1).pow(1.0 / p)

    def astp(x, name, split, proj=True):
        x = x.max(2).values
        if proj:
            x = F.conv2d(x, sd[f"{name}.proj.conv.weight"])
        return torch.cat(
            [gem(r.reshape(n, r.shape[1], 1, -1), sd[f"{name}.hpp.{i}.p"]) for i, r in enumerate(x.split(split, 2))], -1
        )

    def arme(x, name, split):
        return F.leaky_relu(
            torch.cat(
                [
                    F.conv3d(r, sd[f"{name}.conv3d.{i}.conv3d.weight"], padding=1)
                    for i, r in enumerate(x.split(split, 3))
                ],
                3,
            )
        )

    def fta(x, name):
        o1 = F.max_pool3d(x, (3, 1, 1), (3, 1, 1))
        o2 = F.max_pool3d(x, (5, 1, 1), (3, 1, 1), (1, 0, 0))
        ctx = (o1 + o2).mean((3, 4))
        w = torch.stack(
            [F.conv1d(ctx, sd[f"{name}.fcs.{k}.weight"], sd[f"{name}.fcs.{k}.bias"]) for k in range(2)]
        ).softmax(0)
        return w[0][..., None, None] * o1 + w[1][..., None, None] * o2

    x = F.leaky_relu(F.conv3d(sils.unsqueeze(1), sd["arme1.0.conv3d.weight"], padding=1))
    a1 = astp(x, "astp1", [64])
    x = arme(arme(x, "arme2.0", CB_SPLIT2), "arme2.1", CB_SPLIT2)
    a2 = astp(x, "astp2", CB_SPLIT2)
    x = torch.cat([fta(r, f"fta.mma.{i}") for i, r in enumerate(x.split(CB_SPLIT2, 3))], 3)
    a2f = astp(x, "astp2_fta", CB_SPLIT2)
    x = arme(arme(x, "arme3.0", CB_SPLIT3), "arme3.1", CB_SPLIT3)
    a3 = astp(x, "astp3", CB_SPLIT3, proj=False)
    z = x.max(2).values
    a4 = gem(z.reshape(n, z.shape[1], 64, -1), sd["HPP.p"])
    outs = torch.cat([a1, a2, a2f, a3, a4], -1)  # [n, c, 73]
    gait = outs.permute(2, 0, 1).matmul(sd["Head0.fc_bin"]).permute(1, 2, 0)  # [n, c, p]
    return _bn(gait, sd, "Bn").permute(0, 2, 1)


def test_import_hstl_matches_reference(capsys, tmp_path):
    sd = hstl_authors_state()
    src = tmp_path / "HSTL-90000.pt"
    torch.save(_snapshot(sd), src)
    out = tmp_path / "hstl.pt"
    code, _stdout, stderr = _run(capsys, "weights", "import", src, "--arch", "hstl", "--out", out)
    assert code == 0, stderr
    model, meta = ckpt.load_checkpoint(out, expect_arch="hstl")
    assert meta["preset"] == "hstl-casiab" and meta["parts"] == 73
    x = _silhouettes(1, 6, seed=1)
    want = reference_hstl(sd, x)
    got = model.embed(x)
    assert want.abs().mean() > 1e-3  # the reference is not trivially zero
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    # the authors repeat a 2-frame sequence twice (their FTA pools 3 frames): so do we
    two = x[:, :2]
    torch.testing.assert_close(model.embed(two), reference_hstl(sd, two.repeat(1, 2, 1, 1)), atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------ safety / errors
def test_harmless_extra_types_load_without_trust(tmp_path):
    """numpy scalars are refused by plain weights_only loading; the importer allows exactly those
    data types (still no code execution) instead of demanding --trust."""
    import numpy as np

    from gaitpipe.models.convert import import_checkpoint

    snap = _snapshot(opengait_gaitbase_state())
    snap["iteration"] = np.int64(60000)
    snap["best"] = {"rank1": np.float32(0.9)}
    src = tmp_path / "np.pt"
    torch.save(snap, src)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(src, weights_only=True)
    out, meta = import_checkpoint(src, "gaitbase", out=tmp_path / "gb.pt")
    assert meta["source"]["iteration"] == 60000 and out.is_file()


def test_untrusted_pickle_needs_trust(capsys, tmp_path):
    snap = _snapshot(opengait_gaitbase_state())
    snap["args"] = argparse.Namespace(cfgs="configs/gaitbase.yaml")  # an arbitrary class instance
    src = tmp_path / "odd.pt"
    torch.save(snap, src)
    code, _, err = _run(capsys, "weights", "import", src, "--arch", "gaitbase", "--out", tmp_path / "x.pt")
    assert code != 0 and "argparse.Namespace" in err and "--trust" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.pt").exists()
    code, _, err = _run(capsys, "weights", "import", src, "--arch", "gaitbase", "--out", tmp_path / "x.pt", "--trust")
    assert code == 0, err
    assert (tmp_path / "x.pt").is_file()


def test_wrong_arch_and_shape_errors_are_one_line(capsys, tmp_path, gaitbase_snapshot):
    src, sd = gaitbase_snapshot
    code, _, err = _run(capsys, "weights", "import", src, "--arch", "hstl", "--out", tmp_path / "x.pt")
    assert code != 0 and err.startswith("error: not an HSTL checkpoint") and err.count("\n") == 1

    bad = dict(sd)
    bad["Backbone.forward_block.layer1.0.conv2.weight"] = torch.zeros(64, 32, 3, 3)
    torch.save({"model": bad}, tmp_path / "bad.pt")
    code, _, err = _run(
        capsys, "weights", "import", tmp_path / "bad.pt", "--arch", "gaitbase", "--out", tmp_path / "x.pt"
    )
    assert code != 0 and err.count("\n") == 1
    assert "'backbone.layer1.0.conv2.weight' expected shape [64, 64, 3, 3], got [64, 32, 3, 3]" in err

    code, _, err = _run(
        capsys, "weights", "import", src, "--arch", "gaitbase", "--preset", "hstl-casiab", "--out", tmp_path / "x.pt"
    )
    assert code != 0 and "is a hstl model, not gaitbase" in err

    code, _, err = _run(capsys, "weights", "import", tmp_path / "missing.pt", "--arch", "gaitbase")
    assert code != 0 and "not found" in err
    assert not (tmp_path / "x.pt").exists()


def test_list_shows_installed_weights(capsys, tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    monkeypatch.setenv(ckpt.WEIGHTS_DIR_ENV, str(wdir))
    model = create_model("gaitbase-casiab", channels=(8, 16, 16, 32), embed_dim=16, num_classes=5)
    meta = ckpt.save_checkpoint(wdir / "tiny-gb.pt", model, meta={"training_data": "unit test"})
    ckpt.save_checkpoint(
        wdir / "validated.pt",
        model,
        meta={
            "training_data": {"train_subjects": "001-062"},
            "open_set": {"threshold": 0.75694},
            "metrics": {"validation": {"rank1": {"NM": 70.57, "BG": 66.59, "CL": 38.98, "mean": 58.71}}},
        },
    )
    ckpt.save_checkpoint(
        wdir / "final.pt",
        model,
        meta={
            "training_data": {"train_subjects": "001-074"},
            "open_set": {"threshold": 0.75694},
            "metrics": {
                "validation": {
                    "rank1": {"NM": 70.57, "BG": 66.59, "CL": 38.98, "mean": 58.71},
                    "transferred_from": {"file": "validated.pt", "train_subjects": "001-062"},
                }
            },
        },
    )
    (wdir / "broken.pt").write_bytes(b"not a checkpoint")
    (wdir / "MANIFEST.json").write_text(json.dumps({"default": "tiny-gb"}))
    code, out, err = _run(capsys, "weights", "list", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["tiny-gb"]["fingerprint"] == meta["fingerprint"] and rows["tiny-gb"]["default"] is True
    assert rows["tiny-gb"]["training_data"] == "unit test"
    assert "error" in rows["broken"]
    code, out, _ = _run(capsys, "weights", "list")
    assert code == 0 and "*tiny-gb" in out and meta["fingerprint"] in out and "unreadable" in out
    validated = next(line for line in out.splitlines() if line.startswith(" validated"))
    assert "001-062" in validated and " 70.6/66.6/39.0" in validated and "0.7569" in validated
    # a final model's figures are its held-out twin's: marked, and said so under the table
    final = next(line for line in out.splitlines() if line.startswith(" final"))
    assert "001-074" in final and "~70.6/66.6/39.0" in final
    assert "~ final: trained on every subject; figures of its held-out twin validated.pt (trained on 001-062)" in out


# ------------------------------------------------------------------------------------- ONNX
def _ort_vs_torch(path, model, shape):
    import numpy as np
    import onnxruntime as ort

    if model.input_kind == "rgb":
        shape = (*shape[:2], 3, *shape[2:])
    x = (torch.rand(*shape, generator=torch.Generator().manual_seed(9)) > 0.5).float()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"frames": x.numpy()})[0]
    want = model.embed(x).numpy()
    assert got.shape == want.shape
    diff = float(np.abs(got - want).max())
    assert diff <= 1e-3 * float(np.abs(want).max()), "differs relative to the output scale"
    return diff


def test_export_onnx_cli_gaitbase(capsys, tmp_path):
    import onnx

    model = create_model("gaitbase-casiab", channels=(8, 16, 16, 32), embed_dim=16, num_classes=5)
    meta = ckpt.save_checkpoint(tmp_path / "gb.pt", model)
    out = tmp_path / "gb.onnx"
    code, stdout, err = _run(capsys, "weights", "export-onnx", tmp_path / "gb.pt", "--out", out)
    assert code == 0, err
    assert "max |onnx - torch|" in stdout
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["gaitpipe.fingerprint"] == meta["fingerprint"] and props["gaitpipe.parts"] == "16"
    loaded, _ = ckpt.load_checkpoint(tmp_path / "gb.pt")
    for shape in [(3, 13, 64, 44), (1, 1, 64, 44), (2, 45, 64, 44)]:  # batch and frame axes are dynamic
        assert _ort_vs_torch(out, loaded, shape) < 1e-4

    code, _, err = _run(capsys, "weights", "export-onnx", "no-such-weights", "--out", out)
    assert code != 0 and "neither a weights file/name nor a model preset" in err


@pytest.mark.parametrize(
    "preset, extra",
    [
        ("hstl-casiab", {}),
        ("dygait-casiab", {}),
        ("gaitnet", {}),
        ("gaitnet", {"input_kind": "silhouette"}),
        ("deepgaitv2-casiab", {}),
        ("deepgaitv2-3d-oumvlp", {}),
        ("deepgaitv2-2d-gait3d", {}),
    ],
)
def test_export_onnx_other_architectures(tmp_path, preset, extra):
    from gaitpipe.models import list_models
    from gaitpipe.models.export import export_onnx

    if preset not in list_models():
        pytest.fail(f"{preset} is not registered")
    with torch.device("meta"):
        probe = create_model(preset)
    torch.manual_seed(0)
    model = create_model(preset, **probe.tiny_overrides(), **extra).eval()
    model.preset = preset
    report = export_onnx(model, tmp_path / "m.onnx", frames=9)
    # the file takes what the weights were trained on: a silhouette GaitNet [batch, frames, 64, 44]
    import onnx

    proto = onnx.load(str(tmp_path / "m.onnx"))
    rank = len(proto.graph.input[0].type.tensor_type.shape.dim)
    assert rank == (5 if model.input_kind == "rgb" else 4)
    assert {p.key: p.value for p in proto.metadata_props}["gaitpipe.input_kind"] == model.input_kind
    assert report["max_abs_diff"] < 1e-4
    for shape in [(2, 7, 64, 44), (1, 20, 64, 44)]:
        assert _ort_vs_torch(tmp_path / "m.onnx", model, shape) < 1e-4
