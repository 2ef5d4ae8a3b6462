"""Building blocks shared by the encoders (one place, as in timm's ``layers``).

Layout conventions: per-frame features ``[n, C, T, H, W]``; part features ``[n, P, C]``
(parts along dim 1, matching the ``embed`` contract ``[n, parts, dim]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def temporal_max(x: torch.Tensor, dim: int = 2) -> torch.Tensor:
    """Set pooling over time: max over the frame axis (all frames are valid, see base.py)."""
    return x.max(dim=dim).values


class HorizontalPooling(nn.Module):
    """Split the height into ``bins`` strips; each strip -> mean + max over its pixels (GaitBase HPP).

    ``[n, C, H, W] -> [n, P, C]``.
    """

    def __init__(self, bins: int = 16) -> None:
        super().__init__()
        self.bins = bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        z = x.reshape(n, c, self.bins, -1)
        return (z.mean(-1) + z.amax(-1)).transpose(1, 2)


class GeMHorizontalPooling(nn.Module):
    """Generalised-mean pooling over horizontal strips with a learned exponent ``p``.

    ``[n, C, H, W] -> [n, P, C]``; ``p`` starts at 6.5 (HSTL/DyGait), large p approaches max.
    """

    def __init__(self, bins: int = 16, p: float = 6.5, eps: float = 1e-6) -> None:
        super().__init__()
        self.bins = bins
        self.p = nn.Parameter(torch.ones(1) * p)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        z = x.reshape(n, c, self.bins, -1)
        z = z.clamp(min=self.eps).pow(self.p).mean(-1).pow(1.0 / self.p)
        return z.transpose(1, 2)


class SeparateFCs(nn.Module):
    """One linear map per part, no bias: ``[n, P, in] -> [n, P, out]``; weight ``[P, in, out]``."""

    def __init__(self, parts: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.empty(parts, in_dim, out_dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("npi,pio->npo", x, self.fc_bin)


#: Values of ``retrieval_feature`` in the configs of encoders with a BNNeck (GaitBase, DyGait).
RETRIEVAL_FEATURES = ("fc", "bnneck")


def check_retrieval_feature(feature: str) -> None:
    if feature not in RETRIEVAL_FEATURES:
        raise ValueError(f"retrieval_feature must be one of {', '.join(RETRIEVAL_FEATURES)}, got {feature!r}")


class SeparateBNNecks(nn.Module):
    """BNNeck per part: BatchNorm over every (part, channel), then a cosine classifier per part.

    Returns ``(bn_features [n, P, D], logits [n, P, classes])``. Logits are cosines (features and
    class weights L2-normalised); the loss multiplies them by its scale (16).
    BN parameters are stored in ``[P * D]`` order part-major (OpenGait stores channel-major:
    ``weights.convert`` permutes).
    """

    def __init__(self, parts: int, dim: int, classes: int) -> None:
        super().__init__()
        self.parts, self.dim = parts, dim
        self.bn1d = nn.BatchNorm1d(parts * dim)
        self.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.empty(parts, dim, classes)))

    def grow(self, classes: int) -> None:
        """More classes: the first ones keep their weights (see ``GaitEncoder.grow_classes``)."""
        old = self.fc_bin.detach()
        if classes < old.shape[2]:
            raise ValueError(f"cannot shrink the classifier from {old.shape[2]} to {classes} classes")
        grown = nn.init.xavier_uniform_(torch.empty(self.parts, self.dim, classes, dtype=old.dtype, device=old.device))
        grown[..., : old.shape[2]] = old
        self.fc_bin = nn.Parameter(grown)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The BNNeck features alone (``[n, P, D]``), without the classifier."""
        n = x.shape[0]
        return self.bn1d(x.reshape(n, -1)).reshape(n, self.parts, self.dim)

    def retrieval(self, x: torch.Tensor, feature: str) -> torch.Tensor:
        """Inference feature named by a config's ``retrieval_feature``: ``fc`` returns ``x`` (the
        separate-FC output, OpenGait's test feature), ``bnneck`` its BatchNorm-ed version: the
        space the cosine classifier was trained in, so part-averaged cosine scores are better
        spread there (more rank-1 and readable open-set thresholds)."""
        check_retrieval_feature(feature)
        return x if feature == "fc" else self.normalize(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.normalize(x)
        logits = torch.einsum("npd,pdc->npc", F.normalize(feat, dim=-1), F.normalize(self.fc_bin, dim=1))
        return feat, logits


class BasicConv3d(nn.Sequential):
    """3D conv without bias + BN + activation; ``kernel``/``stride``/``padding`` as 3-tuples."""

    def __init__(self, cin, cout, kernel=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1), act: nn.Module | None = None):
        super().__init__(
            nn.Conv3d(cin, cout, kernel, stride, padding, bias=False),
            nn.BatchNorm3d(cout),
            act if act is not None else nn.LeakyReLU(inplace=True),
        )


def frames_to_2d(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """``[n, T, C, H, W]`` or ``[n, T, H, W]`` -> ``[n*T, C, H, W]`` for per-frame 2D backbones."""
    if x.dim() == 4:
        x = x.unsqueeze(2)
    n, t = x.shape[:2]
    return x.reshape(n * t, *x.shape[2:]), n, t


def frames_to_3d(x: torch.Tensor) -> torch.Tensor:
    """``[n, T, H, W]`` silhouettes -> ``[n, 1, T, H, W]`` for 3D conv networks."""
    return x.unsqueeze(1) if x.dim() == 4 else x.transpose(1, 2)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """3x3 2D convolution, padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock2d(nn.Module):
    """ResNet basic block: two 3x3 convs with BN, identity (or 1x1 conv + BN) shortcut.

    Submodule names (``conv1, bn1, conv2, bn2, downsample.{0,1}``) follow torchvision/OpenGait so
    public checkpoints map key for key.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def count_parameters(module: nn.Module, exclude: tuple[str, ...] = ()) -> int:
    """Number of trainable parameters, leaving out those whose name starts with any of ``exclude``."""
    return sum(p.numel() for name, p in module.named_parameters() if p.requires_grad and not name.startswith(exclude))
