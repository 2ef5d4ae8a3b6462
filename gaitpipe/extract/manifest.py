"""Per-video manifests and resuming: what an earlier run finished, and writing the record of this one.

A manifest (``OUT/_gaitpipe/<key>/manifest.json``) lists a video's tracks, kept frames, boxes,
drops, settings and output files. A video counts as done only when its manifest says
``"complete": true``, names the same source file, covers the extras asked for now, was read with
the rotation asked for now (``rotate``; manifests older than that setting count as ``auto``) and
all its outputs exist; otherwise it is extracted again.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitpipe.extract.naming import SIDECAR, manifest_path
from gaitpipe.utils.files import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.extract.discovery import Job
    from gaitpipe.extract.options import ExtractOptions

#: Manifest format version, bumped when the layout of the manifest changes.
MANIFEST_VERSION = 1


def read_manifest(path: Path) -> tuple[str | None, dict[str, Any] | None]:
    """(text, parsed) of a manifest; (None, None) when absent, (text, None) when unreadable."""
    try:
        text = path.read_text()
    except OSError:
        return None, None
    try:
        data = json.loads(text)
    except ValueError:
        return text, None
    return text, data if isinstance(data, dict) else None


def same_file(recorded: Any, path: str | Path) -> bool:
    """Whether a manifest's ``video`` entry names ``path``."""
    if not recorded:
        return True  # an old manifest that does not say: assume it is ours
    try:
        return Path(str(recorded)).resolve() == Path(str(path)).resolve()
    except OSError:
        return str(recorded) == str(path)


def finished_manifest(out_dir: Path, job: Job, options: ExtractOptions) -> dict[str, Any] | None:
    """The manifest of a complete earlier extraction that covers what is asked now, else None."""
    _, manifest = read_manifest(manifest_path(out_dir, job.key))
    if manifest is None or manifest.get("complete") is not True or not same_file(manifest.get("video"), job.path):
        return None
    done_with = manifest.get("options", {})
    asked = {"rgb": options.rgb, "png": options.png, "preview": options.preview}
    if any(wanted and not done_with.get(extra) for extra, wanted in asked.items()):
        return None
    if str(done_with.get("rotate", "auto")) != str(options.rotate):
        return None
    if not all((out_dir / rel).is_file() for rel in manifest.get("outputs", [])):
        return None
    return manifest


def write_manifest(path: Path, manifest: dict[str, Any], options: ExtractOptions) -> None:
    """Write ``manifest`` atomically, stamped with the extras made and the time."""
    manifest = dict(manifest)
    manifest["options"] = {**manifest.get("options", {}), "png": options.png, "preview": options.preview}
    manifest["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_text(path, dumps_manifest(manifest) + "\n")


def remove_stale(out_dir: Path, old: list[str], new: list[str]) -> None:
    """Delete files an earlier run wrote that this run did not rewrite (e.g. a vanished track)."""
    keep = set(new)
    for rel in old:
        if rel in keep:
            continue
        target = out_dir / rel
        if target.is_file() and (SIDECAR in target.parts or target.suffix == ".pkl"):
            target.unlink(missing_ok=True)


def dumps_manifest(obj: Any, indent: str = "") -> str:
    """JSON with one key per line but lists of numbers (frame indices, boxes) kept on one line."""

    def flat(x: Any) -> bool:
        return isinstance(x, list) and all(
            isinstance(v, (int, float, str, bool)) or v is None or (isinstance(v, list) and flat(v)) for v in x
        )

    if isinstance(obj, dict) and obj:
        inner = indent + " "
        items = [f"{inner}{json.dumps(str(k))}: {dumps_manifest(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(obj, list) and obj and not flat(obj):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + dumps_manifest(v, inner) for v in obj) + "\n" + indent + "]"
    return json.dumps(obj, separators=(", ", ": "))


__all__ = [
    "MANIFEST_VERSION",
    "dumps_manifest",
    "finished_manifest",
    "read_manifest",
    "remove_stale",
    "same_file",
    "write_manifest",
]
