"""DyGait: the dynamic branch, LTA's temporal stride, shapes, padding invariance, parameter counts."""

from __future__ import annotations

import pytest
import torch

from gaitpipe.models import create_model
from gaitpipe.models.dygait import DyGait, DyGaitConfig, DynamicAugmentation

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def small() -> DyGait:
    torch.manual_seed(0)
    return create_model("dygait-small").eval()


def test_dynamic_branch_ignores_static_input():
    torch.manual_seed(0)
    dam = DynamicAugmentation(4, 8).eval()
    frame = torch.rand(2, 4, 1, 16, 12)
    static = frame.expand(-1, -1, 6, -1, -1).contiguous()  # the same frame 6 times
    with torch.no_grad():
        # eval-mode BN adds its shift (beta - mean * gamma / std) to a zero conv response
        shift = dam.dynamic(torch.zeros_like(static))
        assert torch.allclose(dam.dynamic_response(static), shift, atol=1e-6)
        moving = static + torch.randn_like(static) * 0.5
        assert not torch.allclose(dam.dynamic_response(moving), shift, atol=1e-3)
        # ...while the global branch does respond to the static input
        assert dam.global_(static).std() > 1e-3


def test_dam_output_is_sum_of_branches():
    torch.manual_seed(1)
    dam = DynamicAugmentation(3, 5).eval()
    x = torch.rand(1, 3, 4, 8, 8)
    with torch.no_grad():
        expected = torch.nn.functional.leaky_relu(dam.dynamic_response(x) + dam.global_(x), 0.01)
        assert torch.allclose(dam(x), expected, atol=1e-6)


@pytest.mark.parametrize("frames,expected", [(3, 1), (5, 1), (6, 2), (30, 10)])
def test_lta_temporal_stride(small: DyGait, frames: int, expected: int):
    with torch.no_grad():
        out = small.features(torch.rand(1, frames, 64, 44))
    assert out.shape[2] == expected  # LTA merges 3 frames per step (stride 3)
    assert small.lta[0].stride == (3, 1, 1) and small.lta[0].kernel_size == (3, 1, 1)


def test_small_shapes_and_single_frame(small: DyGait):
    x = torch.rand(3, 7, 64, 44)
    out = small(x)
    assert out.embeddings.shape == (3, 16, 64)
    assert out.logits.shape == (3, 16, 74)
    assert small.min_frames == 3
    one = small.embed(torch.rand(2, 1, 64, 44))  # 1 frame is repeated to 3 by the base class
    assert one.shape == (2, 16, 64) and torch.isfinite(one).all()


def test_padding_never_changes_embedding(small: DyGait):
    torch.manual_seed(2)
    x = torch.rand(2, 9, 64, 44)
    alone = small.embed(x[1:, :4])
    x[1, 4:] = 0  # padding past the true length
    padded = small.embed(x, torch.tensor([9, 4]))
    assert torch.allclose(padded[1], alone[0], atol=1e-5)
    assert torch.allclose(padded[0], small.embed(x[:1])[0], atol=1e-5)


def test_dynamic_features_matter(small: DyGait):
    """The temporal order matters (3D convs + LTA): reversing a sequence changes its embedding."""
    torch.manual_seed(3)
    walk = torch.rand(1, 9, 64, 44)
    assert not torch.allclose(small.embed(walk), small.embed(walk.flip(1)), atol=1e-4)


def test_training_step_backprops():
    torch.manual_seed(4)
    model = create_model("dygait-small", num_classes=5)
    out = model(torch.rand(4, 6, 64, 44))
    loss = torch.nn.functional.cross_entropy(out.logits.mean(1) * 16, torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert model.stages[0].dam.dynamic[0].weight.grad.abs().sum() > 0
    assert model.hpp.pools[0].p.grad is not None


def test_config_validation():
    with pytest.raises(ValueError):
        DyGaitConfig(bins=(5,))  # 32 rows are not divisible into 5 strips
    with pytest.raises(ValueError):
        DyGaitConfig(channels=(8, 16))


@pytest.mark.parametrize(
    "preset,parts,dim", [("dygait-casiab", 32, 128), ("dygait-oumvlp", 31, 256), ("dygait-small", 16, 64)]
)
def test_presets_param_counts(preset: str, parts: int, dim: int):
    with torch.device("meta"):  # shapes only: no memory, no init time
        model = create_model(preset)
    total = sum(p.numel() for p in model.parameters())
    backbone = total - sum(p.numel() for p in model.bnnecks.parameters())
    print(f"{preset}: {total / 1e6:.2f} M parameters ({backbone / 1e6:.2f} M without the BNNeck classifier)")
    assert (model.parts, model.embed_dim) == (parts, dim)
    assert model.describe()["arch"] == "dygait"
    assert 0.3e6 < backbone < 15e6
