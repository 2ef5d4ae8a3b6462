"""Embeddings for a whole dataset, and a protocol applied to them.

Sequences are embedded with *all* their frames (or the first ``max_frames``), in batches of
equal length so no padding is ever needed. The result, an :class:`EmbeddingSet`, can be saved
as ``.npz`` (embeddings, subject, condition, view, length per sequence) so anyone can recompute
the metrics with :mod:`gaitpipe.metrics.evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaitpipe.data.dataset import GaitDataset
from gaitpipe.errors import InputError
from gaitpipe.metrics.evaluation import evaluate_protocol
from gaitpipe.models.base import GaitEncoder
from gaitpipe.utils.batching import length_batches
from gaitpipe.utils.console import progress as progress_bar
from gaitpipe.utils.device import resolve_device


@dataclass
class EmbeddingSet:
    embeddings: np.ndarray  #: [N, P, D] float32
    subjects: np.ndarray  #: [N] str
    conditions: np.ndarray  #: [N] str
    views: np.ndarray  #: [N] str
    lengths: np.ndarray  #: [N] frames used per sequence

    def save(self, path: str | Path, **extra: Any) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Any: numpy's stub would read a ``**dict`` of arrays as possibly holding ``allow_pickle``
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in extra.items()}
        np.savez_compressed(
            path,
            embeddings=self.embeddings,
            subject=self.subjects,
            condition=self.conditions,
            view=self.views,
            length=self.lengths,
            **arrays,
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingSet:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["embeddings"], z["subject"], z["condition"], z["view"], z["length"])
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"cannot read embeddings {path}: {exc}".splitlines()[0]) from None


def compute_embeddings(
    model: GaitEncoder,
    dataset: GaitDataset,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    max_frames: int | None = None,
    amp: bool = False,
    progress: bool = True,
) -> EmbeddingSet:
    """Embed every sequence of ``dataset`` with ``model`` (eval mode, no gradients).

    Sequences of equal length are batched together (at most ``batch_size``), so none is padded.
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    lengths = [min(dataset.length(i), max_frames) if max_frames else dataset.length(i) for i in range(len(dataset))]
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    emb: np.ndarray | None = None
    was_training = model.training
    model.eval()
    try:
        with progress_bar(len(dataset), "embedding", unit="seq", enabled=progress) as bar:
            for group in length_batches(lengths, equal_lengths=True, max_items=max(1, batch_size)):
                frames = np.stack([dataset.test_sample(i, max_frames).frames for i in group])
                x = torch.from_numpy(frames).to(device)
                with torch.inference_mode(), torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    out = model(x).embeddings.float().cpu().numpy()
                if emb is None:
                    emb = np.zeros((len(dataset), *out.shape[1:]), np.float32)
                emb[group] = out
                bar.update(len(group))
    finally:
        model.train(was_training)
    assert emb is not None  # a GaitDataset is never empty
    infos = [dataset.info(i) for i in range(len(dataset))]
    return EmbeddingSet(
        embeddings=emb,
        subjects=np.array([s.subject for s in infos]),
        conditions=np.array([s.condition for s in infos]),
        views=np.array([s.view for s in infos]),
        lengths=np.array(lengths, np.int64),
    )


def evaluate_embeddings(
    es: EmbeddingSet,
    protocol: str,
    *,
    metric: str = "euc",
    probe_list: Any = None,
    gallery_conditions: list[str] | None = None,
    probe_conditions: list[str] | None = None,
) -> dict[str, Any]:
    """Apply a protocol of :mod:`gaitpipe.metrics.evaluation`; protocol mismatches become InputError."""
    try:
        return evaluate_protocol(
            protocol,
            es.embeddings,
            es.subjects,
            es.conditions,
            es.views,
            metric=metric,
            probe_list=probe_list,
            gallery_conditions=gallery_conditions,
            probe_conditions=probe_conditions,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None


def evaluate_model(
    model: GaitEncoder,
    dataset: GaitDataset,
    protocol: str = "casiab",
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    max_frames: int | None = None,
    metric: str = "euc",
    amp: bool = False,
    progress: bool = True,
    **protocol_options: Any,
) -> tuple[dict[str, Any], EmbeddingSet]:
    """Embed ``dataset`` and evaluate ``protocol``: ``(result dict, embeddings)``."""
    es = compute_embeddings(
        model, dataset, device=device, batch_size=batch_size, max_frames=max_frames, amp=amp, progress=progress
    )
    return evaluate_embeddings(es, protocol, metric=metric, **protocol_options), es


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [t for t in text.replace(" ", "").split(",") if t]


def evaluate_weights_embeddings(
    weights: str | Path | None,
    data: str | Path,
    protocol: str = "casiab",
    *,
    subjects: str | None = None,
    split: str | None = None,
    views: str | None = None,
    max_frames: int | None = None,
    metric: str = "euc",
    device: str | None = None,
    batch_size: int | None = None,
    gallery_conditions: str | None = None,
    probe_conditions: str | None = None,
    amp: bool = False,
    progress: bool = True,
) -> tuple[dict[str, Any], EmbeddingSet, dict[str, Any]]:
    """Load weights (``None``: the default weights), embed the chosen subjects, apply the protocol:
    ``(result, embeddings, weights meta)``.

    Subjects: ``subjects`` (e.g. ``063-074``), else the test subjects of ``split``, else all.
    ``gallery_conditions`` / ``probe_conditions``: comma-separated, for the ``gallery-probe`` protocol.
    """
    from gaitpipe.data.sources import input_kind_for, open_source
    from gaitpipe.data.splits import compact_ids, load_split, parse_id_range
    from gaitpipe.hub import load_encoder
    from gaitpipe.metrics.evaluation import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    dev = resolve_device(device)
    loaded, meta = load_encoder(weights, device=dev)
    assert isinstance(loaded, GaitEncoder)
    model: GaitEncoder = loaded
    sp = load_split(split) if split else None
    wanted = parse_id_range(subjects) if subjects else None
    source = open_source(data, subjects=wanted)
    available = sorted({s.subject for s in source.sequences})
    if wanted is None and sp is not None:
        wanted = sp.test_subjects(available)
        if not wanted:
            raise InputError(f"none of the {len(available)} subjects in {data} is a test subject of split {split}")
    dataset = GaitDataset(source, subjects=wanted, views=_csv(views), kind=input_kind_for(model, source))
    result, es = evaluate_model(
        model,
        dataset,
        protocol,
        device=dev,
        batch_size=batch_size or (32 if dev.type == "cuda" else 8),
        max_frames=max_frames,
        metric=metric,
        amp=amp,
        progress=progress,
        probe_list=sp.probe if sp is not None else None,
        gallery_conditions=_csv(gallery_conditions),
        probe_conditions=_csv(probe_conditions),
    )
    result.update(
        {
            "weights": meta["path"],
            "fingerprint": meta.get("fingerprint"),
            "data": str(data),
            "subjects": compact_ids(dataset.subjects),
            "num_sequences": len(dataset),
            "max_frames": max_frames,
        }
    )
    return result, es, meta


def evaluate_weights(
    weights: str | Path | None,
    data: str | Path,
    protocol: str = "casiab",
    *,
    save_embeddings: str | Path | None = None,
    plot: str | Path | None = None,
    **options: Any,
) -> dict[str, Any]:
    """What ``gaitpipe evaluate`` does: :func:`evaluate_weights_embeddings` (``options`` are its
    keywords: subjects, split, views, max_frames, metric, device, batch_size, gallery_conditions,
    probe_conditions, amp, progress), then optionally the embeddings as ``.npz`` and the CMC curve as a PNG.

    Returns the protocol's result with ``weights``/``fingerprint``/``data`` added.
    """
    result, es, meta = evaluate_weights_embeddings(weights, data, protocol, **options)
    if save_embeddings:
        result["embeddings_file"] = str(es.save(save_embeddings, fingerprint=str(meta.get("fingerprint"))))
    if plot:
        result["plot"] = str(plot_cmc(result, plot))
    return result


def plot_cmc(result: dict[str, Any], path: str | Path) -> Path:
    """CMC curve(s) as a PNG: one per probe condition (cross-view protocols) or the overall one."""
    from gaitpipe.engine.plots import line_chart

    if "conditions" in result:
        series = {k: (np.arange(1, len(v["cmc"]) + 1), v["cmc"]) for k, v in result["conditions"].items()}
    else:
        series = {result["protocol"]: (np.arange(1, len(result["cmc"]) + 1), result["cmc"])}
    return line_chart(
        path,
        series,
        title=f"CMC ({result['protocol']}, {result['metric']})",
        xlabel="rank",
        ylabel="identification rate (%)",
    )
