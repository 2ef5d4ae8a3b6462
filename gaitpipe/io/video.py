"""Frame sources: video files, directories of image frames, cameras and stream URLs.

Frames are decoded one at a time (never the whole video in memory) and come out as
:class:`~gaitpipe.types.Frame` (BGR uint8, OpenCV order).

Decisions worth knowing:

* **Rotation metadata** (phone videos): OpenCV's own auto-rotation is switched off and the
  rotation tag (``CAP_PROP_ORIENTATION_META``: 0/90/180/270, clockwise) is applied here by
  :func:`rotate_frame`, so the result does not depend on the OpenCV build; ``VideoInfo.rotation``
  records it and ``width``/``height`` are those of the rotated frames.
* **Extra rotation** (``rotate=``: 0/90/180/270 clockwise, for videos stored sideways or upside
  down without a tag) is applied after the metadata's, in the same :func:`rotate_frame` call;
  ``VideoInfo.extra_rotation`` records it. Deciding it (``auto``) is
  :mod:`gaitpipe.io.orientation`'s job, not this module's.
* **stride / max_frames**: frame ``i`` is kept when ``i % stride == 0`` (skipped frames are
  grabbed, not decoded); ``max_frames`` caps the number of frames *yielded*. ``Frame.index`` is
  always the index in the source, ``Frame.timestamp`` is ``index / fps``.
* **fps**: the container's value; when unknown (image directories, some streams) 25 fps is
  assumed unless ``fps=`` is given.
* **Image directories** are one "video": every image file directly inside, in natural order
  (``frame2.png`` before ``frame10.png``); other files are ignored; EXIF orientation is honoured
  by ``cv2.imread``. A single image file is a one-frame source.
* **Bad input** (missing path, zero-byte file, garbage bytes, text file, unreadable image) raises
  :class:`~gaitpipe.errors.InputError` with one line naming the file. The first frame is decoded
  when the source is opened, so a corrupt file fails at :func:`open_video`, not mid-pipeline.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from gaitpipe.errors import InputError, SettingError
from gaitpipe.types import Frame, VideoInfo

# FFmpeg prints its own lines for a bad file ("moov atom not found") next to our InputError; OpenCV
# reads this level when it first opens a video, so set it before that (a value set by the user wins).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".avi",
        ".mp4",
        ".m4v",
        ".mkv",
        ".mov",
        ".webm",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".ogv",
        ".asf",
        ".dv",
    }
)
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pbm"}
)
#: Text files FFmpeg legitimately opens as video (stream playlists / session descriptions).
_TEXT_PLAYLISTS = frozenset({".m3u8", ".m3u", ".sdp"})
#: Frame rate assumed when the source does not say (image directories, some streams).
DEFAULT_FPS = 25.0

_ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own logging (probing a bad file or camera logs warnings) for a moment."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:
        yield
        return
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(level)


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: ``f2`` < ``f10``."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def rotate_frame(image: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate ``image`` clockwise by ``degrees`` (a multiple of 90; other values are rejected)."""
    deg = int(degrees) % 360
    if deg == 0:
        return image
    if deg not in _ROTATIONS:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {degrees}")
    return cv2.rotate(image, _ROTATIONS[deg])


def check_rotation(degrees: object) -> int:
    """``degrees`` as 0, 90, 180 or 270 (clockwise); ``SettingError`` (setting ``rotate``) for anything else."""
    value: object = degrees
    if isinstance(value, str) and value.strip().lstrip("+").isdigit():
        value = int(value.strip())
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) in (0, 90, 180, 270):
        return int(value)
    raise SettingError(f"rotation must be 0, 90, 180 or 270 (degrees clockwise), got {degrees!r}", "rotate")


def is_live(source: str | Path | int) -> bool:
    """Whether ``source`` names a camera (an index) or a stream URL rather than a file or folder
    (as :func:`open_video` reads it)."""
    if isinstance(source, (int, np.integer)):
        return True
    return isinstance(source, str) and (source.strip().isdigit() or "://" in source)


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _image_files(directory: Path) -> list[Path]:
    files = [p for p in directory.iterdir() if p.is_file() and _is_image_file(p)]
    return sorted(files, key=lambda p: natural_key(p.name))


class VideoSource:
    """A lazily decoded frame source; iterate it for :class:`Frame`\\ s, use as a context manager.

    Each iteration starts from the first frame (the source is reopened when needed), so a
    segmenter may take two passes over a file (e.g. to learn a background).
    """

    def __init__(self, info: VideoInfo, *, stride: int, max_frames: int | None) -> None:
        self.info = info
        self.stride = stride
        self.max_frames = max_frames

    # Subclasses yield (index, image) for every source frame they decode (index counts all
    # frames), skipping cheaply the ones `keep(index)` rejects.
    def _frames(self) -> Generator[tuple[int, np.ndarray], None, None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _keep(self, index: int) -> bool:
        return index % self.stride == 0

    def __iter__(self) -> Iterator[Frame]:
        produced = 0
        if self.max_frames is not None and self.max_frames <= 0:
            return
        frames = self._frames()
        try:
            for index, image in frames:
                yield Frame(index=index, image=image, timestamp=index / self.info.fps)
                produced += 1
                if self.max_frames is not None and produced >= self.max_frames:
                    break
        finally:
            frames.close()  # release the decoder now, not when the generator is collected

    def close(self) -> None:
        """Release the decoder (idempotent)."""

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.source!r}, stride={self.stride}, max_frames={self.max_frames})"


class _CaptureSource(VideoSource):
    """A video file, camera or stream decoded by ``cv2.VideoCapture``."""

    def __init__(
        self,
        target: str | int,
        label: str,
        *,
        is_live: bool,
        stride: int,
        max_frames: int | None,
        fps: float | None,
        rotate: int = 0,
    ) -> None:
        self._target = target
        self._label = label
        self._is_live = is_live
        self._extra = rotate
        cap, first, rotation = self._open()
        src_fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not is_live else 0
        info = VideoInfo(
            source=str(target),
            fps=float(fps)
            if fps
            else (float(src_fps) if src_fps and np.isfinite(src_fps) and src_fps > 0 else DEFAULT_FPS),
            frame_count=count if count > 0 else None,
            width=int(first.shape[1]),
            height=int(first.shape[0]),
            rotation=rotation,
            extra_rotation=rotate,
        )
        super().__init__(info, stride=stride, max_frames=max_frames)
        self._cap: cv2.VideoCapture | None = cap
        self._first: np.ndarray | None = first

    def _open(self) -> tuple[cv2.VideoCapture, np.ndarray, int]:
        with _quiet_opencv():  # failures become one InputError line, not OpenCV's log lines
            return self._open_capture()

    def _open_capture(self) -> tuple[cv2.VideoCapture, np.ndarray, int]:
        cap = cv2.VideoCapture(self._target)
        if not cap.isOpened():
            cap.release()
            # a camera's label already says "camera N"
            what = "" if isinstance(self._target, int) else ("stream " if self._is_live else "video ")
            raise InputError(
                f"cannot open {what}{self._label}: not a readable video (corrupt, unsupported format or unavailable)"
            )
        # Apply the rotation tag ourselves so the result does not depend on the OpenCV build.
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        if rotation not in (0, 90, 180, 270):
            rotation = 0
        if rotation and not cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0):
            rotation = 0  # this backend cannot hand us unrotated frames: it rotates them itself
        ok, first = cap.read()
        if not ok or first is None or first.size == 0:
            cap.release()
            raise InputError(f"cannot decode any frame from {self._label}: corrupt or not a video")
        return cap, _to_bgr(rotate_frame(first, rotation + self._extra)), rotation

    def _frames(self) -> Generator[tuple[int, np.ndarray], None, None]:
        if self._cap is None or self._first is None:  # second pass (or after close): reopen
            self._cap, self._first, _ = self._open()
        cap, first = self._cap, self._first
        self._first = None
        index = 0
        try:
            if self._keep(0):
                yield 0, _to_bgr(first)
            while True:
                index += 1
                if self._keep(index):
                    ok, image = cap.read()
                    if not ok or image is None:
                        break
                    yield index, _to_bgr(rotate_frame(image, self.info.rotation + self.info.extra_rotation))
                elif not cap.grab():
                    break
        finally:
            # A finished (or abandoned) pass releases the decoder; the next pass reopens.
            if self._cap is cap:
                cap.release()
                self._cap = None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._first = None


class _ImageDirSource(VideoSource):
    """A directory of image frames (or a single image), read one file at a time."""

    def __init__(
        self,
        files: list[Path],
        label: str,
        *,
        stride: int,
        max_frames: int | None,
        fps: float | None,
        rotate: int = 0,
    ) -> None:
        self._files = files
        self._label = label
        first = self._read(files[0])
        self._size = first.shape[:2]  # as stored, before the extra rotation
        shown = rotate_frame(first, rotate)
        info = VideoInfo(
            source=label,
            fps=float(fps) if fps else DEFAULT_FPS,
            frame_count=len(files),
            width=int(shown.shape[1]),
            height=int(shown.shape[0]),
            rotation=0,
            extra_rotation=rotate,
        )
        super().__init__(info, stride=stride, max_frames=max_frames)

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        if path.stat().st_size == 0:
            raise InputError(f"image frame {path} is empty (0 bytes)")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"cannot read image frame {path}: corrupt or unsupported format")
        return image

    def _frames(self) -> Generator[tuple[int, np.ndarray], None, None]:
        size = self._size
        for index, path in enumerate(self._files):
            if not self._keep(index):
                continue
            image = self._read(path)
            if image.shape[:2] != size:
                raise InputError(
                    f"image frame {path} is {image.shape[1]}x{image.shape[0]}, "
                    f"the first frame of {self._label} is {size[1]}x{size[0]}"
                )
            yield index, rotate_frame(image, self.info.extra_rotation)


def open_video(
    source: str | Path | int,
    *,
    stride: int = 1,
    max_frames: int | None = None,
    fps: float | None = None,
    rotate: int = 0,
) -> VideoSource:
    """Open a frame source.

    ``source``: a video file, a directory of image frames, a single image, a camera index
    (``0`` or ``"0"``) or a stream URL (``rtsp://...``, ``http://...``) where OpenCV's build
    supports it. ``stride``: keep every ``stride``-th frame. ``max_frames``: stop after this
    many frames. ``fps``: override the frame rate (for image directories). ``rotate``: turn
    every frame this many degrees clockwise (0, 90, 180, 270) after any rotation metadata.
    Raises :class:`InputError` for a missing, empty, corrupt or non-video source, and its
    subclass :class:`SettingError` for a ``rotate`` that is not a quarter turn.
    """
    rotate = check_rotation(rotate)
    if int(stride) < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    if max_frames is not None and int(max_frames) < 0:
        raise InputError(f"max_frames must be >= 0, got {max_frames}")
    stride = int(stride)
    max_frames = None if max_frames is None else int(max_frames)

    if isinstance(source, (int, np.integer)) or (isinstance(source, str) and source.strip().isdigit()):
        index = int(source)
        return _CaptureSource(
            index, f"camera {index}", is_live=True, stride=stride, max_frames=max_frames, fps=fps, rotate=rotate
        )
    if isinstance(source, str) and "://" in source:
        return _CaptureSource(
            source, source, is_live=True, stride=stride, max_frames=max_frames, fps=fps, rotate=rotate
        )

    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"no such file or directory: {path}")
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise InputError(f"{path} is a directory without image frames (give a video file or a folder of images)")
        return _ImageDirSource(files, str(path), stride=stride, max_frames=max_frames, fps=fps, rotate=rotate)
    if not path.is_file():
        raise InputError(f"{path} is not a regular file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path} is not readable (permission denied)")
    if path.suffix.lower() not in _TEXT_PLAYLISTS and _looks_like_text(path):
        # FFmpeg would happily "decode" a text file as ANSI art; no video container is plain text.
        raise InputError(f"{path} is a text file, not a video")
    if _is_image_file(path):
        return _ImageDirSource([path], str(path), stride=stride, max_frames=max_frames, fps=fps, rotate=rotate)
    return _CaptureSource(
        str(path), str(path), is_live=False, stride=stride, max_frames=max_frames, fps=fps, rotate=rotate
    )


def _looks_like_text(path: Path, probe: int = 8192) -> bool:
    """True when the file's first bytes are NUL-free UTF-8 (every video/image container has binary headers)."""
    with open(path, "rb") as f:
        head = f.read(probe)
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a multi-byte character cut at the probe's end
    return True


def _is_frame_dir(directory: Path) -> bool:
    """A directory that directly holds image files and no video files is one frame sequence."""
    has_image = False
    for p in directory.iterdir():
        if not p.is_file() or p.name.startswith("."):
            continue
        ext = p.suffix.lower()
        if ext in VIDEO_EXTENSIONS:
            return False
        has_image = has_image or ext in IMAGE_EXTENSIONS
    return has_image


def find_videos(paths: Iterable[str | Path] | str | Path, recursive: bool = True) -> list[Path]:
    """Expand files and directories into the videos to process.

    A file given explicitly is kept whatever its extension (opening it reports a bad one).
    A directory contributes its video files (``VIDEO_EXTENSIONS``) and, as one "video" each,
    the directories that hold image frames and no video files (including itself); with
    ``recursive`` its subdirectories are searched too. Hidden files and folders are skipped.
    Order: as given, each directory's findings in natural order; duplicates removed.
    Raises :class:`InputError` for a missing path, or when nothing usable is found.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)

    given = [Path(p).expanduser() for p in paths]
    for path in given:
        if not path.exists():
            raise InputError(f"no such file or directory: {path}")
        if not path.is_dir():
            add(path)
            continue
        found: list[Path] = []
        if recursive:
            for root, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                root_p = Path(root)
                if _is_frame_dir(root_p):
                    found.append(root_p)
                found.extend(
                    root_p / f for f in files if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS
                )
        else:
            if _is_frame_dir(path):
                found.append(path)
            found.extend(
                p
                for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in VIDEO_EXTENSIONS
            )
        for p in sorted(found, key=lambda q: natural_key(str(q.relative_to(path)))):
            add(p)
    if not out:
        where = ", ".join(str(p) for p in given) or "(nothing given)"
        raise InputError(f"no video files or image-frame folders found in {where}")
    return out
