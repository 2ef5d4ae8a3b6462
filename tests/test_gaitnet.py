"""GaitNet: feature split, decoder, cross-reconstruction learning, silhouette input, incremental average."""

from __future__ import annotations

import pytest
import torch

from gaitpipe.losses.gaitnet import GaitNetLoss
from gaitpipe.models import create_model
from gaitpipe.models.gaitnet import GaitNet

torch.set_num_threads(2)
TINY = dict(channels=(8, 16, 32, 32), lstm_hidden=32, num_classes=4)


def walking_box(n: int, t: int) -> torch.Tensor:
    """``[n, t, 3, 64, 44]``: a coloured block (the "clothes") sliding sideways on black."""
    x = torch.zeros(n, t, 3, 64, 44)
    for i in range(n):
        colour = torch.tensor([0.9, 0.3 + 0.2 * i, 0.5])[:, None, None]
        for s in range(t):
            left = 4 + (3 * s + 5 * i) % 20
            x[i, s, :, 10:54, left : left + 16] = colour
    return x


def test_preset_split_sizes_and_shapes():
    torch.manual_seed(0)
    model = create_model("gaitnet")
    assert isinstance(model, GaitNet) and model.input_kind == "rgb" and model.min_frames == 1
    out = model(torch.rand(2, 3, 3, 64, 44))
    assert out.extras["appearance"].shape == (2, 3, 256)
    assert out.extras["pose"].shape == (2, 3, 64)
    assert out.embeddings.shape == (2, 1, 256) and (model.parts, model.embed_dim) == (1, 256)
    assert out.logits.shape == (2, 1, 74)
    assert out.extras["step_logits"].shape == (2, 3, 74)
    assert out.extras["reconstruction"].shape == (2, 4, 3, 64, 44)
    total = sum(p.numel() for p in model.parameters())
    print(
        f"gaitnet: {total / 1e6:.2f} M parameters "
        f"(decoder {sum(p.numel() for p in model.decoder.parameters()) / 1e6:.2f} M, training only)"
    )
    assert model.lstm.num_layers == 3 and model.lstm.hidden_size == 256


def test_decoder_output_shape_and_range():
    torch.manual_seed(1)
    model = create_model("gaitnet", **TINY)
    fa, fg = torch.randn(5, 256) * 10, torch.randn(5, 64) * 10
    img = model.decode(fa, fg)
    assert img.shape == (5, 3, 64, 44)
    assert img.min() >= 0 and img.max() <= 1


def test_cross_reconstruction_pairs_are_different_frames():
    torch.manual_seed(2)
    model = create_model("gaitnet", recon_pairs=6, **TINY)
    out = model(walking_box(3, 5), torch.tensor([5, 2, 1]))
    t1, t2 = out.extras["recon_source"], out.extras["recon_frame"]
    lengths = torch.tensor([5, 2, 1])[:, None]
    assert (t1 < lengths).all() and (t2 < lengths).all()
    assert (t1[:2] != t2[:2]).all() and (t1[2] == t2[2]).all()  # a 1-frame sequence pairs with itself
    target = out.extras["reconstruction_target"]
    assert torch.equal(target[0, 0], walking_box(3, 5)[0, t2[0, 0]])


def test_cross_reconstruction_loss_decreases():
    torch.manual_seed(3)
    model = create_model("gaitnet", **TINY)
    loss_fn = GaitNetLoss(similarity_weight=0.0, identity_weight=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    x, y = walking_box(2, 4), torch.tensor([0, 1])
    history = []
    for _ in range(10):
        torch.manual_seed(10)  # the same (t1, t2) pairs every step
        total, parts = loss_fn(model(x), y, {"frames": x})
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(parts["recon"])
    assert history[-1] < 0.7 * history[0], history


def test_silhouette_input_is_replicated_to_rgb():
    torch.manual_seed(4)
    model = create_model("gaitnet", **TINY).eval()
    sil = (torch.rand(2, 4, 64, 44) > 0.5).float()
    a = model.embed(sil)
    b = model.embed(sil[:, :, None].expand(-1, -1, 3, -1, -1))
    c = model.embed(sil[:, :, None])
    assert a.shape == (2, 1, 32)
    assert torch.allclose(a, b) and torch.allclose(a, c)
    with pytest.raises(ValueError):
        model.embed(torch.rand(1, 4, 64, 64))  # not the 64x44 cut


def test_incremental_average_and_padding():
    torch.manual_seed(5)
    model = create_model("gaitnet", **TINY).eval()
    x = walking_box(2, 7)
    with torch.no_grad():
        out = model(x)
        for k in (1, 3, 7):  # the running average after k steps == the embedding of the first k frames
            assert torch.allclose(out.extras["lstm_average"][:, k - 1], model.embed(x[:, :k])[:, 0], atol=1e-5)
        x[1, 3:] = 0.7  # junk past the true length
        padded = model.embed(x, torch.tensor([7, 3]))
        assert torch.allclose(padded[1], model.embed(x[1:, :3])[0], atol=1e-5)
        assert torch.allclose(padded[0], out.embeddings[0], atol=1e-5)


def test_full_loss_trains_identity():
    torch.manual_seed(6)
    model = create_model("gaitnet", **TINY)
    loss_fn = GaitNetLoss()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = walking_box(4, 5), torch.tensor([0, 1, 2, 3])
    batch = {"frames": x, "conditions": ["nm", "nm", "bg", "cl"]}
    first = None
    for _ in range(10):
        total, parts = loss_fn(model(x), y, batch)
        opt.zero_grad()
        total.backward()
        opt.step()
        first = first if first is not None else parts
    assert parts["identity"] < first["identity"]
    assert set(parts) >= {"identity", "recon", "total", "accuracy"}


def test_input_kind_is_part_of_the_config():
    assert create_model("gaitnet", input_kind="silhouette").input_kind == "silhouette"
    with pytest.raises(ValueError, match="rgb or silhouette"):
        create_model("gaitnet", input_kind="depth")
