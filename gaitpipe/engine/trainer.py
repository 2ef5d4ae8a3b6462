"""Training loop for gait encoders: P x K batches, triplet + CE (or GaitNet's losses), SGD + step decay.

One process, CPU or one GPU, no distributed launcher. Everything a run produces goes to ``out``:

- ``train_log.jsonl``: one JSON object per logged iteration (losses, lr, speed) and per validation;
- ``loss.png``: the loss curve (and validation rank-1 when validating), drawn with OpenCV;
- ``checkpoints/<preset>-iterNNNNNN.pt``: weights in gaitpipe's format (metadata: training data,
  subjects, iterations, validation metrics) plus ``...state.pt`` (optimizer, scheduler, AMP scaler,
  iteration, RNG states) next to it, which ``resume`` restores;
- ``<preset>.pt``: the final weights.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gaitpipe.config import SettingError
from gaitpipe.engine.train_config import TrainConfig, default_milestones, parse_batch
from gaitpipe.errors import InputError, WeightsError
from gaitpipe.utils.console import progress, progress_write
from gaitpipe.utils.device import resolve_device
from gaitpipe.utils.files import atomic_torch_save, atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from gaitpipe.data.loader import TrainBatch

_log = logging.getLogger(__name__)

#: Learning rate for an optimiser chosen explicitly (instead of the architecture's recipe).
OPTIMIZER_LR = {"sgd": 0.1, "adam": 1e-4}
#: Weight decay for an optimiser chosen explicitly.
OPTIMIZER_WEIGHT_DECAY = 5e-4


@dataclass
class TrainResult:
    checkpoint: Path  #: final weights
    log: Path
    plot: Path
    iterations: int
    wall_time_s: float
    validation: list[dict[str, Any]]  #: every validation run: {"iter", "metrics": headline, ...}


def _state_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name[: -len(checkpoint.suffix)] + ".state.pt")


class Trainer:
    """Owns the model, data, loss, optimiser and bookkeeping of one training run."""

    def __init__(self, config: TrainConfig) -> None:
        from gaitpipe.data.augment import SilhouetteAugmenter, parse_augment
        from gaitpipe.data.dataset import GaitDataset
        from gaitpipe.data.loader import DevicePack, TrainSamples, default_workers
        from gaitpipe.data.sampler import PKSampler
        from gaitpipe.data.sources import input_kind_for, open_source
        from gaitpipe.data.splits import load_split, parse_id_range
        from gaitpipe.engine.threads import ThreadTuner
        from gaitpipe.losses import build_loss
        from gaitpipe.models.checkpoint import load_checkpoint
        from gaitpipe.models.registry import create_model

        c = self.config = config
        c.check()
        if c.threads:
            torch.set_num_threads(c.threads)
        self.p, self.k = parse_batch(c.batch)
        self.device = resolve_device(c.device)
        # CPU threads: as asked, else chosen by timing steps (see ThreadTuner: a shared CPU can be
        # faster on fewer threads than cores).
        self.thread_tuner = None
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # training shapes are fixed: choose kernels once
        if self.device.type == "cpu" and not c.threads and torch.get_num_threads() > 1:
            self.thread_tuner = ThreadTuner(thread_candidates(torch.get_num_threads()))
        self.stopped_early = False
        self.out = Path(c.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(c.seed)

        # --- data: one source (a pack is loaded once), train and validation subsets of it
        split = load_split(c.split) if c.split else None
        wanted_train = parse_id_range(c.train_subjects) if c.train_subjects else None
        wanted_val = parse_id_range(c.val_subjects) if c.val_subjects else None
        keep = None if wanted_train is None else sorted(set(wanted_train) | set(wanted_val or []))
        self.source = open_source(c.data, subjects=keep, cache=c.cache)
        available = sorted({s.subject for s in self.source.sequences})
        if wanted_train is None:
            if split is None:
                wanted_train = available
            else:
                wanted_train = split.train_subjects(available)
        train_subjects = sorted(set(wanted_train) & set(available))
        if not train_subjects:
            raise InputError(f"no training subjects of {c.train_subjects or c.split} in {c.data}")
        self.extra_subjects: list[str] = []
        if c.extra_data:
            self.source, self.extra_subjects = _with_extra_people(self.source, c.extra_data)
            train_subjects = sorted(set(train_subjects) | set(self.extra_subjects))
        if wanted_val and set(wanted_val) & set(train_subjects):
            raise InputError("validation subjects overlap the training subjects")

        # --- model (a resumed run rebuilds exactly the checkpoint's model)
        self.start_iter = 0
        self.resume_state: dict[str, Any] | None = None
        if c.resume:
            ckpt = Path(c.resume)
            model, meta = load_checkpoint(ckpt)
            if meta.get("preset") != c.arch.replace("_", "-") and meta.get("arch") != c.arch:
                raise SettingError(f"resume checkpoint {ckpt} holds {meta.get('preset')}, not {c.arch}", "resume")
            state_file = _state_path(ckpt)
            if not state_file.is_file():
                raise SettingError(f"resume needs the training state {state_file.name} next to {ckpt.name}", "resume")
            try:
                self.resume_state = torch.load(state_file, map_location="cpu", weights_only=True)
            except Exception as exc:
                reason = str(exc).splitlines()[0][:200]
                raise InputError(f"cannot read training state {state_file}: {reason}") from None
            self.start_iter = int(self.resume_state["iteration"])
        elif c.init_from:
            model = _initial_weights(Path(c.init_from), c.arch, len(train_subjects))
        else:
            overrides = dict(c.model_overrides)
            overrides.setdefault("num_classes", len(train_subjects))
            try:
                model = create_model(c.arch, **overrides)
            except (WeightsError, ValueError, TypeError) as exc:  # unknown field or bad value in model_overrides
                raise InputError(f"{c.arch}: {exc}") from None
        if model.num_classes < len(train_subjects):
            raise InputError(f"{c.arch} classifies {model.num_classes} subjects but training has {len(train_subjects)}")
        self.model = model.to(self.device).train()
        self.channels_last = (
            default_channels_last(self.device.type, c.amp) if c.channels_last is None else c.channels_last
        )
        if self.channels_last:
            self.model.use_channels_last()
        kind = input_kind_for(model, self.source)
        if kind != model.input_kind:
            # GaitNet on a silhouette-only source: the weights must say so, or the pipeline would
            # feed them colour crops they never saw
            model.use_input_kind(kind)
        self.train_set = GaitDataset(self.source, subjects=train_subjects, kind=kind)
        self.val_set = None
        if c.val_every > 0:
            views = [v for v in c.val_views.split(",") if v] if c.val_views else None
            self.val_set = GaitDataset(self.source, subjects=wanted_val, views=views, kind=kind)
        self.sampling = c.sampling or model.spec.sampling
        # Batch i (its sequences and their frames) depends on (seed, i) alone: see gaitpipe.data.loader.
        groups = None
        if c.extra_share is not None:
            extra = set(self.extra_subjects)
            groups = np.array([s in extra for s in self.train_set.subjects], dtype=np.int64)
        self.sampler = PKSampler(
            self.train_set.labels, self.p, self.k, seed=c.seed, stop=c.iters, groups=groups, share=c.extra_share
        )
        augmenter = SilhouetteAugmenter(parse_augment(c.augment), rate=c.augment_rate)
        self.samples = TrainSamples(self.train_set, c.frames, self.sampling, seed=c.seed, augment=augmenter)
        self.workers = default_workers() if c.workers is None else c.workers
        self.device_pack = DevicePack(self.samples, self.device) if c.data_on_device else None
        # What the losses may want besides frames and labels, looked up per batch from arrays made once.
        infos = [self.train_set.info(i) for i in range(len(self.train_set))]
        self._conditions = np.array([s.condition.split("-")[0] for s in infos])
        self._views = np.array([s.view for s in infos])

        # --- loss and optimisation
        self.criterion = build_loss(model).to(self.device)
        # The architecture's recipe (optimiser, lr, weight decay) unless the run names an optimiser.
        spec = model.spec
        opt = (c.optimizer or spec.optimizer).lower()
        if c.optimizer is None:
            self.lr = c.lr if c.lr is not None else spec.lr
            weight_decay = c.weight_decay if c.weight_decay is not None else spec.weight_decay
        else:
            self.lr = c.lr if c.lr is not None else OPTIMIZER_LR[opt]
            weight_decay = c.weight_decay if c.weight_decay is not None else OPTIMIZER_WEIGHT_DECAY
        params = [p for p in list(model.parameters()) + list(self.criterion.parameters()) if p.requires_grad]
        self.optimizer: torch.optim.Optimizer
        if opt == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=self.lr, momentum=c.momentum, weight_decay=weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=weight_decay)
        self.optimizer_name = opt
        self.milestones = sorted(c.milestones) if c.milestones else default_milestones(c.iters)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, self.milestones, gamma=c.gamma)
        amp_dtype = (c.amp_dtype or ("fp16" if self.device.type == "cuda" else "bf16")).lower()
        self.amp_dtype = torch.float16 if amp_dtype == "fp16" else torch.bfloat16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=c.amp and self.amp_dtype == torch.float16)

        self.log_path = self.out / "train_log.jsonl"
        self.plot_path = self.out / "loss.png"
        self.validations: list[dict[str, Any]] = []
        self.elapsed = 0.0
        self.train_subjects = train_subjects
        if self.resume_state is not None:
            self._restore(self.resume_state)
            self._truncate_log(self.start_iter)
        elif self.log_path.exists():
            self.log_path.unlink()  # a fresh run starts a fresh log (resume appends)

    def _truncate_log(self, iteration: int) -> None:
        """Resuming from an earlier checkpoint than the log's end: drop the records past it, so the
        log (and its loss curve) describes one run instead of two overlapping ones."""
        if not self.log_path.exists():
            return
        kept = []
        for line in self.log_path.read_text().splitlines():
            try:
                if int(json.loads(line).get("iter", 0)) <= iteration:
                    kept.append(line)
            except (ValueError, TypeError, AttributeError):  # a torn last line of a killed run
                continue
        atomic_write_text(self.log_path, "".join(f"{line}\n" for line in kept))

    # ------------------------------------------------------------------ state
    def _restore(self, st: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self._apply_schedule(int(st["iteration"]))
        if st.get("scaler"):
            self.scaler.load_state_dict(st["scaler"])
        if "position" in st["sampler"]:
            self.sampler.load_state_dict(st["sampler"])
        else:  # written before batches were seeded per iteration: continue with this version's batches
            _log.warning("training state from an older gaitpipe: batches after the resume are drawn anew")
            self.sampler.position = int(st["iteration"])
        torch.set_rng_state(st["torch_rng"])
        if self.device.type == "cuda" and st.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(st["cuda_rng"])
        self.elapsed = float(st.get("elapsed", 0.0))
        self.validations = json.loads(st.get("validations", "[]"))

    def _apply_schedule(self, iteration: int) -> None:
        """The configured schedule wins over the restored one, so a resumed run can be given new
        milestones (decay sooner, or run on longer): the learning rate becomes what the new
        schedule gives at ``iteration``. (MultiStepLR's saved state would otherwise keep the old
        milestones and silently ignore the new ones.)"""
        from collections import Counter

        gamma = self.config.gamma
        restored = sorted(self.scheduler.milestones.elements())
        if restored == self.milestones and self.scheduler.gamma == gamma:
            return
        self.scheduler.milestones = Counter(self.milestones)
        self.scheduler.gamma = gamma
        passed = sum(1 for m in self.milestones if m <= iteration)
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * gamma**passed
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        _log.warning(
            "resumed with milestones %s (the checkpoint's run had %s): learning rate now %g",
            ",".join(map(str, self.milestones)),
            ",".join(map(str, restored)),
            self.optimizer.param_groups[0]["lr"],
        )

    def _training_state(self, iteration: int) -> dict[str, Any]:
        return {
            "iteration": iteration,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "sampler": self.sampler.state_dict(position=iteration),  # batches used, not prefetched
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            "elapsed": self.elapsed,
            "validations": json.dumps(self.validations),
        }

    def _meta(self, iteration: int, last_loss: float | None) -> dict[str, Any]:
        from gaitpipe.data.splits import compact_ids

        c = self.config
        latest = self.validations[-1] if self.validations else None
        return {
            "training_data": {
                "data": str(c.data),
                "split": c.split,
                "train_subjects": compact_ids(self.train_subjects),
                "num_train_sequences": len(self.train_set),
                "val_subjects": compact_ids(self.val_set.subjects) if self.val_set is not None else None,
                **({"extra_data": str(c.extra_data), "extra_share": c.extra_share} if c.extra_data else {}),
            },
            "training": {
                "iterations": iteration,
                "batch": f"{self.p}x{self.k}",
                "frames": c.frames,
                "sampling": self.sampling,
                "augment": c.augment,
                "augment_rate": c.augment_rate,
                **({"init_from": str(c.init_from)} if c.init_from else {}),
                "optimizer": self.optimizer_name,
                "lr": self.lr,
                "milestones": self.milestones,
                "amp": bool(c.amp),
                "amp_dtype": str(self.amp_dtype).replace("torch.", "") if c.amp else None,
                "channels_last": self.channels_last,
                "threads": torch.get_num_threads() if self.device.type == "cpu" else None,
                "workers": 0 if self.device_pack is not None else self.workers,
                "data_on_device": self.device_pack is not None,
                "device": str(self.device),
                "seed": c.seed,
                "wall_time_s": round(self.elapsed, 1),
                "final_loss": last_loss,
                "stopped_by_time_limit": self.stopped_early,
            },
            "metrics": {"validation": latest} if latest else {},
        }

    def save(self, path: Path, iteration: int, last_loss: float | None, with_state: bool = True) -> Path:
        from gaitpipe.models.checkpoint import save_checkpoint

        save_checkpoint(path, self.model, meta=self._meta(iteration, last_loss))
        if with_state:
            atomic_torch_save(self._training_state(iteration), _state_path(path))
        return path

    # ------------------------------------------------------------------ loop
    def _log(self, record: dict[str, Any]) -> None:
        with self.log_path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def validate(self, iteration: int) -> dict[str, Any]:
        from gaitpipe.engine.evaluator import evaluate_model
        from gaitpipe.metrics.evaluation import headline

        t0 = time.perf_counter()
        c = self.config
        assert self.val_set is not None
        result, _ = evaluate_model(
            self.model,
            self.val_set,
            c.val_protocol,
            device=self.device,
            batch_size=c.val_batch,
            max_frames=c.val_max_frames,
            progress=False,
        )
        rec = {
            "iter": iteration,
            "protocol": c.val_protocol,
            "metrics": headline(result),
            "views": c.val_views or "all",
            "max_frames": c.val_max_frames,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        self.validations.append(rec)
        self._log({"type": "val", **rec})
        self.model.train()
        return rec

    def batches(self) -> Generator[TrainBatch, None, None]:
        """The run's batches from the sampler's position on, on the training device: gathered from
        the pack on the device, or loaded by a DataLoader (``workers`` background processes)."""
        from gaitpipe.data.loader import train_loader

        if self.device_pack is not None:
            yield from self.device_pack.batches(self.sampler)
            return
        cuda = self.device.type == "cuda"
        loader = train_loader(self.samples, self.sampler, workers=self.workers, pin_memory=cuda)
        for batch in loader:
            yield batch.to(self.device, non_blocking=cuda)

    def train_step(self, batch: TrainBatch | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """One optimisation step on ``batch`` (default: the sampler's next batch, loaded here).

        Returns the loss and the losses' logged parts as detached tensors: nothing here waits for
        the GPU, so it can queue the next step while this one runs; :meth:`fit` reads them when
        it logs (and stops there if the loss became NaN or infinite).
        """
        from gaitpipe.data.loader import to_model_input
        from gaitpipe.losses import deferred_values

        if batch is None:
            batch = self.samples.__getitems__(self.sampler.next_batch()).to(self.device)
        x = to_model_input(batch.frames)
        y = batch.labels
        index = batch.indices.numpy()
        extra = {"conditions": self._conditions[index].tolist(), "views": self._views[index].tolist()}
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.config.amp), deferred_values():
            output = self.model(x)
            loss, parts = self.criterion(output, y, extra)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach(), parts

    def fit(self) -> TrainResult:
        c = self.config
        ckpt_dir = self.out / "checkpoints"
        preset = self.model.preset or c.arch
        save_every = c.save_every or c.val_every or 0
        atomic_write_json(self.out / "config.json", asdict(c))
        if self.val_set is not None and self.start_iter == 0:
            rec = self.validate(0)
            start = f"start weights of {Path(c.init_from).name}" if c.init_from else "untrained"
            progress_write(f"iter 0 ({start}) validation: {_fmt_metrics(rec['metrics'])}")
        it = self.start_iter
        last_loss: float | None = None
        window: list[torch.Tensor] = []  # losses since the last log line, still on the device
        parts: dict[str, Any] = {}
        bar = progress(c.iters, f"train {preset}", unit="it", enabled=c.progress, initial=it, leave=True)
        t_last = time.perf_counter()

        def flush() -> None:
            """Log the window's mean loss (the one wait for the device per log line)."""
            nonlocal window, t_last, last_loss
            if not window:
                return
            losses = torch.stack(window).float().cpu()
            if not bool(torch.isfinite(losses).all()):
                bad = float(losses[~torch.isfinite(losses)][0])
                raise FloatingPointError(f"loss became {bad} before iteration {it}; lower lr or turn amp off")
            last_loss = float(losses[-1])
            now = time.perf_counter()
            rate = len(window) / max(now - t_last, 1e-9)
            bar.set_postfix_str(f"loss={float(losses.mean()):.3f}, seq_s={rate * self.p * self.k:.1f}")
            self._log(
                {
                    "type": "train",
                    "iter": it,
                    "loss": float(losses.mean()),
                    **{k: float(v) for k, v in parts.items() if k != "loss"},
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "elapsed_s": round(self.elapsed, 2),
                    "it_per_s": round(rate, 3),
                }
            )
            window, t_last = [], now

        self.sampler.position = it
        batches = self.batches()
        t_start = time.perf_counter()
        self.stopped_early = False
        try:
            while it < c.iters:
                if c.time_limit_min and time.perf_counter() - t_start > 60.0 * c.time_limit_min:
                    self.stopped_early = True
                    progress_write(f"time limit of {c.time_limit_min} min reached at iteration {it}")
                    break
                if self.thread_tuner is not None:
                    self.thread_tuner.before_step()
                t0 = time.perf_counter()
                batch = next(batches)  # waits for the loader only when it fell behind
                if batch.number != it:  # the exact-resume contract: batch i is step i
                    raise RuntimeError(f"loader delivered batch {batch.number} at iteration {it}")
                loss, parts = self.train_step(batch)
                it += 1
                window.append(loss)
                bar.update(1)
                if it % c.log_every == 0 or it == c.iters:
                    flush()
                dt = time.perf_counter() - t0  # training time: the step, and on a GPU its wait at log lines
                self.elapsed += dt
                if self.thread_tuner is not None and (probe := self.thread_tuner.after_step(dt)):
                    self._log({"type": "threads", "iter": it, **probe})
                if self.val_set is not None and it % c.val_every == 0 and it < c.iters:
                    flush()
                    rec = self.validate(it)
                    progress_write(f"iter {it} validation: {_fmt_metrics(rec['metrics'])}")
                    t_last = time.perf_counter()
                if save_every and it % save_every == 0 and it < c.iters:
                    flush()
                    self.save(ckpt_dir / f"{preset}-iter{it:06d}.pt", it, last_loss)
                    self.plot()
                    t_last = time.perf_counter()
            flush()  # a time limit can stop the run between log lines
        except KeyboardInterrupt:
            batches.close()
            bar.close()
            if it > self.start_iter:
                path = self.save(ckpt_dir / f"{preset}-iter{it:06d}.pt", it, last_loss)
                progress_write(f"interrupted: saved {path} (resuming from it continues the run)")
            raise
        finally:
            batches.close()  # stops the loader's workers (a time limit leaves batches unread)
        bar.close()
        if self.val_set is not None and (not self.validations or self.validations[-1]["iter"] != it):
            if it > self.start_iter:  # the training is kept even if the validation fails
                self.save(ckpt_dir / f"{preset}-iter{it:06d}.pt", it, last_loss)
            rec = self.validate(it)
            progress_write(f"iter {it} validation: {_fmt_metrics(rec['metrics'])}")
        self.save(ckpt_dir / f"{preset}-iter{it:06d}.pt", it, last_loss)
        final = self.save(self.out / f"{preset}.pt", it, last_loss, with_state=False)
        self.plot()
        return TrainResult(final, self.log_path, self.plot_path, it, self.elapsed, self.validations)

    def plot(self) -> Path:
        from gaitpipe.engine.plots import plot_log

        return plot_log(self.log_path, self.plot_path, title=f"{self.model.preset or self.config.arch} training")


def _with_extra_people(source: Any, extra_path: str) -> tuple[Any, list[str]]:
    """``source`` with every sequence of the pack ``extra_path`` appended, and the extra subjects."""
    from gaitpipe.data.packed import PackedSource, merge_packs
    from gaitpipe.data.sources import open_source

    extra = open_source(extra_path)
    if not isinstance(source, PackedSource) or not isinstance(extra, PackedSource):
        raise SettingError("extra_data needs data and extra_data to be .npz/.npz.xz packs", "extra_data")
    return merge_packs(source, extra), sorted({s.subject for s in extra.sequences})


def _initial_weights(path: Path, arch: str, classes: int) -> Any:
    """The model of checkpoint ``path`` to start a new run from, its classifier widened to ``classes``."""
    from gaitpipe.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path)
    if meta.get("preset") != arch.replace("_", "-") and meta.get("arch") != arch:
        raise SettingError(f"init_from checkpoint {path} holds {meta.get('preset')}, not {arch}", "init_from")
    if model.num_classes < classes:
        try:
            model.grow_classes(classes)
        except ValueError as exc:
            raise SettingError(f"init_from {path.name}: {exc}", "init_from") from None
    return model


def default_channels_last(device_type: str, amp: bool) -> bool:
    """Channels-last convolutions unless told otherwise: on CUDA (the layout tensor cores want).
    On the CPU it was 15-28 % faster in fp32 on one EPYC and crashed oneDNN's backward on another
    (AVX-512, narrow convolutions: docs/training.md), so there it is opt-in; ``amp`` changes
    nothing (kept for callers that pass the autocast setting)."""
    del amp
    return device_type == "cuda"


def thread_candidates(cores: int) -> list[int]:
    """Thread counts worth timing on ``cores`` cores: 1 to all of them on small machines, and the
    quarter, half and all of them on larger ones (a single thread is never the best there)."""
    if cores <= 4:
        return sorted({1, max(1, cores // 2), cores})
    return sorted({max(1, cores // 4), cores // 2, cores})


def _fmt_metrics(m: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in m.items() if isinstance(v, (int, float)) and math.isfinite(v))


def train(config: TrainConfig) -> TrainResult:
    """Run a whole training (or resume one) as configured; returns where the results are."""
    return Trainer(config).fit()


__all__ = ["TrainConfig", "TrainResult", "Trainer", "train"]
