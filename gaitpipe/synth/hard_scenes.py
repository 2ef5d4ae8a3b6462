"""Hard scenes for the front end: walkers who cross and occlude each other, low-contrast clothes.

Each scene is an ordinary :class:`~gaitpipe.synth.render.Scene`, so it renders with exact
per-person visible masks; :func:`full_body_masks` adds what an ideal segmenter *behind* the
occlusion would see (each walker rendered alone, nothing in front), the reference a gait
silhouette should match. Used by ``benchmarks/hard_scenes.py`` and the tests.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gaitpipe.synth.body import Person
from gaitpipe.synth.render import Scene, _layout, render_scene
from gaitpipe.synth.scene import Background, Occluder, Walk

#: Scene names, in the order the benchmark reports them.
OCCLUSION_SCENES = ("cross2", "cross3", "pillar", "counter", "enter_leave")


def _person(seed: int, index: int) -> Person:
    return Person.random(np.random.default_rng([seed, index]), f"{index + 1:03d}")


def occlusion_scene(name: str, seed: int = 0, n_frames: int = 90) -> Scene:
    """One named scene of walkers who cross, pass behind structure, or enter and leave.

    * ``cross2``: two walkers in opposite directions at different depths (the near one hides the far one).
    * ``cross3``: three walkers, two one way and one the other, at three depths.
    * ``pillar``: one walker passing behind a pillar (a vertical slice of the body hidden).
    * ``counter``: one walker passing behind a waist-high counter (legs hidden) while another crosses.
    * ``enter_leave``: one walker crosses the whole view (enters and leaves); a second enters late.
    """
    p = [_person(seed, k) for k in range(3)]
    if name == "cross2":
        walks = [
            Walk(p[0], view=90, direction=1, center=(0.0, 3.8), jitter_seed=seed),
            Walk(p[1], view=90, direction=-1, center=(0.0, 5.4), jitter_seed=seed),
        ]
        return Scene(walks=walks, n_frames=n_frames, seed=seed)
    if name == "cross3":
        walks = [
            Walk(p[0], view=90, direction=1, center=(0.3, 3.8), jitter_seed=seed),
            Walk(p[1], view=90, direction=-1, center=(-0.2, 5.0), jitter_seed=seed),
            Walk(p[2], view=90, direction=1, center=(-1.0, 6.2), jitter_seed=seed, time_offset=0.4),
        ]
        return Scene(walks=walks, n_frames=n_frames, seed=seed)
    if name == "pillar":
        walks = [Walk(p[0], view=90, direction=1, center=(0.0, 4.6), jitter_seed=seed)]
        pillar = Occluder(center=(0.1, 3.4, 1.2), half=(0.12, 0.12, 1.2), colour=(120, 130, 150))
        return Scene(walks=walks, occluders=[pillar], n_frames=n_frames, seed=seed)
    if name == "counter":
        walks = [
            Walk(p[0], view=90, direction=1, center=(0.0, 4.4), jitter_seed=seed),
            Walk(p[1], view=90, direction=-1, center=(0.6, 3.3), jitter_seed=seed, time_offset=0.8),
        ]
        counter = Occluder(center=(0.0, 3.7, 0.45), half=(0.45, 0.15, 0.45), colour=(70, 95, 130))
        return Scene(walks=walks, occluders=[counter], n_frames=n_frames, seed=seed)
    if name == "enter_leave":
        walks = [
            Walk(p[0], view=90, direction=1, center=(0.0, 4.0), jitter_seed=seed),
            Walk(p[1], view=90, direction=-1, center=(0.0, 5.0), jitter_seed=seed, time_offset=1.2),
        ]
        return Scene(walks=walks, n_frames=n_frames, seed=seed)
    raise ValueError(f"unknown scene {name!r}: choose one of {', '.join(OCCLUSION_SCENES)}")


def low_contrast_scene(seed: int = 0, n_frames: int = 60) -> Scene:
    """One walker whose trousers and shoes have nearly the floor's colour under them (CASIA-B's hard case).

    The floor colour is read from the empty room where the feet land, so the legs differ from the
    floor by a few grey levels only (plus shading), and the shirt is dark against the wall.
    """
    person = _person(seed, 7)
    walk = Walk(person, view=90, direction=1, jitter_seed=seed)
    scene = Scene(walks=[walk], n_frames=n_frames, seed=seed)
    width, height = scene.size
    _, _, wall = _layout(scene)
    colour, _, floor_xy = Background(seed=seed, wall_distance=wall).render(scene.camera, width, height)
    floor = np.isfinite(floor_xy[..., 0])
    rows = np.flatnonzero(floor.any(axis=1))
    # The floor band just below the walkers' feet (bottom quarter of the visible floor).
    band = floor[rows[0] + 3 * (rows[-1] - rows[0]) // 4 :]
    ref = colour[rows[0] + 3 * (rows[-1] - rows[0]) // 4 :][band]
    b, g, r = (int(v) for v in np.clip(np.median(ref, axis=0) * 0.8, 0, 255))  # shaded legs: darker
    shoes = (int(b * 0.8), int(g * 0.8), int(r * 0.8))
    clothes = replace(person.clothing, trousers=(b, g, r), shoes=shoes, shirt=(45, 45, 50))
    return replace(scene, walks=[replace(walk, person=replace(person, clothing=clothes))])


def full_body_masks(scene: Scene) -> np.ndarray:
    """[T, n_people, H, W] bool: each walker rendered alone (no other walker, no occluder)."""
    out = [
        render_scene(replace(scene, walks=[w], occluders=[], black_background=True, n_frames=_frames(scene))).masks[
            :, 0
        ]
        for w in scene.walks
    ]
    return np.stack(out, axis=1)


def _frames(scene: Scene) -> int:
    return _layout(scene)[1]


__all__ = ["OCCLUSION_SCENES", "full_body_masks", "low_contrast_scene", "occlusion_scene"]
