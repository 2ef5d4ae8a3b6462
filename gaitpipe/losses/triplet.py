"""Batch-all triplet loss on every horizontal part (OpenGait's ``TripletLoss``).

For each part separately: Euclidean distances between all embeddings of the batch; every
(anchor, positive, negative) with ``label(p) == label(a)`` (the anchor itself counts as a
positive, as in OpenGait) and ``label(n) != label(a)`` gives ``relu(margin + d(a,p) - d(a,n))``.
Each part's loss is the mean over its *non-zero* terms (so easy triplets do not dilute it), and
the total is the mean over parts.
"""

from __future__ import annotations

import torch
from torch import nn

from gaitpipe.losses.values import LogValue, log_value


def part_distances(x: torch.Tensor) -> torch.Tensor:
    """``[n, P, D] -> [P, n, n]`` Euclidean distances per part (clamped before the sqrt)."""
    x = x.float().transpose(0, 1)  # [P, n, D]
    sq = (x * x).sum(-1)
    d2 = sq.unsqueeze(2) + sq.unsqueeze(1) - 2 * x @ x.transpose(1, 2)
    return d2.clamp_min(0).sqrt()


class TripletLoss(nn.Module):
    def __init__(self, margin: float = 0.2, part_chunk: int = 16) -> None:
        super().__init__()
        self.margin = margin
        self.part_chunk = part_chunk  # bounds memory: the triplet tensor is [chunk, n, n, n]

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, LogValue]]:
        dist = part_distances(embeddings)  # [P, n, n]
        same = labels.view(-1, 1) == labels.view(1, -1)  # [n, n] (diagonal included)
        valid = (same.unsqueeze(2) & ~same.unsqueeze(1)).float()  # [a, p, n]
        sums, counts = [], []
        for start in range(0, dist.shape[0], self.part_chunk):
            d = dist[start : start + self.part_chunk]
            terms = torch.relu(self.margin + d.unsqueeze(3) - d.unsqueeze(2)) * valid  # [P', a, p, n]
            sums.append(terms.flatten(1).sum(1))
            counts.append((terms > 0).flatten(1).sum(1).float())
        loss_sum, num = torch.cat(sums), torch.cat(counts)
        per_part = torch.where(num > 0, loss_sum / num.clamp_min(1.0), torch.zeros_like(loss_sum))
        total_triplets = valid.sum().clamp_min(1.0)
        return per_part.mean(), {
            "triplet": log_value(per_part.mean()),
            "triplet_active": log_value(num.mean() / total_triplets),  # fraction of triplets still violated
            "mean_dist": log_value(dist.mean()),
        }
