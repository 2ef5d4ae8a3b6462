"""Open-set decisions across scenes, before and after AS-norm score normalisation (issue 14).

Runs one weights file over

* two synthetic cross-scene sets (each person filmed in two different scenes; every scene holds
  several people: same-scene impostors), a calibration set and a test set of other people and
  other scenes, rendered once and cached under ``.devdata/cross-scene`` (a few minutes on a CPU);
* CASIA-B held-out subjects (default 063-074 of ``../shared/data``) across views and clothing,
  when the silhouette pack is there,
* CASIA-B's raw videos (``../shared/data/casiab-videos``) through our own front end (background
  subtraction, tracking, normalisation), against a gallery of official silhouettes of subjects
  001-074 (``gaitpipe.engine.front_end_check``), when both are there,

and prints, for raw cosine scores and for AS-norm scores: cross-scene rank-1 (CASIA-B: NM / BG /
CL), TAR at FAR 1 % and 0.1 % per set, the operating point calibrated on the calibration
populations (FAR at most ``--far`` on CASIA-B impostors, synthetic impostors and synthetic
same-scene impostors), and what that operating point does on the unseen test set (same-scene
impostor false-accept rate, cross-scene true-accept rate).

Front end: the renderer's exact masks through the OpenGait normalisation (no segmenter), so the
scenes differ in geometry (camera height and pitch, distance, view, path), not in segmentation
errors.

    python benchmarks/cross_scene.py [--weights NAME_OR_PATH] [--json out.json]
        [--casiab PACK] [--subjects 063-074] [--videos DIR] [--write] [--write-cohort]

``--write-cohort``: store the cohort beside the weights (how the shipped weights get theirs);
``--write``: store the AS-norm operating point in the weights as ``open_set.normalised``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAITPIPE_SHARED", REPO.parent / "shared"))
PACK = SHARED / "data" / "casiab" / "casiab-train-001-074.npz.xz"
VIDEOS = SHARED / "data" / "casiab-videos"
DEVDATA = REPO / ".devdata" / "cross-scene"


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def print_report(report: dict[str, Any]) -> None:
    print(f"weights {report['weights']} ({report['fingerprint']})")
    c = report["cohort"]
    print(f"cohort: {c['size']} templates, top-{c['top_n']} ({c['source']}); front end: {report['front_end']}")
    for scale, entry in report["scales"].items():
        print(f"\n== {scale} scores")
        for name, fig in entry["sets"].items():
            tar = ", ".join(f"TAR {_pct(v)} at FAR {k}" for k, v in fig["tar_at_far"].items())
            r1 = " / ".join(f"{k} {v:.1f}" for k, v in fig["rank1"].items())
            print(
                f"  {name:22s} rank-1 {r1}; {tar} ({fig['genuine_pairs']} genuine / {fig['impostor_pairs']} impostor)"
            )
        op = entry["operating_point"]
        print(f"  operating point: threshold {op['threshold']:.4f}, margin {op['margin']:.4f} (set by {op['set_by']})")
        for name, at in entry["at_operating_point"].items():
            print("    " + f"{name:22s} " + ", ".join(f"{k} {_pct(v)}" for k, v in at.items()))
        if "at_shipped_threshold" in entry:
            shipped = dict(entry["at_shipped_threshold"])
            print(f"  at the shipped raw threshold {shipped.pop('threshold'):.4f}:")
            for name, at in shipped.items():
                print("    " + f"{name:22s} " + ", ".join(f"{k} {_pct(v)}" for k, v in at.items()))
    fe = report.get("own_front_end")
    if fe:
        by = " / ".join(f"{k} {v:.1f}" for k, v in fe["rank1_by_condition"].items())
        print(
            f"\n== CASIA-B raw videos through our front end ({fe['segmenter']}): {fe['walks']} walks vs an official-"
            f"silhouette gallery of {fe['gallery_identities']} people: rank-1 {fe['rank1']:.1f} ({by}); cosine to the "
            f"official silhouettes of the same walk: mean {fe['same_walk_cosine_mean']:.3f}, "
            f"min {fe['same_walk_cosine_min']:.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="weights name or file (default: the installed default)")
    ap.add_argument("--casiab", type=Path, default=PACK, help="CASIA-B silhouette pack (skipped when absent)")
    ap.add_argument("--subjects", default="063-074", help="held-out CASIA-B subjects")
    ap.add_argument("--people", type=int, default=60, help="people per synthetic set")
    ap.add_argument("--scenes", type=int, default=6, help="scenes per synthetic set")
    ap.add_argument(
        "--wide",
        action="store_true",
        help="synthetic paths seen from any view 45-135 degrees, walking either way (default: 70-110, one way)",
    )
    ap.add_argument("--videos", type=Path, default=VIDEOS, help="CASIA-B raw videos (skipped when absent)")
    ap.add_argument("--segmenter", default="bgsub", help="front end for --videos")
    ap.add_argument("--far", type=float, default=0.01, help="target false-accept rate of the operating point")
    ap.add_argument("--top-n", type=int, default=None, help="AS-norm top-N (default: the cohort's)")
    ap.add_argument("--cache", type=Path, default=DEVDATA, help="rendered sets and embeddings")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=None, help="also write the whole report as JSON")
    ap.add_argument("--write-cohort", action="store_true", help="store the cohort beside the weights")
    ap.add_argument("--write", action="store_true", help="store the AS-norm operating point in the weights")
    args = ap.parse_args(argv)

    from gaitpipe.engine.cohort import build_cohort, write_cohort
    from gaitpipe.engine.scene_calibration import cross_scene_report, write_normalised_calibration
    from gaitpipe.hub import default_weights, load_encoder
    from gaitpipe.hub.cohort import find_cohort
    from gaitpipe.metrics.asnorm import ScoreNormaliser

    t0 = time.time()
    casiab = args.casiab if args.casiab.is_file() else None
    if casiab is None:
        print(f"CASIA-B pack {args.casiab} not found: synthetic sets only", file=sys.stderr)
    weights = args.weights or default_weights()
    _, meta = load_encoder(weights, args.device)
    synth = args.cache / "synth"
    cohort = find_cohort(meta["path"], meta["fingerprint"])
    if cohort is None or args.write_cohort:
        cohort = build_cohort(meta["path"], casiab=casiab, cache_dir=synth, device=args.device, progress=True)
        if args.write_cohort:
            print(f"cohort written to {write_cohort(cohort, meta['path'])}")
    normaliser = cohort.normaliser()
    if args.top_n is not None:
        normaliser = ScoreNormaliser(normaliser.cohort, args.top_n, normaliser.source)
    report = cross_scene_report(
        meta["path"],
        casiab=casiab,
        subjects=args.subjects,
        people=args.people,
        scenes=args.scenes,
        views=(45.0, 135.0) if args.wide else (70.0, 110.0),
        both_directions=args.wide,
        target_far=args.far,
        cohort=normaliser,
        synth_dir=synth,
        cache_dir=args.cache / "vectors",
        device=args.device,
        progress=True,
    )
    if casiab is not None and args.videos.is_dir():
        from gaitpipe.engine.front_end_check import extract_walks, front_end_report

        model, _ = load_encoder(weights, args.device)
        walks = extract_walks(args.videos, segmenter=args.segmenter, cache_dir=args.cache, progress=True)
        report["own_front_end"] = {
            "segmenter": args.segmenter,
            **front_end_report(model, walks, casiab, device=args.device, progress=True),
        }
    report["seconds"] = round(time.time() - t0, 1)
    print_report(report)
    if args.write:
        record = write_normalised_calibration(meta["path"], report)
        print(f"\nwrote open_set.normalised (threshold {record['threshold']:.4f}) into {meta['path']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
