"""DeepGaitV2 (Fan et al., "Exploring Deep Models for Practical Gait Recognition"; OpenGait).

GaitBase made deeper and given explicit temporal modelling. A 3x3 conv stem (+BN+ReLU) and a first
stage of 2D residual blocks run on every frame; stages 2-4 are built from one of three residual
units, chosen by ``mode``:

* ``2d``: ResNet basic blocks applied per frame (no temporal modelling inside the backbone);
* ``3d``: the same block with 3x3x3 convolutions (spatial strides only: the frame rate is kept);
* ``p3d`` (pseudo-3D, what every published OpenGait config uses): a 2D basic block whose first
  conv is followed by a temporal 3x1x1 conv + BN added back residually,
  ``relu(y + bn(conv_t(y)))`` with ``y = relu(bn(conv_3x3(x)))``; its projection shortcut is a
  1x1 conv per frame.

Channels 64/128/256/512, spatial strides 1/2/2/1 (64x44 -> 16x11), stage depths ``layers``
([1,1,1,1] for CASIA-B / OU-MVLP, [1,4,4,1] for Gait3D / GREW). Then temporal max pooling,
horizontal pooling into 16 one-row strips (mean + max), separate FCs 512 -> 256 per strip (the
retrieval feature) and a BNNeck per strip (training); embedding ``[n, 16, 256]``.

Written from the paper and the facts of OpenGait's published configs (configs/deepgaitv2/).
Module names follow OpenGait's where the structure is the same (``layer0`` .. ``layer4``, blocks
``conv1/bn1/conv2/bn2/downsample``) so :func:`gaitpipe.models.convert.convert_deepgaitv2` maps an
official checkpoint with a short list of renames (OpenGait's per-frame wrappers and the P3D
branch names; the P3D shortcut's 1x1x1 Conv3d weight becomes our per-frame 1x1 Conv2d weight).

The network is a pure function of the valid frames: :class:`~gaitpipe.models.base.GaitEncoder`
runs sequences in groups of equal true length, so the temporal convolutions never see padding or
a neighbouring sequence. There is no temporal stride, so a single frame works (``min_frames=1``;
the temporal kernels then see zero padding only, as in OpenGait).
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
    conv3x3,
    frames_to_2d,
    temporal_max,
)
from gaitpipe.models.registry import register_model

MODES = ("2d", "3d", "p3d")
#: spatial stride of the first block of stages 1-4 (the temporal stride is always 1).
STRIDES = (1, 2, 2, 1)


@dataclass
class DeepGaitV2Config:
    #: residual unit of stages 2-4: ``2d``, ``3d`` or ``p3d`` (pseudo-3D).
    mode: str = "p3d"
    #: blocks per stage (OpenGait ``Backbone.layers``).
    layers: tuple[int, ...] = (1, 1, 1, 1)
    channels: tuple[int, ...] = (64, 128, 256, 512)
    in_channels: int = 1
    bins: int = 16  #: horizontal strips (16 rows of the 16x11 final map: one row each)
    #: separate-FC output width (OpenGait ties it to ``channels[2]``: 256).
    embed_dim: int = 256
    num_classes: int = 74  #: training identities (BNNeck classifier width)
    #: inference feature: ``fc`` (OpenGait's default) or ``bnneck`` (OpenGait's ``use_emb2``).
    retrieval_feature: str = "fc"

    def __post_init__(self) -> None:
        check_retrieval_feature(self.retrieval_feature)
        self.layers = tuple(int(d) for d in self.layers)
        self.channels = tuple(int(c) for c in self.channels)
        if self.mode not in MODES:
            raise ValueError(f"DeepGaitV2 mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if len(self.layers) != 4 or min(self.layers) < 1:
            raise ValueError(f"DeepGaitV2 needs 4 stage depths >= 1, got {self.layers}")
        if len(self.channels) != 4:
            raise ValueError(f"DeepGaitV2 needs 4 channel widths, got {self.channels}")
        if 16 % self.bins:
            raise ValueError(f"bins {self.bins} must divide the final feature height 16")


class P3DBlock(BasicBlock2d):
    """Pseudo-3D basic block on per-frame features ``[n*T, C, H, W]`` (frames of a sequence adjacent).

    ``conv1`` (3x3, spatial stride) + BN + ReLU, then a temporal 3x1x1 conv + BN added to its own
    input and ReLU-ed, then ``conv2`` (3x3) + BN, plus the shortcut (identity, or a per-frame 1x1
    conv + BN when the shape changes), ReLU. The temporal conv pads one zero frame at each end.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(cin, cout, stride)
        self.temporal = nn.Conv3d(cout, cout, (3, 1, 1), 1, (1, 0, 0), bias=False)
        self.temporal_bn = nn.BatchNorm3d(cout)

    def temporal_response(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """``bn(conv_t(x))`` for ``x = [n*T, C, H, W]``: the temporal branch alone."""
        c, h, w = x.shape[1:]
        y = x.reshape(n, -1, c, h, w).transpose(1, 2)  # [n, C, T, H, W]
        y = self.temporal_bn(self.temporal(y))
        return y.transpose(1, 2).reshape(x.shape)

    def forward(self, x: torch.Tensor, n: int) -> torch.Tensor:  # type: ignore[override]
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(out + self.temporal_response(out, n))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class BasicBlock3d(nn.Module):
    """Basic block of 3x3x3 convs on ``[n, C, T, H, W]``; spatial stride only, 1x1x1 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        s = (1, stride, stride)
        self.conv1 = nn.Conv3d(cin, cout, 3, s, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv3d(cin, cout, 1, s, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


_BLOCKS: dict[str, type[nn.Module]] = {"2d": BasicBlock2d, "3d": BasicBlock3d, "p3d": P3DBlock}


def _stage(block: type[nn.Module], cin: int, cout: int, stride: int, depth: int) -> nn.Sequential:
    """``depth`` blocks, the first one changing width/resolution (keys ``layerK.i.*``)."""
    return nn.Sequential(block(cin, cout, stride), *(block(cout, cout, 1) for _ in range(depth - 1)))


class DeepGaitV2(GaitEncoder):
    """DeepGaitV2 encoder: ``[n, T, 64, 44]`` silhouettes -> ``[n, bins, embed_dim]``."""

    arch = "deepgaitv2"
    # Temporal convolutions need frames in order (OpenGait: fixed_ordered, 30 frames); the
    # published configs train with SGD lr 0.1, momentum 0.9, weight decay 5e-4 (MultiStepLR).
    spec = ArchSpec(min_frames=1, sampling="ordered", optimizer="sgd", lr=0.1, weight_decay=5e-4)
    classifier_prefixes = ("bnnecks.fc_bin",)
    test_overrides: ClassVar[dict[str, Any]] = {"channels": (8, 16, 16, 32), "embed_dim": 16, "num_classes": 5}

    def __init__(self, config: DeepGaitV2Config | None = None) -> None:
        config = config or DeepGaitV2Config()
        super().__init__(config)
        c = config
        c0 = c.channels[0]
        self.layer0 = nn.Sequential(conv3x3(c.in_channels, c0), nn.BatchNorm2d(c0), nn.ReLU(inplace=True))
        # Stage 1 is 2D in every mode (its first block keeps the width: no projection shortcut).
        self.layer1 = _stage(BasicBlock2d, c0, c0, STRIDES[0], c.layers[0])
        block = _BLOCKS[c.mode]
        self.layer2 = _stage(block, c0, c.channels[1], STRIDES[1], c.layers[1])
        self.layer3 = _stage(block, c.channels[1], c.channels[2], STRIDES[2], c.layers[2])
        self.layer4 = _stage(block, c.channels[2], c.channels[3], STRIDES[3], c.layers[3])
        self.hpp = HorizontalPooling(c.bins)
        self.fcs = SeparateFCs(c.bins, c.channels[3], c.embed_dim)
        self.bnnecks = SeparateBNNecks(c.bins, c.embed_dim, c.num_classes)

    @property
    def parts(self) -> int:
        return self.config.bins

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """Backbone + temporal max: ``[n, T, 64, 44]`` -> ``[n, C, 16, 11]``."""
        if frames.dim() != 4:
            raise ValueError(f"DeepGaitV2 takes silhouettes [n, T, 64, 44], got shape {tuple(frames.shape)}")
        x, n, t = frames_to_2d(frames)  # [n*T, 1, 64, 44]
        x = self.layer1(self.layer0(x))
        stages = (self.layer2, self.layer3, self.layer4)
        if self.config.mode == "3d":
            x = x.reshape(n, t, *x.shape[1:]).transpose(1, 2)  # [n, C, T, H, W]
            for stage in stages:
                x = stage(x)
            return temporal_max(x, dim=2)
        for stage in stages:
            for block in stage:
                x = block(x, n) if isinstance(block, P3DBlock) else block(x)
        return temporal_max(x.reshape(n, t, *x.shape[1:]), dim=1)

    def forward_fixed(self, frames: torch.Tensor) -> EncoderOutput:
        parts = self.hpp(self.features(frames))  # [n, P, C]
        emb = self.fcs(parts)  # [n, P, D]: OpenGait's test feature, and what the triplet loss sees
        if self.training:
            return EncoderOutput(embeddings=emb, logits=self.bnnecks(emb)[1])
        return EncoderOutput(embeddings=self.bnnecks.retrieval(emb, self.config.retrieval_feature))


def _build(overrides: dict[str, Any], **defaults: Any) -> DeepGaitV2:
    return DeepGaitV2(make_config(DeepGaitV2Config, DeepGaitV2Config(**defaults), **overrides))


_SHALLOW, _DEEP = (1, 1, 1, 1), (1, 4, 4, 1)

#: (mode, layers, num_classes) of each registered preset (also used to pick one when importing).
PRESETS: dict[str, tuple[str, tuple[int, ...], int]] = {
    "deepgaitv2-casiab": ("p3d", _SHALLOW, 74),
    "deepgaitv2-oumvlp": ("p3d", _SHALLOW, 5153),
    "deepgaitv2-gait3d": ("p3d", _DEEP, 3000),
    "deepgaitv2-grew": ("p3d", _DEEP, 20000),
    "deepgaitv2-ccpg": ("p3d", _SHALLOW, 100),
    "deepgaitv2-sustech1k": ("p3d", _SHALLOW, 250),
    "deepgaitv2-3d-grew": ("3d", _DEEP, 20000),
    "deepgaitv2-3d-oumvlp": ("3d", _SHALLOW, 5153),
    "deepgaitv2-3d-gait3d": ("3d", _DEEP, 3000),
    "deepgaitv2-2d-gait3d": ("2d", _DEEP, 3000),
}


def _make(name: str, overrides: dict[str, Any]) -> DeepGaitV2:
    mode, layers, num_classes = PRESETS[name]
    return _build(overrides, mode=mode, layers=layers, num_classes=num_classes)


@register_model
def deepgaitv2_casiab(**overrides) -> DeepGaitV2:
    """OpenGait DeepGaitV2_casiab.yaml: P3D, depths 1/1/1/1, 74 training subjects."""
    return _make("deepgaitv2-casiab", overrides)


@register_model
def deepgaitv2_oumvlp(**overrides) -> DeepGaitV2:
    """OpenGait DeepGaitV2_oumvlp.yaml: P3D, depths 1/1/1/1, 5,153 training subjects."""
    return _make("deepgaitv2-oumvlp", overrides)


@register_model
def deepgaitv2_gait3d(**overrides) -> DeepGaitV2:
    """OpenGait DeepGaitV2_gait3d.yaml: P3D, depths 1/4/4/1, 3,000 training subjects (rank-1 74.4)."""
    return _make("deepgaitv2-gait3d", overrides)


@register_model
def deepgaitv2_grew(**overrides) -> DeepGaitV2:
    """OpenGait DeepGaitV2_grew.yaml: P3D, depths 1/4/4/1, 20,000 training subjects (81.9 M-parameter classifier)."""
    return _make("deepgaitv2-grew", overrides)


@register_model
def deepgaitv2_ccpg(**overrides) -> DeepGaitV2:
    """OpenGait DeepGaitV2_ccpg.yaml: P3D, depths 1/1/1/1, 100 training subjects."""
    return _make("deepgaitv2-ccpg", overrides)


@register_model
def deepgaitv2_sustech1k(**overrides) -> DeepGaitV2:
    """OpenGait DeepGaitV2_sustech1k.yaml: P3D, depths 1/1/1/1, 250 training subjects."""
    return _make("deepgaitv2-sustech1k", overrides)


@register_model
def deepgaitv2_3d_grew(**overrides) -> DeepGaitV2:
    """DeepGaitV2-3D on GREW (OpenGait model zoo: rank-1 79.4; no config published: the GREW config's depths)."""
    return _make("deepgaitv2-3d-grew", overrides)


@register_model
def deepgaitv2_3d_oumvlp(**overrides) -> DeepGaitV2:
    """DeepGaitV2-3D on OU-MVLP (OpenGait model zoo: rank-1 92.0; no config published: the OU-MVLP config's depths)."""
    return _make("deepgaitv2-3d-oumvlp", overrides)


@register_model
def deepgaitv2_3d_gait3d(**overrides) -> DeepGaitV2:
    """The Gait3D config with 3D blocks (the paper's 2D / 3D / P3D comparison)."""
    return _make("deepgaitv2-3d-gait3d", overrides)


@register_model
def deepgaitv2_2d_gait3d(**overrides) -> DeepGaitV2:
    """The Gait3D config with 2D blocks (the paper's 2D / 3D / P3D comparison)."""
    return _make("deepgaitv2-2d-gait3d", overrides)


def preset_for(mode: str, layers: tuple[int, ...], num_classes: int | None) -> str:
    """The registered preset closest to a checkpoint's structure: the same mode, depths and class
    count, else the same mode and depths (class count then overridden), else the first preset of
    the same mode (depths overridden too), else ``deepgaitv2-casiab``."""
    layers = tuple(layers)
    same_mode = [name for name, (m, _, _) in PRESETS.items() if m == mode]
    same = [name for name in same_mode if PRESETS[name][1] == layers]
    exact = [name for name in same if PRESETS[name][2] == num_classes]
    return (exact or same or same_mode or ["deepgaitv2-casiab"])[0]
