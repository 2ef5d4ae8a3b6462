"""ONNX export of gait encoders: frames ``[batch, frames, 64, 44]`` -> embeddings ``[batch, parts, dim]``.

Uses PyTorch's TorchScript-based exporter (``dynamo=False``): it needs nothing beyond ``onnx``,
works offline and keeps the batch and frame axes dynamic. The graph is ``forward_fixed`` in
eval mode: every sequence in a batch must have the same number of valid frames, at least the
model's ``min_frames`` (stored in the ONNX metadata; repeat short sequences cyclically, as
:class:`~gaitpipe.models.base.GaitEncoder` does). GaitNet-style RGB models take
``[batch, frames, 3, 64, 44]``.

After export the file is run with onnxruntime on two input shapes and compared with PyTorch.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitpipe.errors import NotFetchedError, WeightsError


class _EmbeddingGraph(nn.Module):
    """What goes into the ONNX file: eval-mode ``forward_fixed`` returning only the embeddings."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model.forward_fixed(frames).embeddings


def resolve_model(weights_or_preset: Any):
    """``(model, meta)`` from a model object, a weights file/name, or a registered preset name.

    A preset name gives untrained (randomly initialised) weights; ``meta["trained"]`` says so.
    """
    from gaitpipe.hub import resolve_weights
    from gaitpipe.models.base import GaitEncoder
    from gaitpipe.models.checkpoint import load_checkpoint
    from gaitpipe.models.registry import create_model, list_models

    if isinstance(weights_or_preset, GaitEncoder):
        return weights_or_preset, {**weights_or_preset.describe(), "trained": None}
    name = str(weights_or_preset)
    try:
        path = resolve_weights(name)
    except NotFetchedError:
        raise
    except WeightsError:
        if name.replace("_", "-") in list_models():
            model = create_model(name)
            return model.eval(), {**model.describe(), "trained": False, "fingerprint": None}
        raise WeightsError(
            f"{name!r} is neither a weights file/name nor a model preset ({', '.join(list_models())})"
        ) from None
    model, meta = load_checkpoint(path)
    return model, {**meta, "trained": True}


def _example_input(model, batch: int, frames: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    shape = (batch, frames, 3, 64, 44) if model.input_kind == "rgb" else (batch, frames, 64, 44)
    # Silhouette-like input: mostly 0/1 with soft edges, so activations are in a realistic range.
    return (torch.rand(shape, generator=g) > 0.5).float() * torch.rand(shape, generator=g).clamp(min=0.5)


def export_onnx(
    weights_or_preset: Any,
    out: str | Path,
    *,
    opset: int = 17,
    frames: int = 12,
    check: bool = True,
    atol: float = 1e-4,
) -> dict[str, Any]:
    """Write an ONNX file for an encoder; returns a report (path, shapes, max |onnx - torch|).

    ``frames`` is the example length used for tracing; the exported frame axis is dynamic.
    With ``check`` the file is run by onnxruntime on the example and on a different batch and
    length, and :class:`WeightsError` is raised if it differs from PyTorch by more than ``atol``.
    """
    import onnx

    model, meta = resolve_model(weights_or_preset)
    model = model.cpu().eval()
    frames = max(frames, model.min_frames)
    graph = _EmbeddingGraph(model).eval()
    example = _example_input(model, 2, frames)
    dims = {0: "batch", 1: "frames"}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The exporter warns that it is the legacy path and about traced shape arithmetic;
        # the dynamic-shape check below is what actually guards correctness.
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                graph,
                (example,),
                str(out),
                dynamo=False,
                input_names=["frames"],
                output_names=["embeddings"],
                dynamic_axes={"frames": dims, "embeddings": {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
    proto = onnx.load(str(out))
    props = {
        "gaitpipe.arch": model.arch,
        "gaitpipe.preset": model.preset,
        "gaitpipe.fingerprint": str(meta.get("fingerprint")),
        "gaitpipe.trained": json.dumps(meta.get("trained")),
        "gaitpipe.input_kind": model.input_kind,
        "gaitpipe.input_layout": "[batch, frames, 3, 64, 44]"
        if model.input_kind == "rgb"
        else "[batch, frames, 64, 44] in [0, 1]",
        "gaitpipe.min_frames": str(model.min_frames),
        "gaitpipe.parts": str(model.parts),
        "gaitpipe.embed_dim": str(model.embed_dim),
        "gaitpipe.part_layout": json.dumps(list(model.part_layout)),
    }
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(out))
    report: dict[str, Any] = {
        "path": str(out),
        "arch": model.arch,
        "preset": model.preset,
        "fingerprint": meta.get("fingerprint"),
        "trained": meta.get("trained"),
        "opset": opset,
        "output": ["batch", model.parts, model.embed_dim],
        "bytes": out.stat().st_size,
    }
    if check:
        report["max_abs_diff"] = check_onnx(out, model, frames=(frames, frames + 7), atol=atol)
    return report


def check_onnx(path: str | Path, model, *, frames=(12, 19), atol: float = 1e-4, rtol: float = 1e-3) -> float:
    """Largest |onnxruntime - torch| over two inputs of different batch and length.

    Raises if it exceeds ``atol``, or ``rtol`` times the largest output magnitude (so that a
    model with small outputs, e.g. untrained, is still compared meaningfully).
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst, scale = 0.0, 0.0
    for batch, t in ((2, frames[0]), (1, frames[1])):
        x = _example_input(model, batch, max(t, model.min_frames))
        got = session.run(None, {"frames": x.numpy()})[0]
        with torch.no_grad():
            want = model.eval().forward_fixed(x).embeddings.float().numpy()
        if got.shape != want.shape:
            raise WeightsError(
                f"ONNX output shape {list(got.shape)} differs from PyTorch {list(want.shape)} for input {list(x.shape)}"
            )
        worst = max(worst, float(abs(got - want).max()))
        scale = max(scale, float(abs(want).max()))
    if worst > atol or worst > rtol * scale:
        raise WeightsError(
            f"ONNX output differs from PyTorch by {worst:.2e} "
            f"(outputs up to {scale:.2e}; allowed {atol:g} and {rtol:g} relative)"
        )
    return worst
