"""Sizes of memory as people type and read them ("4GiB", "512MiB", "4G"); pure, no side effects. K, M, G and T
(with or without "iB") are binary, as `top` and `free` count; "kB", "MB", "GB" are decimal, as disks are sold."""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30,
          "t": 1 << 40, "tib": 1 << 40, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,3})?)\s*([a-z]*)")  # ASCII digits only
MAX_BYTES = 1 << 50  # a petabyte of RAM is a typo
EXAMPLE = "4GiB, 512MiB or off"


class SizeError(ValueError):
    """A size that cannot be read; the message says what is expected."""


def parse_size(text: str, *, allow_off: bool = True) -> int | None:
    """Bytes for `text`, or None when it means "off". A bare number is bytes."""
    value = text.strip().lower()
    if allow_off and value in ("off", "none", "0"):
        return None
    match = _SIZE.fullmatch(value)
    if match is None or match.group(2) not in _UNITS:
        raise SizeError(f"a size like {EXAMPLE}")
    size = int(float(match.group(1)) * _UNITS[match.group(2)])
    if not 0 < size <= MAX_BYTES:
        raise SizeError("a size above zero and at most 1PiB")
    return size


def format_size(size: float) -> str:
    """2.5 GiB, 640 MiB, 12 KiB: the largest binary unit that keeps a number of at least 1."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(size) >= scale:
            number = size / scale
            return f"{number:.1f} {unit}" if number < 10 and unit in ("GiB", "TiB") else f"{number:.0f} {unit}"
    return f"{size:.0f} B"
