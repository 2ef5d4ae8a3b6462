"""The segmenter interface and the box tracker shared by the weights-free backend.

A :class:`Segmenter` turns frames into tracked people: for every frame it yields
``(frame, PersonDetections)`` with track ids, boxes, scores and soft masks at frame resolution.
Tracking is never written here: :class:`BoxTracker` drives ultralytics' own ByteTrack / BoT-SORT
implementations (``ultralytics.trackers``) with box detections, which is what the background
subtraction backend needs; the YOLO backend uses ultralytics' ``model.track`` directly.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from gaitpipe.errors import ConfigError, InputError
from gaitpipe.types import Frame, PersonDetections

#: Tracker names accepted by every backend, mapped to ultralytics' tracker configs.
TRACKERS = {"bytetrack": "bytetrack.yaml", "botsort": "botsort.yaml"}


def check_tracker(name: str) -> str:
    """Normalise a tracker name; ``InputError`` for an unknown one."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in TRACKERS:
        raise InputError(f"unknown tracker {name!r}: choose one of {', '.join(TRACKERS)}")
    return key


class Segmenter(abc.ABC):
    """Frames in, tracked person masks out."""

    #: Short backend name ("yolo", "bgsub"), as written to manifests.
    name: str = ""

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """JSON-able description of the backend and its options (for manifests)."""

    @abc.abstractmethod
    def track(self, frames: Iterable[Frame]) -> Iterator[tuple[Frame, PersonDetections]]:
        """Segment and track people frame by frame; every call starts with a fresh tracker."""

    @classmethod
    def option_names(cls) -> frozenset[str]:
        """The options this backend takes: its constructor's keyword-only parameters."""
        params = inspect.signature(cls.__init__).parameters.values()
        return frozenset(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings()})"


def check_options(backend: str, options: Mapping[str, Any], known: frozenset[str]) -> None:
    """``ConfigError`` naming the first option of ``options`` that is not in ``known``."""
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"the {backend} segmenter has no option {unknown[0]!r}; its options are: {', '.join(sorted(known))}"
        )


class BoxTracker:
    """Ultralytics' ByteTrack or BoT-SORT fed with plain box detections.

    ``update`` takes one frame's boxes and returns, for each confirmed track present in this
    frame, the index of the detection it matched, its track id and the tracker's box.
    """

    def __init__(self, tracker: str = "bytetrack", **overrides: Any) -> None:
        from ultralytics.trackers.track import TRACKER_MAP
        from ultralytics.utils import YAML, IterableSimpleNamespace
        from ultralytics.utils.checks import check_yaml

        self.name = check_tracker(tracker)
        cfg = YAML.load(check_yaml(TRACKERS[self.name]))
        cfg.update(overrides)
        if self.name == "botsort":
            # Appearance ReID needs a detector's features; box-only input has none.
            cfg["with_reid"] = False
        self.config = cfg
        # Any: TRACKER_MAP mixes tracker classes without a common base (its values type as object)
        self._tracker: Any = TRACKER_MAP[cfg["tracker_type"]](args=IterableSimpleNamespace(**cfg))

    def reset(self) -> None:
        self._tracker.reset()

    def update(
        self, boxes: np.ndarray, scores: np.ndarray, image: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track one frame. ``boxes`` [N,4] xyxy, ``scores`` [N], ``image`` the BGR frame.

        Returns ``(det_index [M] int, track_id [M] int64, track_box [M,4] float32)``.
        """
        from ultralytics.engine.results import Boxes

        n = len(boxes)
        data = np.zeros((n, 6), np.float32)
        if n:
            data[:, :4] = boxes
            data[:, 4] = scores
        tracks = self._tracker.update(Boxes(data, image.shape[:2]), image)
        if len(tracks) == 0:
            return np.zeros(0, int), np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
        tracks = np.asarray(tracks)
        return tracks[:, -1].astype(int), tracks[:, 4].astype(np.int64), tracks[:, :4].astype(np.float32)


def detections_from_tracks(
    frame: Frame,
    det_index: np.ndarray,
    track_ids: np.ndarray,
    track_boxes: np.ndarray,
    scores: np.ndarray,
    masks: np.ndarray,
) -> PersonDetections:
    """Assemble :class:`PersonDetections` for the tracked detections of one frame."""
    h, w = frame.image.shape[:2]
    if len(det_index) == 0:
        return PersonDetections.empty(frame.index, h, w)
    order = np.argsort(track_ids, kind="stable")  # stable order by track id makes output deterministic
    det_index, track_ids, track_boxes = det_index[order], track_ids[order], track_boxes[order]
    return PersonDetections(
        frame_index=frame.index,
        track_ids=track_ids.astype(np.int64),
        boxes=track_boxes.astype(np.float32),
        scores=scores[det_index].astype(np.float32),
        masks=masks[det_index].astype(np.float32, copy=False),
    )
