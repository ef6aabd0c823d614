"""The real Codex CLI (pinned; `.ci/run` installs it from npm and sets CODEX_CLI_FOR_TESTS), offline, in a
throwaway HOME: it reaches its sign-in screen (CODEX_CLI.md, measured on 0.171.0). It asks the terminal questions
at start and waits for the answers, so it runs in tmux, which answers them as a terminal does. Through csup its
screen is byte-identical to a direct run's; csup counts it (by the Node launcher, its native child nested in
it) and ends it with `csup stop`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import CSUP, DEADLINE, Env, kill_every_process_of, require, wait_for

REAL = os.environ.get("CODEX_CLI_FOR_TESTS", "")
SIGN_IN = "Press enter to continue"  # the last line of its offline first screen


@pytest.fixture
def real(env: Env) -> Iterator[Env]:
    require(bool(REAL) and Path(REAL).exists(), "the real Codex CLI (.ci/run installs it; CODEX_CLI_FOR_TESTS)")
    require(shutil.which("tmux") is not None, "tmux (.ci/run installs it)")
    # The real CLI under this test's own codex name: the census knows it by that, and no other codex on the
    # machine is any part of this test.
    program = env.root / "bin" / env.codex_name
    program.parent.mkdir(parents=True, exist_ok=True)
    program.symlink_to(os.path.realpath(REAL))
    env.vars.update({"CSUP_CODEX": str(program), "CSUP_NOTIFY": "off"})
    try:
        yield env
    finally:
        subprocess.run(["tmux", "-L", _socket(env), "kill-server"], capture_output=True, check=False)
        kill_every_process_of(env.home)


def _socket(env: Env) -> str:
    return f"csup-{env.codex_name}"


def _in_tmux(env: Env, window: str, command: list[str], home: Path | None = None) -> None:
    """`command` in a tmux window of its own, 100x30, with this test's environment (and `home` for HOME); its
    status said after."""
    script = env.root / f"{window}.sh"
    variables = env.vars | ({"HOME": str(home)} if home is not None else {})
    exports = "".join(f"export {key}={_quote(value)}\n" for key, value in variables.items() if key.isidentifier())
    script.write_text(f"#!/bin/sh\n{exports}cd {_quote(str(env.root))}\n"
                      f"{' '.join(_quote(part) for part in command)}\necho EXIT=$?\nsleep 600\n")
    script.chmod(0o755)
    subprocess.run(["tmux", "-L", _socket(env), "-f", "/dev/null", "new-session", "-d", "-s", window, "-x", "100",
                    "-y", "30", str(script)], check=True, env={"PATH": os.environ["PATH"], "TERM": "xterm-256color"})


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _screen(env: Env, window: str, escapes: bool = False) -> str:
    """What the window shows: its text, or with `escapes` its colours and attributes too."""
    return subprocess.run(["tmux", "-L", _socket(env), "capture-pane", *(["-e"] if escapes else []), "-p", "-t",
                           window], capture_output=True, text=True, check=True).stdout


def _keys(env: Env, window: str, *keys: str) -> None:
    subprocess.run(["tmux", "-L", _socket(env), "send-keys", "-t", window, *keys], check=True)


def _settled(env: Env, window: str) -> str:
    """Its screen, colours and all, once the sign-in screen is drawn and has stopped changing."""
    wait_for(lambda: SIGN_IN in _screen(env, window), timeout=30, what="Codex's sign-in screen")
    previous = ""
    for _ in range(20):
        time.sleep(0.5)
        now = _screen(env, window, escapes=True)
        if now == previous:
            return now
        previous = now
    return previous


def _status(env: Env) -> dict[str, object]:
    result = subprocess.run([*CSUP, "status", "--json"], env=env.vars, capture_output=True, text=True,
                            timeout=DEADLINE * 2, cwd=str(env.root))
    return dict(json.loads(result.stdout))


def test_the_real_codex_through_csup_shows_the_same_screen_is_counted_and_ended(real: Env) -> None:
    program = real.vars["CSUP_CODEX"]
    # A HOME of its own, as new as the supervised run's: Codex's first run in a HOME draws otherwise than a later
    # one.
    direct_home = real.root / "direct-home"
    direct_home.mkdir()
    _in_tmux(real, "direct", [program], home=direct_home)
    direct = _settled(real, "direct")
    _keys(real, "direct", "C-c")  # one Ctrl-C leaves its sign-in screen
    wait_for(lambda: "EXIT=0" in _screen(real, "direct"), what="the direct run to end")
    kill_every_process_of(direct_home)  # its daemon: nothing of the direct run is counted in what follows

    _in_tmux(real, "csup", [*CSUP, "run", "--cli", "codex"])
    through = _settled(real, "csup")
    assert through == direct  # byte for byte, colours and all

    status = _status(real)
    [session] = status["sessions"]  # type: ignore[misc]
    assert session["kind"] == "supervised" and session["cli"] == "codex"  # once: its native child is nested
    assert session["memory_bytes"] and session["memory_bytes"] > 0  # type: ignore[operator]

    stopped = subprocess.run([*CSUP, "stop"], env=real.vars, capture_output=True, text=True, timeout=60,
                             cwd=str(real.root))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "ended the session" in stopped.stdout and "(codex pid" in stopped.stdout
    wait_for(lambda: "EXIT=143" in _screen(real, "csup"), timeout=20, what="csup to leave with 143")
    assert _status(real)["sessions"] == []
