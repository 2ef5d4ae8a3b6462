"""Reading frames from videos, image folders, cameras and streams."""

from gaitpipe.io.video import (
    DEFAULT_FPS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoSource,
    find_videos,
    natural_key,
    open_video,
    rotate_frame,
)

__all__ = [
    "DEFAULT_FPS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoSource",
    "find_videos",
    "natural_key",
    "open_video",
    "rotate_frame",
]
