"""The synthetic walker renderer: determinism, exact masks, identity signal, views, covariates, CLI."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import cv2
import numpy as np
import pytest

from gaitpipe.cli.app import main
from gaitpipe.errors import InputError
from gaitpipe.synth import Covariates, Occluder, Person, Scene, Walk, render_scene, render_walk, write_clip
from gaitpipe.synth.dataset import normalize_clip_masks

SIZE = (320, 240)


def _person(i: int) -> Person:
    return Person.random(np.random.default_rng([5, i]), f"{i:03d}")


def _gei(person: Person, jitter: int = 0, view: float = 90, cov: Covariates = Covariates(), n: int = 30) -> np.ndarray:
    """Gait energy image (mean normalised GT silhouette over ~one gait cycle), in [0, 1]."""
    clip = render_walk(
        Walk(person, view=view, jitter_seed=jitter, covariates=cov), n_frames=n, size=SIZE, black_background=True
    )
    sil, _ = normalize_clip_masks(clip.masks[:, 0])
    assert len(sil) >= n // 2, "the walker should be fully in view for most of the clip"
    return sil.astype(np.float32).mean(0) / 255.0


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def test_render_is_deterministic_from_seeds():
    p = _person(1)
    a = render_walk(Walk(p, view=54, jitter_seed=3), n_frames=12, size=(160, 120), seed=9)
    b = render_walk(Walk(_person(1), view=54, jitter_seed=3), n_frames=12, size=(160, 120), seed=9)
    assert a.frames.shape == (12, 120, 160, 3) and a.frames.dtype == np.uint8
    assert a.masks.shape == (12, 1, 120, 160) and a.masks.dtype == bool
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert a.meta == b.meta
    c = render_walk(Walk(p, view=54, jitter_seed=4), n_frames=12, size=(160, 120), seed=9)
    assert not np.array_equal(a.masks, c.masks), "another walk of the same person must differ a little"
    assert Person.from_dict(p.to_dict()) == p


def test_masks_are_exactly_the_drawn_pixels():
    p = _person(2)
    clip = render_walk(Walk(p, view=90, covariates=Covariates(bag=True)), n_frames=8, size=SIZE, black_background=True)
    drawn = clip.frames.max(axis=-1) > 0
    assert np.array_equal(drawn, clip.masks[:, 0])
    assert clip.masks.sum() > 8 * 2000  # a person ~130 px tall covers thousands of pixels


def test_masks_are_visible_parts_with_occlusion_and_two_people():
    a, b = _person(3), _person(4)
    walks = [Walk(a, view=90, direction=1, center=(0.0, 3.6)), Walk(b, view=90, direction=-1, center=(0.0, 5.0))]
    pillar = Occluder(center=(0.9, 2.5, 0.5), half=(0.25, 0.2, 0.5))  # a low box in front of the path
    clip = render_scene(Scene(walks=walks, size=SIZE, n_frames=40, occluders=[pillar], black_background=True))
    assert clip.masks.shape == (40, 2, 240, 320)
    assert not (clip.masks[:, 0] & clip.masks[:, 1]).any(), "a pixel belongs to one person at most"
    drawn = clip.frames.max(axis=-1) > 0
    assert np.array_equal(drawn, clip.masks.any(axis=1))
    # The near walker hides the far one while they cross; the box hides legs: both lose pixels
    # compared with rendering each alone without the box.
    alone_far = render_scene(Scene(walks=[walks[1]], size=SIZE, n_frames=40, black_background=True)).masks[:, 0]
    hidden = alone_far & ~clip.masks[:, 1]
    assert hidden.sum(axis=(1, 2)).max() > 1000
    assert not (clip.masks[:, 1] & ~alone_far).any(), "occlusion only removes pixels"


def test_between_person_differences_exceed_within_person():
    people = [_person(i) for i in range(4)]
    geis = {(i, w): _gei(people[i], jitter=w) for i in range(4) for w in range(2)}
    keys = list(geis)
    within = [_dist(geis[(i, 0)], geis[(i, 1)]) for i in range(4)]
    between = [_dist(geis[k1], geis[k2]) for n, k1 in enumerate(keys) for k2 in keys[n + 1 :] if k1[0] != k2[0]]
    assert max(within) > 0.0, "walks of one person are not pixel-identical"
    assert np.mean(within) < 0.6 * np.mean(between)
    # Nearest-neighbour identification by GEI: every walk's nearest other walk is the same person.
    for k in keys:
        nearest = min((kk for kk in keys if kk != k), key=lambda kk: _dist(geis[k], geis[kk]))
        assert nearest[0] == k[0]


def test_views_bag_and_coat_change_the_silhouette():
    p = _person(0)
    side = _gei(p)
    within = _dist(side, _gei(p, jitter=1))
    assert _dist(side, _gei(p, view=0)) > 3 * within
    assert _dist(side, _gei(p, view=54)) > within
    coat = _gei(p, cov=Covariates(coat=True))
    assert _dist(side, coat) > 0.01
    assert coat.sum() > side.sum(), "a coat makes the silhouette wider"
    for kind in ("shoulder", "backpack", "handbag"):
        # Same walk (same jitter): the only difference is the bag (and the carrying arm for a handbag).
        bag = _gei(replace(p, bag_kind=kind, bag_side=1), cov=Covariates(bag=True), n=12)
        assert _dist(_gei(p, n=12), bag) > 0.002, kind


def test_write_clip_roundtrip(tmp_path):
    clip = render_walk(Walk(_person(6), view=90), n_frames=6, size=(160, 120))
    for ext in (".avi", ".mp4"):
        path = write_clip(clip, tmp_path / f"c{ext}")
        cap = cv2.VideoCapture(str(path))
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (120, 160, 3)
            n += 1
        cap.release()
        assert n == 6
    with pytest.raises(InputError):
        write_clip(clip, tmp_path / "c.gif")


def test_cli_writes_the_dataset_layout(tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(
        [
            "synth",
            "--people",
            "2",
            "--walks",
            "1",
            "--views",
            "90,180",
            "--bag",
            "--frames",
            "8",
            "--size",
            "160x120",
            "--seed",
            "3",
            "--out",
            str(out),
            "--silhouettes",
        ]
    )
    assert rc == 0
    names = sorted(p.name for p in (out / "videos").iterdir())
    # --bag adds two bag walks (bg-01/02), like CASIA-B; CASIA-B names so extract-silhouettes parses them.
    conds = ("nm-01", "bg-01", "bg-02")
    assert names == sorted(f"{s}-{c}-{v}.avi" for s in ("001", "002") for c in conds for v in ("090", "180"))
    masks = np.load(out / "masks" / "001-nm-01-090.npz")["masks"]
    assert masks.shape == (8, 120, 160) and masks.dtype == bool and masks.any()
    with open(out / "silhouettes" / "001" / "nm-01" / "090" / "090.pkl", "rb") as f:
        sil = pickle.load(f)
    assert sil.dtype == np.uint8 and sil.ndim == 3 and sil.shape[1:] == (64, 64) and len(sil) >= 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p["person_id"] for p in manifest["people"]] == ["001", "002"]
    assert len(manifest["clips"]) == 2 * 3 * 2
    assert (out / "backgrounds" / "090.png").is_file()
    # Bad input: one error line, non-zero exit, nothing half-written.
    assert main(["synth", "--views", "0,200", "--out", str(tmp_path / "bad")]) != 0
    assert "error: views must be 0..180" in capsys.readouterr().err
    assert main(["synth", "--size", "big", "--out", str(tmp_path / "bad2")]) != 0


def test_fast_single_volume_paths_match_the_vectorised_ray_casts():
    from gaitpipe.synth import raycast

    rng = np.random.default_rng(0)
    ro = np.array([0.0, 0.0, 1.0])
    rd = rng.normal(size=(2000, 3)) * [0.3, 1.0, 0.3] + [0, 3, 0]
    rd /= np.linalg.norm(rd, axis=1, keepdims=True)
    a, b, r = np.array([0.1, 3.0, 0.8]), np.array([-0.2, 3.3, 1.4]), 0.2
    t1, n1 = raycast._capsule1(ro, rd, a, b, r)
    t2, _, n2 = raycast.capsules(ro, rd, a[None], b[None], np.array([r]))
    assert np.isfinite(t1).sum() > 100
    assert np.allclose(np.nan_to_num(t1, posinf=-1), np.nan_to_num(t2, posinf=-1)) and np.allclose(n1, n2)
    c, rot, ax = np.array([0.0, 3.0, 1.0]), np.linalg.qr(rng.normal(size=(3, 3)))[0], np.array([0.3, 0.2, 0.5])
    t1, n1 = raycast._ellipsoid1(ro, rd, c, rot, ax)
    t2, _, n2 = raycast.ellipsoids(ro, rd, c[None], rot[None], ax[None])
    assert np.isfinite(t1).sum() > 100
    assert np.allclose(np.nan_to_num(t1, posinf=-1), np.nan_to_num(t2, posinf=-1)) and np.allclose(n1, n2)
    # Hit points lie on the surfaces.
    hit = np.isfinite(t1)
    p = ro + rd[hit] * t1[hit, None]
    assert np.allclose((((p - c) @ rot) / ax) ** 2 @ np.ones(3), 1.0)
