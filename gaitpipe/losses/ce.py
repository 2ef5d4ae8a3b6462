"""Cross-entropy on the BNNeck's cosine logits, every part (OpenGait's ``CrossEntropyLoss``).

Logits are cosines in [-1, 1]; they are multiplied by ``scale`` (16) before the softmax and the
targets are smoothed (0.1). The loss is averaged over samples and parts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gaitpipe.losses.values import LogValue, log_value


class PartCrossEntropy(nn.Module):
    def __init__(self, scale: float = 16.0, label_smoothing: float = 0.1) -> None:
        super().__init__()
        self.scale = scale
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, LogValue]]:
        n, p, c = logits.shape
        flat = logits.float().reshape(n * p, c) * self.scale
        target = labels.view(n, 1).expand(n, p).reshape(-1)
        loss = F.cross_entropy(flat, target, label_smoothing=self.label_smoothing)
        acc = (flat.argmax(-1) == target).float().mean()
        return loss, {"ce": log_value(loss), "accuracy": log_value(acc)}
