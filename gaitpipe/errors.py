"""User-facing errors.

Everything a user can cause (bad path, corrupt video, missing weights, wrong gallery) is raised
as a :class:`GaitpipeError` subclass with a one-line message; the CLI prints that line and exits
non-zero instead of showing a traceback.
"""


class GaitpipeError(Exception):
    """An error whose message is meant for the user, as one line."""

    exit_code = 1


class InputError(GaitpipeError):
    """A path, video, image or file the user gave cannot be used."""


class NoPersonError(InputError):
    """The input holds no usable walker."""


class WeightsError(GaitpipeError):
    """Model weights are missing, corrupt, or of the wrong architecture/shape."""


class GalleryError(GaitpipeError):
    """The gallery is missing, locked, corrupt, or built with another encoder."""


class EncoderMismatchError(GalleryError):
    """A gallery's templates come from another encoder (``bound``) than the one in use (``wanted``).

    ``installed_weights``: the name of installed weights that match the gallery, when known.
    """

    def __init__(self, message: str, bound: str, wanted: str, *, installed_weights: str | None = None) -> None:
        super().__init__(message)
        self.bound = bound
        self.wanted = wanted
        self.installed_weights = installed_weights


class DeviceError(GaitpipeError):
    """The asked-for compute device does not exist on this machine."""


class ConfigError(GaitpipeError):
    """A setting has an unknown name or a value out of its range."""


class SettingError(ConfigError, InputError):
    """One named setting has a value that cannot be used.

    ``setting`` is the library's name for it (``"stride"``, ``"keep_gallery"``); the message says
    what is wrong in the library's terms and the CLI prefixes the matching flag.
    """

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class SegmenterWeightsError(WeightsError):
    """The YOLO segmenter's weights are missing or unusable; the ``bgsub`` segmenter needs none."""


def shorten(text: object, limit: int = 80) -> str:
    """``text`` as one line of at most ``limit`` characters, for echoing user input in messages.

    Longer text keeps its start and says how much was cut, so a 100 KB ``--id`` cannot flood
    the terminal.
    """
    s = str(text).replace("\n", "\\n").replace("\r", "\\r")
    if len(s) <= limit:
        return s
    keep = max(1, limit - 20)
    return f"{s[:keep]}... ({len(s)} characters)"
