"""Render scenes of synthetic walkers into video frames with exact per-person ground-truth masks.

Each frame: the static background (colour + depth, rendered once) -> every walker's volumes
ray-cast inside its projected bounding box with a z-buffer (people occlude each other and are
occluded by structure) -> soft contact shadows on the floor -> slow global lighting drift ->
lens blur -> sensor noise. Masks are the z-buffer owners, taken *before* blur and noise, so a
mask pixel is exactly a pixel where that person is the nearest surface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gaitpipe.errors import InputError
from gaitpipe.synth import raycast
from gaitpipe.synth.body import jitter_gait
from gaitpipe.synth.kinematics import rot_z
from gaitpipe.synth.scene import Background, Camera, Occluder, Walk, shade_factor
from gaitpipe.synth.skeleton import BodyModel


@dataclass
class Scene:
    """Walkers, camera, room and sensor settings of one clip (deterministic from ``seed``)."""

    walks: list[Walk]
    size: tuple[int, int] = (320, 240)  #: width, height
    fps: float = 25.0
    n_frames: int | None = None  #: None: as long as the (first) walker stays fully in view, capped
    max_frames: int = 100
    camera: Camera = field(default_factory=Camera)
    occluders: list[Occluder] = field(default_factory=list)
    wall_distance: float | None = None  #: None: 2.3 m behind the farthest walker
    seed: int = 0  #: background texture (the room)
    noise_seed: int | None = None  #: sensor noise and lighting drift (None: from ``seed``)
    noise_sigma: float = 2.0  #: sensor noise SD (grey levels)
    blur_sigma: float = 0.6  #: lens blur (pixels)
    lighting_amplitude: float = 0.05  #: relative amplitude of the slow lighting drift
    shadows: bool = True
    black_background: bool = False  #: people over pure black, no noise/blur/shadow (for mask tests)


@dataclass
class RenderedClip:
    """Frames and exact masks of a rendered scene."""

    frames: np.ndarray  #: [T, H, W, 3] uint8 BGR
    masks: np.ndarray  #: [T, n_people, H, W] bool, visible pixels of each walker
    person_ids: list[str]
    fps: float
    meta: dict[str, Any]

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def touches_border(self) -> np.ndarray:
        """[T, n_people] bool: the walker's mask reaches the image border (cut off)."""
        m = self.masks
        return np.asarray(
            m[:, :, 0, :].any(-1) | m[:, :, -1, :].any(-1) | m[:, :, :, 0].any(-1) | m[:, :, :, -1].any(-1)
        )


class _WalkState:
    """Per-walk precomputation: jittered gait, body model, speed, heading."""

    def __init__(self, walk: Walk):
        rng = np.random.default_rng([abs(hash_str(walk.person.person_id)), int(walk.jitter_seed)])
        style = jitter_gait(walk.person.gait, rng, walk.within_fraction)
        self.walk = walk
        self.model = BodyModel(walk.person, style, walk.covariates)
        self.phase0 = float(rng.uniform(0, 1))
        self.heading_jitter = float(rng.normal(0, 1.5)) if walk.within_fraction > 0 else 0.0
        h = walk.heading()
        ang = np.arctan2(h[1], h[0]) + np.radians(self.heading_jitter)
        self.dir = np.array([np.cos(ang), np.sin(ang)])
        self.rot = rot_z(np.degrees(ang))
        self.center = walk.path_center()
        self.cycles_per_s = style.cadence / 120.0

    def ground(self, t_rel: float) -> np.ndarray:
        """Floor position (x, y) at ``t_rel`` seconds from passing the path centre."""
        return self.center + self.dir * self.model.speed * t_rel

    def primitives(self, t_rel: float):
        g = self.ground(t_rel)
        phase = self.phase0 + t_rel * self.cycles_per_s
        return self.model.primitives(phase).transformed(self.rot, np.array([g[0], g[1], 0.0]))


def hash_str(text: str) -> int:
    """A stable (process-independent) small hash of a string, for seeding."""
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0x7FFFFFFF
    return h


def _auto_frames(state: _WalkState, camera: Camera, width: int, height: int, fps: float, cap: int) -> int:
    """Frames for which the walker stays fully in view, symmetric about the path centre."""
    hgt = state.walk.person.body.height
    best = 0.0
    for s in np.arange(0.05, 8.0, 0.05):
        ok = True
        for sign in (1, -1):
            g = state.center + state.dir * s * sign
            pts = np.array(
                [[g[0] + dx, g[1] + dy, z] for dx in (-0.4, 0.4) for dy in (-0.4, 0.4) for z in (0.0, hgt + 0.05)]
            )
            uv, z = camera.project(pts, width, height)
            if (
                (z < 0.5).any()
                or (uv[:, 0] < 1).any()
                or (uv[:, 0] > width - 2).any()
                or (uv[:, 1] < 1).any()
                or (uv[:, 1] > height - 2).any()
            ):
                ok = False
        if not ok:
            break
        best = s
    frames = int(2 * best / state.model.speed * fps)
    return int(np.clip(frames, 20, cap))


def _layout(scene: Scene) -> tuple[list[_WalkState], int, float]:
    """Walk states, clip length and back-wall distance of a scene."""
    width, height = scene.size
    states = [_WalkState(w) for w in scene.walks]
    n_frames = scene.n_frames or _auto_frames(states[0], scene.camera, width, height, scene.fps, scene.max_frames)
    far = max(
        float(np.linalg.norm(s.center)) + s.model.speed * n_frames / scene.fps / 2 * abs(s.dir[1]) for s in states
    )
    wall = scene.wall_distance if scene.wall_distance is not None else max(far + 2.3, 6.0)
    return states, n_frames, wall


def empty_frame(scene: Scene) -> np.ndarray:
    """The empty room as the scene's camera sees it (uint8 BGR, no people, noise or drift).

    What a user would record before anyone walks in: the ``background`` of a bgsub segmenter.
    """
    if not scene.walks:
        raise InputError("a scene needs at least one walk")
    _, _, wall = _layout(scene)
    bg = Background(seed=scene.seed, wall_distance=wall, occluders=list(scene.occluders))
    col, _, _ = bg.render(scene.camera, *scene.size)
    return np.clip(np.round(col), 0, 255).astype(np.uint8)


def render_scene(scene: Scene) -> RenderedClip:
    """Render every frame of ``scene``: frames, exact visible masks per walker, metadata."""
    if not scene.walks:
        raise InputError("a scene needs at least one walk")
    width, height = scene.size
    if width < 16 or height < 16:
        raise InputError(f"frame size {width}x{height} is too small")
    if scene.fps <= 0:
        raise InputError(f"fps must be positive, got {scene.fps}")
    if scene.n_frames is not None and scene.n_frames < 1:
        raise InputError(f"n_frames must be at least 1, got {scene.n_frames}")
    cam = scene.camera
    states, n_frames, wall = _layout(scene)
    rng = np.random.default_rng([int(scene.seed if scene.noise_seed is None else scene.noise_seed), 7])

    if scene.black_background:
        bg_col = np.zeros((height, width, 3), np.float32)
        bg_depth = np.full((height, width), np.inf)
        floor_xy = np.full((height, width, 2), np.nan)
        if scene.occluders:  # occluders still hide people (drawn black)
            bg = Background(seed=scene.seed, wall_distance=1e6, occluders=list(scene.occluders))
            _, d, _ = bg.render(cam, width, height)
            bg_depth = np.where(d < 1e5, d, np.inf)
    else:
        bg = Background(seed=scene.seed, wall_distance=wall, occluders=list(scene.occluders))
        bg_col, bg_depth, floor_xy = bg.render(cam, width, height)
    rays = cam.rays(width, height)
    origin = cam.basis()[0]
    floor_pix = np.isfinite(floor_xy[..., 0])
    light_phase = float(rng.uniform(0, 2 * np.pi))
    light_period = float(rng.uniform(8.0, 20.0))  # seconds: a slow drift (clouds, flicker-free lamps)

    frames = np.empty((n_frames, height, width, 3), np.uint8)
    masks = np.zeros((n_frames, len(states), height, width), bool)
    mid = (n_frames - 1) / 2.0 / scene.fps
    for i in range(n_frames):
        t = i / scene.fps
        img = bg_col.copy()
        depth = bg_depth.copy()
        owner = np.full((height, width), -1, np.int16)
        grounds = []
        for k, st in enumerate(states):
            t_rel = t - mid - st.walk.time_offset
            prims = st.primitives(t_rel)
            grounds.append((st.ground(t_rel), st.walk.person.body.height))
            box = _bbox(prims.points(), cam, width, height)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            box_of = _sub_boxer(cam, width, height, x0, y0, x1, y1)
            t_hit, col, nrm = raycast.cast(origin, rays[y0:y1, x0:x1], prims, box_of)
            t_hit, col, nrm = t_hit.reshape(-1), col.reshape(-1, 3), nrm.reshape(-1, 3)
            sub_depth = depth[y0:y1, x0:x1].reshape(-1)
            vis = t_hit < sub_depth
            if not vis.any():
                continue
            sub_img = img[y0:y1, x0:x1].reshape(-1, 3)
            sub_own = owner[y0:y1, x0:x1].reshape(-1)
            sub_img[vis] = col[vis] * shade_factor(nrm[vis])[:, None]
            sub_depth[vis] = t_hit[vis]
            sub_own[vis] = k
            img[y0:y1, x0:x1] = sub_img.reshape(y1 - y0, x1 - x0, 3)
            depth[y0:y1, x0:x1] = sub_depth.reshape(y1 - y0, x1 - x0)
            owner[y0:y1, x0:x1] = sub_own.reshape(y1 - y0, x1 - x0)
        for k in range(len(states)):
            masks[i, k] = owner == k
        if scene.black_background:
            frames[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)
            continue
        if scene.shadows:
            free = floor_pix & (owner < 0)
            if free.any():
                xy = floor_xy[free]
                dark = np.ones(xy.shape[0])
                for g, hgt in grounds:
                    d2 = ((xy - (g + np.array([0.12, 0.18]))) ** 2).sum(1)
                    dark *= 1.0 - 0.35 * np.exp(-d2 / (2 * (0.16 * hgt) ** 2))
                img[free] *= dark[:, None].astype(np.float32)
        gain = 1.0 + scene.lighting_amplitude * np.sin(2 * np.pi * t / light_period + light_phase)
        img *= np.float32(gain)
        if scene.blur_sigma > 0:
            img = cv2.GaussianBlur(img, (0, 0), scene.blur_sigma)
        if scene.noise_sigma > 0:
            img += rng.standard_normal(size=img.shape, dtype=np.float32) * np.float32(scene.noise_sigma)
        frames[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)

    meta = {
        "size": [width, height],
        "fps": scene.fps,
        "n_frames": n_frames,
        "seed": scene.seed,
        "camera": {"height": cam.height, "pitch": cam.pitch, "focal": cam.focal},
        "wall_distance": wall,
        "occluders": [{"center": list(o.center), "half": list(o.half)} for o in scene.occluders],
        "walks": [
            {
                "person_id": st.walk.person.person_id,
                "walk_id": st.walk.walk_id,
                "view": st.walk.view,
                "condition": st.walk.covariates.condition,
                "direction": st.walk.direction,
                "center": st.center.tolist(),
                "heading": st.dir.tolist(),
                "jitter_seed": st.walk.jitter_seed,
                "speed_mps": round(st.model.speed, 4),
                "cadence": round(st.model.style.cadence, 3),
                "stride_m": round(st.model.speed * 120.0 / st.model.style.cadence, 4),
                "time_offset": st.walk.time_offset,
            }
            for st in states
        ],
    }
    return RenderedClip(frames, masks, [w.person.person_id for w in scene.walks], scene.fps, meta)


def _sub_boxer(cam: Camera, width: int, height: int, x0: int, y0: int, x1: int, y1: int):
    """A function mapping bounding spheres to a pixel rectangle relative to the box (x0, y0)."""

    f = cam.intrinsics(width, height)[0]

    def box_of(centres: list[np.ndarray], radii: list[np.ndarray]) -> list:
        counts = [len(c) for c in centres]
        pts = np.concatenate(centres)
        rad = np.concatenate(radii)
        uv, z = cam.project(pts, width, height)
        rpx = f * rad / np.maximum(z, 1e-6) + 2
        lo = np.floor(uv - rpx[:, None]).astype(int)
        hi = np.ceil(uv + rpx[:, None]).astype(int) + 1
        out: list[tuple[int, int, int, int] | None] = []
        k = 0
        for n in counts:
            if (z[k : k + n] < 0.2).any():
                out.append((0, 0, x1 - x0, y1 - y0))
            else:
                bx0, by0 = max(lo[k : k + n, 0].min(), x0), max(lo[k : k + n, 1].min(), y0)
                bx1, by1 = min(hi[k : k + n, 0].max(), x1), min(hi[k : k + n, 1].max(), y1)
                out.append(None if (bx1 <= bx0 or by1 <= by0) else (bx0 - x0, by0 - y0, bx1 - x0, by1 - y0))
            k += n
        return out

    return box_of


def _bbox(points: np.ndarray, cam: Camera, width: int, height: int):
    """Pixel box [x0, y0, x1, y1) that contains every projected volume, or None when off-screen."""
    if len(points) == 0:
        return None
    uv, z = cam.project(points[:, :3], width, height)
    if (z < 0.2).any():
        return 0, 0, width, height
    f = cam.intrinsics(width, height)[0]
    rpx = f * points[:, 3] / z + 2
    x0 = int(np.floor(np.min(uv[:, 0] - rpx)))
    x1 = int(np.ceil(np.max(uv[:, 0] + rpx))) + 1
    y0 = int(np.floor(np.min(uv[:, 1] - rpx)))
    y1 = int(np.ceil(np.max(uv[:, 1] + rpx))) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def render_walk(
    walk: Walk,
    *,
    size: tuple[int, int] = (320, 240),
    fps: float = 25.0,
    n_frames: int | None = None,
    seed: int = 0,
    **scene_options: Any,
) -> RenderedClip:
    """Render one walker alone in the room (CASIA-B-like clip). ``scene_options`` go to :class:`Scene`."""
    return render_scene(Scene(walks=[walk], size=size, fps=fps, n_frames=n_frames, seed=seed, **scene_options))


_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def write_clip(clip: RenderedClip, path: str | Path) -> Path:
    """Write the frames as a video (``.mp4``: MPEG-4 part 2, ``.avi``: Motion-JPEG)."""
    path = Path(path)
    fourcc = _FOURCC.get(path.suffix.lower())
    if fourcc is None:
        raise InputError(f"cannot write {path.name}: use a .mp4 or .avi file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = clip.frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), float(clip.fps), (width, height))
    if not writer.isOpened():
        raise InputError(f"OpenCV cannot write {path} (codec {fourcc} unavailable)")
    try:
        for frame in clip.frames:
            writer.write(np.ascontiguousarray(frame))
    finally:
        writer.release()
    if not path.is_file() or path.stat().st_size == 0:
        raise InputError(f"OpenCV wrote nothing to {path}")
    return path
