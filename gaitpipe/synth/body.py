"""Synthetic people: body proportions, gait style, clothing, and per-walk jitter.

A :class:`Person` is drawn once from between-person distributions (walking-kinematics.md:
joint-angle SDs, cadence, stride, proportions, height, girth). A :class:`WalkJitter` is drawn
per walk with a much smaller spread (about a sixth of the between-person SD), so two walks of
one person look alike and two people do not: that difference is what a gait encoder recognises.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

#: Within-person spread as a fraction of the between-person SD (stride time: 0.04 s vs 0.14 s,
#: leg length 1.0 cm vs 6.7 cm in the reference data -> about 0.15-0.3; we use the low end
#: because our jitter is applied on top of identical clothing and body).
WITHIN_FRACTION = 0.15

BAG_KINDS = ("shoulder", "backpack", "handbag")


def _colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


@dataclass(frozen=True)
class BodyShape:
    """Proportions in metres / scale factors (1.0 = the anthropometric average for the height)."""

    height: float = 1.70
    leg_ratio: float = 1.0  #: leg length relative to the average fraction of height
    shoulder_width: float = 1.0
    hip_width: float = 1.0
    girth: float = 1.0  #: limb and torso thickness
    belly: float = 1.0  #: torso depth (front-back)
    head_size: float = 1.0
    arm_length: float = 1.0
    neck_length: float = 1.0
    foot_length: float = 1.0
    hair: float = 0.5  #: 0 = short, 1 = long/voluminous
    clothing_bulk: float = 1.0  #: how loose/thick the everyday clothes are (0.5 tight .. 1.6 baggy)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "BodyShape":
        n = rng.normal
        return cls(
            height=float(np.clip(n(1.70, 0.09), 1.48, 1.98)),
            leg_ratio=float(np.clip(n(1.0, 0.035), 0.9, 1.1)),
            shoulder_width=float(np.clip(n(1.0, 0.07), 0.82, 1.2)),
            hip_width=float(np.clip(n(1.0, 0.07), 0.82, 1.2)),
            girth=float(np.clip(n(1.0, 0.10), 0.75, 1.4)),
            belly=float(np.clip(n(1.0, 0.10), 0.8, 1.45)),
            head_size=float(np.clip(n(1.0, 0.05), 0.88, 1.12)),
            arm_length=float(np.clip(n(1.0, 0.035), 0.9, 1.1)),
            neck_length=float(np.clip(n(1.0, 0.15), 0.6, 1.4)),
            foot_length=float(np.clip(n(1.0, 0.06), 0.85, 1.15)),
            hair=float(rng.uniform(0.0, 1.0)),
            clothing_bulk=float(np.clip(n(1.0, 0.2), 0.5, 1.6)),
        )


@dataclass(frozen=True)
class GaitStyle:
    """Per-person offsets (degrees) and gains on the normative curves, plus body motion cues."""

    hip_gain: float = 1.0  #: scales the hip flexion range (between-person SD ~6 of ~39 deg)
    hip_offset: float = 0.0
    knee_gain: float = 1.0  #: knee range (SD ~5 of ~63 deg)
    knee_offset: float = 0.0
    ankle_gain: float = 1.0  #: ankle range (SD ~4 of ~29 deg)
    ankle_offset: float = 0.0
    pelvic_tilt: float = 12.0  #: forward tilt (SD ~5)
    pelvic_rotation: float = 4.0  #: yaw amplitude per cycle
    arm_swing: float = 31.0  #: shoulder flexion range (SD ~9)
    arm_offset: float = -4.0  #: mean shoulder flexion
    arm_abduction: float = 4.0  #: arms held away from the body
    elbow_mean: float = 39.0  #: elbow flexion 26-52 (SD ~9)
    elbow_range: float = 26.0
    cadence: float = 110.0  #: steps per minute
    bob_gain: float = 1.0  #: scales the vertical pelvis bob (~4-5 cm peak to peak)
    sway: float = 0.02  #: lateral sway amplitude (m)
    trunk_lean: float = 4.0  #: forward thorax lean (SD ~6)
    head_carriage: float = 5.0  #: forward head flexion
    step_width: float = 0.09  #: m (6-13 cm)
    shape: tuple[float, ...] = ()  #: per-person harmonic deviations: hip, knee, ankle (3 x 13)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "GaitStyle":
        n = rng.normal
        from gaitpipe.synth.kinematics import HARMONICS

        ncoef = 1 + 2 * HARMONICS
        # Harmonic deviations: 1.5 deg on harmonics 1-3 (timing/shape of each person's curve).
        shape = np.zeros((3, ncoef))
        shape[:, 1:7] = n(0.0, 1.5, size=(3, 6))
        return cls(
            hip_gain=float(np.clip(n(1.0, 6 / 39), 0.65, 1.4)),
            hip_offset=float(n(0.0, 3.0)),
            knee_gain=float(np.clip(n(1.0, 5 / 63), 0.8, 1.2)),
            knee_offset=float(n(0.0, 3.0)),
            ankle_gain=float(np.clip(n(1.0, 4 / 29), 0.6, 1.4)),
            ankle_offset=float(n(0.0, 2.5)),
            pelvic_tilt=float(n(12.0, 5.0)),
            pelvic_rotation=float(np.clip(n(4.0, 1.5), 0.0, 9.0)),
            arm_swing=float(np.clip(n(28.0, 9.0), 6.0, 60.0)),
            arm_offset=float(n(-4.0, 4.0)),
            arm_abduction=float(np.clip(n(4.0, 2.0), 1.0, 10.0)),
            elbow_mean=float(np.clip(n(34.0, 9.0), 12.0, 70.0)),
            elbow_range=float(np.clip(n(26.0, 6.0), 8.0, 40.0)),
            cadence=float(np.clip(n(112.0, 8.0), 92.0, 132.0)),
            bob_gain=float(np.clip(n(1.0, 0.25), 0.5, 1.6)),
            sway=float(np.clip(n(0.02, 0.008), 0.0, 0.045)),
            trunk_lean=float(n(4.0, 5.0)),
            head_carriage=float(n(5.0, 6.0)),
            step_width=float(np.clip(n(0.09, 0.02), 0.04, 0.14)),
            shape=tuple(shape.ravel().tolist()),
        )

    def shape_array(self) -> np.ndarray:
        from gaitpipe.synth.kinematics import HARMONICS

        ncoef = 1 + 2 * HARMONICS
        if not self.shape:
            return np.zeros((3, ncoef))
        return np.asarray(self.shape, float).reshape(3, ncoef)


# Between-person SDs of the GaitStyle scalars, used to scale the within-person jitter.
_STYLE_SD = {
    "hip_gain": 6 / 39, "hip_offset": 3.0, "knee_gain": 5 / 63, "knee_offset": 3.0,
    "ankle_gain": 4 / 29, "ankle_offset": 2.5, "pelvic_tilt": 5.0, "pelvic_rotation": 1.5,
    "arm_swing": 9.0, "arm_offset": 4.0, "arm_abduction": 2.0, "elbow_mean": 9.0,
    "elbow_range": 6.0, "cadence": 8.0, "bob_gain": 0.25, "sway": 0.008, "trunk_lean": 5.0,
    "head_carriage": 6.0, "step_width": 0.02,
}


@dataclass(frozen=True)
class Clothing:
    """BGR colours of the body parts (uint8 triples)."""

    shirt: tuple[int, int, int] = (90, 60, 40)
    trousers: tuple[int, int, int] = (40, 40, 40)
    shoes: tuple[int, int, int] = (25, 25, 25)
    skin: tuple[int, int, int] = (120, 150, 200)
    hair: tuple[int, int, int] = (20, 25, 30)
    coat: tuple[int, int, int] = (50, 50, 60)
    bag: tuple[int, int, int] = (30, 30, 80)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Clothing":
        tone = rng.uniform(0.45, 1.0)
        skin = tuple(int(v * tone) for v in (140, 170, 215))
        hair_v = rng.uniform(0.1, 0.6)
        hair = tuple(int(v * hair_v) for v in (60, 80, 110))
        return cls(
            shirt=_colour(rng), trousers=_colour(rng, 15, 160), shoes=_colour(rng, 10, 90),
            skin=skin, hair=hair, coat=_colour(rng, 15, 200), bag=_colour(rng, 15, 200),
        )


@dataclass(frozen=True)
class Person:
    """One synthetic identity: body, gait style, clothes and the bag they carry (when they do)."""

    person_id: str
    body: BodyShape = field(default_factory=BodyShape)
    gait: GaitStyle = field(default_factory=GaitStyle)
    clothing: Clothing = field(default_factory=Clothing)
    bag_kind: str = "shoulder"  #: which bag this person carries in the bag condition
    bag_side: int = 1  #: +1 left, -1 right
    coat_length: float = 0.6  #: how far down the thighs the coat reaches (0..1)
    bag_size: float = 1.0  #: scale of the bag (CASIA-B walkers carry anything from a purse to a big backpack)

    @classmethod
    def random(cls, rng: np.random.Generator, person_id: str = "001") -> "Person":
        """Draw a person from the between-person distributions."""
        return cls(
            person_id=person_id,
            body=BodyShape.random(rng),
            gait=GaitStyle.random(rng),
            clothing=Clothing.random(rng),
            bag_kind=str(rng.choice(BAG_KINDS)),
            bag_side=int(rng.choice([-1, 1])),
            coat_length=float(rng.uniform(0.35, 0.95)),
            bag_size=float(rng.uniform(0.85, 1.5)),
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gait"]["shape"] = list(self.gait.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Person":
        gait = dict(d["gait"])
        gait["shape"] = tuple(gait.get("shape", ()))
        return cls(
            person_id=d["person_id"], body=BodyShape(**d["body"]), gait=GaitStyle(**gait),
            clothing=Clothing(**{k: tuple(v) for k, v in d["clothing"].items()}),
            bag_kind=d.get("bag_kind", "shoulder"), bag_side=int(d.get("bag_side", 1)),
            coat_length=float(d.get("coat_length", 0.6)),
            bag_size=float(d.get("bag_size", 1.0)),
        )


def jitter_gait(style: GaitStyle, rng: np.random.Generator, fraction: float = WITHIN_FRACTION) -> GaitStyle:
    """A walk's gait: the person's style plus small noise (``fraction`` of the between-person SD)."""
    if fraction <= 0:
        return style
    changes = {}
    for f in fields(style):
        if f.name in _STYLE_SD:
            changes[f.name] = float(getattr(style, f.name) + rng.normal(0.0, _STYLE_SD[f.name] * fraction))
    shape = style.shape_array() + rng.normal(0.0, 1.5 * fraction, size=style.shape_array().shape) * (style.shape_array() != 0)
    changes["shape"] = tuple(shape.ravel().tolist())
    return replace(style, **changes)
