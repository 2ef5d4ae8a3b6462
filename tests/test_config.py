"""Settings declared once: YAML recipes and key=value overrides into TrainConfig, checked by name."""

from __future__ import annotations

import pytest

from gaitpipe.cli.app import main
from gaitpipe.config import build_config
from gaitpipe.engine.train_config import TrainConfig
from gaitpipe.errors import ConfigError


def test_recipe_then_assignments_then_values(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "arch: gaitbase-small\ndata: pack.npz\niters: 100\nmilestones: [10, 20]\n"
        "model_overrides: {channels: [4, 8, 8, 8]}\nval_views: '054,090'\n"
    )
    c = build_config(
        TrainConfig,
        recipe=recipe,
        assignments=["iters=50", "lr=0.05", "amp=true", "train-subjects=001-004"],
        values={"iters": 7},
    )
    assert (c.arch, c.data, c.iters, c.lr, c.amp, c.train_subjects) == (
        "gaitbase-small",
        "pack.npz",
        7,
        0.05,
        True,
        "001-004",
    )
    assert c.milestones == [10, 20] and c.model_overrides == {"channels": [4, 8, 8, 8]} and c.val_views == "054,090"
    assert build_config(TrainConfig, assignments=["arch=a", "data=d", "milestones=5,9", "lr=none"]).milestones == [5, 9]


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("iter=5", "unknown setting 'iter' (did you mean iters?); known settings: arch, data,"),
        ("iters=many", "iters must be an integer, got 'many'"),
        ("amp=maybe", "amp must be true or false, got 'maybe'"),
        ("milestones=1,x", "milestones must be a list of integers"),
        ("iters", "expected key=value, got 'iters'"),
    ],
)
def test_bad_keys_and_values_are_one_clear_line(assignment, message):
    with pytest.raises(ConfigError) as err:
        build_config(TrainConfig, assignments=["arch=a", "data=d", assignment])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_recipe_with_wrong_type_and_missing_settings(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("arch: gaitbase-small\ndata: p.npz\nsplit: 3\n")
    with pytest.raises(ConfigError, match="split must be a string, got 3"):
        build_config(TrainConfig, recipe=recipe)
    with pytest.raises(ConfigError, match="missing required setting"):
        build_config(TrainConfig, assignments=["iters=3"])


def test_cli_names_flags_and_rejects_unknown_keys(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("arch: gaitbase-small\nitres: 3\n")
    assert main(["train", "--config", str(recipe), "--data", "x.npz"]) != 0
    assert "error: unknown setting 'itres' (did you mean iters?)" in capsys.readouterr().err
    assert main(["train", "--data", "x.npz"]) != 0
    assert "error: missing required setting(s): --arch" in capsys.readouterr().err
    assert main(["train", "--arch", "gaitbase-small", "--data", "x.npz", "iters=0"]) != 0
    assert "error: --iters must be at least 1" in capsys.readouterr().err
