"""Training batches: the P x K batch sampler, DataLoader workers, the device-held pack, and the
thread tuner; whatever loads a batch, batch i is the same, so resuming stays exact."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from gaitpipe.data import GaitDataset, PKSampler, to_input
from gaitpipe.data.loader import DevicePack, TrainSamples, to_model_input, train_loader
from gaitpipe.data.packed import PackedSource, write_pack
from gaitpipe.data.sampler import PKBatch
from gaitpipe.engine.threads import ThreadTuner
from gaitpipe.engine.trainer import thread_candidates


def _pack(tmp_path, subjects=5, per_subject=4):
    rng = np.random.default_rng(0)
    seqs = [
        (f"{s:03d}", f"nm-0{c + 1}", "090", (rng.random((6 + 3 * s + c, 64, 64)) > 0.5).astype(np.uint8) * 255)
        for s in range(1, subjects + 1)
        for c in range(per_subject)
    ]
    return write_pack(tmp_path / "pack.npz", seqs)


def test_pk_sampler_is_a_batch_sampler_with_positions():
    labels = np.repeat(np.arange(6), 3)
    s = PKSampler(labels, p=3, k=2, seed=7, stop=5)
    assert isinstance(s, torch.utils.data.Sampler) and len(s) == 5
    batches = list(s)
    assert [b.number for b in batches] == [0, 1, 2, 3, 4] and s.position == 5 and len(s) == 0
    assert all(len({int(labels[i]) for i in b}) == 3 for b in batches)
    # batch i depends on (seed, i) alone: from any position the same batches follow
    again = PKSampler(labels, p=3, k=2, seed=7, position=2, stop=5)
    assert list(again) == batches[2:]
    assert [PKSampler(labels, p=3, k=2, seed=8).batch(i) for i in range(5)] != batches
    # the state records the batches *used* (a DataLoader draws ahead)
    assert s.state_dict(position=3) == {"seed": 7, "position": 3}
    fresh = PKSampler(labels, p=3, k=2, seed=0, stop=5)
    fresh.load_state_dict(s.state_dict(position=3))
    assert fresh.next_batch() == batches[3]
    # a batch keeps its number through pickling (DataLoader sends batches to workers)
    b = pickle.loads(pickle.dumps(batches[4]))
    assert isinstance(b, PKBatch) and b == batches[4] and b.number == 4
    with pytest.raises(Exception, match="older gaitpipe"):
        fresh.load_state_dict({"rng": {}})
    with pytest.raises(TypeError, match="endless"):
        len(PKSampler(labels, p=3, k=2))


@pytest.mark.parametrize("mode", ["unordered", "ordered"])
def test_workers_device_pack_and_in_process_load_the_same_batches(tmp_path, mode):
    ds = GaitDataset(PackedSource(_pack(tmp_path)))
    samples = TrainSamples(ds, num_frames=8, mode=mode, seed=3)

    def run(workers):
        sampler = PKSampler(ds.labels, p=2, k=3, seed=3, position=4, stop=10)
        return list(train_loader(samples, sampler, workers=workers))

    in_process, two_workers = run(0), run(2)
    device = list(DevicePack(samples, "cpu").batches(PKSampler(ds.labels, p=2, k=3, seed=3, position=4, stop=10)))
    assert [b.number for b in in_process] == list(range(4, 10)) == [b.number for b in two_workers]
    for a, b, c in zip(in_process, two_workers, device):
        assert a.frames.dtype == torch.uint8 and a.frames.shape == (6, 8, 64, 44)
        for x, y in ((a, b), (a, c)):
            assert torch.equal(x.frames, y.frames) and torch.equal(x.labels, y.labels)
            assert torch.equal(x.indices, y.indices)
    # the float input is exactly what the per-sample path (to_input) gives
    a = in_process[0]
    plan = samples.plan(PKSampler(ds.labels, p=2, k=3, seed=3).batch(4))
    want = np.stack([to_input(ds.source.load(ds.indices[i], idx)) for i, idx in zip(a.indices.tolist(), plan)])
    assert torch.equal(to_model_input(a.frames), torch.from_numpy(want))


def test_thread_tuner_keeps_the_fastest_and_probes_again():
    now = [0.0]
    used: list[int] = []
    tuner = ThreadTuner([2, 1], probe_steps=2, every_s=100.0, clock=lambda: now[0], set_threads=used.append)
    speed = {1: 1.0, 2: 2.5}  # a shared CPU: 2 threads slower than 1
    results = []
    for _ in range(12):
        tuner.before_step()
        results.append(tuner.after_step(speed[tuner.current]))
        now[0] += 1.0
    probe = [r for r in results if r]
    assert probe == [{"threads": 1, "seconds_per_step": {"1": 1.0, "2": 2.5}}]
    assert tuner.choice == 1 and tuner.current == 1
    # the load changes: the next probe (after every_s) switches to 2 threads
    speed = {1: 3.0, 2: 1.5}
    now[0] += 100.0
    results = []
    for _ in range(8):
        tuner.before_step()
        results.append(tuner.after_step(speed[tuner.current]))
    assert next(r for r in results if r)["threads"] == 2 and tuner.current == 2
    assert thread_candidates(2) == [1, 2] and thread_candidates(1) == [1] and thread_candidates(16) == [4, 8, 16]


def test_training_is_the_same_with_workers_in_process_and_on_device_and_resumes_exactly(tmp_path):
    from gaitpipe.engine.train_config import TrainConfig
    from gaitpipe.engine.trainer import train
    from gaitpipe.models.checkpoint import load_checkpoint

    pack = _pack(tmp_path, subjects=4)

    def run(name, **kw):
        config = TrainConfig(
            arch="gaitbase-small",
            data=str(pack),
            train_subjects="001-004",
            model_overrides={"channels": [4, 8, 8, 8], "embed_dim": 8},
            batch="2x2",
            frames=4,
            iters=4,
            save_every=2,
            threads=1,
            progress=False,
            out=str(tmp_path / name),
            **kw,
        )
        result = train(config)
        return load_checkpoint(result.checkpoint)[0].state_dict()

    with_workers = run("w2", workers=2)
    for other in (run("w0", workers=0), run("dev", data_on_device=True)):
        for k, v in with_workers.items():
            assert torch.equal(v, other[k]), k
    mid = tmp_path / "w2" / "checkpoints" / "gaitbase-small-iter000002.pt"
    resumed = run("resumed", workers=2, resume=str(mid))
    for k, v in with_workers.items():
        assert torch.equal(v, resumed[k]), f"{k} differs after resuming with loader workers"


def test_thread_tuner_gives_up_on_a_much_slower_count_and_backs_off():
    now = [0.0]
    tuner = ThreadTuner([1, 2], probe_steps=3, every_s=10.0, clock=lambda: now[0], set_threads=lambda n: None)
    speed = {1: 1.0, 2: 8.0}  # what a busy 2-core CPU did to 2 threads
    steps_at = {1: 0, 2: 0}
    probes = []
    while len(probes) < 3:
        tuner.before_step()
        steps_at[tuner.current] += 1
        if result := tuner.after_step(speed[tuner.current]):
            probes.append((now[0], result))
        now[0] += 1.0
    assert all(r["threads"] == 1 for _, r in probes)
    assert steps_at[2] == 3  # one warm-up step per probe, none of its timed steps
    # each confirming probe doubles the wait before the next one: 10 s, 20 s, 40 s
    assert tuner.every_s == 40.0 and probes[2][0] - probes[1][0] > 20.0 > probes[1][0] - probes[0][0]


CHANNELS_LAST_STEP = """
import sys, torch
from gaitpipe.losses import build_loss
from gaitpipe.models import create_model
torch.set_num_threads(2)
cases = [
    ("gaitbase-small", {"channels": [8, 16, 16, 32]}),
    ("gaitbase-small", {"channels": [4, 8, 8, 8]}),
    ("dygait-small", {"channels": [8, 16, 16, 16]}),
]
from gaitpipe.engine.trainer import default_channels_last
for arch, overrides in cases:
    for amp in (False, True):
        model = create_model(arch, num_classes=4, embed_dim=8, **overrides).train()
        if default_channels_last("cpu", amp):
            model = model.use_channels_last()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss, _ = build_loss(model)(model((torch.rand(8, 6, 64, 44) > 0.5).float()), torch.arange(4).repeat(2))
        loss.backward()
print("ok")
"""


def test_cpu_default_layout_trains_narrow_models_without_crashing():
    """oneDNN's fp32 backward crashed on narrow channels-last convolutions on an AVX-512 EPYC
    (torch 2.14.1), so the CPU default layout must train these narrow models on whatever CPU runs
    the tests (in a subprocess: a crash would take pytest down with it)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", CHANNELS_LAST_STEP], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, (
        f"a training step in the CPU default layout failed (return code {done.returncode}; negative: killed by a "
        f"signal, e.g. -11 = segfault): keep channels_last off on the CPU for this torch\n{done.stderr[-2000:]}"
    )


def test_thread_tuner_probes_again_when_the_load_changes():
    now = [0.0]
    tuner = ThreadTuner([1, 2], probe_steps=2, every_s=1000.0, clock=lambda: now[0], set_threads=lambda n: None)
    speed = {1: 1.0, 2: 0.5}  # idle: 2 threads win
    probes = []

    def run(steps):
        for _ in range(steps):
            tuner.before_step()
            if result := tuner.after_step(speed[tuner.current]):
                probes.append(result)
            now[0] += 1.0

    run(10)
    assert [p["threads"] for p in probes] == [2]
    speed = {1: 1.0, 2: 4.0}  # other jobs started: 2 threads now 8x slower than before
    run(3 + 6)  # three slow steps, then a probe long before every_s has passed
    assert [p["threads"] for p in probes] == [2, 1] and tuner.current == 1
