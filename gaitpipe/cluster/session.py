"""Which engine runs a batch, and joining (or starting) the Ray cluster that runs it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from gaitpipe.errors import SettingError

#: ``local``: this machine's processes (the default); ``ray``: tasks on a Ray cluster.
ENGINES = ("local", "ray")
#: How a user gets Ray; named by every "Ray is missing" message.
RAY_INSTALL = "pip install gaitpipe[ray]"

log = logging.getLogger(__name__)


def import_ray() -> ModuleType:
    """The ``ray`` module, or one :class:`SettingError` line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SettingError(f"the ray engine needs Ray, which is not installed here: {RAY_INSTALL}", "engine") from None
    return ray


def check_engine(engine: str, address: str | None = None) -> str:
    """Validate an engine choice before any work starts (Ray importable when it is asked for)."""
    if engine not in ENGINES:
        raise SettingError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}", "engine")
    if address is not None and engine != "ray":
        raise SettingError("an address names a Ray cluster; it needs the ray engine", "address")
    if engine == "ray":
        import_ray()
    return engine


def _check_reachable(address: str) -> None:
    """Fail in seconds on a cluster that is not there: Ray itself retries an unreachable one for minutes."""
    import socket

    if address == "auto" or address.startswith("local"):
        return  # ray finds the cluster on this machine itself, and says at once when there is none
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise SettingError(f"a Ray cluster address is host:port, ray://host:port or auto, got {address!r}", "address")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise SettingError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}", "address") from None


def first_line(exc: BaseException) -> str:
    """An exception as one line: Ray's errors carry remote tracebacks below their first line."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Yield ``ray``, connected to a cluster for the duration of the block.

    A process that has already called ``ray.init`` keeps its cluster (and it is not shut down
    here). Otherwise ``address`` (``host:port``, ``ray://host:10001`` or ``auto``) joins an existing
    cluster, and no address starts a local one on this machine (``num_cpus`` CPUs, None: all),
    which is stopped when the block ends.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    # No dashboard (a web server nobody asked for) and worker output kept out of the user's
    # terminal: failures come back to the caller as results, with their message.
    common = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=num_cpus, **common)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        hint = " (a cluster with token authentication also needs its token: RAY_AUTH_TOKEN)" if address else ""
        raise SettingError(f"cannot start or join {where}: {first_line(exc)}{hint}", "address") from None
    log.info("ray: %s", "joined " + address if address else "started a local cluster")
    try:
        yield ray
    finally:
        ray.shutdown()


__all__ = ["ENGINES", "RAY_INSTALL", "check_engine", "first_line", "import_ray", "ray_session"]
