"""A wheel built from this checkout, installed outside it, finds its default weights and runs the demo.

The wheel is built from a copy of the sources and installed (``--no-deps``) into a fresh venv in
a temporary folder; torch and the other dependencies come from the running environment through a
path entry, gaitpipe itself only from the wheel. The commands run from a temporary working
directory with empty user folders, so nothing of the checkout can be picked up by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv[:3]} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    # copytree follows links, so gaitpipe/_examples arrives as a folder, as in a fresh clone's build
    shutil.copytree(REPO / "gaitpipe", src / "gaitpipe", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)])
    (built,) = dist.glob("gaitpipe-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(the venv's bin folder, an environment that sees only the wheel's gaitpipe)."""
    root = tmp_path_factory.mktemp("venv")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ]
    )
    site = Path(
        _run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    # The running environment's packages (torch, ultralytics, ...) as a plain path entry: its .pth
    # files, among them this checkout's editable install, are not processed.
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAITPIPE_") and k != "PYTHONPATH"}
    env.update(HOME=str(root / "home"), XDG_DATA_HOME=str(root / "data"), XDG_CACHE_HOME=str(root / "cache"))
    return venv / "bin", env


def test_wheel_carries_weights_and_examples_but_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    index = json.loads((REPO / "gaitpipe" / "_weights" / "MANIFEST.json").read_text())
    assert f"gaitpipe/_weights/{index['weights'][index['default']]['file']}" in names
    assert "gaitpipe/_weights/MANIFEST.json" in names and "gaitpipe/_examples/manifest.json" in names
    assert sum(n.startswith("gaitpipe/_examples/") and n.endswith(".mp4") for n in names) >= 20


def test_installed_wheel_finds_default_weights_and_runs_the_demo(installed, tmp_path):
    bin_dir, env = installed
    where = _run([str(bin_dir / "python"), "-c", "import gaitpipe; print(gaitpipe.__file__)"], env=env, cwd=tmp_path)
    assert not Path(where.stdout.strip()).is_relative_to(REPO), "gaitpipe came from the checkout, not the wheel"

    listed = _run([str(bin_dir / "gaitpipe"), "weights", "list", "--json"], env=env, cwd=tmp_path)
    rows = json.loads(listed.stdout)
    (default,) = [r for r in rows if r["default"]]
    assert default["name"] == "gaitbase-quarter-casiab54-synth-f30" and "error" not in default
    assert Path(default["path"]).is_relative_to(Path(where.stdout.strip()).parent / "_weights")

    demo = _run([str(bin_dir / "gaitpipe"), "demo", "--device", "cpu"], env=env, cwd=tmp_path, timeout=300)
    assert "(rendered on the fly)" not in demo.stdout  # the wheel's own clips were used
    assert any(line.startswith("accuracy: ") and "best match correct" in line for line in demo.stdout.splitlines())
