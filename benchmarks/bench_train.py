"""Training speed: seconds per P x K step on random inputs, or the whole trainer loop on real data.

    python benchmarks/bench_train.py                                   # CPU (threads=2) + GPU when present
    python benchmarks/bench_train.py --presets gaitbase-small --set gaitbase-small:channels=[16,32,64,128]
    python benchmarks/bench_train.py --batch 8x16 --frames 30 --no-cpu   # the papers' batch, GPU only
    python benchmarks/bench_train.py --loop --batch 8x4 --frames 10 --amp --workers 1   # the real trainer

``--loop`` runs :class:`gaitpipe.engine.trainer.Trainer` itself (sampling, frame loading, collation,
forward/backward, optimizer, logging) on the CASIA-B pack for ``--warmup`` + ``--iters``
iterations and reports iterations/s and sequences/s over the timed ones (from the trainer's
own log windows, so it measures what ``gaitpipe train`` does). Trainer settings the running
gaitpipe lacks (e.g. ``workers`` on an older tree) are left out, so one script measures before
and after a change.

Use it to size a run before starting it (iterations x seconds per step). AMP means what
``gaitpipe train --amp`` does: fp16 autocast + grad scaling on CUDA, bf16 autocast on the CPU
(fast where the CPU has AVX512-BF16 or AMX, slower where it has neither: measure first).
Inputs are random binary silhouettes, so the figures do not depend on data loading.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from gaitpipe.losses import build_loss
from gaitpipe.models import create_model

#: The CASIA-B training pack (../shared/data beside the checkout, or $GAITPIPE_SHARED/data; never copied in).
SHARED = Path(os.environ.get("GAITPIPE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DEFAULT_PACK = SHARED / "data" / "casiab" / "casiab-train-001-074.npz.xz"

#: CPU-sized variants (what the CPU evidence runs of the training issue used).
DEFAULT_PRESETS = {
    "gaitbase-small": {"channels": [16, 32, 64, 128], "embed_dim": 128},
    "dygait-small": {"channels": [8, 16, 32, 32], "embed_dim": 32},
    "hstl-casiab": {"stem": [1, 8], "stages": [[8, 8, 16], [16, 32, 32]], "embed_dim": 32},
    "gaitnet": {"channels": [16, 32, 64, 128], "appearance_dim": 128},
}


def parse_sets(items: list[str]) -> dict[str, dict]:
    """``PRESET:KEY=JSON`` items -> ``{preset: {key: value}}``."""
    out: dict[str, dict] = {}
    for item in items:
        preset, _, assignment = item.partition(":")
        key, _, value = assignment.partition("=")
        if not (preset and key and value):
            raise SystemExit(f"--set wants PRESET:KEY=VALUE, got {item!r}")
        out.setdefault(preset, {})[key] = json.loads(value)
    return out


def time_steps(model, p: int, k: int, frames: int, device: str, amp: bool, steps: int) -> float:
    """Median seconds per training step after one warm-up step."""
    model.to(device).train()
    loss_fn = build_loss(model).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    cuda = device == "cuda"
    dtype = torch.float16 if cuda else torch.bfloat16
    scaler = torch.amp.GradScaler(device, enabled=amp and cuda)
    shape = (p * k, frames, 3, 64, 44) if model.input_kind == "rgb" else (p * k, frames, 64, 44)
    x = (torch.rand(shape) > 0.5).float().to(device)
    labels = torch.arange(p, device=device).repeat_interleave(k)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times = []
    for step in range(steps + 1):
        sync()
        start = time.perf_counter()
        with torch.autocast(device, dtype=dtype, enabled=amp):
            loss, _ = loss_fn(model(x), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss.float()).backward()
        scaler.step(optimizer)
        scaler.update()
        sync()
        if step:  # step 0 is the warm-up (kernel selection, allocator)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def _load() -> str:
    try:
        return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load n/a"


def run_loop(args: argparse.Namespace) -> dict:
    """Time the real trainer loop: ``--warmup`` iterations, then ``--iters`` timed ones."""
    import dataclasses
    import statistics
    import tempfile

    from gaitpipe.engine.train_config import TrainConfig
    from gaitpipe.engine.trainer import Trainer

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    preset = args.presets[0] if args.presets != list(DEFAULT_PRESETS) else "gaitbase-small"
    overrides = dict(DEFAULT_PRESETS.get(preset, {}))
    overrides.update(parse_sets(args.set).get(preset, {}))
    window = args.warmup  # the trainer logs every `window` iterations; the first window is the warm-up
    timed = max(window, args.iters // window * window)
    wanted = {
        "arch": preset,
        "data": args.data,
        "train_subjects": args.train_subjects,
        "iters": window + timed,
        "milestones": [10**9],
        "batch": args.batch,
        "frames": args.frames,
        "device": "cuda" if args.cuda else "cpu",
        "amp": args.amp,
        "channels_last": args.channels_last,
        "threads": args.threads or None,  # 0: the trainer's default
        "workers": args.workers,
        "log_every": window,
        "progress": False,
        "model_overrides": overrides,
    }
    skipped = sorted(k for k, v in wanted.items() if k not in fields and v is not None)
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(**{k: v for k, v in wanted.items() if k in fields}, out=tmp)
        t0 = time.perf_counter()
        trainer = Trainer(config)
        setup = time.perf_counter() - t0
        trainer.fit()
        records = [json.loads(line) for line in (Path(tmp) / "train_log.jsonl").read_text().splitlines()]
    rates = [r["it_per_s"] for r in records if r.get("type") == "train"][1:]  # drop the warm-up window
    it_s = len(rates) * window / sum(window / r for r in rates)  # total timed iterations / total time
    p, k = (int(v) for v in args.batch.lower().split("x"))
    return {
        "preset": preset,
        "overrides": overrides,
        "batch": args.batch,
        "frames": args.frames,
        "amp": args.amp,
        "channels_last": args.channels_last,
        "threads": args.threads,
        "workers": args.workers if "workers" in fields else "n/a (synchronous loading)",
        "skipped_settings": skipped,
        "timed_iters": len(rates) * window,
        "it_per_s": round(it_s, 3),
        "seq_per_s": round(it_s * p * k, 2),
        "window_it_per_s": [round(r, 3) for r in rates],
        "window_spread": round(statistics.pstdev(rates) / statistics.mean(rates), 3) if len(rates) > 1 else 0.0,
        "thread_probes": [{k: v for k, v in r.items() if k != "type"} for r in records if r.get("type") == "threads"],
        "setup_s": round(setup, 1),
        "torch": torch.__version__,
        "cpu": _cpu_model(),
        "load_before_after": [args.load_before, _load()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=list(DEFAULT_PRESETS))
    ap.add_argument("--set", nargs="*", default=[], help="PRESET:KEY=JSON config overrides (replace the defaults)")
    ap.add_argument("--batch", default="8x4", help="P x K")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per cell (median reported)")
    ap.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default 2; --loop: 0 or unset = the trainer's choice)"
    )
    ap.add_argument("--no-cpu", action="store_true")
    loop = ap.add_argument_group("--loop: the whole trainer loop on real data")
    loop.add_argument("--loop", action="store_true", help="time the trainer loop (data loading included)")
    loop.add_argument("--data", default=str(DEFAULT_PACK), help="pack or dataset folder")
    loop.add_argument("--train-subjects", default="001-062")
    loop.add_argument("--iters", type=int, default=30, help="timed iterations (a multiple of --warmup)")
    loop.add_argument("--warmup", type=int, default=5, help="untimed first iterations (also the log window)")
    loop.add_argument("--amp", action="store_true", help="bf16 autocast on the CPU, fp16 on CUDA")
    loop.add_argument(
        "--channels-last", default=None, type=lambda v: v.lower() in ("1", "true", "on", "yes"), metavar="BOOL"
    )
    loop.add_argument("--workers", type=int, default=None, help="background loader processes (default: trainer's)")
    loop.add_argument("--cuda", action="store_true")
    loop.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = ap.parse_args()
    if args.loop:
        args.threads = args.threads or 0
        args.load_before = _load()
        result = run_loop(args)
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print(
                f"{result['preset']} {args.batch} x {args.frames} frames, amp={args.amp}, "
                f"channels_last={args.channels_last}, threads={args.threads}, workers={result['workers']}: "
                f"{result['it_per_s']:.3f} it/s, {result['seq_per_s']:.1f} seq/s over {result['timed_iters']} it "
                f"(windows {result['window_it_per_s']}); {result['cpu']}; "
                f"{result['load_before_after'][0]} -> {result['load_before_after'][1]}"
            )
        return
    torch.set_num_threads(args.threads or 2)
    p, k = (int(v) for v in args.batch.lower().split("x"))
    overrides = {name: dict(DEFAULT_PRESETS.get(name, {})) for name in args.presets}
    for name, changes in parse_sets(args.set).items():
        overrides[name] = changes

    cols = [] if args.no_cpu else [("cpu", False), ("cpu", True)]
    if torch.cuda.is_available():
        cols += [("cuda", False), ("cuda", True)]
    print(
        f"# seconds per training step, batch {p}x{k} x {args.frames} frames of 64x44 (median of {args.steps});"
        f" CPU threads = {args.threads or 2}; torch {torch.__version__}"
    )
    print(f"# GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "# no CUDA GPU: CPU columns only")
    head = ["preset", "overrides", "params (M)"] + [f"{d} {'amp' if a else 'fp32'}" for d, a in cols]
    if len(cols) >= 2:
        head.append("amp speed-up " + cols[0][0])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in args.presets:
        torch.manual_seed(0)
        model = create_model(name, num_classes=p, **overrides[name])
        row = [name, json.dumps(overrides[name]).replace("|", "/") or "{}", f"{model.num_parameters(False) / 1e6:.2f}"]
        secs = []
        for device, amp in cols:
            try:
                secs.append(time_steps(model, p, k, args.frames, device, amp, args.steps))
                row.append(f"{secs[-1]:.3f}")
            except RuntimeError as exc:  # e.g. out of memory, or no bf16 kernel for an op
                secs.append(float("nan"))
                row.append(f"n/a ({str(exc).splitlines()[0][:30]})")
        if len(cols) >= 2:
            row.append(f"{secs[0] / secs[1]:.2f}x")
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
