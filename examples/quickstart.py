"""Quickstart: enrol two walkers from one walk each, then identify other walks of them.

    python examples/quickstart.py

Uses the example clips next to this file (rendered synthetic walkers, see manifest.json), the
installed default weights and the background-subtraction segmenter (no YOLO weights needed).
For your own videos use ``Pipeline(segmenter="auto")``: YOLO-seg when its weights are available.
"""

import tempfile
from pathlib import Path

from gaitpipe import Pipeline

HERE = Path(__file__).resolve().parent

pipe = Pipeline(segmenter="bgsub")  # default weights; CUDA when available

with tempfile.TemporaryDirectory() as tmp:
    gallery = Path(tmp) / "gallery"  # a real SQLite + FAISS gallery (default: ~/.local/share/gaitpipe/gallery)

    # Enrol: the main walker of each video goes into the gallery under a name.
    for name in ("ana", "ben"):
        res = pipe.enroll(HERE / f"{name}-nm-01-090.mp4", name, gallery=gallery)
        print(f"enrolled {name}: {res.walker.frames} silhouettes, quality {res.walker.quality:.2f}")

    # Identify: every walker of a clip gets ranked identities, or 'unknown' below the threshold.
    for clip in ("ana-bg-01-090.mp4", "ben-cl-01-090.mp4", "ben-nm-03-072.mp4"):
        result = pipe.identify(HERE / clip, gallery=gallery, top_k=2)
        for walker in result.walkers:
            ranked = ", ".join(f"{m.identity} {m.score:.3f}" for m in walker.result.matches)
            print(f"{clip}: track {walker.walker.track_id} -> {walker.result.decision}  ({ranked})")

    # Lower level: embeddings of every usable walker in a video, without a gallery.
    walkers = pipe.embed_video(HERE / "ana-nm-02-090.mp4")
    print(f"ana-nm-02-090.mp4: {len(walkers)} walker(s), template shape {walkers[0].embedding.shape}")
