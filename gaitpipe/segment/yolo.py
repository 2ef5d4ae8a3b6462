"""Person segmentation with ultralytics YOLO-seg, tracked by ultralytics' own trackers.

* **Model**: any ultralytics segmentation model (``yolo11n-seg.pt`` by default, YOLOv8/11/26-seg,
  or their ONNX/other exports); only the ``person`` class is kept (looked up in the model's
  class names, so custom person models work too).
* **Tracking**: ``model.track(..., persist=True)`` frame by frame with ByteTrack (default) or
  BoT-SORT; every :meth:`YoloSegmenter.track` call starts a fresh predictor, so fresh tracker state.
  Only confirmed tracks are reported (ultralytics' behaviour); boxes are the tracker's boxes.
* **Soft masks**: ultralytics thresholds instance masks (``logit > 0``). We keep them soft: the
  mask logits ``coefficients @ prototypes`` are upsampled bilinearly to the letterboxed input size,
  the letterbox padding is cut and the result resized to the frame (ultralytics' ``scale_masks``),
  then passed through a sigmoid and zeroed outside the detection box (``crop_mask``). Because
  ``sigmoid(x) > 0.5  <=>  x > 0``, ``soft > 0.5`` is ultralytics' own binary mask, while the
  values around the boundary keep the model's uncertainty (useful for soft-masked RGB).
  This happens inside :class:`SoftMaskSegmentationPredictor`, before tracking, so the tracker's
  re-indexing of results carries the soft masks along.
* **Detect/pose models** (no mask head) are accepted as a documented fallback: the mask of a
  person is its filled box. That is enough for tracking and cropping but is not a silhouette, so
  a warning is logged once; use a ``-seg`` model or the ``bgsub`` segmenter for gait.
* **Weights** come from the ``weights`` option, then gaitpipe's weights folders and ultralytics'
  weights folder (never the working directory), then ultralytics' normal download
  (:mod:`gaitpipe.hub.segmenter`). When all fail (e.g. offline), :class:`SegmenterWeightsError`
  says how to provide them and that the ``bgsub`` segmenter needs none. A ``.pt`` file is checked
  by :mod:`gaitpipe.hub.pickle_guard` before ultralytics unpickles it: a file that names code
  to run is refused unless ``trust=True``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np

from gaitpipe.errors import SegmenterWeightsError
from gaitpipe.hub.pickle_guard import check_ultralytics_pickle
from gaitpipe.hub.segmenter import resolve_segmenter_weights
from gaitpipe.segment.base import TRACKERS, Segmenter, check_tracker
from gaitpipe.types import Frame, PersonDetections
from gaitpipe.utils.files import file_sha256

log = logging.getLogger("gaitpipe")

SUPPORTED_TASKS = ("segment", "detect", "pose")


# ---------------------------------------------------------------------------------------------
# Soft masks from prototypes
# ---------------------------------------------------------------------------------------------
def soft_masks_from_protos(protos, coefficients, boxes, shape: tuple[int, int]):
    """Soft instance masks (float32 [N,H,W] in [0,1], torch) from YOLO mask prototypes.

    ``protos``: [C, mh, mw] prototypes of one image (1/4 of the letterboxed input size);
    ``coefficients``: [N, C]; ``boxes``: [N, 4] xyxy at the target (frame) scale; ``shape``: (H, W).
    ``result > 0.5`` equals ultralytics' binary ``process_mask_native`` output up to interpolation
    rounding at the boundary.
    """
    import torch
    import torch.nn.functional as F
    from ultralytics.utils import ops

    c, mh, mw = protos.shape
    h, w = int(shape[0]), int(shape[1])
    if coefficients.shape[0] == 0:
        return torch.zeros((0, h, w), dtype=torch.float32, device=protos.device)
    logits = (coefficients.float() @ protos.float().view(c, -1)).view(1, -1, mh, mw)
    logits = F.interpolate(logits, scale_factor=4, mode="bilinear")  # prototypes -> input size
    logits = ops.scale_masks(logits, (h, w))[0]  # cut letterbox padding, resize to the frame
    return ops.crop_mask(logits.sigmoid_(), boxes.float())


def box_masks(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Filled-box masks [N,H,W] float32 (fallback for models without a mask head)."""
    h, w = shape
    out = np.zeros((len(boxes), h, w), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, np.float32)):
        xa, ya = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        xb, yb = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        out[i, ya:yb, xa:xb] = 1.0
    return out


@functools.lru_cache(maxsize=1)
def _soft_mask_predictor_class():
    """Built lazily (once: ultralytics rebuilds its predictor when the class object changes) so
    importing this module does not import ultralytics."""
    from ultralytics.engine.results import Results
    from ultralytics.models.yolo.segment import SegmentationPredictor
    from ultralytics.utils import ops

    class SoftMaskSegmentationPredictor(SegmentationPredictor):
        """Ultralytics' segmentation predictor, but Results carry soft masks at frame resolution."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            #: per-image feature maps while ultralytics' tracker runs native ReID (its callbacks set them)
            self._feats: list[Any] | None = None

        # ignore: ultralytics' own SegmentationPredictor.construct_result adds `proto` to the
        # DetectionPredictor signature; this repeats that signature.
        def construct_result(self, pred, img, orig_img, img_path, proto):  # type: ignore[override]
            masks = None
            if pred.shape[0]:
                pred[:, :4] = ops.scale_boxes(img.shape[2:], pred[:, :4], orig_img.shape)
                masks = soft_masks_from_protos(proto, pred[:, 6:], pred[:, :4], orig_img.shape[:2])
                keep = (masks > 0.5).flatten(1).any(1)  # as ultralytics: drop detections without a mask
                if self._feats is None and not bool(keep.all()):
                    pred, masks = pred[keep], masks[keep]
            # ignore: ultralytics declares BasePredictor.model as None (set later, by setup_model)
            names = self.model.names  # type: ignore[attr-defined]
            return Results(orig_img, path=img_path, names=names, boxes=pred[:, :6], masks=masks)

    return SoftMaskSegmentationPredictor


def detections_from_result(frame: Frame, result: Any) -> PersonDetections:
    """Convert one tracked ultralytics ``Results`` into :class:`PersonDetections`.

    Soft masks are taken from ``result.masks`` when present (their values are kept as they are:
    binary for stock predictors, soft for ours), else filled boxes. Untracked rows get id -1.
    """
    h, w = frame.image.shape[:2]
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return PersonDetections.empty(frame.index, h, w)
    xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
    ids = boxes.id.cpu().numpy().astype(np.int64) if boxes.id is not None else np.full(len(xyxy), -1, np.int64)
    scores = boxes.conf.cpu().numpy().astype(np.float32)
    if result.masks is not None:
        masks = result.masks.data.float().cpu().numpy()
        if masks.shape[1:] != (h, w):  # stock predictor without retina masks: resize to the frame
            import cv2

            masks = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in masks])
        masks = np.clip(masks, 0.0, 1.0).astype(np.float32)
    else:
        masks = box_masks(xyxy, (h, w))
    order = np.argsort(ids, kind="stable")
    return PersonDetections(frame.index, ids[order], xyxy[order], scores[order], masks[order])


class YoloSegmenter(Segmenter):
    """ultralytics YOLO-seg person masks + ultralytics tracking (ByteTrack / BoT-SORT)."""

    name = "yolo"

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        tracker: str = "bytetrack",
        conf: float | None = None,
        iou: float = 0.7,
        imgsz: int | None = None,
        device: str | None = None,
        half: bool = False,
        max_det: int = 300,
        trust: bool = False,
    ) -> None:
        self.tracker = check_tracker(tracker)
        self.weights_path = resolve_segmenter_weights(weights)
        # ultralytics unpickles without restriction: check the file first (``trust`` skips it).
        check_ultralytics_pickle(self.weights_path, trust=trust)
        self.conf = conf  # None: ultralytics' tracking default (0.1; new tracks still need 0.25)
        self.iou = float(iou)
        self.imgsz = int(imgsz) if imgsz else None  # None: ultralytics' default (640; an export's own size)
        self.device = device
        self.half = bool(half)
        self.max_det = int(max_det)
        try:
            from ultralytics import YOLO

            self.model = YOLO(str(self.weights_path))
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SegmenterWeightsError(f"cannot load YOLO weights {self.weights_path}: {reason}") from None
        self.task = self.model.task
        if self.task not in SUPPORTED_TASKS:
            raise SegmenterWeightsError(
                f"{self.weights_path} is a YOLO {self.task!r} model; a segmentation (-seg) model is needed"
            )
        names = self.model.names or {}
        names = dict(names) if isinstance(names, dict) else dict(enumerate(names))
        people = [int(k) for k, v in names.items() if str(v).lower() == "person"]
        if not people:
            raise SegmenterWeightsError(
                f"{self.weights_path} has no 'person' class (classes: {list(names.values())[:10]})"
            )
        self.person_class = people[0]
        if self.task != "segment":
            log.warning(
                "YOLO %s model %s has no mask head: person masks are filled boxes (fine for tracking, "
                "not for gait); use a -seg model or the bgsub segmenter",
                self.task,
                self.weights_path.name,
            )
        self._sha: str | None = None

    def settings(self) -> dict[str, Any]:
        if self._sha is None:
            self._sha = file_sha256(self.weights_path)[:12]
        return {
            "segmenter": self.name,
            "weights": str(self.weights_path),
            "weights_sha256": self._sha,
            "task": self.task,
            "tracker": self.tracker,
            "conf": self.conf,
            "iou": self.iou,
            "imgsz": self.imgsz,
            "max_det": self.max_det,
            "person_class": self.person_class,
            "soft_mask": "sigmoid(coefficients @ prototypes), box-cropped, bilinear to frame"
            if self.task == "segment"
            else "filled box (model has no mask head)",
        }

    def _predict_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = dict(
            persist=True,
            tracker=TRACKERS[self.tracker],
            classes=[self.person_class],
            iou=self.iou,
            max_det=self.max_det,
            verbose=False,
            save=False,
        )
        if self.imgsz:
            kw["imgsz"] = self.imgsz
        if self.half:
            kw["half"] = True
        if self.conf is not None:
            kw["conf"] = float(self.conf)
        if self.device is not None:
            kw["device"] = self.device
        if self.task == "segment":
            kw["predictor"] = _soft_mask_predictor_class()
            kw["retina_masks"] = True
        return kw

    def track(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, PersonDetections]]:
        kw = self._predict_kwargs()
        self.model.predictor = None  # fresh predictor, hence fresh tracker state, for every call
        for frame in frames:
            # cast: track() returns a list without stream=True (typed as list or iterator)
            result = cast("list[Any]", self.model.track(frame.image, **kw))[0]
            yield frame, detections_from_result(frame, result)
