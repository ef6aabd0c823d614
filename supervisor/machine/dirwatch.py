"""Waking when a folder changes (a CLI's session registry): a session that appears, changes its status
or goes. On Linux the kernel tells (inotify, through libc: no polling, an idle watcher sleeps); the portable
twin — what macOS runs, and the suite's second pass on Linux — compares the folders' modification times every
few seconds. A folder that does not exist yet is watched through its parent until it does.
Side effects: an inotify descriptor, stat() calls."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Sequence
from pathlib import Path

from supervisor.machine.signals import drain
from supervisor.machine.system import fast_paths

POLL_EVERY = 2.0  # the portable twin: how often the folders' times are compared

_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_FROM, _IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
_IN_CREATE, _IN_DELETE, _IN_DELETE_SELF, _IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
_MASK = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE \
    | _IN_DELETE_SELF | _IN_MOVE_SELF
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000


class DirWatch:
    """`fileno()` turns readable when one of `folders` changes (None: poll with `poll_every`); `changed()`
    consumes what happened and says whether anything did."""

    def __init__(self, folders: Sequence[Path], *, kernel: bool | None = None) -> None:
        self.folders = list(folders)
        self._fd: int | None = None
        self._libc: ctypes.CDLL | None = None
        self._times: dict[Path, float | None] = {}
        if fast_paths() if kernel is None else kernel:
            self._fd = self._inotify()
        if self._fd is None:
            self._times = self._read_times()
        else:
            self._add_watches()

    @property
    def poll_every(self) -> float | None:
        return None if self._fd is not None else POLL_EVERY

    def fileno(self) -> int | None:
        return self._fd

    def changed(self) -> bool:
        if self._fd is not None:
            happened = bool(drain(self._fd))
            if happened:
                self._add_watches()  # a registry created since (its CLI's first session), or recreated
            return happened
        times = self._read_times()
        happened, self._times = times != self._times, times
        return happened

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _inotify(self) -> int | None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = int(libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
        except (OSError, AttributeError):
            return None
        if fd < 0:
            return None
        self._libc = libc
        return fd

    def _add_watches(self) -> None:
        """Each folder, or (until it exists) its parent, which tells when it is created."""
        assert self._fd is not None and self._libc is not None
        # Asked again every time: a watch on a folder that was removed and made anew is gone, and the kernel
        # hands back the same watch for a folder it already watches.
        for folder in self.folders:
            for candidate in (folder, folder.parent):
                if self._libc.inotify_add_watch(self._fd, os.fsencode(candidate), _MASK) >= 0:
                    break

    def _read_times(self) -> dict[Path, float | None]:
        times: dict[Path, float | None] = {}
        for folder in self.folders:
            try:
                times[folder] = os.stat(folder).st_mtime_ns
            except OSError:
                times[folder] = None
        return times
