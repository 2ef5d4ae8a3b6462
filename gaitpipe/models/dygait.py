"""DyGait (Wang et al., ICCV 2023): dynamic augmentation of silhouette sequences with 3D convolutions.

The paper's idea: what identifies a walker is mostly in the parts of the body that *move*
(arms, legs), while the static body shape dominates ordinary feature maps. A Dynamic
Augmentation Module (DAM) therefore has two branches whose outputs are summed:

* a dynamic branch: the input minus its temporal mean (the "dynamic feature", which is zero for
  anything that does not change over time), then a 3x3x3 convolution;
* a global branch: a 1x3x3 (spatial only) convolution of the input itself.

Network (Wang et al., ICCV 2023): a shallow 3D conv stem, Local Temporal Aggregation (LTA: a 3x1x1
conv with temporal stride 3), three stages of DAM + 3x3x3 conv (2x2 spatial max pooling after
the stages listed in ``pool_after``), temporal max pooling, then horizontal mapping: GeM pooling
over horizontal strips (one or several bin counts, concatenated), a separate FC per strip and a
BNNeck per strip.

Written from the paper. The authors' public release does not run as published (the residual add
mixes channel counts, a call uses an invalid argument, a config class is missing), so where it
and the paper disagree we follow the paper; the residual shortcut in each stage is a 1x1x1
projection whenever the channel count changes.

The model is a pure function of the valid frames: :class:`~gaitpipe.models.base.GaitEncoder`
runs sequences in groups of equal true length, so the temporal mean, the 3D convolutions and the
temporal max never see padding. ``min_frames = 3`` (the LTA stride): shorter sequences are
repeated cyclically by the base class, so a single frame works.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from gaitpipe.models.base import ArchSpec, EncoderOutput, GaitEncoder
from gaitpipe.models.layers import (
    BasicConv3d,
    GeMHorizontalPooling,
    SeparateBNNecks,
    SeparateFCs,
    check_retrieval_feature,
    frames_to_3d,
    temporal_max,
)
from gaitpipe.models.registry import register_model


@dataclass
class DyGaitConfig:
    #: stem width, then the output width of the three DAM stages.
    channels: tuple[int, int, int, int] = (32, 64, 128, 128)
    #: 1-based stage indices followed by a 2x2 spatial max pooling (64x44 -> 32x22 -> 16x11).
    pool_after: tuple[int, ...] = (1,)
    #: horizontal bin counts for GeM pooling; parts = sum(bins) (several counts = a pyramid).
    bins: tuple[int, ...] = (32,)
    gem_p: float = 6.5  #: initial GeM exponent (learned)
    embed_dim: int = 128  #: output width of the separate FCs (the retrieval feature per part)
    num_classes: int = 74  #: training identities for the BNNeck classifier
    lta_stride: int = 3  #: LTA temporal kernel = stride (frames merged per output step)
    in_channels: int = 1
    #: inference feature: ``fc`` (the paper's) or ``bnneck`` (see ``SeparateBNNecks.retrieval``).
    retrieval_feature: str = "fc"

    def __post_init__(self) -> None:
        check_retrieval_feature(self.retrieval_feature)
        channels = tuple(int(c) for c in self.channels)
        self.pool_after = tuple(int(s) for s in self.pool_after)
        self.bins = tuple(int(b) for b in self.bins)
        if len(channels) != 4:
            raise ValueError(f"DyGait needs 4 channel widths (stem + 3 stages), got {channels}")
        self.channels = channels
        if any(s not in (1, 2, 3) for s in self.pool_after):
            raise ValueError(f"pool_after holds stage numbers 1..3, got {self.pool_after}")
        height = 64 // 2 ** len(self.pool_after)
        if any(b < 1 or height % b for b in self.bins):
            raise ValueError(f"bins {self.bins} must divide the final feature height {height}")


def _conv_bn(cin: int, cout: int, kernel: tuple[int, int, int]) -> nn.Sequential:
    """Conv3d (no bias, 'same' padding) + BN, no activation: DAM branches are summed first."""
    return BasicConv3d(cin, cout, kernel, padding=tuple(k // 2 for k in kernel), act=nn.Identity())


class DynamicAugmentation(nn.Module):
    """DAM: ``act(conv3x3x3(x - mean_t x) + conv1x3x3(x))`` on ``[n, C, T, H, W]``.

    The dynamic branch only ever sees the deviation from the temporal mean, so a temporally
    constant input (a standing person, the torso) contributes nothing to it: the module
    amplifies what moves while the global branch keeps the body shape.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dynamic = _conv_bn(cin, cout, (3, 3, 3))
        self.global_ = _conv_bn(cin, cout, (1, 3, 3))
        self.act = nn.LeakyReLU(inplace=True)

    def dynamic_response(self, x: torch.Tensor) -> torch.Tensor:
        """The dynamic branch alone (exposed so its zero response to static input can be checked)."""
        return self.dynamic(x - x.mean(dim=2, keepdim=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dynamic_response(x) + self.global_(x))


class DyGaitStage(nn.Module):
    """DAM followed by a 3x3x3 conv, with a residual shortcut (projected when widths differ)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.dam = DynamicAugmentation(cin, cout)
        self.conv = _conv_bn(cout, cout, (3, 3, 3))
        # The authors' release adds x (cin channels) to a cout-channel tensor; a 1x1x1
        # projection is the standard fix and keeps identity shortcuts where widths match.
        self.shortcut = nn.Identity() if cin == cout else _conv_bn(cin, cout, (1, 1, 1))
        self.act = nn.LeakyReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(self.dam(x)) + self.shortcut(x))


class MultiBinGeM(nn.Module):
    """GeM horizontal pooling at one or several bin counts, parts concatenated: ``[n,C,H,W] -> [n,P,C]``."""

    def __init__(self, bins: tuple[int, ...], p: float) -> None:
        super().__init__()
        self.pools = nn.ModuleList(GeMHorizontalPooling(b, p) for b in bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([pool(x) for pool in self.pools], dim=1)


class DyGait(GaitEncoder):
    """DyGait encoder: ``[n, T, 64, 44]`` silhouettes -> ``[n, sum(bins), embed_dim]``."""

    arch = "dygait"
    # 3D convolutions need frames in order; trained with OpenGait's SGD 0.1 recipe.
    spec = ArchSpec(min_frames=3, sampling="ordered")
    classifier_prefixes = ("bnnecks.fc_bin",)

    def __init__(self, config: DyGaitConfig | None = None) -> None:
        config = config or DyGaitConfig()
        super().__init__(config)
        c0, c1, c2, c3 = config.channels
        # Shallow stem: one 3x3x3 conv, so LTA merges frames that already carry local motion.
        self.stem = BasicConv3d(config.in_channels, c0, (3, 3, 3))
        s = config.lta_stride
        self.lta = BasicConv3d(c0, c0, (s, 1, 1), stride=(s, 1, 1), padding=(0, 0, 0))
        self.stages = nn.ModuleList([DyGaitStage(c0, c1), DyGaitStage(c1, c2), DyGaitStage(c2, c3)])
        self.pool = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        self.hpp = MultiBinGeM(config.bins, config.gem_p)
        self.fcs = SeparateFCs(self.parts, c3, config.embed_dim)
        self.bnnecks = SeparateBNNecks(self.parts, config.embed_dim, config.num_classes)

    @property
    def min_frames(self) -> int:
        """The LTA stride (3 by default): fewer frames would leave no output step."""
        return int(self.config.lta_stride)

    @property
    def parts(self) -> int:
        return sum(self.config.bins)

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def part_layout(self) -> list[int]:
        return list(self.config.bins)

    def tiny_overrides(self) -> dict:
        """Same layout (bins, pooling, LTA) with widths / 16: for fast contract tests."""
        c = self.config
        return {
            "channels": tuple(max(4, ch // 16) for ch in c.channels),
            "embed_dim": max(4, c.embed_dim // 16),
            "num_classes": 5,
        }

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """Backbone: ``[n, T, 64, 44]`` -> ``[n, C, T', h, w]`` before temporal pooling."""
        x = self.lta(self.stem(frames_to_3d(frames)))
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if i in self.config.pool_after:
                x = self.pool(x)
        return x

    def forward_fixed(self, frames: torch.Tensor) -> EncoderOutput:
        if frames.dim() != 4:
            raise ValueError(f"DyGait takes silhouettes [n, T, 64, 44], got shape {tuple(frames.shape)}")
        x = temporal_max(self.features(frames))  # [n, C, h, w]
        parts = self.fcs(self.hpp(x))  # [n, P, D]: the paper's test feature and the triplet loss's
        _, logits = self.bnnecks(parts)
        if self.training:
            return EncoderOutput(embeddings=parts, logits=logits)
        return EncoderOutput(embeddings=self.bnnecks.retrieval(parts, self.config.retrieval_feature), logits=logits)


def _build(overrides: dict, **defaults) -> DyGait:
    return DyGait(replace(DyGaitConfig(**defaults), **overrides) if overrides else DyGaitConfig(**defaults))


@register_model
def dygait_casiab(**overrides) -> DyGait:
    """CASIA-B (74 training subjects): widths 32/64/128/128, 32 horizontal parts of 128-d."""
    return _build(overrides)


@register_model
def dygait_oumvlp(**overrides) -> DyGait:
    """Large data (OU-MVLP, 5,153 training subjects): widths 64/128/256/256, pooling after
    stages 1 and 2 and a 16/8/4/2/1 bin pyramid (31 parts of 256-d). For GREW pass
    ``num_classes=20000`` (the BNNeck classifier then holds 159 M of the parameters)."""
    return _build(
        overrides,
        channels=(64, 128, 256, 256),
        pool_after=(1, 2),
        bins=(16, 8, 4, 2, 1),
        embed_dim=256,
        num_classes=5153,
    )


@register_model
def dygait_small(**overrides) -> DyGait:
    """CPU-friendly: widths 16/32/64/64, 16 parts of 64-d (about a tenth of the CASIA-B compute)."""
    return _build(overrides, channels=(16, 32, 64, 64), bins=(16,), embed_dim=64)
