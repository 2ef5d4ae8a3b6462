"""FC vs BNNeck retrieval features of one GaitBase/DyGait checkpoint, from one embedding pass.

    gaitpipe evaluate --weights W --data casiab.npz.xz --subjects 063-074 --save-embeddings fc.npz --json > /dev/null
    python benchmarks/retrieval_features.py W fc.npz

The embeddings must be the FC features (``retrieval_feature: fc``, the default); in eval mode the
BNNeck is a fixed per-dimension affine map, so the BNNeck features are computed from them
exactly, without embedding the data twice. Prints CASIA-B rank-1 (NM/BG/CL/mean) with the
papers' Euclidean distance and with the gallery's part-averaged cosine, and the open-set
threshold / TAR that `gaitpipe weights calibrate` would store for each feature.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from gaitpipe.metrics.evaluation import evaluate_protocol, headline
from gaitpipe.metrics.open_set import calibrate
from gaitpipe.models.base import flatten_for_search
from gaitpipe.models.checkpoint import load_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("embeddings", help=".npz written by `gaitpipe evaluate --save-embeddings` with these weights")
    args = ap.parse_args()
    model, meta = load_checkpoint(args.weights)
    if getattr(model.config, "retrieval_feature", None) != "fc":
        raise SystemExit(
            f"{args.weights}: needs weights that retrieve with FC features (GaitBase/DyGait, retrieval_feature=fc)"
        )
    with np.load(args.embeddings) as z:
        if str(z["fingerprint"]) != meta["fingerprint"]:
            raise SystemExit(f"{args.embeddings} was made with {z['fingerprint']}, not {meta['fingerprint']}")
        fc, subjects, conditions, views = z["embeddings"].astype(np.float32), z["subject"], z["condition"], z["view"]
    with torch.inference_mode():
        bnneck = model.bnnecks.normalize(torch.from_numpy(fc)).numpy()

    print(f"# {args.weights} ({meta['fingerprint']}), {len(fc)} sequences of {len(set(subjects.tolist()))} subjects")
    print(
        "| feature | rank-1 Euclidean NM / BG / CL (mean) | rank-1 cosine NM / BG / CL (mean) "
        "| threshold @ FAR 1 % | TAR @ 1 % | TAR @ 0.1 % |"
    )
    print("|---|---|---|---|---|---|")
    for name, emb in (("fc", fc), ("bnneck", bnneck)):
        cells = []
        for metric in ("euc", "cos"):
            r = headline(evaluate_protocol("casiab", emb, subjects, conditions, views, metric=metric))
            cells.append(f"{r['NM']:.1f} / {r['BG']:.1f} / {r['CL']:.1f} ({r['mean']:.1f})")
        cal = calibrate(flatten_for_search(emb), subjects, fars=(0.01, 0.001), target_far=0.01).to_dict()
        tar = cal["tar_at_far"]
        print(
            f"| {name} | {cells[0]} | {cells[1]} | {cal['threshold']:.4f} "
            f"| {tar['0.01'] * 100:.1f} % | {tar['0.001'] * 100:.1f} % |"
        )


if __name__ == "__main__":
    main()
