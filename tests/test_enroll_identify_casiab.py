"""Real acceptance test: enrol CASIA-B subjects 001-004 from raw video, identify their other walks.

Gallery: ``nm-01`` of subjects 001-004 (one enrolment each). Probes: ``nm-05`` and ``nm-06`` of
all four (must be top-1 correct) and subject 001's ``bg-01/02`` (bag) and ``cl-01/02`` (coat),
held to what the default weights achieve (see BG_CL_MIN_CORRECT). Everything runs from the raw
320x240 videos: background-subtraction segmentation, tracking, OpenGait normalisation, the default
encoder, the gallery.

Uses the default weights shipped with gaitpipe (a checkout without them fails) and the real
videos in ../shared (fixture ``casiab_videos``; skipped when that data is absent).
"""

from __future__ import annotations

import pytest

SUBJECTS = ["001", "002", "003", "004"]
NM_PROBES = [(s, c) for s in SUBJECTS for c in ("nm-05", "nm-06")]
BGCL_PROBES = [("001", c) for c in ("bg-01", "bg-02", "cl-01", "cl-02")]
#: Of 001's four bag/coat walks, how many must be top-1 correct among the 4 enrolled subjects.
#: The default weights (gaitbase-quarter-casiab54-synth-f30, bgsub silhouettes) get 4/4: every one
#: of the 12 probes is best-matched right (12 / 12 in docs/evaluation.md's table of real-video
#: checks); 3 leaves one probe of margin.
BG_CL_MIN_CORRECT = 3
#: The segmenter those figures were measured with.
SEGMENTER = "bgsub"


@pytest.fixture(scope="module")
def trained_weights():
    from gaitpipe.hub import default_weights

    path = default_weights()  # shipped with gaitpipe: missing default weights are a broken install
    assert path is not None and path.is_file(), f"the default weights are missing: {path}"
    return path


def video(root, subject: str, cond: str):
    return root / f"{subject}-{cond}-090.avi"


def test_enrol_nm01_identify_other_walks(tmp_path, casiab_videos, trained_weights, capsys):
    from gaitpipe.pipeline import Pipeline

    options = {"background": str(casiab_videos / "001-bkgrd-090.avi")}
    pipe = Pipeline(segmenter=SEGMENTER, weights=str(trained_weights), segmenter_options=options)
    gallery = tmp_path / "gallery"
    for s in SUBJECTS:
        res = pipe.enroll(video(casiab_videos, s, "nm-01"), s, gallery=gallery)
        assert res.walker.frames >= 20, (s, res.walker.frames)
    rows = []
    for s, c in NM_PROBES + BGCL_PROBES:
        out = pipe.identify(video(casiab_videos, s, c), gallery=gallery, top_k=4)
        main = max(out.walkers, key=lambda w: w.walker.frames)  # the walker of the clip
        m = main.result.matches
        rows.append(
            (
                s,
                c,
                main.walker.frames,
                m[0].identity,
                m[0].score,
                m[1].identity if len(m) > 1 else "-",
                m[1].score if len(m) > 1 else float("nan"),
                main.result.decision,
            )
        )
    with capsys.disabled():
        _, used, margin = pipe.decision_rule()  # the scale identify decided on (AS-norm when calibrated)
        print(
            f"\nweights {trained_weights.name}, segmenter {SEGMENTER}, threshold {used.value:.3f} "
            f"({used.scale}), margin {margin.value:.3f}"
        )
        print(f"{'subject':>7} {'walk':>6} {'frames':>6} {'top-1':>6} {'score':>6} {'2nd':>5} {'score':>6}  decision")
        for s, c, n, t1, s1, t2, s2, d in rows:
            print(f"{s:>7} {c:>6} {n:>6} {t1:>6} {s1:6.3f} {t2:>5} {s2:6.3f}  {d}{'' if t1 == s else '   <- wrong'}")
    nm_wrong = [(s, c, t1) for s, c, _, t1, *_ in rows[: len(NM_PROBES)] if t1 != s]
    assert not nm_wrong, f"normal-walk probes identified wrongly: {nm_wrong}"
    bgcl_correct = sum(t1 == s for s, c, _, t1, *_ in rows[len(NM_PROBES) :])
    assert bgcl_correct >= BG_CL_MIN_CORRECT, (
        f"bag/coat: {bgcl_correct}/4 top-1 correct, expected >= {BG_CL_MIN_CORRECT}"
    )
