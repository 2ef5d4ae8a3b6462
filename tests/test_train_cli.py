"""End to end: ``gaitpipe train`` (checkpoint, log, loss curve, resume) then ``gaitpipe evaluate --json``.

Uses six real CASIA-B subjects (three views, first 16 frames) when ../shared is present,
otherwise a synthetic set of walkers; a tiny GaitBase and a handful of iterations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CASIAB_PACK

from gaitpipe.cli.app import main
from gaitpipe.data.packed import write_pack

CONDS = ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02")
VIEWS = ("054", "090", "126")
TINY = ["--set", "channels=[4,8,8,8]", "--set", "embed_dim=8"]


def _synthetic(subject: int, cond: int, view: int, t: int = 16) -> np.ndarray:
    """A walker as an ellipse whose width/height depend on the subject and sway with time."""
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.zeros((t, 64, 64), np.uint8)
    for i in range(t):
        w = 6 + 2 * subject + (i % 4) + (cond % 2)
        h = 22 + subject + view
        frames[i][((xx - 32) / w) ** 2 + ((yy - 32) / h) ** 2 <= 1] = 255
    return frames


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    path = tmp_path_factory.mktemp("pack") / "tiny.npz"
    subjects = [f"{i:03d}" for i in range(1, 7)]
    if CASIAB_PACK.is_file():  # real silhouettes: 6 subjects, 10 conditions, 3 views, 16 frames
        from gaitpipe.data.packed import PackedSource

        src = PackedSource(CASIAB_PACK, subjects=subjects)
        seqs = [
            (s.subject, s.condition, s.view, src.load(i, np.arange(min(16, src.length(i)))))
            for i, s in enumerate(src.sequences)
            if s.view in VIEWS
        ]
    else:
        seqs = [
            (s, c, v, _synthetic(si, ci, vi))
            for si, s in enumerate(subjects)
            for ci, c in enumerate(CONDS)
            for vi, v in enumerate(VIEWS)
        ]
    return write_pack(path, seqs)


def _train(args):
    return main(
        [
            "train",
            "--arch",
            "gaitbase-small",
            *TINY,
            "--batch",
            "2x2",
            "--frames",
            "4",
            "--threads",
            "1",
            "--no-progress",
            "--train-subjects",
            "001-004",
            *args,
        ]
    )


def test_train_resume_evaluate(tiny_pack, tmp_path, capsys):
    import cv2
    import torch

    from gaitpipe.metrics.evaluation import casiab_protocol
    from gaitpipe.models.checkpoint import load_checkpoint

    out = tmp_path / "run"
    rc = _train(
        [
            "--data",
            str(tiny_pack),
            "--iters",
            "5",
            "--save-every",
            "3",
            "--val-every",
            "3",
            "--val-subjects",
            "005-006",
            "--log-every",
            "1",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    final = out / "gaitbase-small.pt"
    model, meta = load_checkpoint(final)
    assert meta["training_data"]["train_subjects"] == "001-004"
    assert meta["training_data"]["val_subjects"] == "005-006"
    assert meta["training"]["iterations"] == 5 and meta["training"]["batch"] == "2x2"
    assert set(meta["metrics"]["validation"]["metrics"]) >= {"NM", "BG", "CL", "mean"}
    assert meta["fingerprint"].startswith("gaitbase/gaitbase-small/")
    assert model.config.num_classes == 4

    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    train_iters = [r["iter"] for r in records if r["type"] == "train"]
    assert train_iters == [1, 2, 3, 4, 5]
    assert [r["iter"] for r in records if r["type"] == "val"] == [0, 3, 5]  # untrained, periodic, final
    assert all(np.isfinite(r["loss"]) and "triplet" in r and "ce" in r for r in records if r["type"] == "train")
    img = cv2.imread(str(out / "loss.png"))
    assert img is not None and img.shape[2] == 3 and img.std() > 0

    # Resuming from iteration 3 reproduces the uninterrupted run exactly (model, optimizer, RNG restored).
    mid = out / "checkpoints" / "gaitbase-small-iter000003.pt"
    assert mid.is_file() and (out / "checkpoints" / "gaitbase-small-iter000003.state.pt").is_file()
    out2 = tmp_path / "resumed"
    rc = _train(["--data", str(tiny_pack), "--iters", "5", "--resume", str(mid), "--out", str(out2)])
    assert rc == 0, capsys.readouterr().err
    resumed, meta2 = load_checkpoint(out2 / "gaitbase-small.pt")
    assert meta2["training"]["iterations"] == 5
    for (k, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"{k} differs after resume")

    # Resuming in the same folder from iteration 3 replaces the log's records after 3 (no overlap).
    rc = _train(["--data", str(tiny_pack), "--iters", "5", "--resume", str(mid), "--log-every", "1", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records if r["type"] == "train"] == [1, 2, 3, 4, 5]

    # A resumed run takes new milestones (the saved scheduler would keep the old ones): decay at 1
    # instead of 2, 3, 4 gives 0.1 x 0.1 from the resume on; the old schedule would give 0.001.
    out3 = tmp_path / "rescheduled"
    rescheduled = ["--resume", str(mid), "--milestones", "1", "--log-every", "1", "--out", str(out3)]
    rc = _train(["--data", str(tiny_pack), "--iters", "5", *rescheduled])
    assert rc == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (out3 / "train_log.jsonl").read_text().splitlines()]
    lrs = {r["iter"]: r["lr"] for r in records if r["type"] == "train"}
    assert lrs[4] == pytest.approx(0.01) and lrs[5] == pytest.approx(0.01)

    # evaluate --json, embeddings and CMC plot
    capsys.readouterr()
    npz, png = tmp_path / "emb.npz", tmp_path / "cmc.png"
    rc = main(
        [
            "evaluate",
            "--weights",
            str(final),
            "--data",
            str(tiny_pack),
            "--subjects",
            "005-006",
            "--json",
            "--save-embeddings",
            str(npz),
            "--plot",
            str(png),
            "--device",
            "cpu",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    result = json.loads(captured.out)
    assert result["protocol"] == "casiab" and result["subjects"] == "005-006"
    assert set(result["conditions"]) == {"NM", "BG", "CL"} and result["views"] == list(VIEWS)
    with np.load(npz) as z:
        assert z["embeddings"].shape == (60, 16, 8) and sorted(set(z["subject"].tolist())) == ["005", "006"]
        again = casiab_protocol(z["embeddings"], z["subject"], z["condition"], z["view"])
    assert again["mean_rank1"] == pytest.approx(result["mean_rank1"])  # anyone can recompute from the .npz
    assert cv2.imread(str(png)) is not None

    # --amp (bf16 autocast on the CPU) embeds the same sequences to nearly the same vectors
    npz_amp = tmp_path / "emb-amp.npz"
    rc = main(
        [
            "evaluate",
            "--weights",
            str(final),
            "--data",
            str(tiny_pack),
            "--subjects",
            "005-006",
            "--json",
            "--save-embeddings",
            str(npz_amp),
            "--device",
            "cpu",
            "--amp",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    with np.load(npz) as z, np.load(npz_amp) as za:
        a, b = z["embeddings"].reshape(60, -1), za["embeddings"].reshape(60, -1)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert cos.min() > 0.99 and not np.array_equal(a, b)

    # the human-readable table
    rc = main(
        ["evaluate", "--weights", str(final), "--data", str(tiny_pack), "--subjects", "005-006", "--max-frames", "8"]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "NM" in text and "054" in text and "rank-1" in text


def test_cli_errors_are_one_line(tiny_pack, tmp_path, capsys):
    assert _train(["--data", str(tiny_pack), "--iters", "1", "--batch", "2x1", "--out", str(tmp_path)]) != 0
    assert "error: --batch 2x1" in capsys.readouterr().err
    assert _train(["--data", str(tmp_path / "nope"), "--iters", "1", "--out", str(tmp_path)]) != 0
    assert "does not exist" in capsys.readouterr().err
    assert _train(["--data", str(tiny_pack), "--iters", "1", "--val-every", "1", "--out", str(tmp_path)]) != 0
    assert "--val-subjects" in capsys.readouterr().err
    assert main(["evaluate", "--weights", str(tmp_path / "none.pt"), "--data", str(tiny_pack)]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "none.pt' not found" in err
    assert (
        main(["train", "--arch", "no-such-model", "--data", str(tiny_pack), "--iters", "1", "--out", str(tmp_path)])
        != 0
    )
    assert "unknown model" in capsys.readouterr().err


def test_train_gaitnet_with_its_own_losses(tmp_path, capsys):
    """GaitNet trains through the same CLI with its own losses (silhouettes from a pack -> 3 channels)."""
    from gaitpipe.models.checkpoint import load_checkpoint

    pack = write_pack(
        tmp_path / "syn.npz",
        [
            (f"{s:03d}", c, v, _synthetic(s, ci, vi, t=6))
            for s in range(1, 4)
            for ci, c in enumerate(CONDS[:3])
            for vi, v in enumerate(VIEWS[:2])
        ],
    )
    rc = main(
        [
            "train",
            "--arch",
            "gaitnet",
            "--set",
            "channels=[4,8,8,8]",
            "--set",
            "appearance_dim=8",
            "--set",
            "pose_dim=4",
            "--set",
            "lstm_hidden=8",
            "--data",
            str(pack),
            "--train-subjects",
            "001-003",
            "--batch",
            "2x2",
            "--frames",
            "4",
            "--iters",
            "2",
            "--threads",
            "1",
            "--no-progress",
            "--log-every",
            "1",
            "--out",
            str(tmp_path / "gn"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (tmp_path / "gn" / "train_log.jsonl").read_text().splitlines()]
    assert {"identity", "recon"} <= set(records[0]) and np.isfinite(records[-1]["loss"])
    model, meta = load_checkpoint(tmp_path / "gn" / "gaitnet.pt")
    assert meta["arch"] == "gaitnet" and meta["training"]["optimizer"] == "adam"
    # the pack has no colour: the weights must say they were trained on silhouettes, so that the
    # pipeline feeds them silhouettes (not colour crops) and galleries keep the spaces apart
    assert model.input_kind == "silhouette" and meta["config"]["input_kind"] == "silhouette"
    assert meta["fingerprint"].startswith("gaitnet/gaitnet+silhouette/")


def test_evaluate_uses_the_default_weights(tiny_pack, capsys):
    """Like enroll/identify, ``evaluate`` without ``--weights`` takes the installed default weights."""
    from gaitpipe.hub import default_weights

    default = default_weights()
    assert default is not None
    rc = main(
        [
            "evaluate",
            "--data",
            str(tiny_pack),
            "--subjects",
            "005-006",
            "--views",
            "054,090",
            "--max-frames",
            "4",
            "--json",
            "--device",
            "cpu",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert json.loads(captured.out)["weights"] == str(default)
