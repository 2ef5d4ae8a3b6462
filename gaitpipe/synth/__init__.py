"""Synthetic walking people: articulated bodies driven by normative gait kinematics, rendered
with exact ground-truth masks (for tests, benchmarks and sanity checks of gait encoders).

    >>> import numpy as np
    >>> from gaitpipe.synth import Person, Walk, Covariates, render_walk
    >>> p = Person.random(np.random.default_rng(0), "001")
    >>> clip = render_walk(Walk(p, view=90, covariates=Covariates(bag=True)), n_frames=10)
    >>> clip.frames.shape, clip.masks.shape
    ((10, 240, 320, 3), (10, 1, 240, 320))
"""

from gaitpipe.synth.body import BodyShape, Clothing, GaitStyle, Person, jitter_gait
from gaitpipe.synth.render import RenderedClip, Scene, empty_frame, render_scene, render_walk, write_clip
from gaitpipe.synth.scene import Background, Camera, Occluder, Walk
from gaitpipe.synth.skeleton import BodyModel, Covariates

__all__ = [
    "Background",
    "BodyModel",
    "BodyShape",
    "Camera",
    "Clothing",
    "Covariates",
    "GaitStyle",
    "Occluder",
    "Person",
    "RenderedClip",
    "Scene",
    "Walk",
    "empty_frame",
    "generate_dataset",
    "jitter_gait",
    "render_scene",
    "render_walk",
    "write_clip",
]


def __getattr__(name: str):
    if name == "generate_dataset":
        from gaitpipe.synth.dataset import generate_dataset

        return generate_dataset
    raise AttributeError(name)
