"""The one inference contract every gait encoder follows.

``embed(frames, lengths) -> [n, parts, dim]``: ``frames`` is ``[n, T, 64, 44]`` silhouettes in
[0, 1] (``[n, T, 3, 64, 44]`` soft-masked RGB for GaitNet), zero-padded past each sequence's
length. Padding never changes an embedding because sequences are run in groups of equal true
length, trimmed to that length (3D convolutions and temporal strides would otherwise see the
padding). Architectures implement :meth:`GaitEncoder.forward_fixed` on such a group.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: What an encoder takes: ``[n, T, 64, 44]`` silhouettes or ``[n, T, 3, 64, 44]`` soft-masked RGB.
InputKind = Literal["silhouette", "rgb"]
#: How training draws its frames: a random set (set-based models) or a contiguous segment in order.
SamplingOrder = Literal["ordered", "unordered"]
OptimizerName = Literal["sgd", "adam"]
#: ``triplet+ce``: OpenGait's triplet + BNNeck cross-entropy; ``gaitnet``: GaitNet's own losses.
LossRecipe = Literal["triplet+ce", "gaitnet"]


@dataclass(frozen=True)
class ArchSpec:
    """An architecture's facts, declared once on its encoder class (``spec = ArchSpec(...)``).

    The data loader, the trainer, the losses and the pipeline read these instead of keeping
    their own per-architecture tables, so adding an encoder touches its own module and its
    registration only. Training defaults follow each architecture's published recipe.
    """

    input_kind: InputKind = "silhouette"
    #: sequences shorter than this are repeated cyclically (temporal strides/kernels need frames).
    min_frames: int = 1
    #: ``ordered`` for temporal models (3D convolutions, LSTMs), ``unordered`` for set-based ones.
    sampling: SamplingOrder = "unordered"
    #: default optimiser, learning rate and weight decay when a training run does not choose one.
    optimizer: OptimizerName = "sgd"
    lr: float = 0.1
    weight_decay: float = 5e-4
    loss: LossRecipe = "triplet+ce"


@dataclass
class EncoderOutput:
    embeddings: torch.Tensor  #: [n, parts, dim] features used for retrieval
    logits: torch.Tensor | None = None  #: [n, parts, classes] BNNeck logits (training only)
    extras: dict[str, Any] = field(default_factory=dict)  #: architecture-specific (e.g. GaitNet)


class GaitEncoder(nn.Module):
    """Base class: subclasses set ``arch``, ``spec`` and ``config`` and implement ``forward_fixed``."""

    arch: ClassVar[str] = ""
    spec: ClassVar[ArchSpec] = ArchSpec()
    preset: str = ""
    #: parameter-name prefixes of the training-only classifier (left out of "params without classifier").
    classifier_prefixes: ClassVar[tuple[str, ...]] = ()
    #: config overrides giving a tiny model with the same structure, for fast shape/gradient tests.
    test_overrides: ClassVar[dict[str, Any]] = {}
    #: whether :meth:`frame_features` / :meth:`embed_frame_features` exist: the encoder sees every frame
    #: alone and pools frames only by a max over time, so overlapping windows of a stream can share
    #: per-frame work (:mod:`gaitpipe.watch.features`)
    frame_separable: ClassVar[bool] = False

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    @property
    def input_kind(self) -> InputKind:
        """``"silhouette"`` (``[n,T,64,44]``) or ``"rgb"`` (``[n,T,3,64,44]``): what ``embed`` takes."""
        return self.spec.input_kind

    @property
    def min_frames(self) -> int:
        """Sequences shorter than this are repeated cyclically before the forward pass."""
        return self.spec.min_frames

    @property
    def num_classes(self) -> int:
        """Training identities the classifier distinguishes (every architecture's config has them)."""
        return int(self.config.num_classes)

    def grow_classes(self, classes: int) -> None:
        """Widen the identity classifier to ``classes`` training identities (a run that starts from
        these weights with more people, e.g. synthetic ones): the existing classes keep their
        weights and indices, the new ones start as a fresh classifier's."""
        from gaitpipe.models.layers import SeparateBNNecks

        necks = [m for m in self.modules() if isinstance(m, SeparateBNNecks)]
        if not necks:
            raise ValueError(f"{self.arch} has no BNNeck classifier to widen")
        for neck in necks:
            neck.grow(classes)
        self.config = dataclasses.replace(self.config, num_classes=int(classes))

    def use_input_kind(self, kind: InputKind) -> None:
        """Train (and record in the weights) on ``kind`` input. Only encoders whose config holds an
        input kind (GaitNet) can switch; the others accept their own kind only."""
        if kind != self.input_kind:
            raise ValueError(f"{self.arch} takes {self.input_kind} input, not {kind}")

    # -- what subclasses provide -------------------------------------------------------------
    @property
    def parts(self) -> int:
        raise NotImplementedError

    @property
    def embed_dim(self) -> int:
        raise NotImplementedError

    def tiny_overrides(self) -> dict[str, Any]:
        """Config overrides for a tiny model of the same structure as this one (fast tests).

        ``test_overrides`` when the class sets it; otherwise every channel-like config field is
        narrowed 8x (at least 4) and the class count set to 5.
        """
        if self.test_overrides:
            return dict(self.test_overrides)
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self.config):
            v = getattr(self.config, f.name)
            if "channel" in f.name and isinstance(v, (tuple, list)) and all(isinstance(c, int) for c in v):
                out[f.name] = tuple(c if c <= 3 else max(4, c // 8) for c in v)
            elif f.name.endswith("_dim") and isinstance(v, int) and v > 3:
                out[f.name] = max(4, v // 8)
            elif f.name == "num_classes":
                out[f.name] = 5
        return out

    @property
    def part_layout(self) -> list[int]:
        """Number of horizontal parts per pooling level, top to bottom (sums to ``parts``)."""
        return [self.parts]

    def num_parameters(self, include_classifier: bool = True) -> int:
        """Trainable parameters; ``include_classifier=False`` leaves out the BNNeck class weights."""
        skip = () if include_classifier else tuple(self.classifier_prefixes)
        return sum(p.numel() for n, p in self.named_parameters() if p.requires_grad and not n.startswith(skip))

    def forward_fixed(self, frames: torch.Tensor) -> EncoderOutput:
        """Run a batch whose sequences all have exactly ``frames.shape[1]`` valid frames."""
        raise NotImplementedError

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame features ``[T, ...]`` of single frames ``[T, 64, 44]`` (only when ``frame_separable``)."""
        raise NotImplementedError(f"{self.arch} does not embed frames one at a time")

    def embed_frame_features(self, features: torch.Tensor) -> torch.Tensor:
        """``[n, T, ...]`` per-frame features -> ``[n, parts, dim]``, what :meth:`embed` gives for those frames."""
        raise NotImplementedError(f"{self.arch} does not embed frames one at a time")

    # -- shared machinery --------------------------------------------------------------------
    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> EncoderOutput:
        n, t = frames.shape[:2]
        if lengths is None:
            return self.forward_fixed(self._pad_to_min(frames))
        lengths = torch.as_tensor(lengths, device="cpu").long()
        if lengths.shape != (n,) or int(lengths.min()) < 1 or int(lengths.max()) > t:
            raise ValueError(f"lengths must be {n} values in 1..{t}, got {lengths.tolist()}")
        if bool((lengths == t).all()):
            return self.forward_fixed(self._pad_to_min(frames))
        outputs: list[tuple[torch.Tensor, EncoderOutput]] = []
        for length in torch.unique(lengths).tolist():
            idx = torch.nonzero(lengths == length).flatten().to(frames.device)
            group = frames.index_select(0, idx)[:, :length]
            outputs.append((idx, self.forward_fixed(self._pad_to_min(group))))
        return _scatter_outputs(outputs, n)

    def _pad_to_min(self, frames: torch.Tensor) -> torch.Tensor:
        t = frames.shape[1]
        if t >= self.min_frames:
            return frames
        reps = -(-self.min_frames // t)
        return frames.repeat(1, reps, *([1] * (frames.dim() - 2)))[:, : self.min_frames]

    @torch.inference_mode()
    def embed(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """[n, parts, dim] retrieval features, computed in eval mode."""
        was_training = self.training
        self.eval()
        try:
            return self.forward(frames, lengths).embeddings.float()
        finally:
            self.train(was_training)

    def use_channels_last(self) -> GaitEncoder:
        """Store convolution weights channels-last (``channels_last`` / ``channels_last_3d``).

        Convolutions then run in NHWC / NDHWC, the layout tensor cores want under autocast; the
        math is unchanged (outputs agree to float rounding). Done in place (the parameters stay
        the same objects, so an optimizer built before still holds them); returns ``self``.
        """
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
            elif isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
                module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last_3d)
        return self

    def describe(self) -> dict[str, Any]:
        """Metadata stored in checkpoints."""
        return {
            "arch": self.arch,
            "preset": self.preset,
            "config": dataclasses.asdict(self.config),
            "input_kind": self.input_kind,
            "input_size": [64, 44],
            "parts": self.parts,
            "part_layout": list(self.part_layout),
            "embed_dim": self.embed_dim,
        }


def _scatter_outputs(outputs: list[tuple[torch.Tensor, EncoderOutput]], n: int) -> EncoderOutput:
    first = outputs[0][1]

    def gather(get):
        ref = get(first)
        if ref is None:
            return None
        out = ref.new_zeros((n, *ref.shape[1:]))
        for idx, o in outputs:
            out[idx] = get(o)
        return out

    extras = {}
    for key, value in first.extras.items():
        if torch.is_tensor(value) and value.shape[:1] == first.embeddings.shape[:1]:
            extras[key] = gather(lambda o, k=key: o.extras[k])
    return EncoderOutput(gather(lambda o: o.embeddings), gather(lambda o: o.logits), extras)


def flatten_for_search(embeddings: torch.Tensor | np.ndarray):
    """[n, P, D] -> [n, P*D] unit vectors whose inner product is the part-averaged cosine.

    Each part is L2-normalised and scaled by 1/sqrt(P), so ``<a, b> = mean_p cos(a_p, b_p)``:
    the cosine variant of OpenGait's per-part distance (Fan et al., CVPR 2023), and FAISS
    inner-product search ranks exactly as ``1 - mean_p cos`` does.
    """
    import numpy as np

    is_numpy = isinstance(embeddings, np.ndarray)
    x = torch.as_tensor(embeddings).float()
    x = torch.nn.functional.normalize(x, dim=-1) / (x.shape[1] ** 0.5)
    x = x.reshape(x.shape[0], -1)
    return x.numpy() if is_numpy else x


def make_config(cls, base=None, **overrides):
    """Build config dataclass ``cls`` from ``base`` (an instance or None) with ``overrides``.

    Lists become tuples (configs read back from JSON checkpoints carry lists); an unknown field
    raises :class:`~gaitpipe.errors.WeightsError` naming it, since that means the config comes
    from another architecture or an incompatible gaitpipe version.
    """
    from gaitpipe.errors import WeightsError

    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise WeightsError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; fields: {', '.join(sorted(names))}")
    values = dataclasses.asdict(base) if base is not None else {}
    values.update({k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
    return cls(**values)
