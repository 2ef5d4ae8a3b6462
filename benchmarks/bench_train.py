"""Training-step speed: seconds per P x K batch (forward, loss, backward, optimizer step), fp32 vs AMP.

    python benchmarks/bench_train.py                                   # CPU (threads=2) + GPU when present
    python benchmarks/bench_train.py --presets gaitbase-small --set gaitbase-small:channels=[16,32,64,128]
    python benchmarks/bench_train.py --batch 8x16 --frames 30 --no-cpu   # the papers' batch, GPU only

Use it to size a run before starting it (iterations x seconds per step). AMP means what
``gaitpipe train --amp`` does: fp16 autocast + grad scaling on CUDA, bf16 autocast on the CPU
(fast where the CPU has AVX512-BF16 or AMX, slower where it has neither: measure first).
Inputs are random binary silhouettes, so the figures do not depend on data loading.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from gaitpipe.losses import build_loss
from gaitpipe.models import create_model

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=list(DEFAULT_PRESETS))
    ap.add_argument("--set", nargs="*", default=[], help="PRESET:KEY=JSON config overrides (replace the defaults)")
    ap.add_argument("--batch", default="8x4", help="P x K")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per cell (median reported)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-cpu", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    p, k = (int(v) for v in args.batch.lower().split("x"))
    overrides = {name: dict(DEFAULT_PRESETS.get(name, {})) for name in args.presets}
    for name, changes in parse_sets(args.set).items():
        overrides[name] = changes

    cols = [] if args.no_cpu else [("cpu", False), ("cpu", True)]
    if torch.cuda.is_available():
        cols += [("cuda", False), ("cuda", True)]
    print(
        f"# seconds per training step, batch {p}x{k} x {args.frames} frames of 64x44 (median of {args.steps});"
        f" CPU threads = {args.threads}; torch {torch.__version__}"
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
