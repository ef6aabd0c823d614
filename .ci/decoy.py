"""A decoy: an interactive `claude` of the same user, on a pty of its own, alive for the whole suite — as on a
machine where the user runs Claude Code while running the tests. It is the suite's stand-in under the name
`claude` (so the census recognises it by its command line, and it writes its registry file in the real HOME).
No test may see it: each takes its views of processes and registries as collaborators, or runs in a world of its
own. Usage: python3 .ci/decoy.py PIDFILE — runs until killed; the pid file names the decoy itself."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "..", "tests", "standin.py")

folder = tempfile.mkdtemp(prefix="csup-decoy-")
claude = os.path.join(folder, "claude")
os.symlink(os.path.realpath(STANDIN), claude)
pid, master = pty.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, claude])
with open(sys.argv[1], "w") as handle:
    handle.write(str(pid))


def leave(signum: int, frame: object) -> None:
    raise SystemExit(0)


signal.signal(signal.SIGTERM, leave)
try:
    while True:  # drain its screen, so it never blocks on a full pty
        try:
            if not os.read(master, 65536):
                break
        except OSError:
            break
finally:  # nothing of the suite's is left behind
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    shutil.rmtree(folder, ignore_errors=True)
