"""Training augmentations (gaitpipe.data.augment): each does what it says, reproducibly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import gaitpipe.data.augment as augment
from gaitpipe.data.augment import AUGMENTATIONS, SilhouetteAugmenter, parse_augment
from gaitpipe.engine.train_config import TrainConfig
from gaitpipe.errors import SettingError
from gaitpipe.silhouette.normalize import normalize_mask


def walker(t: int = 6) -> np.ndarray:
    """A normalised standing figure (head, trunk, two legs with wide feet), t identical frames."""
    canvas = np.zeros((200, 120), np.uint8)
    cv2.circle(canvas, (60, 25), 14, 255, -1)
    cv2.rectangle(canvas, (45, 40), (75, 110), 255, -1)
    cv2.rectangle(canvas, (47, 110), (57, 185), 255, -1)
    cv2.rectangle(canvas, (63, 110), (73, 185), 255, -1)
    cv2.rectangle(canvas, (35, 186), (85, 195), 255, -1)  # wide feet: easy to see when cut
    frame, _ = normalize_mask(canvas)
    assert frame is not None
    return np.repeat(frame[None], t, axis=0)


@pytest.fixture
def always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every chosen augmentation applies to every sequence."""
    monkeypatch.setattr(augment, "PROBABILITY", dict.fromkeys(AUGMENTATIONS, 1.0))


def tilt_degrees(frame: np.ndarray) -> float:
    m = cv2.moments((frame > 127).astype(np.uint8), binaryImage=True)
    return float(np.degrees(0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])))


def test_parse_presets_and_order() -> None:
    assert parse_augment("none") == ()
    assert parse_augment("da") == ("rotate", "erase")
    assert parse_augment("real") == AUGMENTATIONS
    assert parse_augment("erase, holes") == ("holes", "erase")  # application order, not the user's
    with pytest.raises(SettingError, match=r"unknown augmentation 'blur'.*known: none, da, real"):
        parse_augment("rotate,blur")


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_each_changes_frames_and_keeps_a_walker(always: None, name: str) -> None:
    frames = walker()
    out = SilhouetteAugmenter([name])(frames, np.random.default_rng(3))
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frames)
    assert (out > 127).sum(axis=(1, 2)).min() > 200  # still a person in every frame
    again = SilhouetteAugmenter([name])(frames, np.random.default_rng(3))
    np.testing.assert_array_equal(out, again)  # same generator, same augmentation


def test_rotate_tilts_the_walker(always: None) -> None:
    frames = walker(2)
    base = tilt_degrees(frames[0])
    turned = [SilhouetteAugmenter(["rotate"])(frames, np.random.default_rng(s))[0] for s in range(8)]
    tilts = [abs((tilt_degrees(f) - base + 90) % 180 - 90) for f in turned]  # axis angles wrap at 180
    assert max(tilts) > 3.0  # up to 10 degrees of roll...
    assert max(tilts) < 12.0  # ...and not more


def test_cut_removes_feet_or_head_and_stretches_the_rest(always: None) -> None:
    frames = walker(1)
    cut = SilhouetteAugmenter(["cut"])(frames, np.random.default_rng(0))[0]
    width_of = lambda f, row: int((f[row] > 127).sum())  # noqa: E731
    # The wide feet or the round head is gone: the bottom or top row narrows or widens markedly.
    assert width_of(cut, 63) != width_of(frames[0], 63) or width_of(cut, 0) != width_of(frames[0], 0)


def test_shadow_widens_the_bottom_and_edges_grow_or_shrink(always: None) -> None:
    frames = walker(1)
    shadow = SilhouetteAugmenter(["shadow"])(frames, np.random.default_rng(1))[0]
    assert (shadow[58:] > 127).any(axis=0).sum() > (frames[0][58:] > 127).any(axis=0).sum()
    areas = {int((SilhouetteAugmenter(["edges"])(frames, np.random.default_rng(s))[0] > 127).sum()) for s in range(6)}
    base = int((frames[0] > 127).sum())
    assert any(a > base for a in areas) and any(a < base for a in areas)  # dilated and eroded both occur


def test_erase_blanks_one_rectangle_in_every_frame_inside_the_model_crop(always: None) -> None:
    frames = np.full((4, 64, 64), 255, np.uint8)
    out = SilhouetteAugmenter(["erase"])(frames, np.random.default_rng(5))
    holes = out == 0
    assert (holes == holes[0]).all()  # the same rectangle in every frame
    ys, xs = np.nonzero(holes[0])
    assert 0.05 * 64 * 44 <= holes[0].sum() <= 0.2 * 64 * 44 + 64
    assert holes[0][ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all()
    assert xs.min() >= 10 and xs.max() < 54  # within the 64 x 44 the model sees


def test_holes_and_jitter_differ_between_frames(always: None) -> None:
    frames = walker(4)
    for name in ("holes", "jitter"):
        out = SilhouetteAugmenter([name])(frames, np.random.default_rng(2))
        assert not all(np.array_equal(out[0], f) for f in out[1:]), name


def test_probability_zero_leaves_frames_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(augment, "PROBABILITY", dict.fromkeys(AUGMENTATIONS, 0.0))
    frames = walker()
    np.testing.assert_array_equal(SilhouetteAugmenter(AUGMENTATIONS)(frames, np.random.default_rng(0)), frames)


def test_config_rejects_unknown_names_and_device_pack() -> None:
    with pytest.raises(SettingError, match="unknown augmentation"):
        TrainConfig(arch="gaitbase-small", data="x.npz", augment="sharpen").check()
    with pytest.raises(SettingError, match="augmentations run in loader processes"):
        TrainConfig(arch="gaitbase-small", data="x.npz", augment="da", data_on_device=True).check()
    TrainConfig(arch="gaitbase-small", data="x.npz", augment="none", data_on_device=True).check()


def test_rate_keeps_that_share_of_sequences_clean(always: None) -> None:
    """rate 0.5: about half the sequences come back untouched, the rest all changed; rate 1 and
    rate 0 are every and no sequence."""
    frames = np.full((3, 64, 64), 255, np.uint8)  # every erased rectangle shows
    rng = np.random.default_rng(5)
    half = SilhouetteAugmenter(["erase"], rate=0.5)
    clean = sum(np.array_equal(half(frames, rng), frames) for _ in range(400))
    assert 160 < clean < 240
    assert not any(np.array_equal(SilhouetteAugmenter(["erase"])(frames, rng), frames) for _ in range(50))
    none = SilhouetteAugmenter(["erase"], rate=0.0)
    assert all(np.array_equal(none(frames, rng), frames) for _ in range(50))


def test_rate_one_draws_as_before(always: None) -> None:
    """The default rate consumes no random number, so a run started before the rate setting
    existed resumes with exactly the augmentations it would have drawn."""
    frames = walker(3)
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    SilhouetteAugmenter(["erase"], rate=1.0)(frames, a)
    SilhouetteAugmenter(["erase"])(frames, b)
    assert a.random() == b.random()


def test_rate_outside_zero_one_is_refused() -> None:
    with pytest.raises(SettingError, match="augment rate must be between 0 and 1"):
        SilhouetteAugmenter(["erase"], rate=1.5)
    with pytest.raises(SettingError, match="augment_rate must be between 0 and 1"):
        TrainConfig(arch="gaitbase-small", data="x.npz", augment="real", augment_rate=-0.1).check()


def test_probability_override_applies_every_chosen_augmentation() -> None:
    """probability=1 (the corruption benchmark's setting) erases every sequence, whatever
    PROBABILITY says; 0 leaves them all alone; outside 0-1 is refused."""
    frames = np.full((3, 64, 64), 255, np.uint8)
    rng = np.random.default_rng(1)
    sure = SilhouetteAugmenter(["erase"], probability=1.0)
    assert not any(np.array_equal(sure(frames, rng), frames) for _ in range(50))
    never = SilhouetteAugmenter(["erase"], probability=0.0)
    assert all(np.array_equal(never(frames, rng), frames) for _ in range(50))
    with pytest.raises(SettingError, match="augment probability must be between 0 and 1"):
        SilhouetteAugmenter(["erase"], probability=2.0)
