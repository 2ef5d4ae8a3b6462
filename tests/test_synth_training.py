"""Synthetic identities in training: the rendered pack, the group share of the P x K sampler, and a
run that starts from a checkpoint's weights with more people (``--init-from`` + ``--extra-data``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaitpipe.cli.app import main
from gaitpipe.data.packed import PackedSource, merge_packs, write_pack
from gaitpipe.data.sampler import PKSampler
from gaitpipe.data.splits import compact_ids, parse_id_range
from gaitpipe.errors import InputError
from gaitpipe.models.checkpoint import load_checkpoint
from gaitpipe.synth.training_walkers import render_training_walkers, write_training_pack

TINY = ["--set", "channels=[4,8,8,8]", "--set", "embed_dim=8"]


def _blob(subject: int, cond: int, t: int = 12) -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.zeros((t, 64, 64), np.uint8)
    for i in range(t):
        w, h = 6 + 2 * subject + (i % 3), 20 + subject + cond
        frames[i][((xx - 32) / w) ** 2 + ((yy - 32) / h) ** 2 <= 1] = 255
    return frames


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    root = tmp_path_factory.mktemp("packs")
    real = write_pack(
        root / "real.npz",
        [(f"{s:03d}", f"nm-0{c}", "090", _blob(s, c)) for s in range(1, 7) for c in range(1, 5)],
    )
    walkers = render_training_walkers(
        people=3, scenes=3, scenes_per_person=2, walks_per_scene=2, seed=7, size=(160, 120)
    )
    synth = write_training_pack(walkers, root / "synth.npz")
    return real, synth, walkers


def test_training_walkers_cross_shared_scenes(packs):
    _, synth, walkers = packs
    assert len(walkers) == 3 * 2 * 2
    source = PackedSource(synth)
    by_person: dict[str, set[str]] = {}
    for s in source.sequences:
        by_person.setdefault(s.subject, set()).add(s.view)
    assert sorted(by_person) == ["syn0000", "syn0001", "syn0002"]
    assert all(len(scenes) == 2 for scenes in by_person.values())  # every person in two scenes
    # a pool of 3 scenes for 3 people x 2: some scene holds two different people (same-scene negatives)
    scene_people: dict[str, set[str]] = {}
    for s in source.sequences:
        scene_people.setdefault(s.view, set()).add(s.subject)
    assert max(len(p) for p in scene_people.values()) >= 2
    assert {s.condition for s in source.sequences} == {"nm-01", "nm-02", "nm-03", "nm-04"}
    first = source.load(0)
    assert first.shape[1:] == (64, 64) and set(np.unique(first)) <= {0, 255} and first.mean() > 5
    # deterministic from the seed (a pack can be rebuilt anywhere)
    again = render_training_walkers(people=3, scenes=3, scenes_per_person=2, walks_per_scene=2, seed=7, size=(160, 120))
    assert all(np.array_equal(a, b) for a, b in zip(walkers.silhouettes, again.silhouettes))


def test_merged_packs_keep_both_and_refuse_shared_ids(packs):
    real, synth, _ = packs
    a, b = PackedSource(real), PackedSource(synth)
    merged = merge_packs(a, b)
    assert len(merged) == len(a) + len(b)
    assert np.array_equal(merged.load(len(a) + 1), b.load(1)) and np.array_equal(merged.load(2), a.load(2))
    with pytest.raises(InputError, match="share subject ids"):
        merge_packs(a, PackedSource(real))


def test_prefixed_subject_ranges_round_trip():
    ids = parse_id_range("001-003,syn0008-syn0010")
    assert ids == ["001", "002", "003", "syn0008", "syn0009", "syn0010"]
    assert compact_ids([*ids, "syn0012"]) == "001-003,syn0008-syn0010,syn0012"
    with pytest.raises(InputError):
        parse_id_range("syn0001-abc0004")


def test_group_share_fixes_each_batch_mix():
    labels = np.repeat(np.arange(10), 3)  # labels 0-5 real, 6-9 synthetic
    groups = np.array([0] * 6 + [1] * 4)
    sampler = PKSampler(labels, 4, 2, seed=3, groups=groups, share=0.25)
    for n in range(50):
        chosen = {int(labels[i]) for i in sampler.batch(n)}
        assert len(chosen) == 4 and sum(lab >= 6 for lab in chosen) == 1
    plain = PKSampler(labels, 4, 2, seed=3)
    assert any(sum(int(labels[i]) >= 6 for i in plain.batch(n)) != 2 for n in range(50))
    with pytest.raises(InputError, match="needs"):
        PKSampler(labels, 4, 2, groups=groups, share=0.01)  # rounds to no synthetic subject


def test_run_from_weights_grows_the_classifier_with_synthetic_people(packs, tmp_path, capsys):
    real, synth, _ = packs
    common = ["train", "--arch", "gaitbase-small", *TINY, "--batch", "4x2", "--frames", "4", "--threads", "1"]
    common += ["--no-progress", "--data", str(real), "--train-subjects", "001-004"]
    assert main([*common, "--iters", "2", "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    start, _ = load_checkpoint(tmp_path / "a" / "gaitbase-small.pt")
    assert start.num_classes == 4

    args = [*common, "--iters", "3", "--init-from", str(tmp_path / "a" / "gaitbase-small.pt")]
    args += ["--extra-data", str(synth), "--extra-share", "0.25", "--save-every", "2", "--out", str(tmp_path / "b")]
    assert main(args) == 0, capsys.readouterr().err
    grown, meta = load_checkpoint(tmp_path / "b" / "gaitbase-small.pt")
    assert grown.num_classes == 4 + 3
    assert meta["training_data"]["train_subjects"] == "001-004,syn0000-syn0002"
    assert meta["training"]["iterations"] == 3  # a new run: its own iteration count
    assert meta["training_data"]["extra_share"] == 0.25 and meta["training_data"]["extra_data"] == str(synth)
    assert meta["training"]["init_from"].endswith("gaitbase-small.pt")
    # the first two iterations moved the old classes' weights only by training, not by re-initialising
    before = start.bnnecks.fc_bin.detach()
    after = grown.bnnecks.fc_bin.detach()[..., :4]
    assert torch.nn.functional.cosine_similarity(before.flatten(), after.flatten(), dim=0) > 0.9

    # resuming the grown run continues it exactly where it stood
    resume = [
        *common,
        "--iters",
        "4",
        "--extra-data",
        str(synth),
        "--extra-share",
        "0.25",
        "--out",
        str(tmp_path / "b"),
    ]
    resume += ["--resume", str(tmp_path / "b" / "checkpoints" / "gaitbase-small-iter000002.pt")]
    assert main(resume) == 0, capsys.readouterr().err

    capsys.readouterr()
    assert main([*common, "--iters", "2", "--extra-share", "0.5", "--out", str(tmp_path / "c")]) == 1
    assert "extra" in capsys.readouterr().err
    assert main([*common, "--iters", "2", "--init-from", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.pt" in err
