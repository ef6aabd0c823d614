"""Which of the operating system's facilities csup uses: Linux's fast paths (/proc read directly, the
parent-death signal, the XDG directories without importing platformdirs), or the portable ones every target has
(psutil, the guardian, platformdirs) — what macOS runs. CSUP_PORTABLE=1 takes the portable paths on Linux too,
so the suite proves them here. Reads the environment once."""

from __future__ import annotations

import os
import sys

from supervisor.core.settings import PORTABLE_ENV

LINUX = sys.platform.startswith("linux")


def fast_paths() -> bool:
    """Whether csup takes its Linux-only fast paths (the platform is Linux and CSUP_PORTABLE is not set)."""
    return LINUX and os.environ.get(PORTABLE_ENV, "") in ("", "0")
