"""Render the demo clips in this folder again, deterministically, with gaitpipe's own renderer.

    python examples/make_examples.py                 # rewrite examples/*.mp4 + manifest.json
    python examples/make_examples.py --out /tmp/ex   # somewhere else
    python examples/make_examples.py --check         # re-render and compare with manifest.json

The people, walks, views and seeds are defined in ``gaitpipe.demo`` (DEMO_SEED, DEMO_PEOPLE,
ENROL_WALK, PROBE_WALKS); ``gaitpipe demo`` renders the same clips on the fly when this folder is
not available (e.g. gaitpipe installed from a wheel). ``frames_sha256`` in the manifest hashes
the raw rendered frames (before MPEG-4 compression), so ``--check`` proves that the renderer
still produces exactly these walkers, whatever the local video encoder does to the bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from gaitpipe.demo import MANIFEST_NAME, render_examples

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this examples/ folder)")
    ap.add_argument(
        "--check",
        action="store_true",
        help="re-render into a temporary folder and compare the frame hashes with OUT/manifest.json",
    )
    args = ap.parse_args(argv)
    if args.check:
        shipped = json.loads((args.out / MANIFEST_NAME).read_text())
        with tempfile.TemporaryDirectory() as tmp:
            fresh = render_examples(tmp)
        want = {c["file"]: c["frames_sha256"] for c in shipped["clips"]}
        got = {c["file"]: c["frames_sha256"] for c in fresh["clips"]}
        bad = sorted(f for f in want.keys() | got.keys() if want.get(f) != got.get(f))
        if bad:
            print(f"{len(bad)} clip(s) differ from {args.out / MANIFEST_NAME}: {', '.join(bad)}", file=sys.stderr)
            return 1
        print(f"all {len(want)} clips re-render identically")
        return 0
    manifest = render_examples(args.out)
    total = sum(c["bytes"] for c in manifest["clips"])
    print(f"wrote {len(manifest['clips'])} clips ({total / 1e6:.2f} MB) and {MANIFEST_NAME} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
