"""``gaitpipe train``: train a gait encoder on an OpenGait dataset folder or a silhouette pack."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from gaitpipe.cli.app import app
from gaitpipe.errors import InputError


def _parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set expects KEY=VALUE (JSON value), got {item!r}")
        try:
            v = json.loads(value)
        except ValueError:
            v = value
        out[key.strip()] = tuple(v) if isinstance(v, list) else v
    return out


@app.command("train")
def train_command(
    arch: str = typer.Option(..., "--arch", help="Model preset, e.g. gaitbase-casiab, gaitbase-small, dygait-small, hstl-casiab."),
    data: Path = typer.Option(..., "--data", help="Dataset folder (<subject>/<cond>/<view>/*.pkl) or a .npz/.npz.xz pack."),
    cache: bool = typer.Option(False, "--cache/--no-cache", help="Keep sequences read from a dataset folder in memory."),
    split: str = typer.Option("casiab", "--split", help="Split file (OpenGait JSON) or casiab|oumvlp|grew|gait3d."),
    train_subjects: Optional[str] = typer.Option(None, "--train-subjects", help="Training subjects, e.g. 001-062 (overrides the split)."),
    iters: int = typer.Option(60000, "--iters", help="Training iterations."),
    batch: str = typer.Option("8x16", "--batch", help="P x K: subjects x sequences per batch."),
    frames: int = typer.Option(30, "--frames", help="Frames sampled per training sequence."),
    sampling: Optional[str] = typer.Option(None, "--sampling", help="ordered|unordered (default by architecture)."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd or adam (default: adam for HSTL and GaitNet, sgd otherwise)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (SGD 0.1, Adam 1e-4 by default)."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay"),
    milestones: Optional[str] = typer.Option(None, "--milestones", help="Comma-separated iterations where lr x 0.1 (default 1/3, 2/3, 5/6 of --iters)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: CUDA when present)."),
    amp: bool = typer.Option(False, "--amp/--no-amp", help="Mixed precision (fp16 on CUDA, bf16 on CPU)."),
    amp_dtype: Optional[str] = typer.Option(None, "--amp-dtype", help="fp16 or bf16."),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last",
                                                 help="Channels-last conv weights (default: on for CUDA, off on CPU).",
                                                 show_default=False),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Checkpoint of an earlier run (its .state.pt must sit next to it)."),
    out: Path = typer.Option(Path("runs/train"), "--out", help="Output folder for checkpoints, log and loss curve."),
    val_every: int = typer.Option(0, "--val-every", help="Validate every N iterations (0: never)."),
    val_subjects: Optional[str] = typer.Option(None, "--val-subjects", help="Held-out validation subjects, e.g. 063-074."),
    val_protocol: str = typer.Option("casiab", "--val-protocol", help="Protocol used for validation."),
    val_views: Optional[str] = typer.Option(None, "--val-views", help="Validate on these views only, e.g. 054,090,126."),
    val_max_frames: Optional[int] = typer.Option(None, "--val-max-frames", help="Use the first N frames of each validation sequence."),
    save_every: int = typer.Option(0, "--save-every", help="Checkpoint every N iterations (default: at each validation)."),
    log_every: int = typer.Option(10, "--log-every", help="Write a log line every N iterations."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Stop after this many minutes (then validate and save)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    seed: int = typer.Option(0, "--seed"),
    set_: list[str] = typer.Option([], "--set", help="Model config override KEY=VALUE (JSON value), repeatable, e.g. --set channels=[16,32,64]."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar (for logs)."),
) -> None:
    """Train a gait encoder; writes checkpoints, train_log.jsonl and loss.png under --out."""
    from gaitpipe.engine.trainer import TrainConfig, train

    try:
        ms = [int(m) for m in milestones.split(",") if m] if milestones else None
    except ValueError:
        raise InputError(f"--milestones must be comma-separated integers, got {milestones!r}") from None
    config = TrainConfig(
        arch=arch, data=str(data), cache=cache, split=split, train_subjects=train_subjects, iters=iters, batch=batch, frames=frames,
        sampling=sampling, optimizer=optimizer, lr=lr, weight_decay=weight_decay, milestones=ms, device=device, amp=amp,
        amp_dtype=amp_dtype, channels_last=channels_last, resume=str(resume) if resume else None, out=str(out), val_every=val_every,
        val_subjects=val_subjects, val_protocol=val_protocol, val_views=val_views, val_max_frames=val_max_frames,
        save_every=save_every, log_every=log_every, time_limit_min=time_limit, threads=threads, seed=seed, model_overrides=_parse_overrides(set_),
        progress=not no_progress,
    )
    result = train(config)
    typer.echo(f"trained {result.iterations} iterations in {result.wall_time_s:.0f} s")
    if result.validation:
        last = result.validation[-1]
        typer.echo("validation (iter {}): {}".format(last["iter"], ", ".join(f"{k} {v:.1f}" for k, v in last["metrics"].items())))
    typer.echo(f"weights: {result.checkpoint}")
    typer.echo(f"log: {result.log}  loss curve: {result.plot}")
