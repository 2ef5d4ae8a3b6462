"""The encoder contract (gaitpipe/models/base.py), checked for EVERY registered preset.

Shape/gradient/padding checks run on a tiny model of each preset's structure (the model's
``tiny_overrides()``: channels narrowed, same layout), so all of them together stay fast on a 2-core CPU;
parameter counts are checked on the full-size presets (built on the meta device: no memory, no init time).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gaitpipe.models import create_model, flatten_for_search, list_models

PRESETS = list_models()
NO_CUDA = "no CUDA GPU on this machine: the GPU checks run where one is present"

#: published sizes without the classifier (GaitBase: Fan et al., CVPR 2023; HSTL: Wang et al., ICCV 2023), within 10 %.
PUBLISHED_PARAMS = {"gaitbase-casiab": 7.0e6, "hstl-casiab": 4.0e6}


# Tiny models gain nothing from threads (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def full_size(name: str):
    with torch.device("meta"):
        return create_model(name)


def tiny(name: str):
    probe = full_size(name)
    overrides = probe.tiny_overrides()
    torch.manual_seed(0)
    return create_model(name, **overrides)


def frames_for(model, n: int, t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (n, t, 3, 64, 44) if model.input_kind == "rgb" else (n, t, 64, 44)
    return (torch.rand(shape, generator=g) > 0.4).float()


def _structures() -> dict[str, list[str]]:
    """Presets grouped by the tiny model they shrink to (presets that differ only in class count
    share one), so each distinct structure is tested once and every preset is covered."""
    import json

    groups: dict[str, list[str]] = {}
    for name in PRESETS:
        probe = full_size(name)
        cfg = dataclasses.asdict(probe.config)
        cfg.update(probe.tiny_overrides())
        key = json.dumps([probe.arch, cfg], sort_keys=True, default=str)
        groups.setdefault(key, []).append(name)
    return {names[0]: names for names in groups.values()}


STRUCTURES = _structures()


def test_every_preset_is_covered():
    covered = sorted(n for names in STRUCTURES.values() for n in names)
    assert covered == PRESETS
    print("\n" + "\n".join(f"{k}: covers {', '.join(v)}" for k, v in STRUCTURES.items()))


@pytest.fixture(scope="module", params=sorted(STRUCTURES))
def model(request):
    return tiny(request.param).eval()


@pytest.mark.parametrize("t", [1, 30, 200])
def test_embedding_shape(model, t):
    n = 1 if t == 200 else 2
    emb = model.embed(frames_for(model, n, t))
    assert emb.shape == (n, model.parts, model.embed_dim)
    assert emb.dtype == torch.float32 and torch.isfinite(emb).all()
    assert sum(model.part_layout) == model.parts


def test_every_parameter_gets_a_gradient(model):
    model.train()
    try:
        out = model(frames_for(model, 3, 6, seed=1))
        loss = out.embeddings.square().mean()
        if out.logits is not None:
            assert out.logits.shape[:2] == (3, model.parts)
            loss = loss + out.logits.square().mean()
        for value in out.extras.values():  # e.g. GaitNet's reconstructions and pose features
            if torch.is_tensor(value) and value.requires_grad and value.is_floating_point():
                loss = loss + value.square().mean()
        model.zero_grad(set_to_none=True)
        loss.backward()
        missing = [
            n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
        ]
        assert not missing, f"no gradient for {missing[:5]}"
    finally:
        model.eval()


def test_padded_batch_equals_sequences_alone(model):
    lengths = torch.tensor([5, 8, 2, 8])
    x = frames_for(model, len(lengths), 8, seed=2)
    for i, length in enumerate(lengths.tolist()):
        x[i, length:] = 0  # zero padding, as a data loader would make
    batched = model.embed(x, lengths)
    for i, length in enumerate(lengths.tolist()):
        alone = model.embed(x[i : i + 1, :length])
        torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=1e-4)


def test_eval_is_deterministic(model):
    x = frames_for(model, 2, 6, seed=3)
    assert torch.equal(model.embed(x), model.embed(x))


def test_bf16_autocast_on_cpu(model):
    x = frames_for(model, 2, 6, seed=4)
    ref = model.embed(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model.embed(x)
    assert low.shape == ref.shape and torch.isfinite(low).all()
    # bf16 keeps ~3 significant digits: the retrieval geometry must survive it.
    cos = torch.nn.functional.cosine_similarity(low.float(), ref, dim=-1).mean()
    assert cos > 0.95, f"bf16 embeddings drift from fp32 (mean part cosine {cos:.3f})"


def test_flatten_for_search_is_mean_part_cosine(model):
    a = model.embed(frames_for(model, 3, 4, seed=5))
    b = model.embed(frames_for(model, 2, 4, seed=6))
    expected = torch.nn.functional.cosine_similarity(a[:, None], b[None], dim=-1).mean(-1)  # [3, 2]
    got = flatten_for_search(a) @ flatten_for_search(b).T
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    got_np = flatten_for_search(a.numpy()) @ flatten_for_search(b.numpy()).T
    assert isinstance(got_np, np.ndarray)
    np.testing.assert_allclose(got_np, expected.numpy(), atol=1e-5)


def test_describe_is_json_metadata(model):
    import json

    d = model.describe()
    assert json.loads(json.dumps(d))["arch"] == model.arch
    assert d["parts"] == model.parts and d["embed_dim"] == model.embed_dim and d["preset"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_cuda_matches_cpu_and_autocast_runs(model):
    x = frames_for(model, 2, 30, seed=7)
    ref = model.embed(x)
    gpu = model.to("cuda")
    try:
        got = gpu.embed(x.cuda()).cpu()
        torch.testing.assert_close(got, ref, atol=1e-3, rtol=1e-3)
        with torch.autocast("cuda", dtype=torch.float16):
            half = gpu.embed(x.cuda())
        assert torch.isfinite(half).all() and half.shape == ref.shape
    finally:
        model.to("cpu")


def test_channels_last_keeps_embeddings(model):
    import copy

    x = frames_for(model, 2, 9, seed=3)
    ref = model.embed(x)
    cl = copy.deepcopy(model).use_channels_last()
    convs = [m.weight for m in cl.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
    assert convs and all(
        w.is_contiguous(memory_format=torch.channels_last if w.dim() == 4 else torch.channels_last_3d) for w in convs
    )
    torch.testing.assert_close(cl.embed(x), ref, atol=1e-4, rtol=1e-4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_cuda_channels_last_training_step(model):
    """What `gaitpipe train` does on a GPU by default: channels-last weights, fp16 autocast, a backward pass."""
    import copy

    from gaitpipe.losses import build_loss

    gpu = copy.deepcopy(model).cuda().use_channels_last().train()
    x = frames_for(model, 4, 12, seed=5).cuda()
    labels = torch.tensor([0, 0, 1, 1], device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        loss, _ = build_loss(gpu).cuda()(gpu(x), labels)
    loss.float().backward()
    grads = [p.grad for p in gpu.parameters() if p.requires_grad and p.grad is not None]
    assert torch.isfinite(loss) and grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", PRESETS)
def test_parameter_counts(name):
    m = full_size(name)
    without = m.num_parameters(include_classifier=False)
    total = m.num_parameters()
    print(
        f"\n{name:<18} {without / 1e6:7.2f} M without classifier, {total / 1e6:7.2f} M total, "
        f"{m.parts} parts x {m.embed_dim}"
    )
    assert 0 < without <= total
    if name in PUBLISHED_PARAMS:
        ref = PUBLISHED_PARAMS[name]
        assert abs(without - ref) / ref < 0.10, f"{name}: {without / 1e6:.2f} M params, published ~{ref / 1e6:.1f} M"


@pytest.mark.parametrize(
    "name, parts, dim",
    [
        ("gaitbase-casiab", 16, 256),
        ("gaitbase-small", 16, 128),
        ("hstl-casiab", 73, 128),
        ("hstl-oumvlp", 50, 256),
        ("deepgaitv2-casiab", 16, 256),
        ("deepgaitv2-gait3d", 16, 256),
    ],
)
def test_full_size_presets_run(name, parts, dim):
    """The published layouts at full width (one short sequence: the tiny models cover the rest)."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    emb = model.embed(frames_for(model, 1, 3))
    assert emb.shape == (1, parts, dim) and torch.isfinite(emb).all()
