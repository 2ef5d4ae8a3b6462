"""Held-out rank-1 when the probes carry one front-end fault each (issue 17, part 2).

Each training augmentation of :mod:`gaitpipe.data.augment` imitates one way our own front end's
silhouettes differ from CASIA-B's clean official ones (holes, fat or thin edges, a cut at the
feet, a joined shadow, camera roll, a wobbling crop, an occluder). Measuring an augmentation by
training one run per augmentation costs hours of CPU per row; this benchmark measures the other
side of it at the cost of an evaluation: for each weights file it embeds the held-out subjects'
gallery (nm-01..04) clean, and their probes (nm-05/06, bg, cl) **each with one fault applied to
every probe sequence** (``SilhouetteAugmenter([fault], probability=1)``, a fixed seed per
sequence, so every model sees the very same corrupted probes), and prints rank-1 NM / BG / CL
(mean) per fault. A model trained with an augmentation should lose less under that fault; the
``real`` row draws the training mix (each fault with its training probability).

    python benchmarks/corruption_val.py --weights A.pt [B.pt ...] [--subjects 055-074]
        [--views 054,090,126] [--max-frames 30] [--json out.json]

Weights are names or files (``gaitpipe weights list``), or training checkpoints (BNNeck or not,
as saved). Needs the CASIA-B pack of ``../shared/data`` (or ``--data``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAITPIPE_SHARED", REPO.parent / "shared"))
PACK = SHARED / "data" / "casiab" / "casiab-train-001-074.npz.xz"
GALLERY_CONDITIONS = ("nm-01", "nm-02", "nm-03", "nm-04")


def corrupted_dataset(dataset: Any, fault: str | None, seed: int) -> Any:
    """``dataset`` whose non-gallery sequences carry ``fault`` (None: clean; ``real``: the training mix)."""
    from gaitpipe.data.augment import AUGMENTATIONS, SilhouetteAugmenter
    from gaitpipe.data.dataset import GaitDataset, Sample, to_input

    if fault is None:
        return dataset
    if fault == "real":
        augment = SilhouetteAugmenter(AUGMENTATIONS)
    else:
        augment = SilhouetteAugmenter([fault], probability=1.0)

    class Corrupted(GaitDataset):
        def __init__(self) -> None:
            self.__dict__.update(dataset.__dict__)

        def test_sample(self, i: int, max_frames: int | None = None) -> Sample:
            frames = self.test_frames(i, max_frames)
            if self.info(i).condition not in GALLERY_CONDITIONS:
                # one stream per (sequence, fault): every model sees the same corrupted probe
                rng = np.random.default_rng([seed, self.indices[i], sum(map(ord, fault))])
                frames = augment(frames, rng)
            return Sample(to_input(frames), int(self.labels[i]), i)

    return Corrupted()


def measure(weights: str, dataset: Any, faults: list[str | None], max_frames: int, seed: int) -> dict[str, Any]:
    from gaitpipe.engine.evaluator import compute_embeddings, evaluate_embeddings
    from gaitpipe.hub import load_encoder
    from gaitpipe.metrics.evaluation import headline

    model, meta = load_encoder(weights, "cpu")
    clean = compute_embeddings(model, dataset, max_frames=max_frames, progress=False)
    gallery = np.isin(clean.conditions, GALLERY_CONDITIONS)
    rows: dict[str, Any] = {}
    for fault in faults:
        t0 = time.perf_counter()
        es = clean
        if fault is not None:
            probes = compute_embeddings(
                model, corrupted_dataset(dataset, fault, seed), max_frames=max_frames, progress=False
            )
            es = type(clean)(
                **{
                    **clean.__dict__,
                    "embeddings": np.where(gallery[:, None, None], clean.embeddings, probes.embeddings),
                }
            )
        rows[fault or "clean"] = {
            **{k: round(float(v), 2) for k, v in headline(evaluate_embeddings(es, "casiab")).items()},
            "seconds": round(time.perf_counter() - t0, 1),
        }
        r = rows[fault or "clean"]
        print(
            f"  {fault or 'clean':<7} NM {r['NM']:5.1f}  BG {r['BG']:5.1f}  CL {r['CL']:5.1f}  mean {r['mean']:5.1f}",
            flush=True,
        )
    return {"weights": str(meta.get("path", weights)), "fingerprint": meta.get("fingerprint"), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    from gaitpipe.data.augment import AUGMENTATIONS
    from gaitpipe.data.dataset import GaitDataset
    from gaitpipe.data.sources import open_source
    from gaitpipe.data.splits import parse_id_range
    from gaitpipe.errors import GaitpipeError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", required=True, help="weights names, files or checkpoints")
    ap.add_argument("--data", type=Path, default=PACK, help="CASIA-B silhouette pack")
    ap.add_argument("--subjects", default="055-074", help="held-out subjects (never trained on)")
    ap.add_argument("--views", default="054,090,126", help="views (comma-separated; all: every view)")
    ap.add_argument("--max-frames", type=int, default=30, help="first N frames of each sequence")
    ap.add_argument("--faults", default="clean," + ",".join(AUGMENTATIONS) + ",real", help="rows, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"no CASIA-B pack at {args.data}: pass --data (see ../shared/data/README.md)", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    faults: list[str | None] = [None if f == "clean" else f for f in args.faults.split(",") if f]
    try:
        source = open_source(args.data, subjects=parse_id_range(args.subjects))
        views = None if args.views == "all" else args.views.split(",")
        dataset = GaitDataset(source, subjects=parse_id_range(args.subjects), views=views)
        print(f"{len(dataset)} sequences of {args.subjects}, views {args.views}, first {args.max_frames} frames")
        results = []
        for w in args.weights:
            print(w, flush=True)
            results.append(measure(w, dataset, faults, args.max_frames, args.seed))
    except GaitpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps({"subjects": args.subjects, "views": args.views, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
