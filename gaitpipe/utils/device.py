"""Choosing the torch device: one rule for every command.

``None`` or ``"auto"`` means CUDA when a GPU is usable, else the CPU. Anything else is checked
up front, so a machine without the asked-for device gets one clear :class:`DeviceError` instead
of a RuntimeError deep inside a forward pass.
"""

from __future__ import annotations

import re

from gaitpipe.errors import DeviceError

_DEVICE_RE = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")


def resolve_device(name: str | None = None):
    """Return a validated :class:`torch.device` for ``name`` (``None``/``"auto"``: best available)."""
    import torch

    if name is None or str(name).strip().lower() in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    text = str(name).strip().lower()
    m = _DEVICE_RE.match(text)
    if m is None:
        raise DeviceError(f"unknown device {str(name)[:40]!r}: use auto, cpu, cuda or cuda:N")
    kind, index = m.group(1), m.group(2)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {text!r} asked for, but this machine has no usable CUDA GPU (use cpu or auto)")
        count = torch.cuda.device_count()
        if index is not None and int(index) >= count:
            raise DeviceError(f"device {text!r} asked for, but this machine has {count} CUDA GPU(s)")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError(f"device {text!r} asked for, but Apple MPS is not available here (use cpu or auto)")
    return torch.device(text)


__all__ = ["resolve_device"]
