"""Turning a training run into shipped weights: validate, calibrate the open-set threshold, install.

``calibrate_weights`` embeds every sequence of the validation subjects, measures the CASIA-B
protocol (rank-1 NM/BG/CL) and the genuine/impostor score distributions, and writes both into the
weights file's metadata (``metrics.validation`` and ``open_set``), leaving the weights untouched.
``install_weights`` copies weights into a weights folder (fp16 storage optional), with their
licence and notes in the file's own metadata, and regenerates that folder's index
(:mod:`gaitpipe.hub.index`), optionally making them the default encoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gaitpipe.errors import InputError
from gaitpipe.hub import CASIAB_LICENCE, install_dir, read_index, refresh_index_of, resolve_weights, write_index
from gaitpipe.hub.info import domain_of


def calibrate_weights(
    weights: str | Path,
    data: str | Path,
    subjects: str = "063-074",
    *,
    target_far: float = 0.01,
    max_frames: int | None = None,
    device: str | None = None,
    write: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Validate ``weights`` on ``subjects`` of ``data`` (CASIA-B protocol) and calibrate "unknown".

    Scores are the gallery's scores (part-averaged cosine of ``flatten_for_search`` vectors) over
    every pair of validation sequences (all conditions and views). ``open_set.threshold`` keeps
    ``target_far`` of impostor pairs; ``open_set.margin`` (best minus second identity score
    needed for a name) keeps ``target_far`` of leave-one-out probes from being named as a wrong
    identity that cleared the threshold (:func:`gaitpipe.metrics.open_set.margin_at_far`, with
    its effect in ``open_set.margin_effect``). Returns what was written.
    """
    from gaitpipe.engine.evaluator import evaluate_embeddings, evaluate_weights_embeddings
    from gaitpipe.metrics.evaluation import headline
    from gaitpipe.metrics.open_set import calibrate
    from gaitpipe.models.base import flatten_for_search
    from gaitpipe.models.checkpoint import read_meta, update_meta

    path = resolve_weights(weights)
    _refuse_trained_subjects(read_meta(path), subjects, path)
    result, es, _ = evaluate_weights_embeddings(
        path, data, "casiab", subjects=subjects, max_frames=max_frames, device=device, progress=progress
    )
    if len(set(es.subjects.tolist())) < 2:
        raise InputError(
            f"calibration needs sequences of at least two subjects; "
            f"{data} has {len(set(es.subjects.tolist()))} in {subjects}"
        )
    vectors = flatten_for_search(es.embeddings)
    cal = calibrate(vectors, es.subjects, fars=(0.01, 0.001), target_far=target_far)
    rank1 = {k: round(float(v), 2) for k, v in headline(result).items()}
    # The papers' figure is Euclidean (``rank1``); the gallery ranks by part-averaged cosine, so
    # that is what enroll/identify users get (``rank1_cosine``).
    cosine = headline(evaluate_embeddings(es, "casiab", metric="cos"))
    rank1_cosine = {k: round(float(v), 2) for k, v in cosine.items()}
    validation = {
        "protocol": "casiab",
        "subjects": subjects,
        "rank1": rank1,
        "rank1_cosine": rank1_cosine,
        "max_frames": max_frames,
        "sequences": len(es.subjects),
        "data": Path(str(data)).name,
    }
    # Say which data set the threshold was calibrated on, and whether that is the weights' own
    # training domain: a threshold from another domain says little about false accepts there.
    trained = domain_of(read_meta(path).get("training_data"))
    open_set = cal.to_dict() | {
        "calibrated_on": f"CASIA-B subjects {subjects}, all pairs of sequences",
        "domain": "CASIA-B",
        "own_domain": None if trained is None else trained == "CASIA-B",
    }
    if write:
        metrics = dict(read_meta(path).get("metrics") or {})
        metrics["validation"] = validation
        update_meta(path, metrics=metrics, open_set=open_set)
        refresh_index_of(path)
    return {"weights": str(path), "validation": validation, "open_set": open_set, "result": result}


def _trained_subjects(meta: dict[str, Any]) -> set[str]:
    """Subjects the weights' metadata says they were trained on (empty when it does not say)."""
    from gaitpipe.data.splits import parse_id_range

    data = meta.get("training_data")
    text = data.get("train_subjects") if isinstance(data, dict) else None
    try:
        return set(parse_id_range(text)) if text else set()
    except InputError:  # free-text training data (e.g. imported weights): nothing to check against
        return set()


def _refuse_trained_subjects(meta: dict[str, Any], subjects: str, path: Path) -> None:
    """Validation on training subjects would overstate accuracy and set a too-lax threshold."""
    from gaitpipe.data.splits import compact_ids, parse_id_range

    overlap = _trained_subjects(meta) & set(parse_id_range(subjects))
    if overlap:
        raise InputError(
            f"{path.name} was trained on subjects {compact_ids(overlap)}: calibrate on held-out subjects, "
            "or transfer the figures of the held-out run of the same recipe"
        )


def transfer_calibration(validated: str | Path, target: str | Path) -> dict[str, Any]:
    """Give ``target`` the validation figures and open-set threshold measured for ``validated``.

    For a final model retrained on every subject (nothing left to validate on): ``validated`` is
    the held-out run of the same recipe (same architecture, preset and config apart from the
    class count). The figures are marked ``transferred_from`` so nobody mistakes them for
    measurements of ``target`` itself. Returns what was written.
    """
    from gaitpipe.models.checkpoint import read_meta, update_meta

    src, dst = resolve_weights(validated), resolve_weights(target)
    src_meta, dst_meta = read_meta(src), read_meta(dst)

    def recipe(meta: dict[str, Any]) -> tuple:
        config = {k: v for k, v in (meta.get("config") or {}).items() if k != "num_classes"}
        return meta.get("arch"), meta.get("preset"), json.dumps(config, sort_keys=True)

    if recipe(src_meta) != recipe(dst_meta):
        raise InputError(
            f"{src.name} and {dst.name} are different models (architecture, preset or config): "
            "a threshold only transfers within one recipe"
        )
    validation = (src_meta.get("metrics") or {}).get("validation")
    if not validation or not src_meta.get("open_set"):
        raise InputError(f"{src.name} has no calibration: calibrate it on held-out subjects first")
    data = src_meta.get("training_data")
    origin = {
        "file": src.name,
        "fingerprint": src_meta.get("fingerprint"),
        "train_subjects": data.get("train_subjects") if isinstance(data, dict) else data,
    }
    metrics = dict(dst_meta.get("metrics") or {})
    metrics["validation"] = dict(validation, transferred_from=origin)
    open_set = dict(src_meta["open_set"], transferred_from=origin)
    update_meta(dst, metrics=metrics, open_set=open_set)
    refresh_index_of(dst)
    return {"weights": str(dst), "validation": metrics["validation"], "open_set": open_set}


#: Metadata that describes the weights themselves: always recomputed by ``save_checkpoint``.
_DERIVED_META = {
    "fingerprint",
    "stored_half",
    "arch",
    "preset",
    "config",
    "input_kind",
    "input_size",
    "parts",
    "part_layout",
    "embed_dim",
    "created",
    "gaitpipe_version",
    "torch_version",
}


def _carried_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """What a re-saved copy of a weights file keeps from the original's metadata."""
    return {k: v for k, v in meta.items() if k not in _DERIVED_META}


def set_retrieval_feature(source: str | Path, dest: str | Path, feature: str) -> dict[str, Any]:
    """Write a copy of ``source`` whose encoder retrieves with ``feature`` (``fc`` or ``bnneck``).

    The weights are unchanged; the config and hence the fingerprint change (a gallery refuses to
    mix the two spaces). The copy's open-set threshold and validation figures are dropped, since
    they describe the other feature: run :func:`calibrate_weights` on it. Returns its metadata.
    """
    from gaitpipe.models.checkpoint import load_checkpoint, save_checkpoint
    from gaitpipe.models.layers import RETRIEVAL_FEATURES

    if feature not in RETRIEVAL_FEATURES:
        raise InputError(f"retrieval feature must be one of {', '.join(RETRIEVAL_FEATURES)}, got {feature!r}")
    src = resolve_weights(source)
    model, meta = load_checkpoint(src)
    if not hasattr(model.config, "retrieval_feature"):
        raise InputError(
            f"{meta['arch']} has no BNNeck feature choice (its retrieval feature is fixed by the architecture)"
        )
    model.config.retrieval_feature = feature
    keep = _carried_meta(meta)
    keep.pop("open_set", None)
    keep.pop("path", None)
    metrics = dict(keep.get("metrics") or {})
    metrics.pop("validation", None)
    keep["metrics"] = metrics
    keep["derived_from"] = {
        "file": src.name,
        "fingerprint": meta.get("fingerprint"),
        "change": f"retrieval_feature={feature}",
    }
    return save_checkpoint(Path(dest), model, meta=keep, half=bool(meta.get("stored_half")))


def install_weights(
    source: str | Path,
    name: str,
    *,
    weights_dir: str | Path | None = None,
    half: bool = True,
    default: bool = False,
    notes: str | None = None,
) -> dict[str, Any]:
    """Copy ``source`` into ``weights_dir/<name>.pt`` (fp16 storage when ``half``) and regenerate the
    folder's index; ``default`` (or an index without one) makes it the encoder of enroll/identify/demo.
    Returns the new file's index entry."""
    from gaitpipe.models.checkpoint import load_checkpoint, save_checkpoint

    src = Path(source)
    model, meta = load_checkpoint(src)
    out_dir = Path(weights_dir) if weights_dir else install_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    carried = _carried_meta(meta)
    if "casia" in json.dumps(meta.get("training_data")).lower():
        carried.setdefault("licence", CASIAB_LICENCE)
    if notes:
        carried["notes"] = notes
    save_checkpoint(out_dir / f"{name}.pt", model, meta=carried, half=half)
    keep = None if read_index(out_dir).get("default") and not default else name
    index = write_index(out_dir, default=keep)
    return dict(index["weights"][name])


def set_default_weights(name: str, *, weights_dir: str | Path | None = None) -> Path:
    """Make the installed weights ``name`` the default of ``enroll``/``identify``/``demo``."""
    out_dir = Path(weights_dir) if weights_dir else install_dir()
    entries = read_index(out_dir).get("weights") or {}
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise InputError(f"no weights named {name!r} in {out_dir} (installed: {known}); install them first")
    if not (out_dir / entries[name]["file"]).is_file():
        raise InputError(f"the index of {out_dir} lists {name!r} but {entries[name]['file']} is missing")
    write_index(out_dir, default=name)
    return out_dir / entries[name]["file"]
