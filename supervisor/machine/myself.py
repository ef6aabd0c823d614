"""How to run this csup again, as a command line: the installed `csup` this process was started as (so `ps` shows
`csup …`), else — for a file that outlives the shell — the `csup` on PATH, else this interpreter with the
package. Side effects: reads the file system (the executable's path, PATH)."""

from __future__ import annotations

import os
import shutil
import sys


def csup_argv(argv0: str, *, search_path: bool = False) -> list[str]:
    """`argv0` when it is an installed csup; with `search_path`, the csup PATH finds (a service unit runs with
    none); else `python -m supervisor` of this very interpreter (never another csup than this one)."""
    me = os.path.realpath(argv0) if argv0 else ""
    if me and os.path.basename(me) == "csup" and os.access(me, os.X_OK):
        return [me]
    found = shutil.which("csup") if search_path else None
    return [os.path.realpath(found)] if found else [sys.executable, "-m", "supervisor"]
