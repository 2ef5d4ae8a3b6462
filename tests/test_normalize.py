"""OpenGait pretreatment rules (OpenGait's datasets/pretreatment.py), one test per rule on hand-computed cases.

Most cases use a foreground exactly 64 rows tall: the row crop is then 64 high, the resize to
height 64 keeps the width (``int(64 * w / 64) == w``) and leaves pixels untouched, so column
masses, centres and output columns can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitpipe.errors import NoPersonError
from gaitpipe.extract import extract_video
from gaitpipe.segment.base import Segmenter
from gaitpipe.silhouette.normalize import (
    DROP_EMPTY,
    DROP_NO_CENTRE,
    MIN_PIXEL_SUM,
    MIN_SEQUENCE_FRAMES,
    Geometry,
    normalize_mask,
    to_model_input,
)
from gaitpipe.types import Frame, PersonDetections


def _bars(width: int, height: int, spans: list[tuple[int, int]], rows: tuple[int, int] = (0, 64)) -> np.ndarray:
    """A mask with full-intensity columns ``[a, b)`` for each span over rows ``[r0, r1)``."""
    mask = np.zeros((height, width), np.uint8)
    for a, b in spans:
        mask[rows[0] : rows[1], a:b] = 255
    return mask


# 1. pixel sum <= 10000 -> dropped ------------------------------------------------------------


def test_pixel_sum_exactly_10000_is_dropped() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[30:70, 50] = 250  # 40 pixels x 250 = 10000
    assert int(mask.sum()) == MIN_PIXEL_SUM == 10000
    frame, reason = normalize_mask(mask)
    assert frame is None and reason == DROP_EMPTY


def test_pixel_sum_10001_is_kept() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[30:70, 50] = 250
    mask[30, 51] = 1  # 10001
    assert int(mask.sum()) == 10001
    frame, geometry = normalize_mask(mask)
    assert frame is not None and isinstance(geometry, Geometry)
    assert frame.shape == (64, 64) and frame.dtype == np.uint8


def test_pixel_sum_does_not_overflow_uint8() -> None:
    # A large mask: a uint8 accumulator would wrap around and call it empty.
    mask = _bars(200, 240, [(60, 140)], rows=(10, 230))
    frame, _ = normalize_mask(mask)
    assert frame is not None


# 2. row crop --------------------------------------------------------------------------------


def test_rows_cropped_to_first_and_last_foreground_row() -> None:
    mask = _bars(120, 200, [(40, 60)], rows=(37, 101))  # rows 37..100, 64 tall
    frame, geometry = normalize_mask(mask)
    assert isinstance(geometry, Geometry)
    assert (geometry.top, geometry.bottom) == (37, 100)
    # The same person higher up in the frame gives the same silhouette.
    shifted, _ = normalize_mask(_bars(120, 200, [(40, 60)], rows=(0, 64)))
    np.testing.assert_array_equal(frame, shifted)
    # Rows are cropped only at the ends: an empty row inside the person is kept.
    holed = mask.copy()
    holed[60] = 0
    _, g2 = normalize_mask(holed)
    assert (g2.top, g2.bottom) == (37, 100)


def test_columns_are_not_cropped_before_resize() -> None:
    # Only rows are cropped: the resized width comes from the full frame width.
    mask = _bars(150, 100, [(70, 80)], rows=(20, 60))  # 40 rows tall, frame 150 wide
    _, geometry = normalize_mask(mask)
    assert geometry.resized_width == int(64 * 150 / 40) == 240


# 3. width int(64 * w / h), cubic -----------------------------------------------------------


def test_resized_width_truncates() -> None:
    mask = _bars(100, 80, [(45, 55)], rows=(10, 40))  # h = 30, w = 100: 213.33 -> 213
    _, geometry = normalize_mask(mask)
    assert geometry.resized_width == 213


def test_resize_is_cubic_values() -> None:
    # Direct check: the output equals a cubic resize of the row crop, and differs from linear.
    rng = np.random.default_rng(3)
    mask = np.zeros((90, 70), np.uint8)
    mask[7:47, 25:45] = rng.integers(0, 2, (40, 20), dtype=np.uint8) * 255
    frame, g = normalize_mask(mask)
    assert g.resized_width == int(64 * 70 / 40) == 112
    for interp, expect_equal in [(cv2.INTER_CUBIC, True), (cv2.INTER_LINEAR, False)]:
        resized = cv2.resize(mask[7:47], (112, 64), interpolation=interp)
        if g.padded:
            resized = np.pad(resized, [(0, 0), (32, 32)])
        cut = resized[:, g.left : g.left + 64]
        assert np.array_equal(cut, frame) == expect_equal


# 4. centre = mass median, not the box centre -----------------------------------------------


def test_centre_is_mass_median_on_asymmetric_mask() -> None:
    # An "L": a body (cols 40..49, 64 rows) and a long foot (cols 50..89, bottom 8 rows).
    # Column masses: 64 x 255 for cols 40..49, 8 x 255 for cols 50..89; total 960 x 255.
    # Cumulative mass passes 480 x 255 at col 47 (8 x 64 = 512); the box centre would be 64.5.
    mask = _bars(200, 64, [(40, 50)])
    mask[56:64, 50:90] = 255
    frame, g = normalize_mask(mask)
    assert g.resized_width == 200 and not g.padded
    assert g.left == 47 - 32 == 15
    expected = mask[:, 15:79]
    np.testing.assert_array_equal(frame, expected)
    # Spelled out: the body lands on output columns 25..34, the foot on 35..63.
    assert (frame[:, 25:35] == 255).all() and (frame[:, :25] == 0).all()
    assert (frame[56:, 35:] == 255).all() and (frame[:56, 35:] == 0).all()


def test_centre_needs_strictly_more_than_half() -> None:
    # Two equal bars: the cumulative mass equals exactly half after col 49, so the first column
    # that *exceeds* half is col 60 (the box centre would be 54.5).
    mask = _bars(200, 64, [(40, 50), (60, 70)])
    _, g = normalize_mask(mask)
    assert g.left == 60 - 32 == 28


def test_centre_at_column_zero_is_dropped() -> None:
    # OpenGait tests `if not x_center`, so a centre at column 0 counts as "no centre".
    mask = _bars(100, 64, [(0, 1)])
    assert int(mask.sum()) > 10000
    frame, reason = normalize_mask(mask)
    assert frame is None and reason == DROP_NO_CENTRE


# 5. cut [c - 32, c + 32), padding 32 zero columns on BOTH sides at an edge ----------------


def test_padding_at_left_edge() -> None:
    mask = _bars(200, 64, [(0, 10)])  # centre: cumsum (k+1)*64 > 5*64 first at k = 5
    frame, g = normalize_mask(mask)
    assert g.padded and g.left == 5 - 32 + 32 == 5
    # out col j <- padded col 5 + j <- original col j - 27
    assert (frame[:, :27] == 0).all()
    assert (frame[:, 27:37] == 255).all()
    assert (frame[:, 37:] == 0).all()


def test_padding_at_right_edge() -> None:
    mask = _bars(100, 64, [(90, 100)])  # centre at col 95; right = 127 >= 100
    frame, g = normalize_mask(mask)
    assert g.padded and g.left == 95 - 32 + 32 == 95
    # out col j <- original col 63 + j: the bar (90..99) lands on 27..36, then the padding.
    assert (frame[:, :27] == 0).all()
    assert (frame[:, 27:37] == 255).all()
    assert (frame[:, 37:] == 0).all()


def test_padding_condition_is_inclusive() -> None:
    # left == 0 pads (OpenGait: `left <= 0`), left == 1 does not.
    mask0 = _bars(200, 64, [(22, 43)])  # 21 columns: median col 32 -> left 0
    _, g0 = normalize_mask(mask0)
    assert g0.padded and g0.left == 32
    mask1 = _bars(200, 64, [(23, 44)])  # median col 33 -> left 1
    _, g1 = normalize_mask(mask1)
    assert not g1.padded and g1.left == 1
    # right == width pads too: centre at 168 in a 200-wide image.
    mask2 = _bars(200, 64, [(158, 179)])
    _, g2 = normalize_mask(mask2)
    assert g2.padded


# 6. 64 x 64 output; 64 x 44 model input in [0, 1] -------------------------------------------


def _opengait_reference(img: np.ndarray) -> np.ndarray | None:
    """The pretreatment loop written out step by step (a second, independent transcription)."""
    if img.sum(dtype=np.uint64) <= 10000:
        return None
    y_sum = img.sum(axis=1, dtype=np.uint64)
    y_top = (y_sum != 0).argmax(axis=0)
    y_btm = (y_sum != 0).cumsum(axis=0).argmax(axis=0)
    img = img[y_top : y_btm + 1, :]
    ratio = img.shape[1] / img.shape[0]
    img = cv2.resize(img, (int(64 * ratio), 64), interpolation=cv2.INTER_CUBIC)
    x_csum = img.sum(axis=0, dtype=np.uint64).cumsum()
    x_center = None
    for idx, csum in enumerate(x_csum):
        if csum > img.sum(dtype=np.uint64) / 2:
            x_center = idx
            break
    if not x_center:
        return None
    left, right = x_center - 32, x_center + 32
    if left <= 0 or right >= img.shape[1]:
        left += 32
        right += 32
        pad = np.zeros((img.shape[0], 32))
        img = np.concatenate([pad, img, pad], axis=1)
    return img[:, left:right].astype("uint8")


def test_matches_reference_on_random_blobs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        h, w = int(rng.integers(60, 300)), int(rng.integers(40, 400))
        mask = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            ax, ay = int(rng.integers(3, max(4, w // 3))), int(rng.integers(5, max(6, h // 2)))
            cv2.ellipse(mask, (cx, cy), (ax, ay), float(rng.integers(0, 180)), 0, 360, 255, -1)
        expected = _opengait_reference(mask)
        frame, info = normalize_mask(mask)
        if expected is None:
            assert frame is None, info
        else:
            assert frame is not None and frame.shape == (64, 64) and frame.dtype == np.uint8
            np.testing.assert_array_equal(frame, expected)


def test_model_input_cuts_10_columns_per_side_and_scales() -> None:
    frames = np.tile((np.arange(64, dtype=np.uint8) * 4)[None, None, :], (3, 64, 1))
    frames[:, :, 63] = 255
    x = to_model_input(frames)
    assert x.shape == (3, 64, 44) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0], 40 / 255)  # first kept column is column 10
    np.testing.assert_allclose(x[0, 0, -1], 53 * 4 / 255)  # last kept column is column 53
    assert x.min() >= 0.0 and x.max() <= 1.0
    binary = np.zeros((64, 64), np.uint8)
    binary[:, 10:54] = 255
    np.testing.assert_array_equal(to_model_input(binary), np.ones((64, 44), np.float32))
    with pytest.raises(ValueError):
        to_model_input(np.zeros((64, 44), np.uint8))


# 7. fewer than 5 frames is suspect ----------------------------------------------------------


class _OneWalkerSegmenter(Segmenter):
    """Reports the same tracked walker (track 1, an upright ellipse) in every frame it is given."""

    name = "scripted"

    def settings(self) -> dict[str, str]:
        return {}

    def track(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, PersonDetections]]:
        for frame in frames:
            height, width = frame.image.shape[:2]
            mask = np.zeros((height, width), np.float32)
            cv2.ellipse(mask, (width // 2, height // 2), (16, 40), 0, 0, 360, 1.0, -1)
            ys, xs = np.nonzero(mask)
            box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            yield frame, PersonDetections(frame.index, np.array([1]), box, np.ones(1, np.float32), mask[None])


def _frame_folder(root: Path, count: int) -> Path:
    root.mkdir()
    for i in range(count):
        cv2.imwrite(str(root / f"{i:04d}.png"), np.full((120, 160, 3), 128, np.uint8))
    return root


def test_extraction_rejects_a_four_frame_track_and_keeps_a_five_frame_one(tmp_path: Path) -> None:
    """OpenGait calls sequences under 5 frames suspect: extraction with its defaults drops them."""
    assert MIN_SEQUENCE_FRAMES == 5
    with pytest.raises(NoPersonError, match="too few usable frames: 4 "):
        extract_video(_frame_folder(tmp_path / "four", 4), _OneWalkerSegmenter())
    four = extract_video(tmp_path / "four", _OneWalkerSegmenter(), require_person=False)
    assert four.sequences == [] and [len(s) for s in four.rejected] == [4]
    assert [t["status"] for t in four.manifest["tracks"]] == ["too_short"]
    five = extract_video(_frame_folder(tmp_path / "five", 5), _OneWalkerSegmenter())
    assert [len(s) for s in five.sequences] == [5] and five.rejected == []
    assert [t["status"] for t in five.manifest["tracks"]] == ["usable"]


# Geometry.apply: the same crop for the RGB frame ---------------------------------------------


def test_geometry_apply_aligns_rgb_with_silhouette() -> None:
    rng = np.random.default_rng(1)
    cases = [
        _bars(200, 64, [(40, 50)]),  # no resize, no padding
        _bars(200, 64, [(0, 10)]),  # padded (left edge)
        _bars(150, 120, [(100, 150)], rows=(20, 110)),  # resized and padded (right edge)
    ]
    blob = np.zeros((240, 320), np.uint8)
    cv2.ellipse(blob, (150, 120), (25, 90), 10, 0, 360, 255, -1)
    cases.append(blob)
    for mask in cases:
        frame, g = normalize_mask(mask)
        assert frame is not None
        # The mask itself in three channels comes out as the silhouette in each channel.
        rgb = np.stack([mask, mask, mask], axis=-1)
        out = g.apply(rgb)
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8
        for c in range(3):
            np.testing.assert_array_equal(out[..., c], frame)
        # Float input (soft-masked RGB) goes through the same geometry and is clipped to uint8.
        # (cv2's float and uint8 cubic paths may differ by one grey level, never more.)
        as_float = g.apply(mask.astype(np.float32))
        assert as_float.dtype == np.uint8
        assert np.abs(as_float.astype(int) - frame.astype(int)).max() <= 1
        # Masking an arbitrary image then applying the geometry puts colour only where the
        # silhouette is (up to cubic ringing at the boundary, hence the eroded comparison).
        image = rng.integers(50, 256, (*mask.shape, 3), dtype=np.uint8)
        masked = image.astype(np.float32) * (mask[..., None] / 255.0)
        crop = g.apply(masked)
        inside = cv2.erode((frame == 255).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        outside = cv2.dilate((frame > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
        assert (crop[outside] == 0).all()
        assert (crop[inside].max(axis=-1) > 0).all()
