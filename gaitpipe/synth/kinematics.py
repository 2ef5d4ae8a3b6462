"""Normative walking kinematics as Fourier series, and the forward kinematics of one walker.

The sagittal joint-angle curves follow published clinical normals for healthy adults (Clinical
Gait Analysis normals, Perry's gait analysis, Schwartz et al. 2008 on walking speed; figures in
docs/synthetic-walkers.md): hip, knee, ankle over a gait cycle that starts at heel strike.
Each curve is given as key points, turned into a smooth periodic curve by a least-squares fit
of a few Fourier harmonics (what gait labs publish as "Fourier fits"), so a person's gait is the
normal curve plus per-person offsets/gains, and a walk adds small jitter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

#: Number of harmonics in the Fourier fits (enough for the knee's stance bump).
HARMONICS = 6

# Key points (percent of the gait cycle from heel strike, degrees). Positive = flexion
# (dorsiflexion for the ankle). Values from the published normals above; the in-between points
# shape the stance/swing phases as in the published normal curves.
_HIP_KEYS = [(0, 36), (10, 34), (30, 16), (45, 3), (53, -2), (60, 2), (70, 18), (80, 32), (87, 37), (95, 36)]
_KNEE_KEYS = [(0, 8), (6, 14), (14, 19), (25, 12), (40, 5), (50, 10), (60, 38), (71, 65), (80, 50), (90, 15), (96, 2)]
_ANKLE_KEYS = [(0, 2), (7, -5), (20, 4), (35, 10), (45, 14), (52, 8), (62, -15), (70, -8), (80, 1), (90, 2)]


def _fit_fourier(keys: Sequence[tuple[float, float]], harmonics: int = HARMONICS) -> np.ndarray:
    """Fourier coefficients [a0, a1, b1, a2, b2, ...] of the periodic curve through ``keys``."""
    pct = np.array([k[0] for k in keys], float) / 100.0
    val = np.array([k[1] for k in keys], float)
    # Dense periodic linear interpolation, then least squares (smooths the corners).
    dense = np.linspace(0.0, 1.0, 400, endpoint=False)
    ys = np.interp(dense, np.concatenate([pct - 1, pct, pct + 1]), np.tile(val, 3))
    basis = fourier_basis(dense, harmonics)
    coef, *_ = np.linalg.lstsq(basis, ys, rcond=None)
    return coef


def fourier_basis(phase: np.ndarray, harmonics: int = HARMONICS) -> np.ndarray:
    """[len(phase), 1 + 2*harmonics] design matrix: 1, cos(2πkp), sin(2πkp)."""
    phase = np.asarray(phase, float)
    cols = [np.ones_like(phase)]
    for k in range(1, harmonics + 1):
        cols += [np.cos(2 * np.pi * k * phase), np.sin(2 * np.pi * k * phase)]
    return np.stack(cols, axis=-1)


HIP_COEF = _fit_fourier(_HIP_KEYS)
KNEE_COEF = _fit_fourier(_KNEE_KEYS)
ANKLE_COEF = _fit_fourier(_ANKLE_KEYS)


@overload
def curve(
    coef: np.ndarray, phase: float, gain: float = 1.0, offset: float = 0.0, shape: np.ndarray | None = None
) -> float: ...
@overload
def curve(
    coef: np.ndarray, phase: np.ndarray, gain: float = 1.0, offset: float = 0.0, shape: np.ndarray | None = None
) -> np.ndarray: ...
def curve(
    coef: np.ndarray, phase: float | np.ndarray, gain: float = 1.0, offset: float = 0.0, shape: np.ndarray | None = None
) -> float | np.ndarray:
    """Evaluate a Fourier curve: ``offset + mean + gain * (periodic part)``.

    ``gain`` scales the range (faster walkers swing more), ``offset`` shifts the mean, and
    ``shape`` (same length as ``coef``) adds a person's small harmonic deviations.
    """
    c = coef.copy()
    if shape is not None:
        c = c + shape
    base = fourier_basis(np.asarray(phase) % 1.0, (len(c) - 1) // 2)
    periodic = base[..., 1:] @ c[1:]
    return offset + c[0] + gain * periodic


@dataclass
class Pose:
    """Joint positions of one walker at one instant, body frame (metres).

    Body frame: x forward (walking direction), y to the walker's left, z up, origin on the
    floor below the pelvis centre. ``joints`` maps joint name -> [3] position; ``frames`` maps
    a segment name -> 3x3 rotation (columns: the segment's forward, left, up axes).
    """

    joints: dict[str, np.ndarray]
    frames: dict[str, np.ndarray]


def rot_y(deg: float) -> np.ndarray:
    """Rotation about the body's left (y) axis; positive tips +z toward +x (flexion forward)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(deg: float) -> np.ndarray:
    """Rotation about the vertical axis (yaw), positive turns +x toward +y."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def rot_x(deg: float) -> np.ndarray:
    """Rotation about the forward (x) axis (roll), positive tips +z toward -y... i.e. +y toward +z."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
