"""Random ids: a session's own, and a conversation's where the CLI takes one up front. Reads os.urandom."""

from __future__ import annotations

import os


def new_uuid() -> str:
    """A random (version 4) UUID, without importing uuid on the start-up path."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
