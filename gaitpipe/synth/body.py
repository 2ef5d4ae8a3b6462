"""Synthetic people: body proportions, gait style, clothing, and per-walk jitter.

A :class:`Person` is drawn once from between-person distributions (published normal-walking
data, see docs/synthetic-walkers.md: joint-angle SDs, cadence, stride, proportions, height,
girth). A :class:`WalkJitter` is drawn per walk with a much smaller spread (about a sixth of the
between-person SD), so two walks of one person look alike and two people do not: that
difference is what a gait encoder recognises.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

#: Within-person spread as a fraction of the between-person SD (stride time: 0.04 s vs 0.14 s,
#: leg length 1.0 cm vs 6.7 cm in the reference data -> about 0.15-0.3; we use the low end
#: because our jitter is applied on top of identical clothing and body).
WITHIN_FRACTION = 0.15

BAG_KINDS = ("shoulder", "backpack", "handbag")


# Garment colours people actually wear (BGR, relative frequency): mostly black, grey, white,
# navy and denim, with earth tones and a few brighter colours. Uniformly random RGB clothes
# (saturated magenta shirts, lime trousers) are neither lifelike nor a fair test of a segmenter.
TOPS = (
    ((30, 30, 30), 3.0),
    ((225, 225, 225), 2.0),
    ((170, 170, 170), 1.5),
    ((70, 70, 70), 1.5),
    ((80, 40, 25), 2.0),
    ((160, 90, 40), 1.2),
    ((215, 180, 150), 1.0),
    ((40, 40, 170), 0.8),
    ((50, 30, 100), 0.7),
    ((50, 100, 95), 0.7),
    ((150, 185, 205), 0.8),
    ((40, 65, 100), 0.6),
    ((170, 150, 220), 0.5),
    ((60, 190, 220), 0.4),
    ((70, 130, 40), 0.5),
)
TROUSERS = (
    ((120, 70, 40), 3.0),
    ((80, 45, 30), 2.0),
    ((28, 28, 28), 3.0),
    ((60, 60, 60), 1.5),
    ((120, 165, 190), 1.2),
    ((70, 35, 20), 1.0),
    ((45, 70, 100), 0.6),
    ((55, 90, 85), 0.5),
    ((150, 150, 150), 0.5),
)
SHOES = (
    ((25, 25, 25), 4.0),
    ((30, 45, 65), 2.0),
    ((215, 215, 215), 1.5),
    ((100, 100, 100), 1.0),
    ((80, 120, 160), 0.5),
)
COATS = (
    ((28, 28, 28), 3.0),
    ((55, 55, 55), 2.0),
    ((70, 38, 22), 2.0),
    ((95, 140, 180), 1.2),
    ((40, 60, 90), 1.2),
    ((50, 85, 80), 0.8),
    ((120, 120, 120), 1.0),
    ((45, 30, 95), 0.5),
    ((45, 70, 35), 0.5),
    ((160, 190, 210), 0.5),
)
BAGS = (
    ((25, 25, 25), 3.0),
    ((35, 60, 95), 2.0),
    ((80, 125, 170), 1.0),
    ((70, 40, 25), 1.0),
    ((110, 110, 110), 1.0),
    ((40, 40, 160), 0.5),
    ((50, 90, 85), 0.5),
)


def _garment(rng: np.random.Generator, palette, lo: int, hi: int) -> tuple[int, int, int]:
    """A garment colour from ``palette``, shade varied +-20 %.

    Consumes exactly the draws of the former uniform colours (one ``rng.integers(lo, hi, size=3)``
    call, mapped to three uniforms), so every parameter drawn after the clothes (bag, coat) and
    every person of a seed stay what they were: only the colours changed.
    """
    u = (rng.integers(lo, hi, size=3) - lo + 0.5) / (hi - lo)
    weights = np.array([w for _, w in palette], float)
    k = int(np.searchsorted(np.cumsum(weights) / weights.sum(), u[0], side="right"))
    base = np.array(palette[min(k, len(palette) - 1)][0], float)
    col = base * (0.8 + 0.4 * u[1]) + (u[2] - 0.5) * 16.0
    r, g, b = (int(v) for v in np.clip(np.round(col), 8, 245))
    return r, g, b


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
    def random(cls, rng: np.random.Generator) -> BodyShape:
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
    def random(cls, rng: np.random.Generator) -> GaitStyle:
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
    "hip_gain": 6 / 39,
    "hip_offset": 3.0,
    "knee_gain": 5 / 63,
    "knee_offset": 3.0,
    "ankle_gain": 4 / 29,
    "ankle_offset": 2.5,
    "pelvic_tilt": 5.0,
    "pelvic_rotation": 1.5,
    "arm_swing": 9.0,
    "arm_offset": 4.0,
    "arm_abduction": 2.0,
    "elbow_mean": 9.0,
    "elbow_range": 6.0,
    "cadence": 8.0,
    "bob_gain": 0.25,
    "sway": 0.008,
    "trunk_lean": 5.0,
    "head_carriage": 6.0,
    "step_width": 0.02,
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
    def random(cls, rng: np.random.Generator) -> Clothing:
        tone = rng.uniform(0.45, 1.0)
        skin = (int(140 * tone), int(170 * tone), int(215 * tone))
        hair_v = rng.uniform(0.1, 0.6)
        hair = (int(60 * hair_v), int(80 * hair_v), int(110 * hair_v))
        return cls(
            shirt=_garment(rng, TOPS, 20, 235),
            trousers=_garment(rng, TROUSERS, 15, 160),
            shoes=_garment(rng, SHOES, 10, 90),
            skin=skin,
            hair=hair,
            coat=_garment(rng, COATS, 15, 200),
            bag=_garment(rng, BAGS, 15, 200),
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
    def random(cls, rng: np.random.Generator, person_id: str = "001") -> Person:
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
    def from_dict(cls, d: dict) -> Person:
        gait = dict(d["gait"])
        gait["shape"] = tuple(gait.get("shape", ()))
        return cls(
            person_id=d["person_id"],
            body=BodyShape(**d["body"]),
            gait=GaitStyle(**gait),
            clothing=Clothing(**{k: tuple(v) for k, v in d["clothing"].items()}),
            bag_kind=d.get("bag_kind", "shoulder"),
            bag_side=int(d.get("bag_side", 1)),
            coat_length=float(d.get("coat_length", 0.6)),
            bag_size=float(d.get("bag_size", 1.0)),
        )


def jitter_gait(style: GaitStyle, rng: np.random.Generator, fraction: float = WITHIN_FRACTION) -> GaitStyle:
    """A walk's gait: the person's style plus small noise (``fraction`` of the between-person SD)."""
    if fraction <= 0:
        return style
    changes: dict[str, Any] = {}
    for f in fields(style):
        if f.name in _STYLE_SD:
            changes[f.name] = float(getattr(style, f.name) + rng.normal(0.0, _STYLE_SD[f.name] * fraction))
    shape = style.shape_array() + rng.normal(0.0, 1.5 * fraction, size=style.shape_array().shape) * (
        style.shape_array() != 0
    )
    changes["shape"] = tuple(shape.ravel().tolist())
    return replace(style, **changes)
