"""Forward kinematics: a person's gait style + gait phase -> body volumes (capsules, ellipsoids, boxes).

Body frame: x forward (walking direction), y to the walker's left, z up, origin on the floor
below the pelvis centre. Proportions are fractions of height (Winter's anthropometric table);
joint angles come from :mod:`gaitpipe.synth.kinematics`. The pelvis height is solved each frame
so that the lowest sole point touches the floor, which gives the natural vertical bob (the
person's ``bob_gain`` then scales it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gaitpipe.synth.body import BodyShape, GaitStyle, Person
from gaitpipe.synth.kinematics import ANKLE_COEF, HIP_COEF, KNEE_COEF, curve, rot_x, rot_y, rot_z

#: Normative pelvic tilt already contained in the hip flexion normals (thigh angle = hip - tilt).
NORMAL_TILT = 12.0
_HIP_RANGE_HALF = (
    np.max(curve(HIP_COEF, np.linspace(0, 1, 200))) - np.min(curve(HIP_COEF, np.linspace(0, 1, 200)))
) / 2
_HIP_MEAN = float(HIP_COEF[0])


@dataclass
class Primitives:
    """Coloured volumes of one or more people (world or body frame), ready to ray-cast.

    capsules: a [K,3], b [K,3], r [K]; ellipsoids: centre [E,3], rot [E,3,3] (columns = local
    axes), axes [E,3] (semi-axes); boxes: centre [B,3], rot [B,3,3], half [B,3]. Colours are
    BGR float [.,3]; ``owner`` is the person index of each volume (for multi-person masks).
    """

    cap_a: list = field(default_factory=list)
    cap_b: list = field(default_factory=list)
    cap_r: list = field(default_factory=list)
    cap_col: list = field(default_factory=list)
    ell_c: list = field(default_factory=list)
    ell_rot: list = field(default_factory=list)
    ell_ax: list = field(default_factory=list)
    ell_col: list = field(default_factory=list)
    box_c: list = field(default_factory=list)
    box_rot: list = field(default_factory=list)
    box_half: list = field(default_factory=list)
    box_col: list = field(default_factory=list)

    def capsule(self, a, b, r, col) -> None:
        self.cap_a.append(np.asarray(a, float))
        self.cap_b.append(np.asarray(b, float))
        self.cap_r.append(float(r))
        self.cap_col.append(np.asarray(col, float))

    def ellipsoid(self, c, rot, axes, col) -> None:
        self.ell_c.append(np.asarray(c, float))
        self.ell_rot.append(np.asarray(rot, float))
        self.ell_ax.append(np.asarray(axes, float))
        self.ell_col.append(np.asarray(col, float))

    def box(self, c, rot, half, col) -> None:
        self.box_c.append(np.asarray(c, float))
        self.box_rot.append(np.asarray(rot, float))
        self.box_half.append(np.asarray(half, float))
        self.box_col.append(np.asarray(col, float))

    def transformed(self, rot: np.ndarray, trans: np.ndarray) -> Primitives:
        """Rigidly moved copy: x -> rot @ x + trans."""
        out = Primitives()
        out.cap_a = [rot @ a + trans for a in self.cap_a]
        out.cap_b = [rot @ b + trans for b in self.cap_b]
        out.cap_r, out.cap_col = list(self.cap_r), list(self.cap_col)
        out.ell_c = [rot @ c + trans for c in self.ell_c]
        out.ell_rot = [rot @ r for r in self.ell_rot]
        out.ell_ax, out.ell_col = list(self.ell_ax), list(self.ell_col)
        out.box_c = [rot @ c + trans for c in self.box_c]
        out.box_rot = [rot @ r for r in self.box_rot]
        out.box_half, out.box_col = list(self.box_half), list(self.box_col)
        return out

    def points(self) -> np.ndarray:
        """[M,4]: x, y, z, radius of every volume's bounding sphere (for image bounding boxes)."""
        rows = [np.r_[a, r] for a, r in zip(self.cap_a, self.cap_r)]
        rows += [np.r_[b, r] for b, r in zip(self.cap_b, self.cap_r)]
        rows += [np.r_[c, ax.max()] for c, ax in zip(self.ell_c, self.ell_ax)]
        rows += [np.r_[c, np.linalg.norm(h)] for c, h in zip(self.box_c, self.box_half)]
        return np.array(rows) if rows else np.zeros((0, 4))


@dataclass(frozen=True)
class Covariates:
    """What a walk changes besides the person: carrying a bag, wearing a coat."""

    bag: bool = False
    coat: bool = False

    @property
    def condition(self) -> str:
        """CASIA-B condition code: nm (normal), bg (bag), cl (coat)."""
        return "cl" if self.coat else ("bg" if self.bag else "nm")


class BodyModel:
    """A person's segment lengths/radii, evaluated into volumes at any gait phase."""

    def __init__(self, person: Person, style: GaitStyle, cov: Covariates = Covariates()):
        self.person, self.style, self.cov = person, style, cov
        b: BodyShape = person.body
        h = b.height
        self.s = h / 1.70
        self.thigh = 0.245 * h * b.leg_ratio
        self.shank = 0.246 * h * b.leg_ratio
        self.ankle_h = 0.039 * h
        self.foot = 0.165 * h * b.foot_length  # shoe, not bare foot
        self.hip_half = 0.05 * h * b.hip_width
        self.sh_half = 0.105 * h * b.shoulder_width
        self.head_h = 0.135 * h * b.head_size
        self.neck_h = 0.048 * h * b.neck_length
        self.upper_arm = 0.186 * h * b.arm_length
        self.forearm = 0.146 * h * b.arm_length
        self.hand = 0.065 * h * b.arm_length
        hip_z = self.thigh + self.shank + self.ankle_h
        self.pelvis_above_hip = 0.03 * h
        shoulder_z = h - self.head_h - self.neck_h
        self.trunk = shoulder_z - hip_z - self.pelvis_above_hip
        shape = style.shape_array()
        self._shape_hip, self._shape_knee, self._shape_ankle = shape
        leg = self.thigh + self.shank
        self.leg_roll = float(np.degrees(np.arcsin(np.clip((self.hip_half - style.step_width / 2) / leg, -0.3, 0.3))))
        # Mean pelvis height over a cycle (to scale the bob around it) and walking speed.
        phases = np.linspace(0, 1, 60, endpoint=False)
        lows = np.array([self._legs(p)[1] for p in phases])
        self._mean_drop = float(lows.mean())
        self.speed = self._stance_speed()

    # --- joint angles -------------------------------------------------------------------
    def leg_angles(self, phase: float) -> tuple[float, float, float]:
        """(thigh angle from vertical, knee flexion, ankle dorsiflexion) in degrees."""
        st = self.style
        hip = curve(HIP_COEF, phase, st.hip_gain, st.hip_offset, self._shape_hip)
        knee = curve(KNEE_COEF, phase, st.knee_gain, st.knee_offset, self._shape_knee)
        ankle = curve(ANKLE_COEF, phase, st.ankle_gain, st.ankle_offset, self._shape_ankle)
        return float(hip - NORMAL_TILT), float(max(knee, 0.0)), float(ankle)

    def _leg_chain(self, phase: float, side: int) -> dict[str, np.ndarray]:
        """Joint positions of one leg relative to its hip joint (side +1 left, -1 right)."""
        th, kn, an = self.leg_angles(phase if side < 0 else phase + 0.5)
        roll = rot_x(-side * self.leg_roll)
        a_sh = th - kn
        d_th = roll @ np.array([np.sin(np.radians(th)), 0.0, -np.cos(np.radians(th))])
        d_sh = roll @ np.array([np.sin(np.radians(a_sh)), 0.0, -np.cos(np.radians(a_sh))])
        knee = d_th * self.thigh
        ankle = knee + d_sh * self.shank
        e = np.radians(a_sh + an)
        f = np.array([np.cos(e), 0.0, np.sin(e)])
        u = np.array([-np.sin(e), 0.0, np.cos(e)])
        rf = 0.023 * self.person.body.height
        heel = ankle - 0.12 * self.foot * f - (self.ankle_h - rf) * u
        toe = ankle + 0.66 * self.foot * f - (self.ankle_h - rf) * u
        return {"knee": knee, "ankle": ankle, "heel": heel, "toe": toe, "rf": np.array(rf)}

    def _legs(self, phase: float):
        """Both legs relative to the pelvis centre at height 0, and the lowest sole z."""
        yaw = self.style.pelvic_rotation * np.cos(2 * np.pi * phase)
        rp = rot_z(yaw)
        legs = {}
        low = np.inf
        for side in (1, -1):
            hip = rp @ np.array([0.0, side * self.hip_half, -self.pelvis_above_hip])
            ch = {k: (v + hip if v.ndim else v) for k, v in self._leg_chain(phase, side).items()}
            ch["hip"] = hip
            legs[side] = ch
            low = min(low, ch["heel"][2] - ch["rf"], ch["toe"][2] - ch["rf"])
        return legs, float(low)

    def _stance_speed(self) -> float:
        """Walking speed that keeps the stance foot planted (no foot skating).

        The heel is planted from heel strike to heel-off, then the foot rolls over the planted
        toes until toe-off, so the pelvis travels heel(0) - heel(ho) + toe(ho) - toe(to).
        """
        stride_time = 120.0 / self.style.cadence
        hs, ho, to = 0.0, 0.46, 0.60
        right = lambda ph: self._legs(ph)[0][-1]  # noqa: E731
        travel = (right(hs)["heel"][0] - right(ho)["heel"][0]) + (right(ho)["toe"][0] - right(to)["toe"][0])
        return float(max(travel / ((to - hs) * stride_time), 0.3))

    # --- volumes --------------------------------------------------------------------------
    def primitives(self, phase: float) -> Primitives:
        """Body volumes at ``phase`` (gait cycles since a right heel strike), body frame."""
        st, b, cl, s = self.style, self.person.body, self.person.clothing, self.s
        g = b.girth
        legs, low = self._legs(phase)
        pz = -low
        pz = -self._mean_drop + st.bob_gain * (pz + self._mean_drop)
        sway = -st.sway * np.sin(2 * np.pi * phase)
        pelvis = np.array([0.0, sway, pz])
        yaw = st.pelvic_rotation * np.cos(2 * np.pi * phase)
        r_pelvis = rot_z(yaw) @ rot_y(st.pelvic_tilt - NORMAL_TILT)
        r_torso = rot_z(-0.6 * yaw) @ rot_y(st.trunk_lean)
        r_head = r_torso @ rot_y(st.head_carriage)
        coat, bag = self.cov.coat, self.cov.bag
        shirt = np.array(cl.coat if coat else cl.shirt, float)
        # Everyday clothes add bulk over the body volumes (real silhouettes are of clothed people).
        cb = 0.022 * s * b.clothing_bulk
        pad = (0.02 * s if coat else 0.0) + cb
        P = Primitives()

        # Legs and feet.
        for ch in legs.values():
            hip, knee, ankle = pelvis + ch["hip"], pelvis + ch["knee"], pelvis + ch["ankle"]
            mid = hip + 0.5 * (knee - hip)
            P.capsule(hip, mid, 0.084 * s * g + cb, cl.trousers)
            P.capsule(mid, knee, 0.063 * s * g + cb, cl.trousers)
            calf = knee + 0.38 * (ankle - knee)
            P.capsule(knee, calf, 0.056 * s * g + cb, cl.trousers)
            P.capsule(calf, ankle, 0.041 * s * np.sqrt(g) + 0.8 * cb, cl.trousers)
            P.capsule(pelvis + ch["heel"], pelvis + ch["toe"], float(ch["rf"]), cl.shoes)
            if coat:  # coat flaps follow the thighs
                flap = hip + self.person.coat_length * (knee - hip)
                P.capsule(hip, flap, 0.084 * s * g + cb + 0.03 * s, cl.coat)

        # Pelvis, abdomen, chest, shoulders.
        P.ellipsoid(
            pelvis + np.array([0, 0, -0.01 * s]),
            r_pelvis,
            [0.11 * s * g + cb, self.hip_half + 0.08 * s * g + cb, 0.12 * s],
            cl.coat if coat else cl.trousers,
        )
        up_t = r_torso @ np.array([0, 0, 1.0])
        chest_c = pelvis + up_t * (0.94 * self.trunk - 0.2 * s)  # top of the chest at the shoulder line
        P.ellipsoid(
            pelvis + r_torso @ np.array([0.01 * s, 0, 0.32 * self.trunk]),
            r_torso,
            [0.115 * s * g * b.belly + pad, 0.14 * s * g + pad, 0.18 * s],
            shirt,
        )
        P.ellipsoid(
            chest_c, r_torso, [0.12 * s * g * np.sqrt(b.belly) + pad, self.sh_half * 0.92 + pad, 0.21 * s], shirt
        )
        sh_c = pelvis + up_t * self.trunk
        # Arm pivots (gleno-humeral joints) sit a little below the top of the shoulders.
        sh_l = sh_c + r_torso @ np.array([0, self.sh_half, -0.04 * s])
        sh_r = sh_c + r_torso @ np.array([0, -self.sh_half, -0.04 * s])
        # Shoulders slope down from the neck (trapezius), so the shoulder bar sits below the joints.
        P.capsule(
            sh_c + (sh_l - sh_c) * 0.8 - up_t * 0.075 * s,
            sh_c + (sh_r - sh_c) * 0.8 - up_t * 0.075 * s,
            0.06 * s * g + pad,
            shirt,
        )
        if coat:  # the long coat: a wide skirt from the waist down over the upper legs
            skirt_len = 0.30 * s + self.person.coat_length * self.thigh * 0.7
            P.ellipsoid(
                pelvis + r_pelvis @ np.array([0, 0, 0.06 * s - skirt_len * 0.5]),
                rot_z(yaw),
                [0.13 * s * g, self.hip_half + 0.105 * s * g, skirt_len * 0.62],
                cl.coat,
            )

        # Neck and head (hair is a slightly larger ellipsoid set back, so the face shows).
        neck_top = sh_c + r_head @ np.array([0, 0, self.neck_h + 0.01 * s])
        P.capsule(sh_c, neck_top, 0.055 * s * np.sqrt(g), cl.skin)
        hs = b.head_size
        head_c = neck_top + r_head @ np.array([0.012 * s, 0, self.head_h * 0.42])
        P.ellipsoid(head_c, r_head, [0.102 * s * hs, 0.088 * s * hs, self.head_h * 0.5], cl.skin)
        hv = b.hair
        P.ellipsoid(
            head_c + r_head @ np.array([-0.012 * s - 0.012 * s * hv, 0, 0.012 * s + 0.006 * s * hv]),
            r_head,
            [0.095 * s * hs + 0.008 * s * hv, 0.082 * s * hs + 0.01 * s * hv, self.head_h * 0.5 + 0.004 * s * hv],
            cl.hair,
        )

        # Arms: swing opposite to the same-side hip, slightly lagging; elbow flexes more forward.
        wrists = {}
        for side, sh in ((1, sh_l), (-1, sh_r)):
            leg_phase = phase + (0.5 if side > 0 else 0.0)
            hipn = (curve(HIP_COEF, leg_phase - 0.04) - _HIP_MEAN) / _HIP_RANGE_HALF
            swing = st.arm_swing
            carrying = bag and self.person.bag_kind == "handbag" and side == self.person.bag_side
            if carrying:
                swing *= 0.35
            alpha = st.arm_offset - 0.5 * swing * hipn
            fwd = -hipn  # +1 when the arm is forward
            elbow_flex = st.elbow_mean + 0.5 * st.elbow_range * np.clip(fwd, -1, 1)
            if carrying:
                elbow_flex *= 0.4
            abd = st.arm_abduction + (6.0 if coat else 0.0)
            rz = rot_z(-0.6 * yaw)
            d1 = rz @ rot_x(side * abd) @ np.array([np.sin(np.radians(alpha)), 0, -np.cos(np.radians(alpha))])
            a2 = alpha + elbow_flex
            d2 = rz @ rot_x(side * abd * 0.6) @ np.array([np.sin(np.radians(a2)), 0, -np.cos(np.radians(a2))])
            elbow = sh + d1 * self.upper_arm
            wrist = elbow + d2 * self.forearm
            P.capsule(sh, elbow, 0.045 * s * g + pad, shirt)
            P.capsule(elbow, wrist, 0.036 * s * g + pad * 0.8, shirt)
            P.capsule(wrist, wrist + d2 * self.hand, 0.03 * s, cl.skin)
            wrists[side] = wrist

        if bag:
            self._bag(P, phase, pelvis, r_pelvis, r_torso, chest_c, sh_l, sh_r, wrists)
        return P

    def _bag(self, P, phase, pelvis, r_pelvis, r_torso, chest_c, sh_l, sh_r, wrists) -> None:
        s, g, cl, side = self.s, self.person.body.girth, self.person.clothing, self.person.bag_side
        k = self.person.bag_size
        kind = self.person.bag_kind
        bulk = 0.022 * s * self.person.body.clothing_bulk
        if kind == "backpack":
            depth = 0.12 * s * g * np.sqrt(self.person.body.belly) + bulk
            c = chest_c + r_torso @ np.array([-(depth + 0.08 * s * k), 0, -0.03 * s])
            P.box(c, r_torso, [0.08 * s * k, 0.15 * s * k, 0.2 * s * k], cl.bag)
        elif kind == "handbag":
            w = wrists[side]
            c = w + np.array([0.0, 0.0, -0.11 * s * k])
            P.box(c, rot_z(0), [0.14 * s * k, 0.05 * s * k, 0.1 * s * k], cl.bag)
        else:  # shoulder bag on a cross-body strap, bouncing a little with the step
            swing = 0.025 * s * np.sin(2 * np.pi * phase)
            c = pelvis + r_pelvis @ np.array(
                [0.02 * s + swing, side * (self.hip_half + 0.14 * s * g + bulk + 0.02 * s * k), 0.03 * s]
            )
            P.box(c, rot_z(0) @ r_pelvis, [0.15 * s * k, 0.055 * s * k, 0.13 * s * k], cl.bag)
            top = c + np.array([0, 0, 0.13 * s * k])
            other = sh_r if side > 0 else sh_l
            P.capsule(other, top, 0.014 * s, cl.bag)
