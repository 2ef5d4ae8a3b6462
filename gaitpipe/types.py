"""Typed data objects passed between the pipeline stages.

Data flows one way: ``VideoSource`` -> :class:`Frame` -> segmenter -> :class:`PersonDetections`
(per frame, tracked) -> :class:`SilhouetteSequence` (per track) -> embeddings -> gallery.
Arrays are numpy; shapes are documented per field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Height and width of a normalised silhouette frame as stored (OpenGait pretreatment).
SIL_SIZE = 64
#: Width of the model input after cutting 10 columns from each side (64 x 44).
MODEL_WIDTH = 44


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source before decoding it."""

    source: str  #: path, directory, camera index or URL as given
    fps: float  #: frames per second (25.0 assumed for image directories unless told)
    frame_count: int | None  #: number of frames when known (None for cameras/streams)
    width: int  #: frame width after rotation (both kinds)
    height: int  #: frame height after rotation (both kinds)
    rotation: int = 0  #: degrees clockwise applied to honour rotation metadata
    #: degrees clockwise applied after ``rotation`` (asked for, or detected: ``gaitpipe.io.orientation``)
    extra_rotation: int = 0


@dataclass
class Frame:
    """One decoded frame."""

    index: int  #: index in the source (before stride), 0-based
    image: np.ndarray  #: H x W x 3 uint8, BGR (OpenCV order)
    timestamp: float  #: seconds from the start


@dataclass
class PersonDetections:
    """The tracked people in one frame (like supervision's ``Detections``, persons only).

    ``masks`` are soft: float32 in [0, 1] at frame resolution; ``masks > 0.5`` is the binary mask.
    """

    frame_index: int
    track_ids: np.ndarray  #: [N] int64; -1 where the tracker has not confirmed a track
    boxes: np.ndarray  #: [N, 4] float32 xyxy in pixels
    scores: np.ndarray  #: [N] float32 detection confidence
    masks: np.ndarray  #: [N, H, W] float32 in [0, 1]

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])

    @classmethod
    def empty(cls, frame_index: int, height: int, width: int) -> PersonDetections:
        return cls(
            frame_index=frame_index,
            track_ids=np.zeros((0,), np.int64),
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            masks=np.zeros((0, height, width), np.float32),
        )


@dataclass
class SilhouetteSequence:
    """One tracked walker's normalised silhouettes (OpenGait layout, 64 x 64 uint8)."""

    track_id: int
    frames: np.ndarray  #: [T, 64, 64] uint8, 0..255
    frame_indices: np.ndarray  #: [T] int64, source frame index of each silhouette
    boxes: np.ndarray  #: [T, 4] float32 xyxy of the person in the source frame
    rgb: np.ndarray | None = None  #: [T, 64, 64, 3] uint8 soft-masked RGB crops, aligned with frames
    dropped: dict[str, int] = field(default_factory=dict)  #: reason -> number of frames dropped
    source: str = ""  #: the video it came from

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def model_input(self) -> np.ndarray:
        """[T, 64, 44] float32 in [0, 1]: the 64x64 frames with 10 columns cut from each side."""
        from gaitpipe.silhouette.normalize import to_model_input

        return to_model_input(self.frames)
