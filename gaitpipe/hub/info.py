"""The typed metadata of one weights file (what the file's JSON header says about its weights).

The header is the one record of a weights file's facts: architecture, preset and config (enough
to rebuild the model), fingerprint, training data and recipe, validation figures, open-set
threshold, licence and notes. :class:`WeightsInfo` is its typed view, in the spirit of timm's
``PretrainedCfg``; :meth:`WeightsInfo.from_dict` validates a header and
:meth:`WeightsInfo.to_dict` gives it back unchanged (keys this gaitpipe does not know are kept).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gaitpipe.errors import WeightsError

#: Text recorded for weights trained on CASIA-B (its terms allow research use only).
CASIAB_LICENCE = "trained on CASIA-B (CASIA's research-use terms): for research use"


def _typed(meta: dict[str, Any], key: str, kind: type | tuple[type, ...], required: bool, where: str) -> Any:
    value = meta.get(key)
    if value is None:
        if required:
            raise WeightsError(f"{where}: metadata has no {key!r}")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise WeightsError(f"{where}: metadata {key!r} must be {names}, got {type(value).__name__}")
    return value


#: Gait data sets by the spellings found in weights headers (first match wins).
_DOMAINS = (
    ("CASIA-B", ("casia-b", "casiab", "casia_b")),
    ("OU-MVLP", ("ou-mvlp", "oumvlp")),
    ("GREW", ("grew",)),
    ("Gait3D", ("gait3d",)),
    ("CCPG", ("ccpg",)),
    ("SUSTech1K", ("sustech1k",)),
    ("synthetic", ("synthetic",)),
)


def domain_of(text: Any) -> str | None:
    """The gait data set named in ``text`` (a string, or the values of a dict), if any."""
    if isinstance(text, dict):
        text = " ".join(str(v) for v in text.values())
    if not isinstance(text, str):
        return None
    low = text.lower()
    for name, spellings in _DOMAINS:
        if any(s in low for s in spellings):
            return name
    return None


@dataclass
class WeightsInfo:
    """What a weights file's header says (see the module docstring)."""

    arch: str  #: architecture (``gaitbase``, ``hstl``, ...)
    preset: str  #: registry preset the model is built from (``create_model(preset, **config)``)
    config: dict[str, Any]  #: the preset's config overrides, as stored
    fingerprint: str  #: ``<arch>/<preset tag>/<hash>``: galleries refuse other encoders' embeddings
    input_kind: str | None = None  #: ``silhouette`` or ``rgb``
    input_size: list[int] | None = None  #: [height, width] of one input frame
    parts: int | None = None  #: embedding parts (horizontal strips)
    part_layout: list[int] | None = None
    embed_dim: int | None = None  #: dimension of one part's embedding
    stored_half: bool = False  #: float tensors stored as float16
    created: str | None = None  #: UTC ISO date and time the file was written
    gaitpipe_version: str | None = None
    torch_version: str | None = None
    training_data: dict[str, Any] | str | None = None  #: what it was trained on (subjects, split, ...)
    training: dict[str, Any] = field(default_factory=dict)  #: recipe: iterations, optimiser, batch, ...
    metrics: dict[str, Any] = field(default_factory=dict)  #: ``validation`` record and training figures
    open_set: dict[str, Any] | None = None  #: calibrated ``threshold``, ``tar_at_far``, ...
    source: dict[str, Any] | str | None = None  #: where converted weights came from
    derived_from: dict[str, Any] | None = None  #: the file this one was re-saved from, and the change
    licence: str | None = None  #: terms the weights come under (those of their training data)
    notes: str | None = None  #: free text: how and why the weights were made
    extra: dict[str, Any] = field(default_factory=dict)  #: header keys this gaitpipe does not know

    # ------------------------------------------------------------------ figures users ask for
    @property
    def iterations(self) -> int | None:
        value = self.training.get("iterations")
        return int(value) if isinstance(value, int) else None

    @property
    def trained_on(self) -> str | None:
        """The training subjects (e.g. ``001-062``), or the free-text training data."""
        if isinstance(self.training_data, dict):
            subjects = self.training_data.get("train_subjects")
            return None if subjects is None else str(subjects)
        return self.training_data

    @property
    def validation(self) -> dict[str, Any]:
        """The validation record (protocol, subjects, ``rank1`` per condition, ...); empty if none."""
        value = self.metrics.get("validation")
        return value if isinstance(value, dict) else {}

    @property
    def validation_rank1(self) -> dict[str, float] | None:
        value = self.validation.get("rank1")
        return value if isinstance(value, dict) else None

    @property
    def threshold(self) -> float | None:
        """The calibrated open-set threshold ("unknown" below it), if calibrated."""
        value = (self.open_set or {}).get("threshold")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def training_domain(self) -> str | None:
        """The data set the weights were trained on (``CASIA-B``, ``Gait3D``, ...), if it says."""
        return domain_of(self.training_data)

    @property
    def threshold_domain(self) -> str | None:
        """The data set the open-set threshold was calibrated on, if calibrated and it says."""
        open_set = self.open_set or {}
        return domain_of(open_set.get("domain") or open_set.get("calibrated_on"))

    @property
    def transferred_from(self) -> dict[str, Any] | None:
        """For a final model trained on every subject: the held-out run whose figures it carries."""
        value = self.validation.get("transferred_from")
        return value if isinstance(value, dict) else None

    @property
    def date(self) -> str | None:
        """The day the file was written (``YYYY-MM-DD``)."""
        return self.created[:10] if self.created else None

    # --------------------------------------------------------------------------- conversion
    @classmethod
    def from_dict(cls, meta: dict[str, Any], where: str = "weights") -> WeightsInfo:
        """Validate a header; raises a one-line :class:`WeightsError` naming the bad key."""
        if not isinstance(meta, dict):
            raise WeightsError(f"{where}: metadata is not a JSON object")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        opt_dict_or_str = (dict, str)
        return cls(
            arch=_typed(meta, "arch", str, True, where),
            preset=_typed(meta, "preset", str, True, where),
            config=_typed(meta, "config", dict, True, where),
            fingerprint=_typed(meta, "fingerprint", str, True, where),
            input_kind=_typed(meta, "input_kind", str, False, where),
            input_size=_typed(meta, "input_size", list, False, where),
            parts=_typed(meta, "parts", int, False, where),
            part_layout=_typed(meta, "part_layout", list, False, where),
            embed_dim=_typed(meta, "embed_dim", int, False, where),
            stored_half=bool(_typed(meta, "stored_half", bool, False, where)),
            created=_typed(meta, "created", str, False, where),
            gaitpipe_version=_typed(meta, "gaitpipe_version", str, False, where),
            torch_version=_typed(meta, "torch_version", str, False, where),
            training_data=_typed(meta, "training_data", opt_dict_or_str, False, where),
            training=_typed(meta, "training", dict, False, where) or {},
            metrics=_typed(meta, "metrics", dict, False, where) or {},
            open_set=_typed(meta, "open_set", dict, False, where),
            source=_typed(meta, "source", opt_dict_or_str, False, where),
            derived_from=_typed(meta, "derived_from", dict, False, where),
            licence=_typed(meta, "licence", str, False, where),
            notes=_typed(meta, "notes", str, False, where),
            extra={k: v for k, v in meta.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """The header as stored (``from_dict(meta).to_dict() == meta`` for headers gaitpipe wrote)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if (value is None and f.name != "training_data") or (f.name == "training" and not value):
                continue  # training_data is always written (null when unknown); other unset keys are not
            out[f.name] = value
        out.update(self.extra)
        return out


__all__ = ["CASIAB_LICENCE", "WeightsInfo", "domain_of"]
