"""Synthetic identities to train on: many people, each filmed in several of a shared pool of scenes.

The cross-scene check (:mod:`gaitpipe.synth.cross_scene`) shows what a CASIA-B-trained encoder
never learnt: that the same person looks different in another room, camera height and distance,
and that two people filmed by one camera look alike. A training set that teaches it needs
*shared* scenes (so that same-scene pairs of different people are negatives a batch can meet)
and people filmed in *several* of them (so that positives cross scenes). :func:`render_training_walkers`
renders that; :func:`write_training_pack` stores it in the pack format the trainer reads
(``gaitpipe train --extra-data``), with subjects ``syn0000``..., conditions ``nm-01``... (one per
walk of a person) and the scene id as the "view".

Identities, scenes and walk noise come from seed streams of their own, never those of the
cross-scene calibration and test sets (seeds 0 and 1, streams 17/29/31) or of cohort walkers
(streams 41/43): a model trained on these people has never seen the people or rooms it is
checked on.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from gaitpipe.errors import SettingError
from gaitpipe.synth.body import Clothing, Person
from gaitpipe.synth.cross_scene import WalkerSet, random_setup, render_walk_jobs
from gaitpipe.synth.render import hash_str

#: Seed streams of this module (people, scenes, clothes); see the module docstring.
_PEOPLE, _SCENES, _CLOTHES = 59, 61, 67
#: Subject ids of synthetic training identities: ``syn0000``... (sorted after CASIA-B's 001-124).
SUBJECT_PREFIX = "syn"


def _check(people: int, scenes: int, scenes_per_person: int, walks_per_scene: int) -> None:
    if not 2 <= people <= 5000:
        raise SettingError(f"the number of people must be between 2 and 5000, got {people}", "people")
    if not 2 <= scenes <= 1000:
        raise SettingError(f"the number of scenes must be between 2 and 1000, got {scenes}", "scenes")
    if not 1 <= scenes_per_person <= min(scenes, 20):
        raise SettingError(
            f"scenes per person must be between 1 and {min(scenes, 20)}, got {scenes_per_person}", "scenes_per_person"
        )
    if not 1 <= walks_per_scene <= 10:
        raise SettingError(f"walks per scene must be between 1 and 10, got {walks_per_scene}", "walks_per_scene")


def render_training_walkers(
    *,
    people: int = 200,
    scenes: int = 50,
    scenes_per_person: int = 3,
    walks_per_scene: int = 2,
    seed: int = 2000,
    size: tuple[int, int] = (320, 240),
    views: tuple[float, float] = (45.0, 135.0),
    progress: bool = False,
) -> WalkerSet:
    """``people`` identities, each walking ``walks_per_scene`` times in each of ``scenes_per_person``
    different scenes drawn from a pool of ``scenes`` (views in ``views`` degrees, either direction).

    A person wears other clothes colours in each scene (as on another day); the walks within a
    scene differ in walking direction (alternating) and in the person's step-to-step noise.
    Deterministic from ``seed``.
    """
    _check(people, scenes, scenes_per_person, walks_per_scene)
    setups = [
        random_setup(np.random.default_rng([seed, _SCENES, s]), f"t{s:03d}", views=views, both_directions=True)
        for s in range(scenes)
    ]
    jobs = []
    for i in range(people):
        person = Person.random(np.random.default_rng([seed, _PEOPLE, i]), f"{SUBJECT_PREFIX}{i:04d}")
        where = np.random.default_rng([seed, _SCENES, 10**6 + i]).choice(scenes, size=scenes_per_person, replace=False)
        for k, s in enumerate(where):
            clothes = Clothing.random(np.random.default_rng([seed, _CLOTHES, i, k]))
            worn = person if k == 0 else replace(person, clothing=clothes)
            for w in range(walks_per_scene):
                setup = setups[int(s)]
                if w % 2 == 1:  # the second walk goes the other way along the same path
                    setup = replace(setup, direction=-setup.direction)
                jobs.append((worn, setup, hash_str(f"train/{seed}/{i}/{k}/{w}")))
    sils = render_walk_jobs(jobs, size, "rendering synthetic training walkers", progress)
    meta = {
        "kind": "training",
        "people": people,
        "scenes": scenes,
        "scenes_per_person": scenes_per_person,
        "walks_per_scene": walks_per_scene,
        "seed": seed,
        "size": list(size),
        "views": list(views),
    }
    return WalkerSet(
        sils, np.array([p.person_id for p, _, _ in jobs]), np.array([s.scene_id for _, s, _ in jobs]), meta
    )


def write_training_pack(walkers: WalkerSet, path: str | Path) -> Path:
    """Store ``walkers`` as a silhouette pack: subject = person, condition ``nm-NN`` numbering each
    person's walks, view = scene id. Walks whose renders left no frame in full view are skipped."""
    from gaitpipe.data.packed import write_pack

    counts: dict[str, int] = {}
    rows = []
    for sil, person, scene in zip(walkers.silhouettes, walkers.people, walkers.scenes):
        if len(sil) == 0:
            continue
        counts[str(person)] = counts.get(str(person), 0) + 1
        rows.append((str(person), f"nm-{counts[str(person)]:02d}", str(scene), sil))
    return write_pack(path, rows)


__all__ = ["SUBJECT_PREFIX", "render_training_walkers", "write_training_pack"]
