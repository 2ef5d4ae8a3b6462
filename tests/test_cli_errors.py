"""The CLI's error contract: one line on stderr and a non-zero exit, whatever went wrong."""

from __future__ import annotations

import numpy as np
import typer

from gaitpipe.cli import app as cli_app
from gaitpipe.cli.app import main
from gaitpipe.data.packed import write_pack


def _stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_bad_model_override_is_one_line(tmp_path, capsys):
    # A bad value in --set reaches the model config's validation: an input error, not a crash.
    blob = np.zeros((4, 64, 64), np.uint8)
    blob[:, 10:50, 20:40] = 255
    pack = write_pack(tmp_path / "p.npz", [(f"{s:03d}", c, "090", blob) for s in (1, 2) for c in ("nm-01", "nm-02")])
    code = main(
        [
            "train",
            "--arch",
            "gaitbase-small",
            "--data",
            str(pack),
            "--train-subjects",
            "001-002",
            "--set",
            'retrieval_feature="pre-bn"',
            "--iters",
            "1",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    lines = _stderr_lines(capsys)
    assert code != 0 and len(lines) == 1 and "retrieval_feature must be one of fc, bnneck" in lines[0]


def test_unexpected_exception_is_one_line(monkeypatch, capsys):
    def boom() -> None:
        raise RuntimeError("something we did not foresee")

    monkeypatch.setattr(cli_app, "app", lambda **kw: boom())
    assert main(["--help"]) == 1
    lines = _stderr_lines(capsys)
    assert len(lines) == 1 and "internal error (RuntimeError: something we did not foresee)" in lines[0]


def test_oserror_and_abort_are_one_line(monkeypatch, capsys):
    def disk_full(**kw):
        raise OSError(28, "No space left on device", "/data/gallery.db")

    monkeypatch.setattr(cli_app, "app", disk_full)
    assert main([]) == 1
    assert _stderr_lines(capsys) == ["error: No space left on device: /data/gallery.db"]

    def abort(**kw):
        raise typer.Abort()

    monkeypatch.setattr(cli_app, "app", abort)
    assert main([]) == 1
    assert _stderr_lines(capsys) == ["error: aborted"]
