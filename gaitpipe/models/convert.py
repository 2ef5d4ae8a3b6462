"""Import official checkpoints (OpenGait GaitBase and DeepGaitV2, the HSTL authors' release) into gaitpipe weights.

Both are OpenGait training snapshots: ``torch.save({'model': state_dict, 'optimizer': ...,
'scheduler': ..., 'iteration': int})``. Only ``model`` is used. Reading them:

1. ``torch.load(weights_only=True)`` (no code can run).
2. If that refuses a global, :func:`torch.serialization.get_unsafe_globals_in_checkpoint` lists
   which ones the file needs. When every one is a plain data type known to be harmless (numpy
   scalars and dtypes, as left by training scripts that store numpy numbers; a scheduler's
   ``Counter`` of milestones already loads in step 1), the file is loaded again with
   weights_only=True and only those types allowed. Still no code runs.
3. Anything else is refused, naming the globals, unless the caller passes ``trust=True``
   (CLI ``--trust``): then the file is unpickled without restriction, which can run code from
   the file and must only be done for files from a source you trust.
"""

from __future__ import annotations

import numbers
import re
from pathlib import Path
from typing import Any

import torch

from gaitpipe.errors import WeightsError

#: globals allowed in step 2 (harmless data containers and numpy scalar reconstruction).
_HARMLESS_GLOBALS = {
    "collections.Counter",
    "collections.OrderedDict",
    "builtins.set",
    "builtins.frozenset",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
}


def _resolve_global(name: str):
    module, _, attr = name.rpartition(".")
    import importlib

    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def read_training_checkpoint(path: str | Path, *, trust: bool = False) -> Any:
    """Load a foreign ``.pt``/``.pth`` without running code from it (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as first_error:  # pickle.UnpicklingError for disallowed globals, others for bad files
        try:
            needed = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except Exception as exc:
            reason = str(first_error).splitlines()[0][:200] if str(first_error) else type(first_error).__name__
            raise WeightsError(f"cannot read checkpoint {path}: {reason}") from exc
        # numpy dtype classes appear as e.g. numpy.dtypes.Float64DType
        unknown = [g for g in needed if g not in _HARMLESS_GLOBALS and not g.startswith("numpy.dtypes.")]
        if not unknown and needed:
            allowed = [_resolve_global(g) for g in needed]
            if any(g.startswith("numpy") for g in needed):
                # numpy scalars also rebuild their dtype class (numpy.dtypes.Int64DType, ...),
                # which the scan above does not report: allow those plain dtype classes too.
                import numpy as np

                allowed += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
            try:
                with torch.serialization.safe_globals(allowed):
                    return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise WeightsError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0][:200]}") from exc
        if not trust:
            shown = ", ".join(unknown[:5]) or "(unknown)"
            raise WeightsError(
                f"{path} needs code objects to load ({shown}); refusing to unpickle it "
                "(trusting the file lets it run code: only for files from a source you trust)",
                remedy="trust",
            ) from first_error
        try:
            return torch.load(path, map_location="cpu", weights_only=False)  # explicit trust=True only
        except Exception as exc:
            raise WeightsError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0][:200]}") from exc


def model_state_dict(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The model weights inside an OpenGait snapshot (``obj['model']``) or a bare state dict."""
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise WeightsError(f"{source} holds no model state dict (expected {{'model': state_dict, ...}})")
    # DataParallel/DDP prefixes, when a snapshot was taken from the wrapper.
    return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}


# ----------------------------------------------------------------------------------- GaitBase
def convert_gaitbase(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """OpenGait GaitBase keys -> ours; returns ``(state_dict, config overrides inferred from shapes)``."""
    prefix = "Backbone.forward_block."
    if "FCs.fc_bin" not in sd or not any(k.startswith(prefix) for k in sd):
        first = next(iter(sd))
        raise WeightsError(
            f"not an OpenGait GaitBase checkpoint: no 'FCs.fc_bin' / '{prefix}*' keys (first key {first!r})"
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            if rest.startswith("conv1.conv."):  # OpenGait wraps the stem conv in BasicConv2d
                rest = "conv1." + rest[len("conv1.conv.") :]
            out["backbone." + rest] = value
        elif key == "FCs.fc_bin":
            out["fcs.fc_bin"] = value
        elif key == "BNNecks.fc_bin":
            out["bnnecks.fc_bin"] = value
        elif key.startswith("BNNecks.bn1d."):
            out["bnnecks.bn1d." + key.rsplit(".", 1)[1]] = value
        else:
            raise WeightsError(f"unexpected key {key!r} in the GaitBase checkpoint")
    parts, in_dim, embed = sd["FCs.fc_bin"].shape
    # OpenGait's BNNeck flattens [n, C, P] channel-major (index c*P + p); ours is part-major.
    for name in ("weight", "bias", "running_mean", "running_var"):
        key = f"bnnecks.bn1d.{name}"
        if key in out:
            v = out[key]
            if v.numel() != parts * embed:
                raise WeightsError(
                    f"'BNNecks.bn1d.{name}' has {v.numel()} values, expected parts*dim = {parts * embed}"
                )
            out[key] = v.reshape(embed, parts).t().reshape(-1).contiguous()
    channels = []
    for i in range(1, 10):
        w = sd.get(f"{prefix}layer{i}.0.conv2.weight")
        if w is None:
            break
        channels.append(int(w.shape[0]))
    config = {
        "channels": tuple(channels),
        "in_channels": int(sd[prefix + "conv1.conv.weight"].shape[1]),
        "bins": int(parts),
        "embed_dim": int(embed),
    }
    if "BNNecks.fc_bin" in sd:
        config["num_classes"] = int(sd["BNNecks.fc_bin"].shape[2])
    # Strides are not visible in the weights: the preset's (1/2/2/1, OpenGait's) are kept.
    if in_dim != channels[-1]:
        raise WeightsError(f"'FCs.fc_bin' input width {in_dim} does not match the backbone's {channels[-1]} channels")
    return out, config


# --------------------------------------------------------------------------------------- HSTL
_HSTL_RULES = [
    (re.compile(r"^(arme1\.\d+)\.conv3d\.weight$"), r"\1.weight"),
    (re.compile(r"^(arme\d+\.\d+)\.conv3d\.(\d+)\.conv3d\.weight$"), r"\1.convs.\2.weight"),
    (re.compile(r"^(astp\d+(?:_fta)?)\.proj\.conv\.weight$"), r"\1.proj.weight"),
    (re.compile(r"^(astp\d+(?:_fta)?\.hpp\.\d+\.p)$"), r"\1"),
    (re.compile(r"^fta\.mma\.(\d+)\.fcs\.(\d+)\.(weight|bias)$"), r"fta.regions.\1.fcs.\2.\3"),
    (re.compile(r"^HPP\.p$"), "hpp.p"),
    (re.compile(r"^Head0\.fc_bin$"), "head0.fc_bin"),
    (re.compile(r"^Head1\.fc_bin$"), "head1.fc_bin"),
    (re.compile(r"^Bn\.(weight|bias|running_mean|running_var|num_batches_tracked)$"), r"bn.\1"),
]


def convert_hstl(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The HSTL authors' keys (``arme1.0.conv3d``, ``astp2.proj.conv``, ``fta.mma``, ``HPP``,
    ``Head0``, ``Bn``, ``Head1``) -> ours; returns ``(state_dict, config overrides)``."""
    if "Head0.fc_bin" not in sd or "arme1.0.conv3d.weight" not in sd:
        first = next(iter(sd))
        raise WeightsError(
            f"not an HSTL checkpoint: no 'Head0.fc_bin' / 'arme1.0.conv3d.weight' keys (first key {first!r})"
        )
    out = {}
    for key, value in sd.items():
        for pattern, repl in _HSTL_RULES:
            if pattern.match(key):
                out[pattern.sub(repl, key)] = value
                break
        else:
            raise WeightsError(f"unexpected key {key!r} in the HSTL checkpoint")
    config: dict[str, Any] = {"embed_dim": int(sd["Head0.fc_bin"].shape[2])}
    if "Head1.fc_bin" in sd:
        config["num_classes"] = int(sd["Head1.fc_bin"].shape[2])
    return out, config


# ---------------------------------------------------------------------------------- DeepGaitV2
_DGV2_RULES = [  # OpenGait DeepGaitV2 key -> ours (after its per-frame wrappers are dropped)
    (re.compile(r"^layer(\d)\.forward_block\.(.+)$"), r"layer\1.\2"),  # SetBlockWrapper (stem, stage 1, 2D)
    (re.compile(r"^(layer\d\.\d+)\.conv1\.forward_block\.0\.weight$"), r"\1.conv1.weight"),  # P3D
    (re.compile(r"^(layer\d\.\d+)\.conv1\.forward_block\.1\.(\w+)$"), r"\1.bn1.\2"),
    (re.compile(r"^(layer\d\.\d+)\.conv2\.forward_block\.0\.weight$"), r"\1.conv2.weight"),
    (re.compile(r"^(layer\d\.\d+)\.conv2\.forward_block\.1\.(\w+)$"), r"\1.bn2.\2"),
    (re.compile(r"^(layer\d\.\d+)\.shortcut3d\.weight$"), r"\1.temporal.weight"),
    (re.compile(r"^(layer\d\.\d+)\.sbn\.(\w+)$"), r"\1.temporal_bn.\2"),
    (re.compile(r"^(layer\d\.\d+\.(?:conv[12]|bn[12]|downsample\.[01])\.\w+)$"), r"\1"),  # 3D, P3D shortcut
    (re.compile(r"^FCs\.fc_bin$"), "fcs.fc_bin"),
    (re.compile(r"^BNNecks\.(fc_bin|bn1d\.\w+)$"), r"bnnecks.\1"),
]


def convert_deepgaitv2(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """OpenGait DeepGaitV2 keys (``layer0.forward_block.0``, ``layer2.0.conv1.forward_block.0``,
    ``layer2.0.shortcut3d``, ``layer2.0.sbn``, ``FCs``, ``BNNecks``) -> ours; returns
    ``(state_dict, config overrides)``. The mode (2d / 3d / p3d) and stage depths are read from
    the keys, the widths and class count from the shapes."""
    if "FCs.fc_bin" not in sd or "layer0.forward_block.0.weight" not in sd:
        first = next(iter(sd))
        raise WeightsError(
            "not an OpenGait DeepGaitV2 checkpoint: no 'FCs.fc_bin' / 'layer0.forward_block.0.weight' keys "
            f"(first key {first!r})"
        )
    if "layer2.0.shortcut3d.weight" in sd:
        mode = "p3d"
    elif "layer2.forward_block.0.conv1.weight" in sd:
        mode = "2d"
    elif getattr(sd.get("layer2.0.conv1.weight"), "ndim", 0) == 5:
        mode = "3d"
    else:
        raise WeightsError("DeepGaitV2 checkpoint: cannot tell its mode (no 2D, 3D or P3D block keys in layer2)")
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        for pattern, repl in _DGV2_RULES:
            if pattern.match(key):
                new = pattern.sub(repl, key)
                if mode == "p3d" and new.endswith(".downsample.0.weight") and value.ndim == 5:
                    value = value.flatten(2, 3)  # 1x1x1 Conv3d [C, Cin, 1, 1, 1] -> per-frame 1x1 [C, Cin, 1, 1]
                out[new] = value
                break
        else:
            raise WeightsError(f"unexpected key {key!r} in the DeepGaitV2 checkpoint")
    parts, _, embed = sd["FCs.fc_bin"].shape
    # OpenGait's BNNeck flattens [n, C, P] channel-major (index c*P + p); ours is part-major.
    for name in ("weight", "bias", "running_mean", "running_var"):
        key = f"bnnecks.bn1d.{name}"
        if key in out and out[key].numel() == parts * embed:  # other sizes: named by the shape check
            out[key] = out[key].reshape(embed, parts).t().reshape(-1).contiguous()
    layers = tuple(len({k.split(".")[1] for k in out if re.match(rf"^layer{i}\.\d+\.", k)}) for i in range(1, 5))
    if "layer5.0.conv2.weight" in out or any(f"layer{i}.0.conv2.weight" not in out for i in range(1, 5)):
        raise WeightsError(f"DeepGaitV2 checkpoint: expected 4 stages layer1..layer4, found block counts {layers}")
    config: dict[str, Any] = {
        "mode": mode,
        "layers": layers,
        "channels": tuple(int(out[f"layer{i}.0.conv2.weight"].shape[0]) for i in range(1, 5)),
        "in_channels": int(sd["layer0.forward_block.0.weight"].shape[1]),
        "bins": int(parts),
        "embed_dim": int(embed),
    }
    if "BNNecks.fc_bin" in sd:
        config["num_classes"] = int(sd["BNNecks.fc_bin"].shape[2])
    return out, config


def _hstl_preset(sd: dict[str, torch.Tensor]) -> str:
    return "hstl-oumvlp" if any(k.startswith("arme4.") for k in sd) else "hstl-casiab"


def _gaitbase_preset(config: dict[str, Any]) -> str:
    by_classes = {74: "gaitbase-casiab", 5153: "gaitbase-oumvlp", 20000: "gaitbase-grew", 3000: "gaitbase-gait3d"}
    return by_classes.get(config.get("num_classes", 0), "gaitbase-casiab")


CONVERTERS = {"gaitbase": convert_gaitbase, "hstl": convert_hstl, "deepgaitv2": convert_deepgaitv2}


def convert_state_dict(arch: str, sd: dict[str, torch.Tensor], preset: str | None = None):
    """Foreign state dict -> ``(model with the weights loaded, preset name)``; raises a one-line
    :class:`WeightsError` on a wrong architecture or any shape mismatch."""
    from gaitpipe.models.checkpoint import check_state_dict
    from gaitpipe.models.registry import create_model, list_models

    if arch not in CONVERTERS:
        raise WeightsError(f"cannot import {arch!r} checkpoints; supported: {', '.join(sorted(CONVERTERS))}")
    ours, inferred = CONVERTERS[arch](sd)
    if arch == "deepgaitv2" and preset is not None:
        # A preset named explicitly fixes the structure: weights that do not fit it are refused
        # (the first mismatching key is named); only the training-only class count follows the file.
        inferred = {k: v for k, v in inferred.items() if k == "num_classes"}
    elif arch == "deepgaitv2":
        from gaitpipe.models.deepgaitv2 import preset_for

        preset = preset_for(inferred["mode"], inferred["layers"], inferred.get("num_classes"))
    if preset is None:
        preset = _hstl_preset(sd) if arch == "hstl" else _gaitbase_preset(inferred)
    if preset not in list_models():
        raise WeightsError(f"unknown preset {preset!r}; available: {', '.join(list_models())}")
    with torch.device("meta"):  # read the preset's defaults without allocating weights
        probe = create_model(preset)
    if probe.arch != arch:
        raise WeightsError(f"preset {preset!r} is a {probe.arch} model, not {arch}")
    import dataclasses

    defaults = dataclasses.asdict(probe.config)
    overrides = {k: v for k, v in inferred.items() if k in defaults and _norm(defaults[k]) != _norm(v)}
    model = create_model(preset, **overrides)
    if "bnnecks.fc_bin" not in ours and "bnnecks.fc_bin" in model.state_dict():
        ours["bnnecks.fc_bin"] = model.state_dict()["bnnecks.fc_bin"]  # snapshot without classifier
    check_state_dict(model, ours, source=f"the {arch} checkpoint")
    model.load_state_dict(ours)
    return model.eval(), preset


def _norm(v):
    return tuple(_norm(x) for x in v) if isinstance(v, (list, tuple)) else v


def import_checkpoint(
    path: str | Path,
    arch: str,
    *,
    preset: str | None = None,
    out: str | Path | None = None,
    trust: bool = False,
    half: bool = False,
    meta: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Convert an official checkpoint into a gaitpipe weights file; returns ``(out path, meta)``.

    ``out`` defaults to ``<install dir>/<preset>-<source file stem>.pt`` (the first
    ``$GAITPIPE_WEIGHTS_DIR`` entry, else :func:`gaitpipe.hub.install_dir`), so it is found by name.
    ``meta`` is added to the header; a ``source`` dict in it is merged into the record of where the
    weights came from (file, format, iteration) rather than replacing it.
    """
    from gaitpipe.hub import install_dir
    from gaitpipe.models.checkpoint import save_checkpoint

    path = Path(path)
    raw = read_training_checkpoint(path, trust=trust)
    sd = model_state_dict(raw, source=str(path))
    model, preset = convert_state_dict(arch, sd, preset)
    iteration = raw.get("iteration") if isinstance(raw, dict) else None
    info: dict[str, Any] = {
        "source": {
            "file": path.name,
            "format": "HSTL authors' release (OpenGait format)" if arch == "hstl" else "OpenGait",
            "iteration": int(iteration) if isinstance(iteration, numbers.Integral) else None,
        },
    }
    if arch == "hstl":
        info["notes"] = "classifier imported as weights; gaitpipe computes cosine logits (embeddings unaffected)"
    meta = dict(meta or {})
    if isinstance(meta.get("source"), dict):  # added to what the file says about itself, not replacing it
        info["source"].update(meta.pop("source"))
    info.update(meta)
    if out is None:
        out = install_dir() / f"{preset}-{path.stem}.pt"
    out = Path(out)
    written = save_checkpoint(out, model, meta=info, half=half)
    return out, written
