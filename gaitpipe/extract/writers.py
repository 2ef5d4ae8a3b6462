"""Writing one video's chosen tracks: OpenGait pickles, and optional PNG frames and previews."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitpipe.extract.naming import casiab_parts, track_paths
from gaitpipe.extract.preview import contact_sheet, gait_energy_image
from gaitpipe.utils.files import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.extract.core import VideoSilhouettes
    from gaitpipe.extract.discovery import Job
    from gaitpipe.extract.options import ExtractOptions


def write_pickle(path: Path, array: np.ndarray) -> None:
    """Pickle a numpy array the way OpenGait loads it (``pickle.load`` -> ndarray)."""
    atomic_write_bytes(path, pickle.dumps(np.ascontiguousarray(array), protocol=4))


def write_png(path: Path, image: np.ndarray) -> None:
    """A PNG, not synced to disk: previews are cheap to recreate."""
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - cv2 always encodes uint8 images
        raise OSError(f"cannot encode {path.name}")
    atomic_write_bytes(path, buf.tobytes(), sync=False)


def write_tracks(
    out_dir: Path, job: Job, video: VideoSilhouettes, options: ExtractOptions
) -> tuple[list[str], list[dict[str, Any]]]:
    """Write the chosen tracks; returns (output paths relative to out_dir, track records)."""
    import cv2

    def rel(path: Path) -> str:
        return path.relative_to(out_dir).as_posix()

    # A CASIA-B slot holds one walker: the longest usable track (sequences are longest first).
    chosen = video.sequences[:1] if casiab_parts(job.path) else video.sequences
    chosen_ids = {s.track_id for s in chosen}
    outputs: list[str] = []
    records = {r["track_id"]: dict(r) for r in video.manifest["tracks"]}
    for seq in video.sequences:
        if seq.track_id not in chosen_ids:
            records[seq.track_id]["status"] = "not_main_walker"
    for seq in chosen:
        paths = track_paths(out_dir, job.path, seq.track_id, job.key)
        rgb = seq.rgb if options.rgb else None
        files: dict[str, str] = {}
        write_pickle(paths.silhouettes, seq.frames.astype(np.uint8))
        files["silhouettes"] = rel(paths.silhouettes)
        if rgb is not None:
            write_pickle(paths.rgb, rgb.astype(np.uint8))
            files["rgb"] = rel(paths.rgb)
        extras = paths.extras
        if options.png:
            for idx, frame in zip(seq.frame_indices, seq.frames):
                write_png(extras / "frames" / f"{int(idx):06d}.png", frame)
            files["png_frames"] = rel(extras / "frames")
            if rgb is not None:
                for idx, crop in zip(seq.frame_indices, rgb):
                    write_png(extras / "rgb" / f"{int(idx):06d}.png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                files["png_rgb"] = rel(extras / "rgb")
        if options.preview:
            write_png(extras / "contact.png", contact_sheet(seq.frames))
            write_png(extras / "gei.png", gait_energy_image(seq.frames))
            files["contact_sheet"] = rel(extras / "contact.png")
            files["gei"] = rel(extras / "gei.png")
            if rgb is not None:
                write_png(extras / "contact-rgb.png", cv2.cvtColor(contact_sheet(rgb), cv2.COLOR_RGB2BGR))
                files["contact_sheet_rgb"] = rel(extras / "contact-rgb.png")
        records[seq.track_id]["status"] = "written"
        records[seq.track_id]["outputs"] = files
        for name, where in files.items():
            if name.startswith("png_"):
                outputs += [rel(p) for p in sorted((out_dir / where).glob("*.png"))]
            else:
                outputs.append(where)
    ordered = [records[r["track_id"]] for r in video.manifest["tracks"]]
    return outputs, ordered


__all__ = ["write_pickle", "write_png", "write_tracks"]
