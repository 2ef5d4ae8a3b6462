"""DeepGaitV2: presets, OpenGait key layout, checkpoint import, parameter counts.

The encoder contract (mixed-length batches, padding, gradients, bf16, channels-last, CUDA) is
checked for every preset by tests/test_models_contract.py and the ONNX export by
tests/test_weights_cli.py. Here, OpenGait snapshots are made from our own models saved under
OpenGait's key names (``to_opengait``, written from the layout of OpenGait's DeepGaitV2: its
per-frame ``SetBlockWrapper`` adds ``forward_block``, the P3D block holds ``conv1/conv2``
as wrapped conv+BN pairs, ``shortcut3d`` + ``sbn`` for the temporal branch and a 1x1x1 Conv3d
shortcut, the BNNeck BatchNorm is flattened channel-major), imported, and compared with an
independent functional forward pass that reads OpenGait's keys directly. Key counts, layout
digests and parameter counts were measured on OpenGait's own network (commit 0efafd4, built from
configs/deepgaitv2/*.yaml); benchmarks/opengait_parity.py compares the two networks' outputs.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F

from gaitpipe.cli.app import main
from gaitpipe.errors import WeightsError
from gaitpipe.models import checkpoint as ckpt
from gaitpipe.models import create_model, list_models
from gaitpipe.models.convert import convert_state_dict

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"channels": (8, 16, 16, 32), "embed_dim": 16, "num_classes": 5}


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


def _silhouettes(n, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, t, 64, 44)
    x[:, :, 4:60, 12:32] = (torch.rand(n, t, 56, 20, generator=g) > 0.3).float()
    return x


def _rel(a, b):
    return float((a - b).norm() / b.norm())


def _randomised(model, seed=0):
    """Random weights and BatchNorm statistics, so a misplaced BN key or permutation shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith(("running_mean", "bias")):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif t.dim() == 1:
                t.copy_(1 + 0.1 * torch.randn(t.shape, generator=g))
            else:
                fan_in = t.shape[1] if "fc_bin" in name else t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) / fan_in**0.5)
    return model.eval()


# ------------------------------------------------------------------------ OpenGait's key layout
def to_opengait(model) -> dict[str, torch.Tensor]:
    """Our state dict under OpenGait's DeepGaitV2 key names and shapes."""
    mode = model.config.mode
    parts, dim = model.parts, model.embed_dim
    out = {}
    for key, v in model.state_dict().items():
        head, _, rest = key.partition(".")
        if head in ("layer0", "layer1") or (mode == "2d" and head.startswith("layer")):
            key = f"{head}.forward_block.{rest}"
        elif head.startswith("layer") and mode == "p3d":
            idx, sub, name = rest.split(".", 2)
            sub_map = {
                "conv1": "conv1.forward_block.0",
                "bn1": "conv1.forward_block.1",
                "conv2": "conv2.forward_block.0",
                "bn2": "conv2.forward_block.1",
                "temporal": "shortcut3d",
                "temporal_bn": "sbn",
                "downsample": "downsample",
            }
            key = f"{head}.{idx}.{sub_map[sub]}.{name}"
            if sub == "downsample" and name == "0.weight":
                v = v.unsqueeze(2)  # OpenGait: Conv3d 1x1x1 [C, Cin, 1, 1, 1]
        elif key == "fcs.fc_bin":
            key = "FCs.fc_bin"
        elif head == "bnnecks":
            key = "BNNecks." + rest
            if v.dim() == 1 and v.numel() == parts * dim:  # part-major -> OpenGait's channel-major
                v = v.reshape(parts, dim).t().reshape(-1)
        out[key] = v.clone()
    return out


def _layout_digest(sd):
    text = "\n".join(f"{k} {list(sd[k].shape)}" for k in sorted(sd))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: OpenGait's DeepGaitV2 state dicts (key count, sha256 of the sorted "key [shape]" lines), measured.
OPENGAIT_LAYOUT = {
    "deepgaitv2-casiab": (97, "2e74d176b08cfa7c"),
    "deepgaitv2-gait3d": (205, "98a2a5f72e43f465"),
    "deepgaitv2-3d-oumvlp": (79, "c5dec32d449dfac5"),
    "deepgaitv2-3d-gait3d": (151, "72a06ff727653336"),
    "deepgaitv2-2d-gait3d": (151, "3f699ba39d76a2d0"),
}


@pytest.mark.parametrize("preset", sorted(OPENGAIT_LAYOUT))
def test_key_layout_matches_opengait(preset):
    with torch.device("meta"):
        sd = to_opengait(create_model(preset))
    assert (len(sd), _layout_digest(sd)) == OPENGAIT_LAYOUT[preset]


def test_representative_opengait_keys():
    with torch.device("meta"):
        p3d = to_opengait(create_model("deepgaitv2-casiab"))
        deep = to_opengait(create_model("deepgaitv2-gait3d"))
        d3 = to_opengait(create_model("deepgaitv2-3d-gait3d"))
        d2 = to_opengait(create_model("deepgaitv2-2d-gait3d"))
    shapes = {k: list(v.shape) for k, v in p3d.items()}
    assert shapes["layer0.forward_block.0.weight"] == [64, 1, 3, 3]
    assert shapes["layer1.forward_block.0.conv1.weight"] == [64, 64, 3, 3]
    assert shapes["layer2.0.conv1.forward_block.0.weight"] == [128, 64, 3, 3]
    assert shapes["layer2.0.shortcut3d.weight"] == [128, 128, 3, 1, 1]
    assert shapes["layer2.0.sbn.running_var"] == [128]
    assert shapes["layer2.0.downsample.0.weight"] == [128, 64, 1, 1, 1]
    assert shapes["layer4.0.downsample.0.weight"] == [512, 256, 1, 1, 1]  # width change, stride 1
    assert shapes["FCs.fc_bin"] == [16, 512, 256]
    assert shapes["BNNecks.fc_bin"] == [16, 256, 74] and shapes["BNNecks.bn1d.weight"] == [4096]
    assert "layer1.forward_block.0.downsample.0.weight" not in p3d
    assert "layer2.3.shortcut3d.weight" in deep and "layer2.4.shortcut3d.weight" not in deep
    assert "layer3.1.downsample.0.weight" not in deep and list(deep["BNNecks.fc_bin"].shape) == [16, 256, 3000]
    assert list(d3["layer2.0.conv1.weight"].shape) == [128, 64, 3, 3, 3]
    assert list(d3["layer3.3.conv2.weight"].shape) == [256, 256, 3, 3, 3]
    assert list(d2["layer2.forward_block.0.downsample.0.weight"].shape) == [128, 64, 1, 1]


# --------------------------------------------------------- OpenGait's forward pass, on its keys
def _bn(x, sd, p):
    return F.batch_norm(
        x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"], False, 0.0, 1e-5
    )


def _per_frame(fn, x):
    """Apply a 2D function to every frame of ``[n, C, T, H, W]``."""
    n, c, t, h, w = x.shape
    y = fn(x.transpose(1, 2).reshape(n * t, c, h, w))
    return y.reshape(n, t, *y.shape[1:]).transpose(1, 2)


def _block2d(sd, p, stride):
    def fn(x):
        out = F.relu(_bn(F.conv2d(x, sd[p + "conv1.weight"], stride=stride, padding=1), sd, p + "bn1"))
        out = _bn(F.conv2d(out, sd[p + "conv2.weight"], padding=1), sd, p + "bn2")
        if p + "downsample.0.weight" in sd:
            x = _bn(F.conv2d(x, sd[p + "downsample.0.weight"], stride=stride), sd, p + "downsample.1")
        return F.relu(out + x)

    return fn


def _conv_bn2d(sd, p, stride, relu):
    """OpenGait's wrapped ``Sequential(conv3x3, BatchNorm2d[, ReLU])`` at key prefix ``p``."""

    def fn(x):
        y = _bn(F.conv2d(x, sd[p + "0.weight"], stride=stride, padding=1), sd, p + "1")
        return F.relu(y) if relu else y

    return fn


def reference_deepgaitv2(sd, sils):
    """OpenGait's DeepGaitV2 at test time (FC features), written against its keys: ``[n, 16, dim]``."""
    x = sils.unsqueeze(1)  # [n, 1, T, H, W]
    x = _per_frame(_conv_bn2d(sd, "layer0.forward_block.", 1, relu=True), x)
    i = 0
    while f"layer1.forward_block.{i}.conv1.weight" in sd:
        x = _per_frame(_block2d(sd, f"layer1.forward_block.{i}.", 1), x)
        i += 1
    for k, first_stride in zip((2, 3, 4), (2, 2, 1)):
        i = 0
        while any(key.startswith((f"layer{k}.{i}.", f"layer{k}.forward_block.{i}.")) for key in sd):
            s = first_stride if i == 0 else 1
            p = f"layer{k}.{i}."
            if f"layer{k}.forward_block.{i}.conv1.weight" in sd:  # 2D
                x = _per_frame(_block2d(sd, f"layer{k}.forward_block.{i}.", s), x)
            elif p + "shortcut3d.weight" in sd:  # P3D
                out = _per_frame(_conv_bn2d(sd, p + "conv1.forward_block.", s, relu=True), x)
                out = F.relu(out + _bn(F.conv3d(out, sd[p + "shortcut3d.weight"], padding=(1, 0, 0)), sd, p + "sbn"))
                out = _per_frame(_conv_bn2d(sd, p + "conv2.forward_block.", 1, relu=False), out)
                if p + "downsample.0.weight" in sd:
                    x = _bn(F.conv3d(x, sd[p + "downsample.0.weight"], stride=(1, s, s)), sd, p + "downsample.1")
                x = F.relu(out + x)
            else:  # 3D
                out = F.relu(_bn(F.conv3d(x, sd[p + "conv1.weight"], stride=(1, s, s), padding=1), sd, p + "bn1"))
                out = _bn(F.conv3d(out, sd[p + "conv2.weight"], padding=1), sd, p + "bn2")
                if p + "downsample.0.weight" in sd:
                    x = _bn(F.conv3d(x, sd[p + "downsample.0.weight"], stride=(1, s, s)), sd, p + "downsample.1")
                x = F.relu(out + x)
            i += 1
    x = x.max(2).values  # temporal max: [n, C, h, w]
    n, c = x.shape[:2]
    z = x.reshape(n, c, 16, -1)
    feat = z.mean(-1) + z.max(-1).values  # [n, C, 16]
    emb = feat.permute(2, 0, 1).matmul(sd["FCs.fc_bin"]).permute(1, 2, 0)  # [n, dim, 16]
    return emb.permute(0, 2, 1)


def _snapshot(sd, iteration=60000):
    """Saved as OpenGait saves: model, optimizer, scheduler, iteration."""
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20000, 40000, 50000], gamma=0.1)
    return {"model": sd, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "iteration": iteration}


@pytest.fixture(scope="module", params=["p3d", "3d", "2d"])
def opengait_file(request, tmp_path_factory):
    """A tiny two-block-per-middle-stage model of each mode, saved as an OpenGait snapshot."""
    torch.manual_seed(0)
    model = create_model("deepgaitv2-casiab", **TINY, mode=request.param, layers=(1, 2, 2, 1))
    _randomised(model, seed=1)
    sd = to_opengait(model)
    path = tmp_path_factory.mktemp("og") / f"DeepGaitV2_{request.param}-60000.pt"
    torch.save(_snapshot(sd), path)
    return request.param, path, sd, model


def test_import_matches_opengait_forward(capsys, tmp_path, opengait_file):
    mode, src, sd, ours = opengait_file
    out = tmp_path / "dgv2.pt"
    code, stdout, err = _run(capsys, "weights", "import", src, "--arch", "deepgaitv2", "--out", out)
    assert code == 0, err
    assert "16 parts x 16" in stdout
    model, meta = ckpt.load_checkpoint(out, expect_arch="deepgaitv2")
    assert meta["source"] == {"file": src.name, "format": "OpenGait", "iteration": 60000}
    assert meta["config"]["mode"] == mode and meta["config"]["layers"] == [1, 2, 2, 1]
    assert meta["config"]["num_classes"] == 5
    # equal lengths: the imported model, our original and OpenGait's forward pass agree
    x = _silhouettes(2, 7)
    want = reference_deepgaitv2(sd, x)
    assert want.abs().mean() > 1e-3
    got = model.embed(x)
    assert _rel(got, want) < 1e-4 and _rel(ours.embed(x), want) < 1e-4
    # mixed lengths: each sequence as OpenGait evaluates it (alone, all its frames)
    lengths = [3, 9, 1, 6]
    padded = _silhouettes(4, 9, seed=2)
    for i, n in enumerate(lengths):
        padded[i, n:] = 0
    got = model.embed(padded, torch.tensor(lengths))
    want = torch.cat([reference_deepgaitv2(sd, padded[i : i + 1, :n]) for i, n in enumerate(lengths)])
    assert _rel(got, want) < 1e-4
    # the BNNeck BatchNorm came over channel-major -> part-major: BNNeck features agree
    with torch.no_grad():
        torch.testing.assert_close(model.bnnecks(got)[0], ours.bnnecks(got)[0], atol=1e-5, rtol=1e-5)
    assert torch.equal(model.bnnecks.fc_bin, sd["BNNecks.fc_bin"])


def test_preset_is_inferred_from_the_file(opengait_file):
    mode, _src, sd, _ = opengait_file
    _, preset = convert_state_dict("deepgaitv2", sd)
    # depths 1/2/2/1 are no preset's: the first preset of the same mode, structure from the file
    assert preset == {"p3d": "deepgaitv2-casiab", "3d": "deepgaitv2-3d-grew", "2d": "deepgaitv2-2d-gait3d"}[mode]
    with torch.device("meta"):
        deep = to_opengait(create_model("deepgaitv2-grew"))
        d3 = to_opengait(create_model("deepgaitv2-3d-grew"))
    from gaitpipe.models.convert import convert_deepgaitv2
    from gaitpipe.models.deepgaitv2 import preset_for

    for sd_, want in ((deep, "deepgaitv2-grew"), (d3, "deepgaitv2-3d-grew")):
        cfg = convert_deepgaitv2(sd_)[1]
        assert cfg["layers"] == (1, 4, 4, 1) and cfg["num_classes"] == 20000
        assert preset_for(cfg["mode"], cfg["layers"], cfg["num_classes"]) == want
    assert preset_for("p3d", (1, 4, 4, 1), 3000) == "deepgaitv2-gait3d"
    assert preset_for("p3d", (1, 4, 4, 1), 77) == "deepgaitv2-gait3d"  # class count then follows the file


def test_wrong_shapes_are_refused_in_one_line(capsys, tmp_path):
    torch.manual_seed(0)
    sd = to_opengait(create_model("deepgaitv2-casiab", **TINY))  # CASIA-B depths, tiny widths
    src = tmp_path / "tiny.pt"
    torch.save(_snapshot(sd), src)
    # an explicit preset fixes the structure: tiny widths do not fit the full-size CASIA-B preset
    code, _, err = _run(
        capsys,
        "weights",
        "import",
        src,
        "--arch",
        "deepgaitv2",
        "--preset",
        "deepgaitv2-casiab",
        "--out",
        tmp_path / "x.pt",
    )
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err
    assert "'layer0.0.weight' expected shape [64, 1, 3, 3], got [8, 1, 3, 3]" in err
    # depths that do not fit the preset: named as missing / unexpected keys
    code, _, err = _run(
        capsys,
        "weights",
        "import",
        src,
        "--arch",
        "deepgaitv2",
        "--preset",
        "deepgaitv2-gait3d",
        "--out",
        tmp_path / "x.pt",
    )
    assert code != 0 and err.count("\n") == 1 and "missing key(s), first 'layer2.1." in err
    # one damaged tensor (no preset: the structure comes from the file)
    bad = dict(sd)
    bad["layer3.0.shortcut3d.weight"] = torch.zeros(16, 16, 5, 1, 1)
    torch.save(_snapshot(bad), tmp_path / "bad.pt")
    code, _, err = _run(
        capsys, "weights", "import", tmp_path / "bad.pt", "--arch", "deepgaitv2", "--out", tmp_path / "x.pt"
    )
    assert code != 0 and err.count("\n") == 1
    assert "'layer3.0.temporal.weight' expected shape [16, 16, 3, 1, 1], got [16, 16, 5, 1, 1]" in err
    # a GaitBase file is not a DeepGaitV2 one, and an unknown key is named
    with pytest.raises(WeightsError, match="not an OpenGait DeepGaitV2 checkpoint"):
        convert_state_dict(
            "deepgaitv2", {"Backbone.forward_block.conv1.conv.weight": torch.zeros(1), "FCs.fc_bin": torch.zeros(1)}
        )
    with pytest.raises(WeightsError, match=r"unexpected key 'layer2\.0\.attention\.weight'"):
        convert_state_dict("deepgaitv2", {**sd, "layer2.0.attention.weight": torch.zeros(1)})
    assert not (tmp_path / "x.pt").exists()


def test_explicit_preset_takes_the_files_class_count():
    with torch.device("meta"):
        sd = to_opengait(create_model("deepgaitv2-casiab", num_classes=100))  # e.g. a CCPG snapshot
    sd = {k: torch.zeros(v.shape) for k, v in sd.items()}
    model, preset = convert_state_dict("deepgaitv2", sd, preset="deepgaitv2-casiab")
    assert preset == "deepgaitv2-casiab" and model.config.num_classes == 100
    _, preset = convert_state_dict("deepgaitv2", sd)
    assert preset == "deepgaitv2-ccpg"


# ---------------------------------------------------------------------------- presets and facts
#: (mode, depths, classes) of OpenGait's configs/deepgaitv2/DeepGaitV2_<dataset>.yaml (all P3D) and
#: the model zoo's DeepGaitV2-3D entries; total / without-classifier parameters measured on OpenGait's network.
PRESET_FACTS = {
    "deepgaitv2-casiab": ("p3d", (1, 1, 1, 1), 74, 8_339_392, 8_036_288),
    "deepgaitv2-oumvlp": ("p3d", (1, 1, 1, 1), 5153, 29_142_976, 8_036_288),
    "deepgaitv2-gait3d": ("p3d", (1, 4, 4, 1), 3000, 25_492_160, 13_204_160),
    "deepgaitv2-grew": ("p3d", (1, 4, 4, 1), 20000, 95_124_160, 13_204_160),
    "deepgaitv2-ccpg": ("p3d", (1, 1, 1, 1), 100, None, 8_036_288),
    "deepgaitv2-sustech1k": ("p3d", (1, 1, 1, 1), 250, None, 8_036_288),
    "deepgaitv2-3d-grew": ("3d", (1, 4, 4, 1), 20000, 111_487_680, 29_567_680),
    "deepgaitv2-3d-oumvlp": ("3d", (1, 1, 1, 1), 5153, 37_398_720, 16_292_032),
    "deepgaitv2-3d-gait3d": ("3d", (1, 4, 4, 1), 3000, 41_855_680, 29_567_680),
    "deepgaitv2-2d-gait3d": ("2d", (1, 4, 4, 1), 3000, 23_718_592, 11_430_592),
}


def test_every_deepgaitv2_preset_is_listed_here():
    assert sorted(n for n in list_models() if n.startswith("deepgaitv2")) == sorted(PRESET_FACTS)


@pytest.mark.parametrize("name", sorted(PRESET_FACTS))
def test_preset_config_and_parameter_counts(name):
    mode, layers, classes, total, without = PRESET_FACTS[name]
    with torch.device("meta"):
        m = create_model(name)
    c = m.config
    assert (c.mode, c.layers, c.num_classes) == (mode, layers, classes)
    assert c.channels == (64, 128, 256, 512) and (m.parts, m.embed_dim) == (16, 256)
    assert m.num_parameters(include_classifier=False) == without
    assert m.num_parameters() == (total if total is not None else without + 16 * 256 * classes)


def test_arch_spec_follows_the_published_recipe():
    m = create_model("deepgaitv2-casiab", **TINY)
    spec = m.spec
    assert (spec.sampling, spec.optimizer, spec.lr, spec.weight_decay, spec.loss) == (
        "ordered",
        "sgd",
        0.1,
        5e-4,
        "triplet+ce",
    )
    assert m.min_frames == 1 and m.input_kind == "silhouette"


def test_bad_configs_are_refused():
    for bad in ({"mode": "4d"}, {"layers": (1, 1, 1)}, {"layers": (1, 0, 1, 1)}, {"bins": 5}):
        with pytest.raises(ValueError):
            create_model("deepgaitv2-casiab", **TINY, **bad)
    with pytest.raises(ValueError, match="silhouettes"):
        create_model("deepgaitv2-casiab", **TINY).embed(torch.zeros(1, 3, 3, 64, 44))


@pytest.mark.parametrize("mode", ["p3d", "3d"])
def test_temporal_modelling_sees_frame_order(mode):
    """P3D/3D see the order of frames (2D is a set model: a permutation changes nothing)."""
    torch.manual_seed(0)
    x = _silhouettes(1, 8, seed=3)
    rev = x.flip(1)
    m = _randomised(create_model("deepgaitv2-casiab", **TINY, mode=mode))
    assert _rel(m.embed(rev), m.embed(x)) > 1e-3
    m2 = _randomised(create_model("deepgaitv2-casiab", **TINY, mode="2d"))
    assert _rel(m2.embed(rev), m2.embed(x)) < 1e-5
