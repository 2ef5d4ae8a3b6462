"""Every setting of a training run, declared once.

:class:`TrainConfig` is the only list: ``gaitpipe train`` derives its options from it, a YAML
recipe (``gaitpipe train --config recipe.yaml``) and ``key=value`` overrides are read into it by
:func:`gaitpipe.config.build_config`, and Python callers build it directly. Settings left at
``None`` take the architecture's own default (its :class:`~gaitpipe.models.base.ArchSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gaitpipe.config import SettingError, setting
from gaitpipe.data.augment import parse_augment


@dataclass
class TrainConfig:
    arch: str = setting(help="Model preset, e.g. gaitbase-casiab, gaitbase-small, dygait-small, hstl-casiab.")
    data: str = setting(help="Dataset folder (<subject>/<cond>/<view>/*.pkl) or a .npz/.npz.xz pack.")
    cache: bool = setting(False, help="Keep sequences read from a dataset folder in memory (packs always are).")
    split: str = setting(
        "casiab",
        help="Split file (OpenGait JSON) or casiab|oumvlp|grew|gait3d: its TRAIN_SET picks the training subjects.",
    )
    train_subjects: str | None = setting(None, help="Training subjects, e.g. 001-062 (overrides the split).")
    extra_data: str | None = setting(
        None,
        help="A second pack whose subjects all train too (other people: e.g. synthetic walkers from "
        "`gaitpipe synth-train-pack`); validation stays on --data.",
    )
    extra_share: float | None = setting(
        None,
        help="Share of each batch's P subjects drawn from --extra-data's people, 0-1 "
        "(default: in proportion to the number of people).",
    )
    iters: int = setting(60000, help="Training iterations.")
    batch: str = setting("8x16", help="P x K: subjects x sequences per batch.")
    frames: int = setting(30, help="Frames sampled per training sequence.")
    sampling: str | None = setting(None, help="ordered|unordered (default: the architecture's).")
    augment: str = setting(
        "none",
        help="Silhouette augmentations, comma-separated: rotate,erase,holes,edges,cut,shadow,jitter, "
        "or a set: da (rotate,erase: OpenGait's GaitBase_DA), real (all), none.",
    )
    augment_rate: float = setting(1.0, help="Share of training sequences augmented at all (the rest stay clean); 0-1.")
    optimizer: str | None = setting(None, help="sgd or adam (default: the architecture's; adam for HSTL and GaitNet).")
    lr: float | None = setting(None, help="Learning rate (default: the architecture's; else SGD 0.1, Adam 1e-4).")
    momentum: float = setting(0.9, help="SGD momentum.")
    #: None: the architecture's recipe (5e-4 with SGD, none with Adam); 5e-4 for an optimizer chosen here.
    weight_decay: float | None = setting(None, help="Weight decay (default: the architecture's recipe, else 5e-4).")
    milestones: list[int] | None = setting(
        None, help="Comma-separated iterations where lr x gamma (default: 1/3, 2/3 and 5/6 of iters)."
    )
    gamma: float = setting(0.1, help="Learning-rate factor at each milestone.")
    device: str | None = setting(None, help="cpu, cuda, cuda:1 (default: CUDA when present).")
    amp: bool = setting(False, help="Mixed precision (fp16 + grad scaling on CUDA, bf16 on CPU).")
    amp_dtype: str | None = setting(None, help="fp16 or bf16.")
    #: None = on for CUDA only: on some CPUs (AVX-512, torch 2.14.1) oneDNN's fp32 backward crashes
    #: on narrow channels-last convolutions (docs/training.md), so the CPU opts in explicitly.
    channels_last: bool | None = setting(
        None, help="Channels-last convolutions (default: on for CUDA; on the CPU only when asked, see docs)."
    )
    resume: str | None = setting(None, help="Checkpoint of an earlier run (its .state.pt must sit next to it).")
    init_from: str | None = setting(
        None,
        help="Start a new run from this checkpoint's weights (fresh optimiser, schedule and iteration count; "
        "the classifier grows to the run's training subjects, the checkpoint's own keep their places).",
    )
    out: str = setting("runs/train", help="Output folder for checkpoints, log and loss curve.")
    val_every: int = setting(0, help="Validate every N iterations, and before the first (0: never).")
    val_subjects: str | None = setting(None, help="Held-out validation subjects, e.g. 063-074.")
    val_protocol: str = setting("casiab", help="Protocol used for validation.")
    val_views: str | None = setting(None, help="Validate on these views only, e.g. 054,090,126.")
    val_max_frames: int | None = setting(None, help="Use the first N frames of each validation sequence.")
    val_batch: int = setting(8, help="Sequences per validation forward pass.")
    save_every: int = setting(0, help="Checkpoint every N iterations (default: at each validation, else at the end).")
    log_every: int = setting(10, help="Write a log line every N iterations.")
    time_limit_min: float | None = setting(
        None, flag="--time-limit", help="Stop after this many minutes of this session (then validate and save)."
    )
    threads: int | None = setting(
        None, help="CPU threads for torch (default: chosen by timing steps, from 1 to one per core)."
    )
    workers: int | None = setting(
        None,
        help="Background data-loading processes (default: 1 per 4 CPU cores, 1-4; 0: load in the training process).",
    )
    data_on_device: bool = setting(
        False, help="Hold the pack on the training device (GPU) and draw batches there, with no loader processes."
    )
    seed: int = setting(0, help="Random seed (model init, batches, frames).")
    model_overrides: dict[str, Any] = setting(
        default_factory=dict,
        flag="--set",
        help="Model config override KEY=VALUE (JSON value), repeatable, e.g. --set channels=[16,32,64].",
    )
    progress: bool = setting(True, help="Progress bar (turn off for logs).")

    def check(self) -> None:
        """Reject values no run can use; each error names the setting."""
        if self.iters < 1:
            raise SettingError("iters must be at least 1", "iters")
        if self.frames < 1:
            raise SettingError("frames must be at least 1", "frames")
        if self.workers is not None and self.workers < 0:
            raise SettingError("workers must be 0 (load in the training process) or more", "workers")
        if self.sampling is not None and self.sampling not in ("ordered", "unordered"):
            raise SettingError(f"sampling must be ordered or unordered, got {self.sampling!r}", "sampling")
        if self.optimizer is not None and self.optimizer.lower() not in ("sgd", "adam"):
            raise SettingError(f"unknown optimizer {self.optimizer!r} (sgd or adam)", "optimizer")
        if self.amp_dtype is not None and self.amp_dtype.lower() not in ("fp16", "bf16"):
            raise SettingError(f"amp_dtype must be fp16 or bf16, got {self.amp_dtype!r}", "amp_dtype")
        if self.val_every > 0 and not self.val_subjects:
            raise SettingError(
                "val_every needs val_subjects (subjects held out of training)", "val_every", "val_subjects"
            )
        parse_batch(self.batch)
        parse_augment(self.augment)
        if not 0.0 <= self.augment_rate <= 1.0:
            raise SettingError(f"augment_rate must be between 0 and 1, got {self.augment_rate}", "augment_rate")
        if self.extra_share is not None:
            if self.extra_data is None:
                raise SettingError("extra_share needs extra_data", "extra_share", "extra_data")
            if not 0.0 < self.extra_share < 1.0:
                raise SettingError(
                    f"extra_share must be between 0 and 1 (exclusive), got {self.extra_share}", "extra_share"
                )
        if self.resume and self.init_from:
            raise SettingError(
                "resume continues a run, init_from starts a new one from its weights: pass one", "resume", "init_from"
            )
        if self.data_on_device and parse_augment(self.augment):
            raise SettingError(
                "augmentations run in loader processes; drop data_on_device or augment", "augment", "data_on_device"
            )


def parse_batch(text: str) -> tuple[int, int]:
    """``"8x16"`` -> ``(8, 16)``: P subjects x K sequences each."""
    try:
        p, k = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SettingError(f"batch must be P x K like 8x16, got {text!r}", "batch") from None
    if p < 2 or k < 2:
        raise SettingError(f"batch {text}: triplet training needs P >= 2 subjects and K >= 2 sequences each", "batch")
    return p, k


def default_milestones(iters: int) -> list[int]:
    """GaitBase's CASIA-B schedule (60k iterations, decay at 20k/40k/50k) scaled to the run length."""
    return sorted({max(1, round(iters * f)) for f in (1 / 3, 2 / 3, 5 / 6)})


__all__ = ["TrainConfig", "default_milestones", "parse_batch"]
