import numpy as np
import pytest

from gaitpipe.metrics.open_set import calibrate, pair_scores, threshold_at_far


def test_threshold_at_far_counts_accepted_impostors():
    impostor = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], np.float32)
    t = threshold_at_far(impostor, 0.1)  # one impostor of ten may pass
    assert np.sum(impostor >= t) == 1
    t0 = threshold_at_far(impostor, 0.0)
    assert np.sum(impostor >= t0) == 0


def test_pair_scores_split_genuine_and_impostor():
    v = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
    genuine, impostor = pair_scores(v, np.array([0, 0, 1]))
    assert genuine.tolist() == [1.0]
    assert sorted(impostor.tolist()) == [0.0, 0.0]


def test_calibrate_separable_scores_give_full_tar():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 32))
    x = np.repeat(centres, 4, axis=0) + 0.05 * rng.normal(size=(80, 32))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cal = calibrate(x, np.repeat(np.arange(20), 4))
    assert cal.tar_at_far["0.01"] == pytest.approx(1.0)
    assert cal.genuine_pairs == 20 * 6 and cal.subjects == 20
    assert -1.0 <= cal.threshold <= 1.0
