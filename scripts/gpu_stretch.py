#!/usr/bin/env python3
"""One GPU stretch: continue the team's GPU training run for a few minutes, then hand its state back.

Started by ``scripts/gpu_stretch.sh`` on a lent GPU machine (docs/training.md, "GPU stretches"):

1. reassembles the run's state from the committed pieces in ``--state`` (``stretch/``): a first
   stretch, finding none, starts the run;
2. loads the training pack (``.devdata/casiab-stretch.npz.xz``, made by
   ``scripts/gpu_stretch_prepare.sh``) onto the GPU, where batches are drawn and unpacked;
3. resumes the run (full-width GaitBase, bf16 autocast, channels-last) and trains for
   ``--minutes`` (or until ``--deadline-minutes`` of this script's wall clock would be passed);
4. validates on the held-out subjects (a few views, first 30 frames: quick);
5. writes the new state to ``--out`` (``$OUT``) as ``stretch.json`` + ``state.partNN`` pieces of at
   most ``--piece-bytes``, with the log and loss curve when the file count allows: copy them
   into ``stretch/`` and commit them (``scripts/gpu_stretch_collect.sh``).

The run's recipe (architecture, batch, frames, schedule length, subjects, seed) is written into
the state by its first stretch and read back by every later one; a recipe option that differs
from the state's is refused (start another run in another ``--state`` folder instead).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

T0 = time.perf_counter()  # the deadline counts from the start of this script
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # gaitpipe from this tree (it is not installed on a lent machine)

#: The run's recipe when a first stretch starts it: OpenGait's GaitBase recipe for CASIA-B
#: (batch 8 x 16, 30 frames, 60k iterations, SGD 0.1 with decay at 20k/40k/50k), trained on
#: 001-062 and validated on the held-out 063-074.
RECIPE_DEFAULTS: dict[str, Any] = {
    "arch": "gaitbase-casiab",
    "overrides": {},
    "batch": "8x16",
    "frames": 30,
    "iters": 60000,
    "train_subjects": "001-062",
    "val_subjects": "063-074",
    "val_views": "054,090,126",
    "val_max_frames": 30,
    "seed": 0,
}


def log(msg: str) -> None:
    print(f"[stretch {time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    recipe = ap.add_argument_group("the run's recipe (first stretch only; later ones read it from the state)")
    recipe.add_argument("--arch")
    recipe.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="model config override")
    recipe.add_argument("--batch")
    recipe.add_argument("--frames", type=int)
    recipe.add_argument("--iters", type=int, help="length of the whole run (its learning-rate schedule)")
    recipe.add_argument("--train-subjects")
    recipe.add_argument("--val-subjects")
    recipe.add_argument("--val-views")
    recipe.add_argument("--val-max-frames", type=int)
    recipe.add_argument("--seed", type=int)
    st = ap.add_argument_group("this stretch")
    st.add_argument("--state", type=Path, default=ROOT / "stretch", help="committed state (stretch.json + pieces)")
    st.add_argument("--data", type=Path, default=ROOT / ".devdata" / "casiab-stretch.npz.xz")
    st.add_argument("--out", type=Path, default=Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    st.add_argument("--minutes", type=float, default=8.0, help="training time of this stretch")
    st.add_argument(
        "--deadline-minutes",
        type=float,
        default=9.0,
        help="stop training early enough that the script ends within this (a run call allows 10 min)",
    )
    st.add_argument("--reserve-seconds", type=float, default=40.0, help="kept for validation and writing")
    st.add_argument("--stretch-iters", type=int, help="stop after this many iterations (tests)")
    st.add_argument("--device", default=None, help="default: CUDA when present")
    st.add_argument("--threads", type=int, default=None, help="CPU threads (CPU runs)")
    st.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast")
    st.add_argument("--log-every", type=int, default=100)
    st.add_argument("--val-batch", type=int, default=64)
    st.add_argument("--piece-bytes", type=int, default=16 << 20, help="largest file handed back")
    st.add_argument("--max-files", type=int, default=8, help="files $OUT may hold (one is kept for the log)")
    st.add_argument(
        "--optimizer-state",
        choices=["auto", "full", "bf16", "none"],
        default="auto",
        help="keep the optimizer's state whole, in bf16, or not at all; auto: the most that fits --state-budget-mib",
    )
    st.add_argument(
        "--state-budget-mib",
        type=float,
        default=32.0,
        help="size the state may take (it travels with the tree to the next stretch: 64 MiB in all)",
    )
    st.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.out is None:
        ap.error("--out is required when $OUT is not set")
    return args


def resolve_recipe(args: argparse.Namespace, manifest: dict[str, Any] | None) -> dict[str, Any]:
    given = {
        "arch": args.arch,
        "overrides": {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)} if args.set else None,
        "batch": args.batch,
        "frames": args.frames,
        "iters": args.iters,
        "train_subjects": args.train_subjects,
        "val_subjects": args.val_subjects,
        "val_views": args.val_views,
        "val_max_frames": args.val_max_frames,
        "seed": args.seed,
    }
    if manifest is None:
        return {k: RECIPE_DEFAULTS[k] if v is None else v for k, v in given.items()}
    recipe = dict(manifest["recipe"])
    clash = {k: (v, recipe.get(k)) for k, v in given.items() if v is not None and v != recipe.get(k)}
    if clash:
        detail = ", ".join(f"{k}: {v!r} but the state's run has {r!r}" for k, (v, r) in clash.items())
        raise SystemExit(f"error: the recipe of a run cannot change between stretches ({detail}); use another --state")
    return recipe


def choose_optimizer_state(mode: str, state: dict[str, Any], checkpoint_bytes: int, budget_mib: float) -> str:
    from gaitpipe.engine.stretch import MIB, optimizer_state_bytes

    if mode != "auto":
        return mode
    full = optimizer_state_bytes(state)
    for choice, extra in (("full", full), ("bf16", full // 2)):
        if checkpoint_bytes + extra <= budget_mib * MIB:
            return choice
    return "none"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from gaitpipe.engine.stretch import (
        bundle,
        compact_optimizer_state,
        read_manifest,
        read_pieces,
        unbundle,
        write_pieces,
    )
    from gaitpipe.engine.train_config import TrainConfig, default_milestones
    from gaitpipe.engine.trainer import Trainer
    from gaitpipe.utils.files import atomic_torch_save

    cuda = torch.cuda.is_available() and (args.device is None or args.device.startswith("cuda"))
    gpu = torch.cuda.get_device_name(0) if cuda else None
    log(f"python {platform.python_version()}, torch {torch.__version__}, device {gpu or 'cpu'}")
    manifest = read_manifest(args.state)
    recipe = resolve_recipe(args, manifest)
    start = int(manifest["iteration"]) if manifest else 0
    if start >= recipe["iters"]:
        log(f"the run is complete ({start} of {recipe['iters']} iterations): nothing to do")
        return 0
    if not args.data.is_file():
        raise SystemExit(f"error: training pack {args.data} not found: run scripts/gpu_stretch_prepare.sh first")

    tmp = tempfile.TemporaryDirectory(prefix="stretch-") if args.workdir is None else None
    work = Path(tmp.name) if tmp is not None else args.workdir
    run_dir = work / "run"
    resume = None
    if manifest is not None:
        manifest, data = read_pieces(args.state)
        unbundle(data, work / "resume")
        resume = work / "resume" / "checkpoint.pt"
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / "resume" / "train_log.jsonl", run_dir / "train_log.jsonl")
        log(f"resuming at iteration {start} from {len(manifest['pieces'])} pieces in {args.state}")
    else:
        log(f"no state in {args.state}: starting the run")

    end = recipe["iters"] if args.stretch_iters is None else min(recipe["iters"], start + args.stretch_iters)
    config = TrainConfig(
        arch=recipe["arch"],
        model_overrides=recipe["overrides"],
        data=str(args.data),
        train_subjects=recipe["train_subjects"],
        val_subjects=recipe["val_subjects"],
        val_views=recipe["val_views"],
        val_max_frames=recipe["val_max_frames"],
        val_every=10**9,  # validate when the run starts and at the end of each stretch
        val_batch=args.val_batch,
        iters=end,
        milestones=default_milestones(recipe["iters"]),
        batch=recipe["batch"],
        frames=recipe["frames"],
        seed=recipe["seed"],
        device=args.device,
        threads=args.threads,
        amp=args.amp,
        amp_dtype="bf16",
        channels_last=True,
        data_on_device=True,
        resume=str(resume) if resume else None,
        out=str(run_dir),
        log_every=args.log_every,
        progress=False,
    )
    trainer = Trainer(config)
    if trainer.device_pack is not None:
        log(f"training pack on {trainer.device}: {trainer.device_pack.nbytes / 2**20:.0f} MiB packed")
    left = args.deadline_minutes * 60 - (time.perf_counter() - T0) - args.reserve_seconds
    config.time_limit_min = max(0.05, min(args.minutes, left / 60))
    log(f"training iterations {start}..{end} for at most {config.time_limit_min:.2f} min")
    before = trainer.elapsed  # the run's training time so far (restored with its state)
    preset = trainer.model.preset or recipe["arch"]
    validation = None
    try:
        result = trainer.fit()
        validation = result.validation[-1] if result.validation else None
    except Exception as exc:  # keep what was trained (fit saves before its last validation)
        saved = sorted((run_dir / "checkpoints").glob(f"{preset}-iter*.state.pt"))
        if not saved or int(saved[-1].name.split("-iter")[1][:6]) <= start:
            raise
        log(f"error after training, handing back the last checkpoint: {type(exc).__name__}: {exc}")
    ckpts = sorted((run_dir / "checkpoints").glob(f"{preset}-iter*.state.pt"))
    state_file = ckpts[-1]
    it = int(state_file.name.split("-iter")[1][:6])
    ckpt = state_file.with_name(f"{preset}-iter{it:06d}.pt")
    log_file, plot_file = run_dir / "train_log.jsonl", run_dir / "loss.png"
    seconds = trainer.elapsed - before
    p, k = (int(v) for v in recipe["batch"].split("x"))
    speed = (it - start) / max(seconds, 1e-9)
    log(f"trained to iteration {it}: {speed:.2f} it/s, {speed * p * k:.0f} sequences/s")

    # --- the new state: checkpoint + training state (optimizer compacted to fit) + log, in pieces
    state = torch.load(state_file, map_location="cpu", weights_only=True)
    mode = choose_optimizer_state(args.optimizer_state, state, ckpt.stat().st_size, args.state_budget_mib)
    compact = work / "bundle" / "checkpoint.state.pt"
    atomic_torch_save(compact_optimizer_state(state, mode), compact)
    data = bundle({"checkpoint.pt": ckpt, "checkpoint.state.pt": compact, "train_log.jsonl": log_file})
    stretches = list(manifest["stretches"]) if manifest else []
    stretches.append(
        {
            "number": len(stretches) + 1,
            "iterations": [start, it],
            "seconds": round(seconds, 1),
            "it_per_s": round(speed, 3),
            "sequences_per_s": round(speed * p * k, 1),
            "stopped_by_time_limit": trainer.stopped_early,
            "device": gpu or "cpu",
            "torch": torch.__version__,
            "optimizer_state": mode,
            "validation": validation,
        }
    )
    record = {
        "recipe": recipe,
        "iteration": it,
        "elapsed_s": round(trainer.elapsed, 1),
        "stretches": stretches,
        "files": ["checkpoint.pt", "checkpoint.state.pt", "train_log.jsonl"],
    }
    pieces = -(-len(data) // args.piece_bytes)
    extras = [p for p in (log_file, plot_file) if p.is_file()]
    room = args.max_files - 1 - pieces - 1  # one file for stretch.json, one for the wrapper's log
    if room < 0:
        raise SystemExit(
            f"error: the state ({len(data) / 2**20:.1f} MiB) needs {pieces} pieces of {args.piece_bytes} bytes, "
            f"more than --max-files {args.max_files} allows; keep less optimizer state or a smaller model"
        )
    written = write_pieces(data, args.out, record, piece_bytes=args.piece_bytes)
    for extra in extras[:room]:
        shutil.copy(extra, args.out / extra.name)
    log(
        f"state of iteration {it} ({len(data) / 2**20:.1f} MiB, optimizer state: {mode}) in "
        f"{len(written['pieces'])} pieces + stretch.json in {args.out}"
    )
    if validation:
        log("validation: " + ", ".join(f"{k} {v:.1f}" for k, v in validation["metrics"].items()))
    log("to keep it: scripts/gpu_stretch_collect.sh <the run's files folder>, then commit stretch/")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
