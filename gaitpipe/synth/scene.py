"""Camera, static background and walks: everything a synthetic clip is made of.

World frame: X to the right of the camera, Y away from it (depth), Z up; the floor is Z = 0.
A walk's *view* is the angle between the walking direction and the line from the walker's path
centre to the camera: 0 = walking towards the camera, 90 = side view (CASIA-B 090: the walker
crosses right to left and shows the camera their left side), 180 = walking away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gaitpipe.synth.body import WITHIN_FRACTION, Person
from gaitpipe.synth.skeleton import Covariates


@dataclass(frozen=True)
class Camera:
    """A level-ish pinhole camera at ``height`` metres, looking along +Y, pitched ``pitch`` deg down.

    ``focal`` is in pixels for a 320-pixel-wide image and scales with the width (CASIA-B-like
    framing: a 1.7 m person 3.8 m away is about 135 px tall at 320 x 240).
    """

    height: float = 0.95
    pitch: float = 2.0
    focal: float = 300.0

    def intrinsics(self, width: int, height: int) -> tuple[float, float, float]:
        f = self.focal * width / 320.0
        return f, width / 2.0 - 0.5, height / 2.0 - 0.5

    def basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(centre, right, down, forward) in world coordinates."""
        p = np.radians(self.pitch)
        fwd = np.array([0.0, np.cos(p), -np.sin(p)])
        down = np.array([0.0, -np.sin(p), -np.cos(p)])
        return np.array([0.0, 0.0, self.height]), np.array([1.0, 0.0, 0.0]), down, fwd

    def rays(self, width: int, height: int) -> np.ndarray:
        """[H, W, 3] unit ray directions through pixel centres (world frame)."""
        f, cx, cy = self.intrinsics(width, height)
        _, right, down, fwd = self.basis()
        u, v = np.meshgrid(np.arange(width, dtype=float), np.arange(height, dtype=float))
        d = ((u - cx) / f)[..., None] * right + ((v - cy) / f)[..., None] * down + fwd
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def project(self, points: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """World points [M,3] -> (pixels [M,2], depth along the optical axis [M])."""
        f, cx, cy = self.intrinsics(width, height)
        c, right, down, fwd = self.basis()
        rel = points - c
        z = rel @ fwd
        zs = np.where(z > 1e-6, z, 1e-6)
        return np.stack([cx + f * (rel @ right) / zs, cy + f * (rel @ down) / zs], axis=1), z


@dataclass(frozen=True)
class Occluder:
    """A static box in the scene (world coordinates, axis aligned): a pillar, a bin, a counter."""

    center: tuple[float, float, float]
    half: tuple[float, float, float]
    colour: tuple[int, int, int] = (90, 110, 120)


@dataclass(frozen=True)
class Walk:
    """One walker crossing the scene once.

    ``direction`` +1 walks CASIA-B's way (right to left at view 90), -1 mirrors it.
    ``center`` is the floor point (x, depth) passed at mid-clip plus ``time_offset`` seconds;
    None puts it on the optical axis at a distance that keeps the whole walker in view.
    ``jitter_seed`` draws the within-person variation of this walk (gait jitter, start phase).
    """

    person: Person
    view: float = 90.0
    covariates: Covariates = field(default_factory=Covariates)
    direction: int = 1
    center: tuple[float, float] | None = None
    jitter_seed: int = 0
    time_offset: float = 0.0
    within_fraction: float = WITHIN_FRACTION
    walk_id: str = "01"

    def path_center(self) -> np.ndarray:
        if self.center is not None:
            return np.asarray(self.center, float)
        # Side views stay close (large, CASIA-B-like); frontal views need room to approach.
        return np.array([0.0, 3.8 + 2.4 * abs(np.cos(np.radians(self.view)))])

    def heading(self) -> np.ndarray:
        """Unit walking direction on the floor (world x, y)."""
        c = self.path_center()
        to_cam = -c / max(np.linalg.norm(c), 1e-9)
        th = np.radians(self.view) * (1 if self.direction >= 0 else -1)
        # Rotate the to-camera direction clockwise by the view angle (+1) or anticlockwise (-1).
        rot = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
        return rot @ to_cam


@dataclass
class Background:
    """A static, textured room: tiled floor, a painted wall with markers, a pillar and a bench.

    Rendered once per clip into colour + depth (the depth lets walkers pass behind structure).
    """

    seed: int = 0
    wall_distance: float = 7.0
    occluders: list[Occluder] = field(default_factory=list)

    def render(self, camera: Camera, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(colour [H,W,3] float32 BGR 0..255, depth [H,W] (ray length), floor_xy [H,W,2] or nan)."""
        from gaitpipe.synth import raycast
        from gaitpipe.synth.skeleton import Primitives

        rng = np.random.default_rng(self.seed)
        rd = camera.rays(width, height).reshape(-1, 3)
        c = camera.basis()[0]
        n = rd.shape[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            t_floor = np.where(rd[:, 2] < -1e-6, -c[2] / rd[:, 2], np.inf)
            t_wall = np.where(rd[:, 1] > 1e-6, (self.wall_distance - c[1]) / rd[:, 1], np.inf)
        on_floor = t_floor < t_wall
        t = np.where(on_floor, t_floor, t_wall)
        p = c[None] + rd * np.where(np.isfinite(t), t, 0)[:, None]

        floor_base = rng.uniform(110, 200, size=3)
        wall_base = rng.uniform(120, 220, size=3)
        marker = rng.uniform(30, 200, size=3)
        tile = rng.uniform(0.4, 0.8)
        colour = np.zeros((n, 3))
        # Floor: tiles with darker grout, low-frequency stains and a little grain.
        fx, fy = p[:, 0], p[:, 1]
        grout = np.minimum(np.abs(((fx / tile) % 1) - 0.5), np.abs(((fy / tile) % 1) - 0.5)) > 0.47
        stain = self._noise(rng, fx, fy, 1.3) * 18 + self._noise(rng, fx, fy, 0.25) * 8
        fcol = floor_base[None] * (1 - 0.18 * grout[:, None]) + stain[:, None]
        # Wall: vertical gradient, skirting board, marker squares (like CASIA-B's calibration strips).
        wx, wz = p[:, 0], p[:, 2]
        wcol = wall_base[None] * (1.0 - 0.05 * wz[:, None]) + self._noise(rng, wx, wz, 0.8)[:, None] * 10
        skirting = wz < 0.12
        wcol[skirting] = wall_base * 0.6
        strip_x = rng.uniform(-3, 3, size=3)
        for sx in strip_x:
            sq = (np.abs(wx - sx) < 0.07) & ((wz % 0.35) < 0.15) & (wz > 0.2) & (wz < 2.3)
            wcol[sq] = marker
        poster_x, poster_z = rng.uniform(-4, 4), rng.uniform(1.1, 1.7)
        poster = (np.abs(wx - poster_x) < 0.45) & (np.abs(wz - poster_z) < 0.3)
        wcol[poster] = rng.uniform(20, 230, size=3) * (0.8 + 0.2 * np.sin(wx[poster] * 20))[:, None]
        colour = np.where(on_floor[:, None], fcol, wcol)
        # Vignetting and a soft light gradient across the room.
        u = np.tile(np.linspace(-1, 1, width), height)
        v = np.repeat(np.linspace(-1, 1, height), width)
        colour *= (1 - 0.12 * (u**2 + v**2))[:, None] * (1 + 0.06 * u)[:, None]

        # Structure (a pillar and a bench near the wall) and user occluders, lit like the people.
        prims = Primitives()
        eye = np.eye(3)
        px = rng.uniform(-2.5, 2.5)
        prims.box([px, self.wall_distance - 0.35, 1.4], eye, [0.25, 0.25, 1.4], rng.uniform(80, 200, size=3))
        bx = px + rng.choice([-1.6, 1.6])
        prims.box([bx, self.wall_distance - 0.3, 0.22], eye, [0.6, 0.2, 0.22], rng.uniform(40, 160, size=3))
        for occ in self.occluders:
            prims.box(list(occ.center), eye, list(occ.half), occ.colour)
        t_s, col_s, nrm_s = raycast.cast(c, rd, prims)
        nearer = t_s < t
        shade = shade_factor(nrm_s[nearer])
        colour[nearer] = col_s[nearer] * shade[:, None]
        t = np.where(nearer, t_s, t)
        floor_xy = np.where((on_floor & ~nearer)[:, None], p[:, :2], np.nan)
        return (
            colour.reshape(height, width, 3).astype(np.float32),
            t.reshape(height, width),
            floor_xy.reshape(height, width, 2),
        )

    @staticmethod
    def _noise(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
        """Smooth value noise in [-1, 1] at world coordinates (bilinear lookup of a random grid)."""
        grid = rng.uniform(-1, 1, size=(64, 64))
        gx = np.nan_to_num(x / scale, nan=0.0, posinf=0.0, neginf=0.0) % 64
        gy = np.nan_to_num(y / scale, nan=0.0, posinf=0.0, neginf=0.0) % 64
        x0, y0 = np.floor(gx).astype(int) % 64, np.floor(gy).astype(int) % 64
        fx, fy = (gx - np.floor(gx)), (gy - np.floor(gy))
        x1, y1 = (x0 + 1) % 64, (y0 + 1) % 64
        top = grid[y0, x0] * (1 - fx) + grid[y0, x1] * fx
        bot = grid[y1, x0] * (1 - fx) + grid[y1, x1] * fx
        return top * (1 - fy) + bot * fy


#: Light from above, in front and to the left of the camera (world frame).
LIGHT_DIR = np.array([-0.35, -0.55, 0.75]) / np.linalg.norm([-0.35, -0.55, 0.75])
AMBIENT, DIFFUSE = 0.5, 0.6


def shade_factor(normals: np.ndarray) -> np.ndarray:
    """Lambert shading factor per normal (never 0, so a drawn pixel is never pure black)."""
    return AMBIENT + DIFFUSE * np.clip(normals @ LIGHT_DIR, 0.0, 1.0)
