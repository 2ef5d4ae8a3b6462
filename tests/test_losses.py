"""Losses on tiny cases computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from gaitpipe.losses import PartCrossEntropy, SilhouetteLoss, TripletLoss, build_loss
from gaitpipe.models.base import EncoderOutput


def test_triplet_batch_all_hand_computed():
    # 1-D embeddings, one part: a0=0, a1=0.1 (label 0), b0=0.15 (label 1), b1=1.0 (label 1)
    x = torch.tensor([0.0, 0.1, 0.15, 1.0]).view(4, 1, 1)
    y = torch.tensor([0, 0, 1, 1])
    loss, parts = TripletLoss(margin=0.2)(x, y)
    # Triplets (a, p, n), positives include the anchor itself (OpenGait); term = relu(0.2 + d_ap - d_an):
    d = lambda i, j: abs(float(x[i]) - float(x[j]))  # noqa: E731
    terms = []
    for a in range(4):
        for p in range(4):
            for n in range(4):
                if y[p] == y[a] and y[n] != y[a]:
                    terms.append(max(0.0, 0.2 + d(a, p) - d(a, n)))
    nonzero = [t for t in terms if t > 0]
    expected = sum(nonzero) / len(nonzero)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert parts["triplet_active"] == pytest.approx(len(nonzero) / len(terms), rel=1e-5)
    # explicit value for one term to pin the convention: anchor a0, positive a1, negative b0
    assert max(0.0, 0.2 + 0.1 - 0.15) == pytest.approx(0.15)


def test_triplet_is_zero_when_separated_and_averages_over_parts():
    y = torch.tensor([0, 0, 1, 1])
    far = torch.tensor([0.0, 0.0, 5.0, 5.0]).view(4, 1, 1)
    assert TripletLoss()(far, y)[0].item() == 0.0
    # two parts: one separated (loss 0), one collapsed (every term = margin) -> mean over parts 0.1
    collapsed = torch.zeros(4, 1, 1)
    two = torch.cat([far, collapsed], dim=1)
    assert TripletLoss(margin=0.2)(two, y)[0].item() == pytest.approx(0.1, abs=1e-6)


def test_triplet_chunking_does_not_change_the_result():
    torch.manual_seed(0)
    x, y = torch.randn(8, 5, 3), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    assert TripletLoss(part_chunk=2)(x, y)[0].item() == pytest.approx(
        TripletLoss(part_chunk=16)(x, y)[0].item(), rel=1e-6
    )


def test_cross_entropy_scale_and_smoothing_by_hand():
    # one sample, one part, two classes, cosine logits (0.25, 0), label 0 -> scaled (4, 0)
    logits = torch.tensor([[[0.25, 0.0]]])
    loss, parts = PartCrossEntropy(scale=16.0, label_smoothing=0.1)(logits, torch.tensor([0]))
    p0 = math.exp(4) / (math.exp(4) + 1)
    logp0, logp1 = math.log(p0), math.log(1 - p0)
    # smoothed target: 0.95 on the label, 0.05 on the other class (0.1 spread over 2 classes)
    expected = -(0.95 * logp0 + 0.05 * logp1)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert parts["accuracy"] == 1.0
    no_smooth = PartCrossEntropy(scale=16.0, label_smoothing=0.0)(logits, torch.tensor([0]))[0]
    assert no_smooth.item() == pytest.approx(-logp0, rel=1e-4)


def test_silhouette_loss_combines_and_backpropagates():
    torch.manual_seed(0)
    emb = torch.randn(4, 3, 8, requires_grad=True)
    logits = torch.tanh(torch.randn(4, 3, 2, requires_grad=True))
    y = torch.tensor([0, 0, 1, 1])
    crit = SilhouetteLoss()
    total, parts = crit(EncoderOutput(emb, logits), y, {})
    assert total.item() == pytest.approx(parts["triplet"] + parts["ce"], rel=1e-5)
    total.backward()
    assert emb.grad is not None and torch.isfinite(emb.grad).all()
    # no logits (e.g. a model without a classifier): triplet only
    t2, p2 = crit(EncoderOutput(emb.detach(), None), y, {})
    assert "ce" not in p2 and t2.item() == pytest.approx(p2["triplet"])


def test_build_loss_picks_by_architecture():
    from gaitpipe.models.base import ArchSpec

    class Fake(torch.nn.Module):
        spec = ArchSpec(loss="triplet+ce")

    assert isinstance(build_loss(Fake()), SilhouetteLoss)
    Fake.spec = ArchSpec(loss="gaitnet")
    from gaitpipe.losses.gaitnet import GaitNetLoss

    assert isinstance(build_loss(Fake()), GaitNetLoss)
