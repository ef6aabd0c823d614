"""Things the user should hear about on the desktop, as values (the face words them). Pure."""

from __future__ import annotations

from typing import Literal, NamedTuple


class Notice(NamedTuple):
    """Something the user should hear about on the desktop; the face words it."""

    kind: Literal["stray", "waiting", "idle", "unmanaged-idle", "unmanaged-ending", "memory-ending"]
    seconds: float = 0.0  # waiting: how long the prompt has waited; idle: time left; unmanaged-*: idle time
    pid: int | None = None  # stray, unmanaged-*: the other session's pid
    left: float = 0.0  # unmanaged-ending: time before it is ended
    cwd: str = ""  # idle, waiting: which session (its directory and terminal), so the right terminal is found
    tty: str = ""
    sleeps: bool = False  # idle: the limit puts it to sleep (idle_action sleep) rather than ending it
