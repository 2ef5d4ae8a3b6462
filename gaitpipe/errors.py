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
    """A gallery's templates come from another encoder (``bound``) than the one in use (``wanted``)."""

    def __init__(self, message: str, bound: str, wanted: str) -> None:
        super().__init__(message)
        self.bound = bound
        self.wanted = wanted


class DeviceError(GaitpipeError):
    """The asked-for compute device does not exist on this machine."""


class ConfigError(GaitpipeError):
    """A setting has an unknown name or a value out of its range."""
