"""HSTL: Hierarchical Spatio-Temporal representation Learning (Wang et al., ICCV'23).

A 3D-conv network that looks at the body at several granularities, coarse to fine:

* level 1 (``arme1``): 3D conv(s) over the whole silhouette, one region;
* then stages of **ARME** (adaptive region-based motion extractor): the feature map is split
  along the height into regions (CASIA-B: 40/24 rows, then 8/32/16/8), each region gets its own
  3D convolution (no weight sharing across body parts), LeakyReLU after re-joining;
* after the first ARME stage, **FTA** (frame-level temporal aggregation) shortens the sequence
  3x: per region, max pooling over time with kernels 3 and 5 (stride 3), mixed by softmax
  selection weights computed from the pooled features by two 1x1 conv branches;
* every level feeds an **ASTP** (adaptive spatio-temporal pooling): max over time, a 1x1
  projection to the embedding width, then per-region GeM pooling with a learned exponent
  (init 6.5): one part per region;
* the finest level is GeM horizontal pooling of the last feature map into one-row strips.

All levels' parts are concatenated (CASIA-B: 1 + 2 + 2 + 4 + 64 = 73 parts, OU-MVLP: 50), then
separate FCs per part, a BatchNorm shared by all parts (the retrieval embedding, as the
authors' test code uses) and a per-part classifier. There is no BatchNorm inside the conv
stack and no spatial down-sampling on CASIA-B: HSTL is light in parameters (~4 M) but heavy in
compute (~0.9 GMAC per 64x44 frame).

Module names follow the authors' release (``arme1``, ``astp1``, ``fta``, ``astp2_fta``, ``hpp``,
``head0``, ``bn``, ``head1``) so :mod:`gaitpipe.models.convert` can import their checkpoints.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gaitpipe.models.base import ArchSpec, EncoderOutput, GaitEncoder, make_config
from gaitpipe.models.layers import GeMHorizontalPooling, SeparateFCs, frames_to_3d, temporal_max
from gaitpipe.models.registry import register_model


@dataclass
class HSTLConfig:
    #: level-1 3D conv chain from the 1-channel input (CASIA-B one conv to 32, OU-MVLP two).
    stem: tuple[int, ...] = (1, 32)
    #: channel chain of each ARME stage (two region-wise 3D convs per stage).
    stages: tuple[tuple[int, ...], ...] = ((32, 32, 64), (64, 128, 128))
    #: region heights (rows, top to bottom) of each ARME stage; each stage's sum = feature height.
    regions: tuple[tuple[int, ...], ...] = ((40, 24), (8, 32, 16, 8))
    #: halve height and width after level 1 (OU-MVLP), none on CASIA-B.
    stem_pool: bool = False
    #: strips of the final GeM horizontal pooling (one row each).
    final_bins: int = 64
    embed_dim: int = 128  #: part width (= the last stage's channels in the authors' configs)
    num_classes: int = 74
    input_height: int = 64

    def __post_init__(self) -> None:
        self.stages = tuple(tuple(s) for s in self.stages)
        self.regions = tuple(tuple(r) for r in self.regions)
        if len(self.stages) != len(self.regions):
            raise ValueError("HSTL config: one region split per stage")
        height = self.input_height // (2 if self.stem_pool else 1)
        for r in self.regions:
            if sum(r) != height:
                raise ValueError(f"HSTL config: regions {r} must sum to the feature height {height}")
        if height % self.final_bins:
            raise ValueError(f"HSTL config: final_bins {self.final_bins} must divide the feature height {height}")


class ARME(nn.Module):
    """Region-wise 3D conv: split ``[n, C, T, H, W]`` along H, one conv per region, LeakyReLU."""

    def __init__(self, cin: int, cout: int, regions: tuple[int, ...]) -> None:
        super().__init__()
        self.regions = list(regions)
        self.convs = nn.ModuleList(nn.Conv3d(cin, cout, 3, 1, 1, bias=False) for _ in regions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.split(self.regions, dim=3)
        return F.leaky_relu(torch.cat([conv(p) for conv, p in zip(self.convs, parts)], dim=3))


class FTA(nn.Module):
    """Frame-level temporal aggregation of one region: ``[n, C, T, h, W] -> [n, C, T', h, W]``.

    Two max-pool views over time (kernel 3 and kernel 5, both stride 3, so ``T' = (T-3)//3 + 1``),
    weighted per channel and output frame by a softmax over two 1x1 conv branches applied to the
    spatially averaged sum of the views.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pool3 = nn.MaxPool3d((3, 1, 1), stride=(3, 1, 1))
        self.pool5 = nn.MaxPool3d((5, 1, 1), stride=(3, 1, 1), padding=(1, 0, 0))
        self.fcs = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = torch.stack([self.pool3(x), self.pool5(x)])  # [2, n, C, T', h, W]
        context = views.sum(0).mean(dim=(-2, -1))  # [n, C, T']
        weights = torch.stack([fc(context) for fc in self.fcs]).softmax(dim=0)  # [2, n, C, T']
        return (weights[..., None, None] * views).sum(0)


class FTABlock(nn.Module):
    """FTA applied separately to each height region."""

    def __init__(self, channels: int, regions: tuple[int, ...]) -> None:
        super().__init__()
        self.regions_h = list(regions)
        self.regions = nn.ModuleList(FTA(channels) for _ in regions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m(p) for m, p in zip(self.regions, x.split(self.regions_h, dim=3))], dim=3)


class ASTP(nn.Module):
    """Adaptive spatio-temporal pooling: temporal max, 1x1 projection, one GeM part per region.

    ``[n, C, T, H, W] -> [n, regions, out]``.
    """

    def __init__(self, cin: int, cout: int, regions: tuple[int, ...]) -> None:
        super().__init__()
        self.regions = list(regions)
        # The authors project only when the widths differ (their last ASTP has no projection).
        self.proj = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else None
        self.hpp = nn.ModuleList(GeMHorizontalPooling(bins=1) for _ in regions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = temporal_max(x, dim=2)
        if self.proj is not None:
            x = self.proj(x)
        return torch.cat([gem(p) for gem, p in zip(self.hpp, x.split(self.regions, dim=2))], dim=1)


class HSTL(GaitEncoder):
    arch = "hstl"
    # FTA pools 3 frames with stride 3. Frames in order (3D convolutions); Adam 1e-4, as the authors
    # train it: there is no BN in its convolutions, and SGD 0.1 made a small HSTL's activations explode.
    spec = ArchSpec(min_frames=3, sampling="ordered", optimizer="adam", lr=1e-4, weight_decay=0.0)
    classifier_prefixes = ("head1.",)

    def __init__(self, config: HSTLConfig) -> None:
        super().__init__(config)
        c = config
        emb = c.embed_dim
        stem: list[nn.Module] = []
        for cin, cout in zip(c.stem[:-1], c.stem[1:]):
            stem += [nn.Conv3d(cin, cout, 3, 1, 1, bias=False), nn.LeakyReLU(inplace=True)]
        self.arme1 = nn.Sequential(*stem)
        self.astp1 = ASTP(c.stem[-1], emb, (c.input_height,))
        self.pool = nn.MaxPool3d((1, 2, 2), (1, 2, 2)) if c.stem_pool else None
        for i, (chain, regions) in enumerate(zip(c.stages, c.regions), start=2):
            self.add_module(f"arme{i}", nn.Sequential(*(ARME(a, b, regions) for a, b in itertools.pairwise(chain))))
            self.add_module(f"astp{i}", ASTP(chain[-1], emb, regions))
            if i == 2:
                self.fta = FTABlock(chain[-1], regions)
                self.astp2_fta = ASTP(chain[-1], emb, regions)
        if c.stages[-1][-1] != emb:
            raise ValueError(
                "HSTL config: embed_dim must equal the last stage's channels (final pooling has no projection)"
            )
        self.hpp = GeMHorizontalPooling(bins=c.final_bins)
        self.head0 = SeparateFCs(self.parts, emb, emb)
        # One BatchNorm over channels shared by all parts (the authors' BNNeck), not one per part.
        self.bn = nn.BatchNorm1d(emb)
        self.head1 = SeparateFCs(self.parts, emb, c.num_classes)

    def _pad_to_min(self, frames: torch.Tensor) -> torch.Tensor:
        # As the authors do: 1 frame -> 3 copies, 2 frames -> repeated twice (4 frames).
        t = frames.shape[1]
        if t >= self.min_frames:
            return frames
        return frames.repeat(1, 3 if t == 1 else 2, *([1] * (frames.dim() - 2)))

    def tiny_overrides(self) -> dict:
        c = self.config
        small = lambda ch: max(4, ch // 16)  # noqa: E731
        return {
            "stem": (1, *(small(ch) for ch in c.stem[1:])),
            "stages": tuple(tuple(small(ch) for ch in chain) for chain in c.stages),
            "embed_dim": small(c.embed_dim),
            "num_classes": 5,
        }

    @property
    def part_layout(self) -> list[int]:
        c = self.config
        return [1, len(c.regions[0]), len(c.regions[0]), *(len(r) for r in c.regions[1:]), c.final_bins]

    @property
    def parts(self) -> int:
        return sum(self.part_layout)

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def forward_fixed(self, frames: torch.Tensor) -> EncoderOutput:
        x = self.arme1(frames_to_3d(frames))  # [n, C, T, H, W]
        pooled = [self.astp1(x)]
        if self.pool is not None:
            x = self.pool(x)
        for i in range(2, len(self.config.stages) + 2):
            x = getattr(self, f"arme{i}")(x)
            pooled.append(getattr(self, f"astp{i}")(x))
            if i == 2:
                x = self.fta(x)
                pooled.append(self.astp2_fta(x))
        pooled.append(self.hpp(temporal_max(x, dim=2)))
        feat = self.head0(torch.cat(pooled, dim=1))  # [n, P, D]
        emb = self.bn(feat.transpose(1, 2)).transpose(1, 2)  # BN over D, statistics shared by parts
        logits = None
        if self.training:
            # Cosine logits like every gaitpipe encoder (the loss applies the scale).
            logits = torch.einsum("npd,pdc->npc", F.normalize(emb, dim=-1), F.normalize(self.head1.fc_bin, dim=1))
        return EncoderOutput(embeddings=emb, logits=logits)


def _build(overrides, **defaults) -> HSTL:
    return HSTL(make_config(HSTLConfig, HSTLConfig(**defaults), **overrides))


@register_model
def hstl_casiab(**overrides) -> HSTL:
    """HSTL for CASIA-B (authors' config: channels 32/64/128, 73 parts, 74 classes)."""
    return _build(overrides)


@register_model
def hstl_oumvlp(**overrides) -> HSTL:
    """HSTL for OU-MVLP (channels 32/64/128/256, pooled to 32x22 after level 1, 50 parts)."""
    return _build(
        overrides,
        stem=(1, 32, 32),
        stages=((32, 64, 64), (64, 128, 128), (128, 256, 256)),
        regions=((4, 24, 4), (4, 4, 12, 8, 4), (4, 4, 12, 4, 4, 4)),
        stem_pool=True,
        final_bins=32,
        embed_dim=256,
        num_classes=5153,
    )
