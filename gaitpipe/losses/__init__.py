"""Training losses. ``build_loss(model)`` builds the combination its architecture's spec names.

Every loss is called as ``loss(output: EncoderOutput, labels, batch) -> (total, parts)`` where
``parts`` maps names to floats for logging (detached tensors inside ``deferred_values()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gaitpipe.losses.ce import PartCrossEntropy
from gaitpipe.losses.triplet import TripletLoss, part_distances
from gaitpipe.losses.values import LogValue, as_floats, deferred_values, log_value

if TYPE_CHECKING:
    from gaitpipe.models.base import GaitEncoder


class SilhouetteLoss(nn.Module):
    """OpenGait's recipe for silhouette encoders: triplet (margin 0.2) on the part embeddings
    + cross-entropy (scale 16, smoothing 0.1) on the BNNeck logits, weights 1 and 1."""

    def __init__(
        self,
        margin: float = 0.2,
        scale: float = 16.0,
        label_smoothing: float = 0.1,
        triplet_weight: float = 1.0,
        ce_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.triplet = TripletLoss(margin)
        self.ce = PartCrossEntropy(scale, label_smoothing)
        self.triplet_weight, self.ce_weight = triplet_weight, ce_weight

    def forward(
        self, output, labels: torch.Tensor, batch: dict | None = None
    ) -> tuple[torch.Tensor, dict[str, LogValue]]:
        # Architectures may expose a dedicated metric-learning feature; default: the retrieval embedding.
        feats = output.extras.get("triplet_features", output.embeddings)
        total, parts = self.triplet(feats, labels)
        total = self.triplet_weight * total
        if output.logits is not None and self.ce_weight > 0:
            ce, ce_parts = self.ce(output.logits, labels)
            total = total + self.ce_weight * ce
            parts.update(ce_parts)
        parts["loss"] = log_value(total)
        return total, parts


def build_loss(model: GaitEncoder, **options: Any) -> nn.Module:
    """The training loss of ``model``'s architecture (``model.spec.loss``): GaitNet's own losses for
    ``gaitnet``, else triplet + CE."""
    if model.spec.loss == "gaitnet":
        from gaitpipe.losses.gaitnet import GaitNetLoss  # imported only when needed

        return GaitNetLoss(**options)
    return SilhouetteLoss(**options)


__all__ = [
    "LogValue",
    "PartCrossEntropy",
    "SilhouetteLoss",
    "TripletLoss",
    "as_floats",
    "build_loss",
    "deferred_values",
    "log_value",
    "part_distances",
]
