"""GaitBase (OpenGait's strong baseline, Fan et al., CVPR'23 "OpenGait").

A ResNet-9 style 2D CNN runs on every frame (3x3 stem without max-pool, one BasicBlock per stage,
channels 64/128/256/512, strides 1/2/2/1), temporal max pooling makes the set feature, horizontal
pyramid pooling (16 strips, mean + max) gives part features, separate FCs map each part
512 -> 256 (the retrieval embedding) and a BNNeck per part classifies (training only). With
``retrieval_feature="bnneck"`` inference returns the BNNeck's BatchNorm-ed features instead.

Module names mirror OpenGait's (``backbone`` = ``Backbone.forward_block``, ``fcs`` = ``FCs``,
``bnnecks`` = ``BNNecks``) so :mod:`gaitpipe.models.convert` maps official checkpoints key for key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from gaitpipe.models.base import ArchSpec, EncoderOutput, GaitEncoder, make_config
from gaitpipe.models.layers import (
    BasicBlock2d,
    HorizontalPooling,
    SeparateBNNecks,
    SeparateFCs,
    check_retrieval_feature,
    frames_to_2d,
    temporal_max,
)
from gaitpipe.models.registry import register_model


@dataclass
class GaitBaseConfig:
    channels: tuple[int, ...] = (64, 128, 256, 512)
    strides: tuple[int, ...] = (1, 2, 2, 1)
    in_channels: int = 1
    bins: int = 16  #: horizontal parts (64x44 input -> 16 rows after two stride-2 stages: one row each)
    embed_dim: int = 256
    num_classes: int = 74  #: training identities (BNNeck classifier width)
    #: inference feature: ``fc`` (OpenGait's) or ``bnneck`` (see ``SeparateBNNecks.retrieval``).
    retrieval_feature: str = "fc"

    def __post_init__(self) -> None:
        check_retrieval_feature(self.retrieval_feature)


class ResNet9(nn.Module):
    """Per-frame backbone: ``[N, C_in, H, W] -> [N, channels[-1], H/4, W/4]`` (for strides 1/2/2/1)."""

    def __init__(self, channels, strides, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU(inplace=True)
        cin = channels[0]
        for i, (cout, stride) in enumerate(zip(channels, strides), start=1):
            # One block per stage, wrapped in a Sequential so keys read ``layerK.0.*`` as in OpenGait.
            self.add_module(f"layer{i}", nn.Sequential(BasicBlock2d(cin, cout, stride)))
            cin = cout
        self.num_stages = len(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return x


class GaitBase(GaitEncoder):
    arch = "gaitbase"
    # A set of frames (temporal max pooling): frames drawn in any order; OpenGait's SGD 0.1 recipe.
    spec = ArchSpec(sampling="unordered", optimizer="sgd", lr=0.1, weight_decay=5e-4)
    classifier_prefixes = ("bnnecks.fc_bin",)
    test_overrides: ClassVar[dict[str, Any]] = {"channels": (8, 16, 16, 32), "embed_dim": 16, "num_classes": 5}
    # the backbone sees each frame alone; frames meet only in the max over time
    frame_separable = True

    def __init__(self, config: GaitBaseConfig) -> None:
        super().__init__(config)
        c = config
        if len(c.channels) != len(c.strides):
            raise ValueError("channels and strides must have the same length")
        self.backbone = ResNet9(c.channels, c.strides, c.in_channels)
        self.hpp = HorizontalPooling(c.bins)
        self.fcs = SeparateFCs(c.bins, c.channels[-1], c.embed_dim)
        self.bnnecks = SeparateBNNecks(c.bins, c.embed_dim, c.num_classes)

    @property
    def parts(self) -> int:
        return self.config.bins

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def forward_fixed(self, frames: torch.Tensor) -> EncoderOutput:
        x, n, t = frames_to_2d(frames)  # [n*T, 1, 64, 44]
        x = self.backbone(x)
        x = x.reshape(n, t, *x.shape[1:]).transpose(1, 2)  # [n, C, T, h, w]
        x = temporal_max(x, dim=2)  # [n, C, h, w]
        parts = self.hpp(x)  # [n, P, C]
        emb = self.fcs(parts)  # [n, P, D]: OpenGait's test feature, and what the triplet loss sees
        if self.training:
            return EncoderOutput(embeddings=emb, logits=self.bnnecks(emb)[1])
        return EncoderOutput(embeddings=self.bnnecks.retrieval(emb, self.config.retrieval_feature))

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Backbone features ``[T, C, h, w]`` of single frames ``[T, 64, 44]``."""
        return self.backbone(frames.unsqueeze(1))

    def embed_frame_features(self, features: torch.Tensor) -> torch.Tensor:
        """``[n, T, C, h, w]`` backbone features -> ``[n, P, D]`` retrieval features (as ``forward_fixed`` in eval)."""
        emb = self.fcs(self.hpp(temporal_max(features, dim=1)))
        return self.bnnecks.retrieval(emb, self.config.retrieval_feature)


def _build(overrides, **defaults) -> GaitBase:
    return GaitBase(make_config(GaitBaseConfig, GaitBaseConfig(**defaults), **overrides))


@register_model
def gaitbase_casiab(**overrides) -> GaitBase:
    """OpenGait GaitBase for CASIA-B (74 training subjects)."""
    return _build(overrides, num_classes=74)


@register_model
def gaitbase_oumvlp(**overrides) -> GaitBase:
    """GaitBase sized for OU-MVLP (5,153 training subjects)."""
    return _build(overrides, num_classes=5153)


@register_model
def gaitbase_grew(**overrides) -> GaitBase:
    """GaitBase sized for GREW (20,000 training subjects; outdoor, in the wild)."""
    return _build(overrides, num_classes=20000)


@register_model
def gaitbase_gait3d(**overrides) -> GaitBase:
    """GaitBase sized for Gait3D (3,000 training subjects; outdoor, in the wild)."""
    return _build(overrides, num_classes=3000)


@register_model
def gaitbase_small(**overrides) -> GaitBase:
    """Half-width GaitBase (32/64/128/256, 128-d parts, ~1.8 M params): trains on a CPU."""
    return _build(overrides, channels=(32, 64, 128, 256), embed_dim=128, num_classes=74)
