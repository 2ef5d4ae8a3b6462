"""Encoder throughput: sequences per second at 30 frames of 64x44, for every registered preset.

    python benchmarks/bench_encoders.py                 # CPU (2 threads) + GPU when present
    python benchmarks/bench_encoders.py --presets gaitbase-casiab hstl-casiab --batches 1 8
    python benchmarks/bench_encoders.py --cpu-bf16 --batches 1 4 \
        --presets gaitbase-casiab deepgaitv2-casiab deepgaitv2-casiab:mode=2d deepgaitv2-gait3d deepgaitv2-2d-gait3d

A preset may carry config overrides, ``NAME:KEY=VALUE[:KEY=VALUE...]`` (values read as JSON when
they parse, e.g. ``layers=[1,4,4,1]``, else as text). Presets that differ only in their class
count (the classifier is not run at inference) are measured once. ``--cpu-bf16`` adds CPU columns
under bfloat16 autocast (a gain needs a CPU with AVX512-BF16 or AMX; see ``lscpu``). Each cell runs
one warm-up call, then repeats until ``--seconds`` have passed (at least one timed call), so a full
CPU table stays bounded. Wall-clock figures: the load average before and after is printed, since a
shared machine slows them; ``--clock both`` adds, in brackets, the rate this process's own CPU time
gives (sequences per CPU-second x threads: what the cell would reach with its threads' cores to
itself, a figure a busy machine disturbs far less). Weights are random: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from gaitpipe.models import create_model, list_models


def build(spec: str):
    """``NAME[:KEY=VALUE...]`` -> the model (overrides as JSON where they parse, else text)."""
    name, *pairs = spec.split(":")
    overrides = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return create_model(name, **overrides)


def distinct_presets(names: list[str]) -> dict[str, list[str]]:
    """Group presets whose inference graph is identical (configs equal except ``num_classes``)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        with torch.device("meta"):
            m = build(name)
        cfg = {k: v for k, v in dataclasses.asdict(m.config).items() if k != "num_classes"}
        groups.setdefault(json.dumps([m.arch, cfg], sort_keys=True, default=str), []).append(name)
    return {g[0]: g for g in groups.values()}


def time_cell(model, batch: int, frames: int, device: str, autocast: bool, seconds: float) -> tuple[float, float]:
    """``(sequences per wall-clock second, sequences per CPU-second of this process)``."""
    shape = (batch, frames, 3, 64, 44) if model.input_kind == "rgb" else (batch, frames, 64, 44)
    x = (torch.rand(shape) > 0.5).float().to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def call(inputs):
        with (
            torch.inference_mode(),
            torch.autocast(
                device_type=device, dtype=torch.float16 if device == "cuda" else torch.bfloat16, enabled=autocast
            ),
        ):
            model.forward_fixed(inputs)

    # Warm-up (kernel selection, oneDNN primitive creation); on the CPU a 2-sequence call is
    # enough and keeps big-batch cells from costing two full passes.
    call(x if device == "cuda" else x[:2])
    sync()
    runs, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        call(x)
        sync()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return runs * batch / elapsed, runs * batch / max(time.process_time() - cpu_start, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=None, help="default: every registered preset")
    ap.add_argument("--batches", nargs="*", type=int, default=[1, 32])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds per cell")
    ap.add_argument("--no-cpu", action="store_true")
    ap.add_argument("--cpu-bf16", action="store_true", help="add CPU columns under bfloat16 autocast")
    ap.add_argument(
        "--clock",
        choices=("wall", "both"),
        default="wall",
        help="both: add the CPU-time rate (sequences per CPU-second x threads) in brackets",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    groups = distinct_presets(args.presets or list_models())
    devices = [] if args.no_cpu else [("cpu", False)] + ([("cpu", True)] if args.cpu_bf16 else [])
    if torch.cuda.is_available():
        devices += [("cuda", False), ("cuda", True)]
    cols = [(d, a, b) for d, a in devices for b in args.batches]
    amp_name = {"cpu": " bf16", "cuda": " amp"}
    head = ["preset", "params (M)"] + [f"{d}{amp_name[d] if a else ' fp32'} b{b}" for d, a, b in cols]
    print(f"# sequences/s at {args.frames} frames of 64x44; CPU threads = {args.threads}; torch {torch.__version__}")
    print("# load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if torch.cuda.is_available():
        print(f"# GPU: {torch.cuda.get_device_name(0)}")
    else:
        print("# no CUDA GPU: CPU columns only")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, same in groups.items():
        torch.manual_seed(0)
        model = build(name).eval()
        label = name + (f" (= {', '.join(same[1:])})" if len(same) > 1 else "")
        row = [label, f"{model.num_parameters(include_classifier=False) / 1e6:.2f}"]
        for device, amp, batch in cols:
            model.to(device)
            try:
                wall, per_cpu_s = time_cell(model, batch, args.frames, device, amp, args.seconds)
                both = args.clock == "both" and device == "cpu"
                row.append(f"{wall:.2f}" + (f" ({per_cpu_s * args.threads:.2f})" if both else ""))
            except RuntimeError as exc:  # out of memory on a small GPU, say
                row.append(f"n/a ({str(exc).splitlines()[0][:30]})")
            if device == "cuda":
                torch.cuda.empty_cache()
        model.to("cpu")
        print("| " + " | ".join(row) + " |", flush=True)
    print("# load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
