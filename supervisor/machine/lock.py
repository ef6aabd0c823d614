"""The per-user session lock and the gate in front of it: OS flocks (through filelock) that the kernel releases
when their holder dies, even by SIGKILL, so no lock is ever stale. Side effects: lock files in the runtime dir."""

from __future__ import annotations

import errno
from pathlib import Path
from types import TracebackType
from typing import Any

from supervisor.core.errors import UnsafePath
from supervisor.machine.paths import PRIVATE_FILE_MODE


class FileFlock:
    """One flock on one path. Not thread-local (csup releases from wherever it acquired), never singleton.
    Re-entry is counted: a second acquire by the holder is one more hold, and a release gives back one hold —
    the lock is let go only by the release that matches the first acquire, and a release with no hold is
    nothing. So no code path can drop a lock that an outer one took (the gate held from claim to decision)."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock  # lazily: a pass-through (a CLI's non-interactive run) never needs it

        self.path = path
        self._lock: Any = FileLock(str(path), mode=PRIVATE_FILE_MODE, thread_local=False, is_singleton=False,
                                   preserve_lock_file=True)
        self.holds = 0

    def try_acquire(self, timeout: float = 0) -> bool:
        """One attempt when timeout is 0; True when this process now holds the lock."""
        from filelock import Timeout

        if self.holds:
            self.holds += 1
            return True
        try:
            self._lock.acquire(timeout=timeout, poll_interval=0.05)
        except Timeout:
            return False
        except OSError as err:  # filelock opens with O_NOFOLLOW: a symlink planted there is refused, not followed
            reason = "is a symlink" if err.errno == errno.ELOOP else f"cannot be locked: {err.strerror}"
            raise UnsafePath(f"{self.path} {reason}; csup does not use it", hint=f"remove it: rm {self.path}",
                             path=str(self.path)) from None
        self.holds = 1
        return True

    def release(self) -> None:
        """Give back one hold; the last one unlocks the file."""
        if not self.holds:
            return
        self.holds -= 1
        if not self.holds and self._lock.is_locked:
            self._lock.release(force=True)

    @property
    def held(self) -> bool:
        return self.holds > 0

    def __enter__(self) -> FileFlock:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
