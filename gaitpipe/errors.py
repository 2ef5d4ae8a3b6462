"""User-facing errors.

Everything a user can cause (bad path, corrupt video, missing weights, wrong gallery) is raised
as a :class:`GaitpipeError` subclass with a one-line message; the CLI prints that line and exits
non-zero instead of showing a traceback.
"""


class GaitpipeError(Exception):
    """An error whose message is meant for the user, as one line.

    ``remedy``: the library setting that would let the refused action through (``force``,
    ``trust``), when there is one; a front end names it in its own terms (the CLI's flag).
    """

    exit_code = 1

    def __init__(self, message: str = "", *, remedy: str | None = None) -> None:
        super().__init__(message)
        self.remedy = remedy


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
    """Named settings have values that cannot be used.

    ``settings`` are the library's names for them (``"stride"``, ``"keep_gallery"``); the message
    says what is wrong in the library's terms, and a front end that spells settings differently
    (the CLI's ``--flags``) names them its way.
    """

    def __init__(self, message: str, *settings: str) -> None:
        super().__init__(message)
        self.settings = settings

    @property
    def setting(self) -> str:
        """The first (usually the only) setting the message is about; '' if none."""
        return self.settings[0] if self.settings else ""


class NotFetchedError(WeightsError):
    """A model-zoo name whose weights have not been fetched yet (``gaitpipe.hub.fetch_weights(name)``).

    ``name``: the zoo name; a front end names its own way of fetching (the CLI's ``weights fetch``).
    """

    def __init__(self, name: str) -> None:
        super().__init__(
            f"weights {name!r} are in the model zoo but not fetched yet: gaitpipe.hub.fetch_weights({name!r})"
        )
        self.name = name


class SegmenterWeightsError(WeightsError):
    """The YOLO segmenter's weights are missing or unusable; the ``bgsub`` segmenter needs none.

    ``reason``: why, in a few words (``download failed: ...``), for messages that add their own context.
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def shorten(text: object, limit: int = 80) -> str:
    """``text`` as one line of at most ``limit`` characters, for echoing user input in messages.

    Longer text keeps its start and says how much was cut, so a 100 KB ``--id`` cannot flood
    the terminal.
    """
    # control characters written the way repr writes them (\n, \t, \x00); letters of any script are kept
    s = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    if len(s) <= limit:
        return s
    keep = max(1, limit - 20)
    return f"{s[:keep]}... ({len(s)} characters)"
