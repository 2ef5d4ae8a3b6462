"""``gaitpipe train``: train a gait encoder on an OpenGait dataset folder or a silhouette pack.

The options are :class:`~gaitpipe.engine.train_config.TrainConfig`'s fields (one ``--flag`` per
setting); ``--config recipe.yaml`` and ``key=value`` arguments set the same settings by name.
"""

from __future__ import annotations

import typer

from gaitpipe.cli.app import app
from gaitpipe.cli.settings import settings_command
from gaitpipe.engine.train_config import TrainConfig


def _run(config: TrainConfig) -> None:
    from gaitpipe.engine.trainer import train

    result = train(config)
    typer.echo(f"trained {result.iterations} iterations in {result.wall_time_s:.0f} s")
    if result.validation:
        last = result.validation[-1]
        metrics = ", ".join(f"{k} {v:.1f}" for k, v in last["metrics"].items())
        typer.echo(f"validation (iter {last['iter']}): {metrics}")
    typer.echo(f"weights: {result.checkpoint}")
    typer.echo(f"log: {result.log}  loss curve: {result.plot}")


train_command = app.command("train")(
    settings_command(
        TrainConfig,
        _run,
        doc="Train a gait encoder; writes checkpoints, train_log.jsonl and loss.png under --out.\n\n"
        "Settings come from the options, KEY=VALUE arguments (e.g. iters=2000 lr=0.05) and a YAML "
        "--config recipe, in that order of precedence.",
    )
)
