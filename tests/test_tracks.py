"""TrackAssembler: drop rules, frame indices/boxes, short tracks, soft-masked RGB alignment."""

from __future__ import annotations

import cv2
import numpy as np

from gaitpipe.silhouette.normalize import MIN_SEQUENCE_FRAMES, normalize_mask
from gaitpipe.silhouette.tracks import (
    DROP_BORDER,
    DROP_SMALL_FOR_TRACK,
    DROP_TOO_SMALL,
    DROP_UNTRACKED,
    TrackAssembler,
)
from gaitpipe.types import Frame, PersonDetections, VideoInfo

H, W = 120, 160


def _person(cx: int, top: int, height: int, value: float = 1.0) -> np.ndarray:
    """A soft mask: an upright ellipse (body) of the given height, top row and centre column."""
    mask = np.zeros((H, W), np.float32)
    cv2.ellipse(mask, (cx, top + height // 2), (max(2, height // 5), height // 2), 0, 0, 360, value, -1)
    return mask


def _box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask > 0.5)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def _dets(
    index: int, masks: list[np.ndarray], ids: list[int], boxes: list[np.ndarray] | None = None
) -> PersonDetections:
    if not masks:
        return PersonDetections.empty(index, H, W)
    return PersonDetections(
        frame_index=index,
        track_ids=np.array(ids, np.int64),
        boxes=np.stack(boxes if boxes is not None else [_box(m) for m in masks]).astype(np.float32),
        scores=np.full(len(masks), 0.9, np.float32),
        masks=np.stack(masks).astype(np.float32),
    )


def _frame(index: int, image: np.ndarray | None = None) -> Frame:
    img = image if image is not None else np.full((H, W, 3), 128, np.uint8)
    return Frame(index=index, image=img, timestamp=index / 25.0)


def test_keeps_frame_indices_and_boxes_in_order() -> None:
    asm = TrackAssembler((W, H))
    masks = {i: _person(30 + 8 * i, 20, 80) for i in range(10)}
    for i in range(10):
        asm.add(_frame(i * 2), _dets(i * 2, [masks[i]], [7]))  # stride 2: source indices 0, 2, ...
    (seq,) = asm.finish()
    assert seq.track_id == 7 and len(seq) == 10
    np.testing.assert_array_equal(seq.frame_indices, np.arange(0, 20, 2))
    np.testing.assert_array_equal(seq.boxes, np.stack([_box(masks[i]) for i in range(10)]))
    assert seq.frames.shape == (10, 64, 64) and seq.frames.dtype == np.uint8
    assert seq.rgb is None and seq.dropped == {}
    assert asm.frames_seen == 10 and asm.frames_with_person == 10
    # Each frame is exactly the OpenGait normalisation of the binarised mask.
    expected, _ = normalize_mask(np.where(masks[3] > 0.5, 255, 0).astype(np.uint8))
    np.testing.assert_array_equal(seq.frames[3], expected)


def test_border_cut_frames_are_dropped() -> None:
    asm = TrackAssembler((W, H))
    for i in range(6):
        asm.add(_frame(i), _dets(i, [_person(60 + 5 * i, 20, 80)], [1]))
    # Mask cut by the left edge.
    asm.add(_frame(6), _dets(6, [_person(3, 20, 80)], [1]))
    # Mask cut by the bottom edge.
    asm.add(_frame(7), _dets(7, [_person(80, 60, 80)], [1]))
    # Only a toe grazes the right edge: the silhouette is whole, so the frame is kept (as the
    # official CASIA-B silhouettes keep it).
    grazing = _person(100, 20, 80)
    rows = np.flatnonzero(grazing.any(axis=1))
    grazing[rows[-1] - 2 : rows[-1] + 1, 100:W] = 1.0
    asm.add(_frame(8), _dets(8, [grazing], [1]))
    (seq,) = asm.finish()
    assert seq.dropped == {DROP_BORDER: 2}
    np.testing.assert_array_equal(seq.frame_indices, [0, 1, 2, 3, 4, 5, 8])


def test_too_small_frames_are_dropped() -> None:
    asm = TrackAssembler((W, H), min_height_frac=0.2)  # 24 px
    for i in range(6):
        asm.add(_frame(i), _dets(i, [_person(50 + 5 * i, 20, 80)], [1]))
    # Absolutely small: 20 px tall (but > 10000 pixel sum after binarising? no matter: too small first).
    asm.add(_frame(6), _dets(6, [_person(80, 40, 20)], [1]))
    # Small for this track: 36 px tall vs the track's 80 px median (>= 24 px, so not absolutely small).
    asm.add(_frame(7), _dets(7, [_person(80, 40, 36)], [1]))
    (seq,) = asm.finish()
    assert seq.dropped == {DROP_TOO_SMALL: 1, DROP_SMALL_FOR_TRACK: 1}
    np.testing.assert_array_equal(seq.frame_indices, np.arange(6))


def test_perspective_growth_is_not_dropped() -> None:
    # A walker approaching the camera grows from 50 to 100 px: every frame stays.
    asm = TrackAssembler((W, H))
    for i in range(11):
        asm.add(_frame(i), _dets(i, [_person(80, 10, 50 + 5 * i)], [3]))
    (seq,) = asm.finish()
    assert len(seq) == 11 and seq.dropped == {}


def test_short_tracks_are_reported_not_lost() -> None:
    asm = TrackAssembler((W, H))
    assert asm.min_frames == MIN_SEQUENCE_FRAMES == 5
    for i in range(8):
        masks, ids = [_person(40 + 4 * i, 20, 80)], [1]
        if i < 4:  # a second walker seen in only 4 frames
            masks.append(_person(120, 30, 70))
            ids.append(2)
        if i == 5:  # an unconfirmed detection
            masks.append(_person(120, 30, 70))
            ids.append(-1)
        asm.add(_frame(i), _dets(i, masks, ids))
    asm.add(_frame(8), _dets(8, [], []))
    usable = asm.finish()
    assert [s.track_id for s in usable] == [1]
    assert [(s.track_id, len(s)) for s in asm.rejected] == [(2, 4)]
    assert asm.unassigned == {DROP_UNTRACKED: 1}
    assert asm.frames_seen == 9 and asm.frames_with_person == 8

    # Exactly five frames is enough.
    asm5 = TrackAssembler((W, H))
    for i in range(5):
        asm5.add(_frame(i), _dets(i, [_person(40 + 4 * i, 20, 80)], [4]))
    assert [len(s) for s in asm5.finish()] == [5] and asm5.rejected == []


def test_longest_track_first() -> None:
    asm = TrackAssembler(VideoInfo("x", 25.0, None, W, H))
    for i in range(9):
        masks, ids = [_person(30 + 3 * i, 20, 80)], [5]
        if i < 6:
            masks.append(_person(120, 20, 80))
            ids.append(2)
        asm.add(_frame(i), _dets(i, masks, ids))
    assert [(s.track_id, len(s)) for s in asm.finish()] == [(5, 9), (2, 6)]


def test_soft_mask_binarised_at_half() -> None:
    # A halo at 0.4 around the person must not enter the silhouette; the person is at 0.6.
    person = _person(70, 20, 80, value=0.6)
    halo = np.full((H, W), 0.4, np.float32)
    halo[5:-5, 5:-5] = np.maximum(0.4, person[5:-5, 5:-5])
    halo[:5] = halo[-5:] = 0
    halo[:, :5] = halo[:, -5:] = 0
    asm = TrackAssembler((W, H), min_frames=1)
    asm.add(_frame(0), _dets(0, [halo], [1], [_box(person)]))
    (seq,) = asm.finish()
    expected, _ = normalize_mask(np.where(person > 0.5, 255, 0).astype(np.uint8))
    np.testing.assert_array_equal(seq.frames[0], expected)


def test_rgb_crop_is_soft_masked_and_aligned() -> None:
    rng = np.random.default_rng(0)
    asm = TrackAssembler((W, H), keep_rgb=True, min_frames=1)
    images, softs = [], []
    for i in range(3):
        image = rng.integers(60, 256, (H, W, 3), dtype=np.uint8)
        image[..., 1] = 0  # BGR with no green: the RGB crop must have no green either
        soft = _person(50 + 20 * i, 15, 90)
        soft = cv2.GaussianBlur(soft, (7, 7), 2)  # genuinely soft edges
        images.append(image)
        softs.append(soft)
        asm.add(_frame(i, image), _dets(i, [soft], [1], [_box(soft)]))
    (seq,) = asm.finish()
    assert seq.rgb is not None and seq.rgb.shape == (3, 64, 64, 3) and seq.rgb.dtype == np.uint8
    for i in range(3):
        sil, geometry = normalize_mask(np.where(softs[i] > 0.5, 255, 0).astype(np.uint8))
        np.testing.assert_array_equal(seq.frames[i], sil)
        # The crop is the RGB frame times the soft mask, cut with the silhouette's geometry.
        rgb = cv2.cvtColor(images[i], cv2.COLOR_BGR2RGB).astype(np.float32) * softs[i][..., None]
        np.testing.assert_array_equal(seq.rgb[i], geometry.apply(rgb))
        # Channel order is RGB: the frame's blue (BGR channel 0) is the crop's channel 2.
        assert seq.rgb[i][..., 1].max() == 0
        # Colour only at the person: nothing far from the silhouette, colour inside it.
        inside = cv2.erode((sil == 255).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        outside = cv2.dilate((sil > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
        assert inside.sum() > 100 and outside.sum() > 100
        assert (seq.rgb[i][outside] == 0).all()
        assert (seq.rgb[i][inside][:, [0, 2]].max(axis=-1) > 0).all()


def test_mask_at_other_resolution_is_resized() -> None:
    # A segmenter returning half-resolution masks still yields silhouettes at frame geometry.
    asm = TrackAssembler((W, H), min_frames=1)
    full = _person(70, 20, 80)
    half = cv2.resize(full, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    dets = PersonDetections(0, np.array([1]), _box(full)[None], np.ones(1, np.float32), half[None])
    asm.add(_frame(0), dets)
    (seq,) = asm.finish()
    assert len(seq) == 1 and seq.frames.shape == (1, 64, 64)
