"""Parity with OpenGait: our imported encoder vs OpenGait's own network, same random checkpoint.

    python benchmarks/opengait_parity.py --opengait PATH --arch gaitbase [--configs casiab gait3d grew oumvlp]
    python benchmarks/opengait_parity.py --opengait PATH --arch deepgaitv2 [--configs casiab gait3d] [--modes 3d 2d]

``PATH`` is an OpenGait checkout or a bare git directory of one (``git --git-dir`` is used to read
it). Nothing of OpenGait is copied into gaitpipe: the script reads OpenGait's ``modules.py``, the
model file (``models/baseline.py`` for GaitBase, with ``backbones/resnet.py``;
``models/deepgaitv2.py``) and ``utils/common.py`` into a temporary folder at run time, next to a
stand-in ``BaseModel`` whose ``__init__`` only calls ``build_network`` (OpenGait's own base class
wants CUDA, distributed training and data loaders) and whose ``get_backbone`` builds the configured
backbone class. The network is built from the published config:
``configs/gaitbase/gaitbase_da_<name>.yaml`` (``gaitbase_<name>.yaml`` where no DA config exists,
i.e. OU-MVLP) or ``configs/deepgaitv2/DeepGaitV2_<name>.yaml``. It needs ``einops`` (``pip install
einops``, or ``--extra-path`` to a folder holding it) besides what gaitpipe uses.

For each config: OpenGait's network gets random weights and BatchNorm statistics, is saved as an
OpenGait snapshot (``{'model': state_dict, 'iteration': N}``) and imported with
``gaitpipe.models.convert.import_checkpoint`` (what ``gaitpipe weights import --arch ...`` runs).
Then (eval mode, fp32, CPU):

* equal lengths: a batch ``[n, T, 64, 44]``, OpenGait's ``inference_feat['embeddings']`` vs ours;
* mixed lengths, one sequence at a time: OpenGait on each sequence alone (its evaluation runs one
  sequence per GPU) vs ours on the zero-padded batch with ``lengths``;
* mixed lengths, packed: OpenGait's packed batch (``[1, sum(T), 64, 44]`` + ``seqL``) vs ours.
  GaitBase runs its backbone per frame and max-pools each sequence's own frames
  (``PackSequenceWrapper``), so packing changes nothing. In DeepGaitV2's P3D/3D modes OpenGait's
  temporal convolutions run across the joins of the packed sequences, so their boundary frames see
  the neighbouring sequence: those differences are OpenGait's packing, not ours (2D mode has no
  temporal kernel and agrees).

Printed: relative differences ``||ours - theirs||_F / ||theirs||_F`` and ``max|ours - theirs| / max|theirs|``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from gaitpipe.models.checkpoint import load_checkpoint
from gaitpipe.models.convert import import_checkpoint

#: per architecture: OpenGait files read at run time (repository path -> path in the temporary
#: package), the module and class of the network, and the default configs.
ARCHS: dict[str, dict] = {
    "gaitbase": {
        "files": {
            "opengait/modeling/modules.py": "ogmodel/modules.py",
            "opengait/modeling/models/baseline.py": "ogmodel/models/baseline.py",
            "opengait/modeling/backbones/resnet.py": "ogmodel/backbones/resnet.py",
            "opengait/utils/common.py": "utils/common.py",
        },
        "module": "ogmodel.models.baseline",
        "class": "Baseline",
        "configs": ["casiab", "gait3d", "grew", "oumvlp"],
        "iteration": 60000,
    },
    "deepgaitv2": {
        "files": {
            "opengait/modeling/modules.py": "ogmodel/modules.py",
            "opengait/modeling/models/deepgaitv2.py": "ogmodel/models/deepgaitv2.py",
            "opengait/utils/common.py": "utils/common.py",
        },
        "module": "ogmodel.models.deepgaitv2",
        "class": "DeepGaitV2",
        "configs": ["casiab", "gait3d", "grew"],
        "iteration": 60000,
    },
}

_STANDIN_BASE = '''import inspect

import torch.nn as nn


class BaseModel(nn.Module):
    """Parity stand-in: builds the network only."""

    def __init__(self, model_cfg):
        super().__init__()
        self.build_network(model_cfg)

    def get_backbone(self, backbone_cfg):
        from . import backbones

        cls = getattr(backbones, backbone_cfg["type"])
        names = inspect.signature(cls.__init__).parameters
        return cls(**{k: v for k, v in backbone_cfg.items() if k != "type" and k in names})
'''


def _read(opengait: Path, path: str) -> str:
    if (opengait / path).is_file():
        return (opengait / path).read_text()
    return subprocess.run(
        ["git", f"--git-dir={opengait}", "show", f"HEAD:{path}"], check=True, capture_output=True, text=True
    ).stdout


def _exists(opengait: Path, path: str) -> bool:
    if (opengait / path).is_file():
        return True
    done = subprocess.run(["git", f"--git-dir={opengait}", "cat-file", "-e", f"HEAD:{path}"], capture_output=True)
    return done.returncode == 0


def load_opengait(opengait: Path, workdir: Path, arch: str):
    """OpenGait's network class for ``arch``, imported from a temporary package built from ``opengait``."""
    spec = ARCHS[arch]
    for src, dst in spec["files"].items():
        (workdir / dst).parent.mkdir(parents=True, exist_ok=True)
        (workdir / dst).write_text(_read(opengait, src))
    (workdir / "utils/__init__.py").write_text("from .common import clones, is_list_or_tuple\n")
    (workdir / "ogmodel/__init__.py").write_text("")
    (workdir / "ogmodel/models/__init__.py").write_text("")
    if (workdir / "ogmodel/backbones").is_dir():
        (workdir / "ogmodel/backbones/__init__.py").write_text("from .resnet import ResNet9\n")
    (workdir / "ogmodel/base_model.py").write_text(_STANDIN_BASE)
    sys.path.insert(0, str(workdir))
    import importlib

    return getattr(importlib.import_module(spec["module"]), spec["class"])


def config_path(opengait: Path, arch: str, name: str) -> str:
    """The published config of ``name``: GaitBase's DA config where one exists."""
    if arch == "deepgaitv2":
        return f"configs/deepgaitv2/DeepGaitV2_{name}.yaml"
    da = f"configs/gaitbase/gaitbase_da_{name}.yaml"
    return da if _exists(opengait, da) else f"configs/gaitbase/gaitbase_{name}.yaml"


def model_cfg(opengait: Path, path: str) -> dict:
    import yaml

    return yaml.safe_load(_read(opengait, path))["model_cfg"]


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Random weights and BatchNorm statistics (so a wrong BN key or permutation shows)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith(("running_mean", "bias")):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif t.dim() == 1:  # BN weight
                t.copy_(1 + 0.1 * torch.randn(t.shape, generator=g))
            else:
                fan_in = t[0].numel() if "fc_bin" not in name else t.shape[1]
                t.copy_(torch.randn(t.shape, generator=g) * (1.0 / fan_in) ** 0.5)


def silhouettes(n: int, t: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, t, 64, 44)
    x[:, :, 4:60, 12:32] = (torch.rand(n, t, 56, 20, generator=g) > 0.3).float()
    return x


def rel(ours: torch.Tensor, theirs: torch.Tensor) -> tuple[float, float]:
    fro = float((ours - theirs).norm() / theirs.norm())
    mx = float((ours - theirs).abs().max() / theirs.abs().max())
    return fro, mx


def theirs_embed(net, sils: torch.Tensor, seq_len: list[int] | None = None) -> torch.Tensor:
    """OpenGait's inference feature, transposed to our layout ``[n, parts, dim]``."""
    seql = None if seq_len is None else torch.tensor([seq_len])
    with torch.no_grad():
        out = net(([sils], None, None, None, seql))
    return out["inference_feat"]["embeddings"].permute(0, 2, 1)


def run(opengait: Path, arch: str, names: list[str], frames: int, seed: int, modes: list[str | None]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        net_cls = load_opengait(opengait, tmpdir / "og", arch)
        jobs = [(name, mode) for name in names for mode in modes]
        for i, (name, mode) in enumerate(jobs):
            cfg_path = config_path(opengait, arch, name)
            cfg = model_cfg(opengait, cfg_path)
            if mode is not None:  # DeepGaitV2: the paper's other block types on a published config
                cfg["Backbone"]["mode"] = mode
            torch.manual_seed(seed + i)
            net = net_cls(cfg).eval()
            randomise(net, seed + i)
            iteration = ARCHS[arch]["iteration"]
            src = tmpdir / f"{Path(cfg_path).stem}_{i}-{iteration}.pt"
            torch.save({"model": net.state_dict(), "iteration": iteration}, src)
            path, meta = import_checkpoint(src, arch, out=tmpdir / f"{name}_{i}.pt")
            ours, _ = load_checkpoint(path)
            mode_name = cfg["Backbone"]["mode"] if arch == "deepgaitv2" else "2d"
            row = {"config": Path(cfg_path).name, "preset": meta["preset"], "mode": mode_name}

            x = silhouettes(3, frames, seed)
            row["equal"] = rel(ours.embed(x), theirs_embed(net, x))

            lengths = [max(1, frames // 3), frames, max(2, frames // 2 + 1)]
            padded = silhouettes(len(lengths), frames, seed + 1)
            for j, length in enumerate(lengths):
                padded[j, length:] = 0
            got = ours.embed(padded, torch.tensor(lengths))
            alone = torch.cat([theirs_embed(net, padded[j : j + 1, :length]) for j, length in enumerate(lengths)])
            row["mixed_alone"] = rel(got, alone)
            packed = torch.cat([padded[j, :length] for j, length in enumerate(lengths)])[None]
            row["mixed_packed"] = rel(got, theirs_embed(net, packed, lengths))
            row["lengths"] = lengths
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opengait", type=Path, required=True, help="OpenGait checkout or bare git directory")
    ap.add_argument("--arch", choices=sorted(ARCHS), required=True)
    ap.add_argument("--configs", nargs="+", default=None, help="config names (default: every published one)")
    ap.add_argument("--modes", nargs="+", default=None, help="deepgaitv2: run each config also as these modes")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra-path", type=Path, action="append", default=[], help="folder added to sys.path (einops)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.modes and args.arch != "deepgaitv2":
        ap.error("--modes is for --arch deepgaitv2")
    sys.path[:0] = [str(p) for p in args.extra_path]
    torch.set_num_threads(args.threads)
    names = args.configs or ARCHS[args.arch]["configs"]
    rows = run(args.opengait, args.arch, names, args.frames, args.seed, args.modes or [None])
    print(
        f"{'config':<26} {'preset':<22} {'mode':<5} {'equal (fro / max)':<22} "
        f"{'mixed, alone':<22} {'mixed, OpenGait packed':<22}"
    )
    for r in rows:
        cells = [f"{r[k][0]:.1e} / {r[k][1]:.1e}" for k in ("equal", "mixed_alone", "mixed_packed")]
        print(f"{r['config']:<26} {r['preset']:<22} {r['mode']:<5} " + " ".join(f"{c:<22}" for c in cells))
    print(f"T = {args.frames}; mixed lengths {rows[0]['lengths']}; relative to OpenGait's embedding norm / max")
    worst = max(max(r["equal"] + r["mixed_alone"]) for r in rows)
    print(f"worst equal / mixed-alone difference: {worst:.1e} ({'PASS' if worst < 1e-4 else 'FAIL'} at 1e-4)")


if __name__ == "__main__":
    main()
