"""gaitpipe weight files: one ``.pt`` holding the state dict and JSON metadata, loaded safely.

File layout (a plain dict, readable with ``torch.load(path, weights_only=True)``)::

    {"format": "gaitpipe-weights", "format_version": 1,
     "meta": "<JSON string>",            # everything below, JSON-only by construction
     "state_dict": {name: tensor},       # float tensors fp16 when saved with half=True
     "dtypes": {name: "float32", ...}}   # dtype each tensor is restored to at load

``meta`` keys: ``arch``, ``preset``, ``config``, ``input_kind``, ``input_size``, ``parts``,
``part_layout``, ``embed_dim`` (from :meth:`GaitEncoder.describe`), ``training_data``,
``metrics``, ``gaitpipe_version``, ``torch_version``, ``created`` (UTC ISO date), ``fingerprint``,
``stored_half`` and optionally ``open_set = {"threshold": float, "tar_at_far": {...}}``,
``training`` (the recipe), ``source`` (e.g. where converted weights came from), ``licence`` and
``notes``; :class:`gaitpipe.hub.WeightsInfo` is the typed view of these keys.

``fingerprint`` = ``"<arch>/<preset>/<sha256[:16]>"`` of the weights as they will be used (after
the fp16 round trip when stored half): galleries refuse embeddings made with another fingerprint.
It is checked again at load, so a damaged file is caught instead of silently giving other
embeddings.

This module is the file format only; finding weights by name is :mod:`gaitpipe.hub`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gaitpipe.errors import WeightsError
from gaitpipe.utils.files import atomic_torch_save

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.models.base import GaitEncoder

FORMAT = "gaitpipe-weights"
FORMAT_VERSION = 1


# ----------------------------------------------------------------------------------------- save
def state_fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 hex digest over names, dtypes, shapes and bytes of a state dict (order independent)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype!s}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def fingerprint_of(
    arch: str, preset: str, state_dict: dict[str, torch.Tensor], config: dict[str, Any] | None = None
) -> str:
    """``<arch>/<preset>/<hash>``; ``<preset>+bnneck`` when the config retrieves with BNNeck features
    and ``<preset>+silhouette`` when an RGB architecture (GaitNet) was trained on silhouettes,
    since the same weights then give other embeddings (a gallery must not mix them)."""
    config = config or {}
    feature = config.get("retrieval_feature", "fc")
    tag = preset if feature == "fc" else f"{preset}+{feature}"
    if config.get("input_kind") == "silhouette":
        tag += "+silhouette"
    return f"{arch}/{tag}/{state_fingerprint(state_dict)[:16]}"


def _stored_and_used(state_dict: dict[str, torch.Tensor], half: bool):
    """(tensors to store, their restore dtypes, tensors as they will be used after loading)."""
    stored, dtypes, used = {}, {}, {}
    for name, t in state_dict.items():
        t = t.detach().cpu().contiguous()
        dtypes[name] = str(t.dtype).replace("torch.", "")
        if half and t.dtype == torch.float32:
            s = t.to(torch.float16)
            # Values beyond fp16 range (none in practice: BN running stats stay small) would become
            # inf: keep such a tensor fp32 rather than corrupt it.
            if not torch.isfinite(s).all() and torch.isfinite(t).all():
                s = t
            stored[name] = s
            used[name] = s.to(t.dtype)
        else:
            stored[name] = t.clone()
            used[name] = t
    return stored, dtypes, used


def _json_check(meta: dict[str, Any]) -> str:
    try:
        return json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"checkpoint metadata must be JSON primitives (str/int/float/bool/None/list/dict): {exc}"
        ) from exc


def build_meta(
    model: GaitEncoder, state_used: dict[str, torch.Tensor], meta: dict[str, Any] | None, half: bool
) -> dict[str, Any]:
    import gaitpipe

    if not model.preset:
        raise ValueError("model has no preset name; build it with gaitpipe.models.create_model(preset)")
    out: dict[str, Any] = {
        "training_data": None,
        "metrics": {},
    }
    out.update(meta or {})
    out.update(model.describe())  # architecture facts always come from the model itself
    out.update(
        {
            "gaitpipe_version": gaitpipe.__version__,
            "torch_version": torch.__version__.split("+")[0],
            "created": out.get("created") or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "stored_half": bool(half),
            "fingerprint": fingerprint_of(model.arch, model.preset, state_used, out["config"]),
        }
    )
    return out


def save_checkpoint(
    path: str | Path, model: GaitEncoder, *, meta: dict[str, Any] | None = None, half: bool = False
) -> dict[str, Any]:
    """Write ``model``'s weights and metadata to ``path``; returns the metadata written.

    ``meta`` adds e.g. ``training_data``, ``metrics``, ``open_set``, ``source``. ``half=True`` stores
    float32 tensors as float16 (half the file size); they are restored to float32 at load and the
    fingerprint describes the restored values. The file is written to a temporary name and renamed,
    so an interrupted save never leaves a truncated checkpoint under ``path``.
    """
    path = Path(path)
    stored, dtypes, used = _stored_and_used(model.state_dict(), half)
    meta_json = _json_check(build_meta(model, used, meta, half))
    full_meta = json.loads(meta_json)  # exactly what load_checkpoint will return
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": meta_json,
        "state_dict": stored,
        "dtypes": dtypes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(payload, path)
    return full_meta


# ----------------------------------------------------------------------------------------- load
def _looks_like_torch_file(path: Path) -> bool:
    """``torch.save`` writes a zip archive (legacy: a pickle, protocol byte 0x80); text is neither."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _read_payload(path: Path, map_location="cpu") -> dict[str, Any]:
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if not _looks_like_torch_file(path):
        raise WeightsError(f"{path} is not a weights file (PyTorch weights are a zip archive or a pickle)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors, truncated zip, not a torch file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot read weights {path}: {first[:200]}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        hint = ""
        if isinstance(payload, dict) and "model" in payload:
            hint = " (looks like an OpenGait checkpoint: convert it with `gaitpipe weights import`)"
        raise WeightsError(f"{path} is not a gaitpipe weights file{hint}")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise WeightsError(
            f"{path} has format version {payload['format_version']}; "
            f"this gaitpipe reads up to {FORMAT_VERSION}: upgrade gaitpipe"
        )
    return payload


def read_meta(path: str | Path) -> dict[str, Any]:
    """Metadata of a weights file without building the model."""
    payload = _read_payload(Path(path))
    try:
        return json.loads(payload["meta"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path} has unreadable metadata") from exc


def _restore(payload: dict[str, Any]) -> dict[str, torch.Tensor]:
    dtypes = payload.get("dtypes", {})
    out = {}
    for name, t in payload["state_dict"].items():
        want = getattr(torch, dtypes.get(name, str(t.dtype).replace("torch.", "")), None)
        out[name] = t.to(want) if isinstance(want, torch.dtype) and t.dtype != want else t
    return out


def check_state_dict(model, state_dict: dict[str, torch.Tensor], source: str = "weights") -> None:
    """Raise a one-line :class:`WeightsError` naming the first key/shape that does not fit ``model``."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), first {missing[0]!r}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), first {unexpected[0]!r}")
        raise WeightsError(f"{source} do not fit {model.arch} ({model.preset}): " + "; ".join(parts))
    for k, v in expected.items():
        got = state_dict[k]
        if tuple(got.shape) != tuple(v.shape):
            raise WeightsError(
                f"{source} do not fit {model.arch} ({model.preset}): {k!r} expected shape "
                f"{list(v.shape)}, got {list(got.shape)}"
            )


def load_checkpoint(path: str | Path, map_location="cpu", *, expect_arch: str | None = None, verify: bool = True):
    """Build the model a weights file describes and load its weights: ``(model, meta)``.

    The model comes back in eval mode on ``map_location``. ``expect_arch`` makes a file of another
    architecture an error. ``verify`` recomputes the fingerprint (catches damaged files).
    """
    from gaitpipe.models.registry import create_model

    path = Path(path)
    payload = _read_payload(path)
    try:
        meta = json.loads(payload["meta"])
        arch, preset, config = meta["arch"], meta["preset"], meta["config"]
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path} has unreadable metadata") from exc
    if expect_arch is not None and arch != expect_arch:
        raise WeightsError(f"{path} holds {arch} weights, expected {expect_arch}")
    state = _restore(payload)
    if verify:
        got = fingerprint_of(arch, preset, state, config)
        if meta.get("fingerprint") and got != meta["fingerprint"]:
            raise WeightsError(f"{path} is damaged: its weights do not match its fingerprint {meta['fingerprint']}")
    try:
        model = create_model(preset, **config)
    except (ValueError, TypeError) as exc:  # e.g. a config value this gaitpipe version does not know
        raise WeightsError(f"{path}: its config does not build {preset}: {exc}") from None
    if model.arch != arch:
        raise WeightsError(f"{path} says arch {arch!r} but preset {preset!r} builds {model.arch!r}")
    check_state_dict(model, state, source=str(path))
    model.load_state_dict(state)
    model.eval()
    return model.to(map_location), meta


def load_weights_into(model, path: str | Path) -> dict[str, Any]:
    """Load a weights file into an existing ``model`` (same arch and shapes); returns its meta."""
    path = Path(path)
    payload = _read_payload(path)
    meta = json.loads(payload["meta"])
    if meta.get("arch") != model.arch:
        raise WeightsError(f"{path} holds {meta.get('arch')} weights, the model is {model.arch}")
    state = _restore(payload)
    check_state_dict(model, state, source=str(path))
    model.load_state_dict(state)
    return meta


def update_meta(path: str | Path, **changes: Any) -> dict[str, Any]:
    """Rewrite a weights file's metadata (e.g. ``open_set``, ``metrics``); weights stay byte-identical.

    ``fingerprint``, ``arch``, ``preset`` and ``config`` cannot change this way (they describe the
    weights).
    """
    path = Path(path)
    frozen = {"fingerprint", "arch", "preset", "config", "stored_half"} & set(changes)
    if frozen:
        raise ValueError(f"cannot change {', '.join(sorted(frozen))} of a weights file")
    payload = _read_payload(path)
    meta = json.loads(payload["meta"])
    meta.update(changes)
    payload["meta"] = _json_check(meta)
    atomic_torch_save(payload, path)
    return meta


# ------------------------------------------------------------------- names that moved to the hub
#: Lookup (folders, names, the default, ``load_encoder``) lives in :mod:`gaitpipe.hub`; these
#: names stay importable from here for code written against the old layout.
_MOVED_TO_HUB = {
    "WEIGHTS_DIR_ENV": "WEIGHTS_DIR_ENV",
    "WEIGHT_SUFFIXES": "WEIGHT_SUFFIXES",
    "repo_weights_dir": "packaged_weights_dir",
    "install_dir": "install_dir",
    "weights_dirs": "weights_dirs",
    "installed_weights": "installed_weights",
    "resolve_weights": "resolve_weights",
    "find_weights": "find_weights",
    "default_weights": "default_weights",
    "load_encoder": "load_encoder",
    "describe_installed": "describe_installed",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_HUB:
        import gaitpipe.hub

        return getattr(gaitpipe.hub, _MOVED_TO_HUB[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
