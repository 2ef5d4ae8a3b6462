"""GaitNet losses on hand-made outputs: weights, pair selection, values, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gaitpipe.losses.gaitnet import (
    GaitNetLoss,
    cross_reconstruction_loss,
    gait_similarity_loss,
    incremental_identity_loss,
    incremental_weights,
)
from gaitpipe.models.base import EncoderOutput


def test_incremental_weights_are_t_squared_normalised():
    w = incremental_weights(torch.tensor([3, 1, 4]), 4)
    assert torch.allclose(w[0], torch.tensor([1, 4, 9, 0]) / 14.0)
    assert torch.allclose(w[1], torch.tensor([1.0, 0, 0, 0]))
    assert torch.allclose(w[2], torch.tensor([1, 4, 9, 16]) / 30.0)
    assert torch.allclose(w.sum(1), torch.ones(3))


def test_incremental_identity_matches_manual_sum():
    torch.manual_seed(0)
    logits, labels, lengths = torch.randn(2, 3, 5), torch.tensor([1, 4]), torch.tensor([3, 2])
    expected = 0.0
    for i in range(2):
        L = int(lengths[i])
        norm = sum(t * t for t in range(1, L + 1))
        expected += sum(
            (t + 1) ** 2 / norm * F.cross_entropy(logits[i, t : t + 1], labels[i : i + 1]) for t in range(L)
        )
    got = incremental_identity_loss(logits, labels, lengths)
    assert math.isclose(float(got), float(expected) / 2, rel_tol=1e-5)


def test_late_steps_dominate_identity_loss():
    """A wrong guess at the last step costs more than the same wrong guess at the first."""
    good, bad = torch.tensor([5.0, 0.0]), torch.tensor([0.0, 5.0])
    labels, lengths = torch.tensor([0]), torch.tensor([3])
    early_wrong = incremental_identity_loss(torch.stack([bad, good, good])[None], labels, lengths)
    late_wrong = incremental_identity_loss(torch.stack([good, good, bad])[None], labels, lengths)
    assert late_wrong > 5 * early_wrong


def test_gait_similarity_pairs():
    pose = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [9.0, 9.0]])
    labels = torch.tensor([7, 7, 7, 8])
    # without conditions: all same-identity pairs (0,1) (0,2) (1,2): distances^2 1, 9, 10
    assert math.isclose(float(gait_similarity_loss(pose, labels)), 20 / 3, rel_tol=1e-6)
    # with conditions only cross-condition pairs count: (0,2) and (1,2)
    got = gait_similarity_loss(pose, labels, ["nm", "nm", "cl", "bg"])
    assert math.isclose(float(got), 19 / 2, rel_tol=1e-6)
    assert gait_similarity_loss(pose, torch.tensor([1, 2, 3, 4])) is None
    with pytest.raises(ValueError):
        gait_similarity_loss(pose, labels, ["nm"])


def test_normalized_similarity_cannot_be_lowered_by_shrinking():
    pose = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [9.0, 9.0]])
    labels = torch.tensor([7, 7, 7, 8])
    # different-identity pairs (0,3) (1,3) (2,3): distances^2 162, 145, 117 -> mean 424/3
    got = gait_similarity_loss(pose, labels, normalized=True)
    assert math.isclose(float(got), (20 / 3) / (424 / 3), rel_tol=1e-6)
    # collapse: the raw distance falls 10,000x, the normalised one does not move
    assert float(gait_similarity_loss(pose * 0.01, labels)) < 1e-3 * float(gait_similarity_loss(pose, labels))
    assert math.isclose(float(gait_similarity_loss(pose * 0.01, labels, normalized=True)), float(got), rel_tol=1e-4)
    # only one identity in the batch: nothing to normalise by
    assert gait_similarity_loss(pose[:3], labels[:3], normalized=True) is None


def test_normalized_similarity_gradient_separates_people_instead_of_shrinking():
    # The ratio's gradient must not point towards the origin: a loss that is invariant to scale
    # has a gradient orthogonal to the features (Euler), and it must push the other walker away.
    # With the scale detached the gradient equalled the raw distance's, which shrank every pose
    # feature to one point and left GaitNet's identity loss at chance on CASIA-B.
    pose = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [9.0, 9.0]], requires_grad=True)
    labels = torch.tensor([7, 7, 7, 8])
    gait_similarity_loss(pose, labels, normalized=True).backward()
    assert abs(float((pose.grad * pose.detach()).sum())) < 1e-6
    other = pose.detach()[3] - pose.detach()[:3].mean(0)  # from the group towards walker 8
    assert float(pose.grad[3] @ other) < 0  # descent (minus the gradient) moves walker 8 further away


def test_cross_reconstruction_is_mse():
    a, b = torch.zeros(1, 2, 3, 4, 4), torch.ones(1, 2, 3, 4, 4) * 0.5
    assert math.isclose(float(cross_reconstruction_loss(a, b)), 0.25)


def _output(n=4, t=3, classes=5, with_recon=True) -> EncoderOutput:
    torch.manual_seed(1)
    step_logits = torch.randn(n, t, classes, requires_grad=True)
    extras = {
        "step_logits": step_logits,
        "pose_mean": torch.randn(n, 8, requires_grad=True),
        "lengths": torch.full((n,), t),
    }
    if with_recon:
        extras["reconstruction"] = torch.rand(n, 2, 3, 64, 44, requires_grad=True)
        extras["reconstruction_target"] = torch.rand(n, 2, 3, 64, 44)
    return EncoderOutput(embeddings=torch.randn(n, 1, 16), logits=step_logits[:, -1:], extras=extras)


def test_total_is_weighted_sum_and_backprops():
    out, labels = _output(), torch.tensor([0, 0, 1, 1])
    batch = {"conditions": ["nm", "cl", "nm", "bg"]}
    total, parts = GaitNetLoss(recon_weight=2.0, similarity_weight=0.5, identity_weight=1.0)(out, labels, batch)
    expected = parts["identity"] + 2.0 * parts["recon"] + 0.5 * parts["similarity"]
    assert math.isclose(float(total.detach()), expected, rel_tol=1e-5)
    assert math.isclose(parts["total"], expected, rel_tol=1e-5)
    total.backward()
    assert out.extras["reconstruction"].grad is not None and out.extras["pose_mean"].grad is not None
    assert 0.0 <= parts["accuracy"] <= 1.0


def test_missing_terms_are_skipped_and_wrong_output_rejected():
    out = _output(with_recon=False)
    total, parts = GaitNetLoss()(out, torch.tensor([0, 1, 2, 3]), {})
    assert "recon" not in parts and "similarity" not in parts
    assert math.isclose(float(total.detach()), parts["identity"], rel_tol=1e-6)
    with pytest.raises(ValueError, match="GaitNet"):
        GaitNetLoss()(EncoderOutput(embeddings=torch.zeros(2, 1, 4)), torch.tensor([0, 1]), {})
