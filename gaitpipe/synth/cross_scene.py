"""Synthetic walkers filmed in more than one place: the cross-scene set and cohort walkers.

A threshold calibrated in one room (CASIA-B's) does not transfer: two people filmed by the same
camera share its height, pitch, distance, view and walking path, so their silhouettes look alike
and score high; the same person filmed in two places scores lower. This module renders that
situation on purpose:

* :func:`render_cross_scene` : ``people`` synthetic identities, each filmed in **two different
  scenes** out of ``scenes`` (another room, camera height and pitch, distance and focal length,
  view and walking direction, lighting and noise, and other clothes colours), so every scene
  holds several different people. Genuine pairs cross scenes; *same-scene impostors* are
  different people filmed in the same scene (the failure of a single fixed threshold).
* :func:`render_cohort_walkers` : impostor walkers (people of their own, none of the set's),
  each in a scene of its own, for AS-norm cohorts (:mod:`gaitpipe.metrics.asnorm`).

Silhouettes come from the renderer's exact masks through the OpenGait normalisation
(:func:`gaitpipe.synth.dataset.normalize_clip_masks`), so what the encoder sees differs between
scenes by geometry (camera, distance, view, path), not by segmentation errors; colours and
lighting change the rendered video only. Sets are cached as bit-packed ``.npz`` files (plain
arrays, read with ``allow_pickle=False``), keyed by every parameter that changes them.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gaitpipe.errors import InputError, SettingError
from gaitpipe.synth.body import Clothing, Person
from gaitpipe.synth.render import Scene, hash_str, render_scene
from gaitpipe.synth.scene import Camera, Walk
from gaitpipe.utils.console import progress as progress_bar
from gaitpipe.utils.files import atomic_write_npz

#: Version of the rendering recipe; part of the cache key, so a change re-renders.
RECIPE = 1
#: Views of the cross-scene set's paths: people crossing the camera's view, give or take 20 degrees.
CROSS_SCENE_VIEWS = (70.0, 110.0)
#: Frames kept per walk (about 1.5 gait cycles at 25 fps): enough for a template, quick to render.
FRAMES = 40


@dataclass(frozen=True)
class SceneSetup:
    """One place walkers are filmed in: the room and how the camera sees the walking path."""

    scene_id: str
    room_seed: int  #: background texture and structure
    camera: Camera
    distance: float  #: metres from the camera to the walking path's centre
    view: float  #: angle between the walking direction and the line to the camera (90: side view)
    direction: int  #: +1 / -1: which way people cross
    lighting: float  #: relative amplitude of the lighting drift
    noise: float  #: sensor noise SD


def random_setup(
    rng: np.random.Generator,
    scene_id: str,
    *,
    views: tuple[float, float] = (45.0, 135.0),
    both_directions: bool = True,
) -> SceneSetup:
    """A scene unlike CASIA-B's: camera 0.8-2.6 m high looking down at the path, 3.5-7.5 m away,
    walkers 85-150 px tall in a 240-row frame, a view in ``views`` (degrees), walking either way
    when ``both_directions`` (else CASIA-B's way)."""
    height = float(rng.uniform(0.8, 2.6))
    distance = float(rng.uniform(3.5, 7.5))
    # aim at the walker's hips, so a high camera looks down on them as a wall-mounted one does
    pitch = float(np.degrees(np.arctan2(height - 0.9, distance)))
    person_px = float(rng.uniform(85, 150))
    focal = person_px * distance / 1.7  # in pixels of a 320-wide image (Camera scales it with the width)
    room_seed = int(rng.integers(0, 2**31 - 1))
    view = float(rng.uniform(*views))
    direction = int(rng.choice([-1, 1]))  # drawn either way: the other draws stay the same
    return SceneSetup(
        scene_id=scene_id,
        room_seed=room_seed,
        camera=Camera(height=height, pitch=pitch, focal=focal),
        distance=distance,
        view=view,
        direction=direction if both_directions else 1,
        lighting=float(rng.uniform(0.0, 0.15)),
        noise=float(rng.uniform(1.0, 4.0)),
    )


@dataclass
class WalkerSet:
    """Normalised silhouettes of synthetic walks, with who walked where."""

    silhouettes: list[np.ndarray]  #: uint8 [T, 64, 64] (0/255) per walk
    people: np.ndarray  #: [n] str person id
    scenes: np.ndarray  #: [n] str scene id
    meta: dict

    def __len__(self) -> int:
        return len(self.silhouettes)

    def pair_masks(self) -> dict[str, np.ndarray]:
        """Boolean ``[n, n]`` masks (upper triangle, i < j) of the pair kinds:
        ``genuine`` (same person), ``genuine_cross_scene`` (same person, different scenes),
        ``impostor`` (different people), ``same_scene_impostor`` (different people, same scene)."""
        n = len(self)
        upper = np.triu(np.ones((n, n), bool), k=1)
        same_p = self.people[:, None] == self.people[None, :]
        same_s = self.scenes[:, None] == self.scenes[None, :]
        return {
            "genuine": upper & same_p,
            "genuine_cross_scene": upper & same_p & ~same_s,
            "impostor": upper & ~same_p,
            "same_scene_impostor": upper & ~same_p & same_s,
        }

    def save(self, path: str | Path) -> Path:
        lengths = np.array([len(s) for s in self.silhouettes], np.int64)
        bits = np.packbits(np.concatenate(self.silhouettes) > 127, axis=-1)
        return atomic_write_npz(
            path,
            {
                "bits": bits,
                "lengths": lengths,
                "people": self.people.astype(str),
                "scenes": self.scenes.astype(str),
                "meta": np.array(json.dumps(self.meta)),
            },
            sync=False,  # a cache: re-rendered when lost
        )

    @classmethod
    def load(cls, path: str | Path) -> WalkerSet:
        try:
            with np.load(path, allow_pickle=False) as z:
                bits, lengths = z["bits"], z["lengths"].astype(np.int64)
                people, scenes, meta = z["people"].astype(str), z["scenes"].astype(str), json.loads(str(z["meta"]))
            if bits.ndim != 3 or bits.shape[1:] != (64, 8) or lengths.sum() != len(bits) or len(people) != len(lengths):
                raise ValueError("inconsistent arrays")
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
            raise InputError(f"cannot read synthetic walker set {path}: {exc}".splitlines()[0]) from None
        frames = np.unpackbits(bits, axis=-1) * np.uint8(255)
        cuts = np.cumsum(lengths)[:-1]
        return cls(list(np.split(frames, cuts)), people, scenes, meta)


def _render_walk(person: Person, setup: SceneSetup, jitter: int, size: tuple[int, int]) -> np.ndarray:
    from gaitpipe.synth.dataset import normalize_clip_masks

    walk = Walk(
        person,
        view=setup.view,
        direction=setup.direction,
        center=(0.0, setup.distance),
        jitter_seed=jitter,
    )
    scene = Scene(
        walks=[walk],
        size=size,
        camera=setup.camera,
        seed=setup.room_seed,
        noise_seed=jitter,
        noise_sigma=setup.noise,
        lighting_amplitude=setup.lighting,
        max_frames=FRAMES + 20,  # border-touching frames are dropped below
    )
    sil, _ = normalize_clip_masks(render_scene(scene).masks[:, 0])
    mid = max(0, (len(sil) - FRAMES) // 2)
    # binarised at 128 like the CASIA-B pack's silhouettes (and stored bit-packed, losslessly)
    return np.where(sil[mid : mid + FRAMES] > 127, 255, 0).astype(np.uint8)


def _check(people: int, scenes: int) -> None:
    if not 2 <= people <= 500:
        raise SettingError(f"the number of people must be between 2 and 500, got {people}", "people")
    if not 2 <= scenes <= 100:
        raise SettingError(f"the number of scenes must be between 2 and 100, got {scenes}", "scenes")


def render_walk_jobs(
    jobs: list[tuple[Person, SceneSetup, int]], size: tuple[int, int], what: str, progress: bool
) -> list[np.ndarray]:
    """Each ``(person, scene, noise seed)`` walk rendered and normalised (a progress bar says ``what``)."""
    out = []
    with progress_bar(len(jobs), what, unit="walk", enabled=progress) as bar:
        for person, setup, jitter in jobs:
            out.append(_render_walk(person, setup, jitter, size))
            bar.update(1)
    return out


def render_cross_scene(
    *,
    people: int = 36,
    scenes: int = 6,
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    views: tuple[float, float] = CROSS_SCENE_VIEWS,
    both_directions: bool = False,
    progress: bool = False,
) -> WalkerSet:
    """Each of ``people`` filmed in two different of ``scenes`` scenes (see the module docstring).

    Person ``i`` walks in scene ``i mod scenes`` and in a different one further round the ring,
    so every scene holds about ``2 * people / scenes`` walks of different people. Deterministic
    from ``seed``. ``views``/``both_directions``: how each scene's walking path is seen (the
    default: people crossing the view, as in the issue's hall and street; wider ranges add
    cross-view matching, which the shipped CASIA-B models barely manage, see docs/open-set.md).
    """
    _check(people, scenes)
    setups = [
        random_setup(np.random.default_rng([seed, 17, s]), f"s{s:02d}", views=views, both_directions=both_directions)
        for s in range(scenes)
    ]
    jobs = []
    for i in range(people):
        person = Person.random(np.random.default_rng([seed, 29, i]), f"x{i:03d}")
        a = i % scenes
        b = (a + 1 + (i // scenes) % (scenes - 1)) % scenes
        for k, s in enumerate((a, b)):
            # other clothes (colours) in the second place, as on another day
            worn = person if k == 0 else replace(person, clothing=Clothing.random(np.random.default_rng([seed, 31, i])))
            jobs.append((worn, setups[s], hash_str(f"{seed}/{i}/{k}")))
    sils = render_walk_jobs(jobs, size, "rendering cross-scene walks", progress)
    meta = {"kind": "cross-scene", "people": people, "scenes": scenes, "seed": seed, "size": list(size)}
    meta |= {"views": list(views), "both_directions": both_directions}
    meta["setups"] = [_setup_dict(s) for s in setups]
    return WalkerSet(
        sils, np.array([p.person_id for p, _, _ in jobs]), np.array([s.scene_id for _, s, _ in jobs]), meta
    )


def render_cohort_walkers(
    *, people: int = 64, seed: int = 1000, size: tuple[int, int] = (320, 240), progress: bool = False
) -> WalkerSet:
    """``people`` impostor walkers for a score-normalisation cohort, each in a random scene of its own.

    Their identities come from a seed stream of their own (``c`` ids), never the cross-scene set's.
    """
    _check(people, 2)
    jobs = []
    for i in range(people):
        person = Person.random(np.random.default_rng([seed, 41, i]), f"c{i:03d}")
        setup = random_setup(np.random.default_rng([seed, 43, i]), f"c{i:03d}")
        jobs.append((person, setup, hash_str(f"cohort/{seed}/{i}")))
    sils = render_walk_jobs(jobs, size, "rendering cohort walkers", progress)
    meta = {"kind": "cohort", "people": people, "seed": seed, "size": list(size)}
    return WalkerSet(
        sils, np.array([p.person_id for p, _, _ in jobs]), np.array([s.scene_id for _, s, _ in jobs]), meta
    )


def _setup_dict(s: SceneSetup) -> dict:
    c = s.camera
    return {
        "scene": s.scene_id,
        "camera_height": round(c.height, 3),
        "pitch": round(c.pitch, 2),
        "focal": round(c.focal, 1),
        "distance": round(s.distance, 3),
        "view": round(s.view, 1),
        "direction": s.direction,
    }


def cached(kind: str, cache_dir: str | Path, *, progress: bool = False, **params: Any) -> WalkerSet:
    """:func:`render_cross_scene` (``kind`` ``cross-scene``) or :func:`render_cohort_walkers`
    (``cohort``), read from ``cache_dir`` when rendered before with the same parameters."""
    renderers: dict[str, Any] = {"cross-scene": render_cross_scene, "cohort": render_cohort_walkers}
    render = renderers.get(kind)
    if render is None:
        raise InputError(f"unknown synthetic walker set {kind!r} (cross-scene or cohort)")
    if kind == "cross-scene":  # the defaults are part of the key, so changing one re-renders
        params = {"views": CROSS_SCENE_VIEWS, "both_directions": False} | params
    key = "-".join(f"{k}{'x'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in sorted(params.items()))
    path = Path(cache_dir) / f"{kind}-r{RECIPE}-{key}.npz"
    if path.is_file():
        try:
            return WalkerSet.load(path)
        except InputError:
            pass  # a damaged cache is rendered again below
    walkers: WalkerSet = render(progress=progress, **params)
    walkers.save(path)
    return walkers


__all__ = [
    "FRAMES",
    "SceneSetup",
    "WalkerSet",
    "cached",
    "random_setup",
    "render_cohort_walkers",
    "render_cross_scene",
    "render_walk_jobs",
]
