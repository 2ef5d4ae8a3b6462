"""Datasets: OpenGait layout, split files, P x K sampling, frame sampling, safe pickles, packs."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from gaitpipe.data import (
    GaitDataset,
    LayoutSource,
    PKSampler,
    compact_ids,
    load_pkl_array,
    load_split,
    open_source,
    parse_id_range,
    sample_frames,
    to_input,
)
from gaitpipe.data.packed import PackedSource, write_pack
from gaitpipe.errors import InputError


def _frames(seed: int, t: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((t, 64, 64)) > 0.5).astype(np.uint8) * 255


def _write_layout(root, subjects=("001", "002", "003"), conds=("nm-01", "nm-02"), views=("000", "090"), rgb=False):
    for si, s in enumerate(subjects):
        for ci, c in enumerate(conds):
            for vi, v in enumerate(views):
                d = root / s / c / v
                d.mkdir(parents=True)
                with open(d / f"{v}.pkl", "wb") as f:
                    pickle.dump(_frames(100 * si + 10 * ci + vi, t=5 + si), f)
                if rgb:  # a second modality sorts after the silhouettes ("zz-rgb" > "000")
                    with open(d / "zz-rgb.pkl", "wb") as f:
                        pickle.dump(np.full((5 + si, 64, 64, 3), 7, np.uint8), f)
    return root


# ------------------------------------------------------------------------------------ layout
def test_layout_source_lists_and_loads_lazily(tmp_path):
    root = _write_layout(tmp_path / "ds", rgb=True)
    src = open_source(root, cache=True)
    assert isinstance(src, LayoutSource) and len(src) == 3 * 2 * 2
    first = src.sequences[0]
    assert (first.subject, first.condition, first.view) == ("001", "nm-01", "000")
    assert src._cache == {}  # nothing read before it is asked for
    sil = src.load(0)
    assert sil.shape == (5, 64, 64) and sil.dtype == np.uint8
    np.testing.assert_array_equal(sil, _frames(0, 5))
    assert src.load(0, np.array([4, 0])).tolist() == sil[[4, 0]].tolist()
    assert src.load(0, kind="rgb").shape == (5, 64, 64, 3)
    assert src.length(11) == 7  # subject 003 has 7 frames
    assert (0, "silhouette") in src._cache  # cache=True keeps what was read

    ds = GaitDataset(src, subjects=["002", "003"], views=["090"])
    assert len(ds) == 4 and ds.subjects == ["002", "003"] and ds.labels.tolist() == [0, 0, 1, 1]
    sample = ds.test_sample(0)
    assert sample.frames.shape == (6, 64, 44) and sample.frames.dtype == np.float32
    assert sample.frames.max() <= 1.0
    assert ds.test_sample(0, max_frames=2).frames.shape[0] == 2
    with pytest.raises(InputError, match="no sequences"):
        GaitDataset(src, subjects=["999"])


def test_layout_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_source(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no sequences"):
        open_source(tmp_path / "empty")
    d = tmp_path / "bad" / "001" / "nm-01" / "000"
    d.mkdir(parents=True)
    with open(d / "x.pkl", "wb") as f:
        pickle.dump(np.zeros((3, 128, 88), np.uint8), f)
    with pytest.raises(InputError, match="64x64"):
        open_source(tmp_path / "bad").load(0)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="neither"):
        open_source(tmp_path / "file.txt")


# --------------------------------------------------------------------------------- splits
def test_split_files_and_conventions(tmp_path):
    assert parse_id_range("001-003,007") == ["001", "002", "003", "007"]
    assert compact_ids(["001", "002", "003", "007"]) == "001-003,007"
    with pytest.raises(InputError):
        parse_id_range("010-001")
    cb = load_split("casiab")
    assert cb.train_subjects(["001", "074", "075", "124"]) == ["001", "074"]
    assert cb.test_subjects(["001", "074", "075", "124"]) == ["075", "124"]
    ou = load_split("OU-MVLP")
    assert ou.train_subjects(["00001", "00002", "00003"]) == ["00001", "00003"]
    assert ou.test_subjects(["00001", "00002"]) == ["00002"]
    assert load_split("gait3d").train_subjects(["0000", "2999", "3000"]) == ["0000", "2999"]
    assert load_split("grew").test_subjects(["00001", "20001"]) == ["20001"]

    f = tmp_path / "split.json"
    f.write_text(json.dumps({"TRAIN_SET": ["a", "b"], "TEST_SET": ["c"], "PROBE_SET": ["c/01/x"]}))
    sp = load_split(f)
    assert sp.train_subjects(["a", "b", "c", "d"]) == ["a", "b"] and sp.test_subjects(["a", "c"]) == ["c"]
    assert sp.probe == ["c/01/x"]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="cannot read split"):
        load_split(bad)
    bad.write_text(json.dumps({"foo": 1}))
    with pytest.raises(InputError, match="TRAIN_SET"):
        load_split(bad)
    with pytest.raises(InputError, match="neither a file"):
        load_split("nosuchsplit")


# --------------------------------------------------------------------------------- sampler
def test_pk_sampler_invariants():
    labels = np.array([0] * 5 + [1] * 3 + [2] * 1 + [3] * 4)
    s = PKSampler(labels, p=3, k=4, seed=1)
    for _ in range(50):
        batch = s.next_batch()
        assert len(batch) == 12
        groups = [batch[i : i + 4] for i in range(0, 12, 4)]
        labs = [set(labels[g].tolist()) for g in groups]
        assert all(len(x) == 1 for x in labs)  # K sequences of one subject per group
        assert len(set.union(*labs)) == 3  # P distinct subjects
        for g in groups:  # subjects with >= K sequences never repeat one
            if len(np.flatnonzero(labels == labels[g[0]])) >= 4:
                assert len(set(g)) == 4
    # state round trip: the same batches follow
    state = s.state_dict()
    a = [s.next_batch() for _ in range(3)]
    s.load_state_dict(state)
    assert [s.next_batch() for _ in range(3)] == a
    with pytest.raises(InputError, match="only 4"):
        PKSampler(labels, p=5, k=2)


def test_frame_sampling():
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = sample_frames(50, 30, "unordered", rng)
        assert len(idx) == 30 and len(set(idx.tolist())) == 30 and (np.diff(idx) > 0).all() and idx.max() < 50
        seg = sample_frames(50, 30, "ordered", rng)
        assert (np.diff(seg) == 1).all() and 0 <= seg[0] <= 20
    short = sample_frames(4, 10, "ordered", rng)
    assert len(short) == 10 and set(short.tolist()) <= {0, 1, 2, 3}
    assert all((short[i + 1] - short[i]) % 4 == 1 for i in range(9))  # cyclic order kept
    assert sorted(set(sample_frames(4, 10, "unordered", rng).tolist())) == [0, 1, 2, 3]  # every frame used
    with pytest.raises(ValueError):
        sample_frames(5, 3, "sideways", rng)
    x = to_input(np.full((2, 64, 64), 255, np.uint8))
    assert x.shape == (2, 64, 44) and x.max() == 1.0
    assert to_input(np.zeros((2, 64, 64, 3), np.uint8)).shape == (2, 3, 64, 44)


# --------------------------------------------------------------------------- safe pickles
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(InputError, match="not a numpy-array pickle"):
        load_pkl_array(evil)
    assert not marker.exists()  # nothing ran
    # a crafted array pickle smuggling a call inside is refused too
    evil.write_bytes(pickle.dumps([np.zeros(3), _Evil(marker)]))
    with pytest.raises(InputError):
        load_pkl_array(evil)
    assert not marker.exists()
    # non-array payloads and object arrays are refused
    evil.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(InputError, match="expected a numeric numpy array"):
        load_pkl_array(evil)
    evil.write_bytes(pickle.dumps(np.array([1, "x"], dtype=object)))
    with pytest.raises(InputError):
        load_pkl_array(evil)
    evil.write_bytes(b"garbage")
    with pytest.raises(InputError):
        load_pkl_array(evil)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_reads_real_arrays(tmp_path, protocol):
    a = _frames(3)
    p = tmp_path / "ok.pkl"
    p.write_bytes(pickle.dumps(a, protocol=protocol))
    np.testing.assert_array_equal(load_pkl_array(p), a)


# ------------------------------------------------------------------------------------ packs
@pytest.mark.parametrize("name", ["tiny.npz", "tiny.npz.xz"])
def test_packed_reader_on_a_tiny_pack(tmp_path, name):
    seqs = [
        (s, c, v, _frames(i, t=3 + i))
        for i, (s, c, v) in enumerate(
            [("001", "nm-01", "000"), ("001", "bg-01", "090"), ("002", "nm-01", "000"), ("003", "cl-02", "180")]
        )
    ]
    path = write_pack(tmp_path / name, seqs)
    src = open_source(path)
    assert isinstance(src, PackedSource) and len(src) == 4
    for i, (s, c, v, f) in enumerate(seqs):
        assert (src.sequences[i].subject, src.sequences[i].condition, src.sequences[i].view) == (s, c, v)
        assert src.length(i) == f.shape[0]
        np.testing.assert_array_equal(src.load(i), f)  # 0/255 frames survive bit packing exactly
    np.testing.assert_array_equal(src.load(3, np.array([5, 1])), seqs[3][3][[5, 1]])
    only = PackedSource(path, subjects=["002", "003"])
    assert [s.subject for s in only.sequences] == ["002", "003"]
    np.testing.assert_array_equal(only.load(1), seqs[3][3])  # offsets rebuilt after compaction
    with pytest.raises(InputError, match="binary silhouettes only"):
        src.load(0, kind="rgb")
    ds = GaitDataset(src)
    x, y = ds.collate_train([0, 2], 4, "unordered", np.random.default_rng(0))
    assert x.shape == (2, 4, 64, 44) and y.tolist() == [0, 1]


def test_packed_reader_rejects_bad_files(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read pack"):
        open_source(p)
    np.savez(p, bits=np.zeros((3, 64, 8), np.uint8))
    with pytest.raises(InputError, match="missing"):
        open_source(p)
    np.savez(
        p,
        bits=np.zeros((3, 64, 8), np.uint8),
        offsets=np.array([0, 5]),
        subject=np.array(["1"]),
        cond=np.array(["nm-01"]),
        view=np.array(["000"]),
    )
    with pytest.raises(InputError, match="inconsistent"):
        open_source(p)
    # object arrays would need pickle: refused (allow_pickle=False)
    np.savez(
        p,
        bits=np.zeros((3, 64, 8), np.uint8),
        offsets=np.array([0, 3]),
        subject=np.array([{"x": 1}], dtype=object),
        cond=np.array(["nm-01"]),
        view=np.array(["000"]),
    )
    with pytest.raises(InputError):
        open_source(p)
