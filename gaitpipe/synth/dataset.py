"""A synthetic CASIA-B-like dataset: people x conditions x walks x views, as videos + exact masks.

Layout written under ``out_dir``::

    videos/SSS-CC-NN-VVV.avi        CASIA-B naming (subject, nm/bg/cl, walk, view) so that
                                    ``gaitpipe extract-silhouettes`` parses it
    masks/SSS-CC-NN-VVV.npz         ground truth: ``masks`` [T, H, W] bool (compressed)
    backgrounds/VVV.png             the empty room seen by each view's camera (for bgsub)
    silhouettes/SSS/CC-NN/VVV/VVV.pkl   (optional) OpenGait-normalised GT silhouettes, uint8 T x 64 x 64
    manifest.json                   people (body, gait, clothes), walks, seeds, per-clip metadata

Like CASIA-B's eleven cameras filming one walk at once, every view of a walk shares the same
within-person gait realisation (same jitter seed); only the camera differs.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gaitpipe.errors import InputError, SettingError
from gaitpipe.synth.body import Person
from gaitpipe.synth.render import Scene, hash_str, render_scene, write_clip
from gaitpipe.synth.scene import Background, Camera, Walk
from gaitpipe.synth.skeleton import Covariates
from gaitpipe.utils.console import progress as progress_bar

CASIAB_VIEWS = tuple(range(0, 181, 18))


@dataclass
class DatasetReport:
    """What :func:`generate_dataset` wrote."""

    out_dir: Path
    videos: list[Path] = field(default_factory=list)
    silhouette_sequences: int = 0
    frames: int = 0
    manifest: Path | None = None
    skipped_silhouettes: list[str] = field(default_factory=list)  #: clips with no usable frame


def wall_distance_for_view(view: float) -> float:
    """The back wall of a view's room: behind the farthest point of a default walk path."""
    c = abs(np.cos(np.radians(view)))
    return 3.8 + 2.4 * c + 2.3 + 2.6 * c


def scene_seed(seed: int, view: int) -> int:
    """One room (texture, structure) per camera view, as in a fixed multi-camera studio."""
    return int(np.random.default_rng([seed, view, 11]).integers(0, 2**31 - 1))


def normalize_clip_masks(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GT masks [T, H, W] bool -> (OpenGait 64 x 64 uint8 frames [T', 64, 64], kept frame indices).

    Frames where the walker touches the image border are left out (CASIA-B's official
    silhouettes drop partly visible frames too), and so are frames OpenGait would drop.
    """
    from gaitpipe.silhouette.normalize import normalize_mask

    out, kept = [], []
    for i, m in enumerate(masks):
        if m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any():
            continue
        frame, _ = normalize_mask(m.astype(np.uint8) * 255)
        if frame is not None:
            out.append(frame)
            kept.append(i)
    frames = np.stack(out) if out else np.zeros((0, 64, 64), np.uint8)
    return frames, np.asarray(kept, np.int64)


def generate_dataset(
    out_dir: str | Path,
    *,
    people: int = 10,
    walks: int = 6,
    views: list[int] | tuple[int, ...] = CASIAB_VIEWS,
    bag: bool = False,
    coat: bool = False,
    bag_walks: int = 2,
    coat_walks: int = 2,
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    fps: float = 25.0,
    n_frames: int | None = None,
    silhouettes: bool = False,
    video_ext: str = ".avi",
    progress: bool = True,
) -> DatasetReport:
    """Render a CASIA-B-like synthetic dataset (see the module docstring for the layout).

    ``people`` identities x (``walks`` normal walks, + ``bag_walks`` with a bag when ``bag``,
    + ``coat_walks`` in a coat when ``coat``) x ``views``. Deterministic from ``seed``.
    ``n_frames`` None: each clip lasts while the walker is fully in view (capped at 100 frames).
    """
    if people < 1 or people > 999:
        raise SettingError(f"the number of people must be between 1 and 999, got {people}", "people")
    if walks < 0 or walks > 99 or bag_walks < 0 or coat_walks < 0:
        raise InputError("walk counts must be between 0 and 99")
    views = [int(v) for v in views]
    if not views:
        raise InputError("give at least one view")
    bad = [v for v in views if not 0 <= v <= 180]
    if bad:
        raise InputError(f"views must be 0..180 degrees, got {bad}")
    if video_ext not in (".avi", ".mp4"):
        raise InputError(f"video format must be .avi or .mp4, got {video_ext}")
    conditions: list[tuple[str, int, Covariates]] = [("nm", k + 1, Covariates()) for k in range(walks)]
    if bag:
        conditions += [("bg", k + 1, Covariates(bag=True)) for k in range(bag_walks)]
    if coat:
        conditions += [("cl", k + 1, Covariates(coat=True)) for k in range(coat_walks)]
    if not conditions:
        raise InputError("nothing to render: no walks requested")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "videos").mkdir(exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    (out / "backgrounds").mkdir(exist_ok=True)
    report = DatasetReport(out_dir=out)
    width, height = size

    # The empty room per view (what a bgsub user would record before anyone walks in).
    for v in views:
        col, _, _ = Background(seed=scene_seed(seed, v), wall_distance=wall_distance_for_view(v)).render(
            Camera(), width, height
        )
        cv2.imwrite(str(out / "backgrounds" / f"{v:03d}.png"), np.clip(np.round(col), 0, 255).astype(np.uint8))

    persons = [Person.random(np.random.default_rng([seed, i + 1]), f"{i + 1:03d}") for i in range(people)]
    records = []
    total = len(persons) * len(conditions) * len(views)
    with progress_bar(total, "rendering", unit="clip", enabled=progress) as bar:
        for person in persons:
            for cond, k, cov in conditions:
                jitter = int(
                    np.random.default_rng([seed, hash_str(person.person_id), hash_str(cond), k]).integers(0, 2**31 - 1)
                )
                for v in views:
                    name = f"{person.person_id}-{cond}-{k:02d}-{v:03d}"
                    walk = Walk(person, view=float(v), covariates=cov, jitter_seed=jitter, walk_id=f"{cond}-{k:02d}")
                    scene = Scene(
                        walks=[walk],
                        size=size,
                        fps=fps,
                        n_frames=n_frames,
                        wall_distance=wall_distance_for_view(v),
                        seed=scene_seed(seed, v),
                        noise_seed=hash_str(name) + seed,
                    )
                    clip = render_scene(scene)
                    video = write_clip(clip, out / "videos" / f"{name}{video_ext}")
                    np.savez_compressed(out / "masks" / f"{name}.npz", masks=clip.masks[:, 0])
                    rec = {
                        "video": f"videos/{video.name}",
                        "masks": f"masks/{name}.npz",
                        "subject": person.person_id,
                        "condition": cond,
                        "sequence": f"{k:02d}",
                        "view": f"{v:03d}",
                        "frames": len(clip),
                        "jitter_seed": jitter,
                        "scene_seed": scene.seed,
                        "meta": clip.meta,
                    }
                    if silhouettes:
                        sil, kept = normalize_clip_masks(clip.masks[:, 0])
                        if len(sil):
                            d = out / "silhouettes" / person.person_id / f"{cond}-{k:02d}" / f"{v:03d}"
                            d.mkdir(parents=True, exist_ok=True)
                            with open(d / f"{v:03d}.pkl", "wb") as f:
                                pickle.dump(sil, f)
                            report.silhouette_sequences += 1
                            rec["silhouettes"] = str((d / f"{v:03d}.pkl").relative_to(out))
                            rec["silhouette_frames"] = kept.tolist()
                        else:
                            report.skipped_silhouettes.append(name)
                    records.append(rec)
                    report.videos.append(video)
                    report.frames += len(clip)
                    bar.update(1)

    manifest = {
        "generator": "gaitpipe.synth",
        "version": 1,
        "seed": seed,
        "size": [width, height],
        "fps": fps,
        "views": views,
        "conditions": [f"{c}-{k:02d}" for c, k, _ in conditions],
        "people": [p.to_dict() for p in persons],
        "clips": records,
    }
    report.manifest = out / "manifest.json"
    report.manifest.write_text(json.dumps(manifest, indent=1))
    return report
