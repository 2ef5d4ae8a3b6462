#!/usr/bin/env python3
"""Write the training pack a GPU stretch carries: a size-capped subset of the CASIA-B pack.

    .venv/bin/python scripts/make_stretch_pack.py                 # -> .devdata/casiab-stretch.npz.xz
    .venv/bin/python scripts/make_stretch_pack.py --max-frames 0  # every frame (26 MB: too big to travel)

Everything a lent machine gets travels with the working tree, 64 MiB in all, and the run's
state (the full-width GaitBase's weights, ~28 MiB) travels too; the whole pack (26 MB) does not
fit beside them. So the training subjects keep a window of ``--max-frames`` frames from the
middle of each sequence (two gait cycles and more: training draws 30 of them), and the
held-out subjects keep only the views and the first frames that a stretch's quick validation
reads (``--val-views``, ``--val-max-frames``: the same frames it would read from the whole pack).
The pack is read from ../shared (never copied into the repository: .devdata/ is ignored).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("GAITPIPE_SHARED", ROOT.parent / "shared"))


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from gaitpipe.data.packed import PackedSource, write_pack
    from gaitpipe.data.splits import parse_id_range

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=SHARED / "data" / "casiab" / "casiab-train-001-074.npz.xz")
    ap.add_argument("--out", type=Path, default=ROOT / ".devdata" / "casiab-stretch.npz.xz")
    ap.add_argument("--train-subjects", default="001-062")
    ap.add_argument("--max-frames", type=int, default=40, help="frames kept per training sequence (0: all)")
    ap.add_argument("--val-subjects", default="063-074")
    ap.add_argument("--val-views", default="054,090,126")
    ap.add_argument("--val-max-frames", type=int, default=30)
    args = ap.parse_args(argv)

    train = set(parse_id_range(args.train_subjects))
    val = set(parse_id_range(args.val_subjects)) if args.val_subjects else set()
    views = set(args.val_views.split(",")) if args.val_views else None
    src = PackedSource(args.source, subjects=sorted(train | val))
    seqs = []
    for i, s in enumerate(src.sequences):
        n = src.length(i)
        if s.subject in train:
            keep = n if args.max_frames <= 0 else min(n, args.max_frames)
            first = (n - keep) // 2
        elif views is None or s.view in views:
            keep, first = min(n, args.val_max_frames), 0
        else:
            continue
        seqs.append((s.subject, s.condition, s.view, src.load(i, np.arange(first, first + keep))))
    path = write_pack(args.out, seqs)
    frames = sum(len(f) for *_, f in seqs)
    print(f"{path}: {len(seqs)} sequences, {frames} frames, {path.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
