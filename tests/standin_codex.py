#!/usr/bin/env python3
"""A stand-in for OpenAI's Codex CLI (CODEX_CLI.md, measured on 0.171.0) that the tests drive through csup.

As the real one, it is a launcher that starts the session as its child (the real launcher is Node, its child the
native binary) and passes on its exit status; the child keeps the session's rollout file open under
$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl. It announces `codex ready pid=… conversation=…`
and obeys lines typed in raw mode (ended by Enter):

  echo TEXT        prints `echo: TEXT`
  exit N           exits with status N
  cpu S            burns CPU silently for S seconds, then prints `cpu done`
  new              as its /new: a new conversation (a new rollout file) in the same session
  Ctrl-C (0x03)    clears what was typed; on an empty line the first arms the quit, the second quits, printing
                   "To continue this session, run codex resume <id>" (as the real one does on its way out)

`codex resume ID` reopens a rollout (one that does not exist: "No saved session found with ID …", exit 1);
`--version`, `exec …`, `login …` and the other subcommands answer at once without a session; `app-server`
(what an editor's extension runs) waits until it is ended. SIGTERM ends it at
once, the terminal left as it was (as the real one leaves it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import termios
import time
import tty

OUT = 1
SUBCOMMANDS = {"exec", "e", "review", "login", "logout", "mcp", "app-server", "completion", "apply", "help"}


def say(text: str) -> None:
    data = (text + "\r\n").encode()
    while data:
        data = data[os.write(OUT, data):]


def home() -> str:
    return os.environ.get("CODEX_HOME") or os.path.join(os.environ["HOME"], ".codex")


def rollout_of(conversation: str) -> str | None:
    root = os.path.join(home(), "sessions")
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(f"-{conversation}.jsonl"):
                return os.path.join(folder, name)
    return None


def new_rollout(conversation: str) -> str:
    now = time.gmtime()
    folder = os.path.join(home(), "sessions", time.strftime("%Y/%m/%d", now))
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"rollout-{time.strftime('%Y-%m-%dT%H-%M-%S', now)}-{conversation}.jsonl")


def new_id() -> str:
    raw = os.urandom(16).hex()
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:32]}"


def launcher(args: list[str]) -> int:
    """The Node launcher's part: the session runs in a child; signals are passed on; its status is ours."""
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--native", *args])
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, lambda number, frame: child.send_signal(number))
    code = child.wait()
    return 128 - code if code < 0 else code


def session(args: list[str]) -> int:
    words = [arg for arg in args if not arg.startswith("-")]
    if words[:1] == ["resume"]:
        if len(words) < 2 or rollout_of(words[1]) is None:
            say(f"No saved session found with ID {words[1] if len(words) > 1 else ''}")
            return 1
        conversation = words[1]
        path = rollout_of(conversation)
        assert path is not None
    else:
        conversation = new_id()
        path = new_rollout(conversation)
    rollout = open(path, "a")  # noqa: SIM115  # held open while the session runs, as the real one does
    rollout.write(json.dumps({"type": "session_meta", "payload": {"id": conversation, "cwd": os.getcwd()}}) + "\n")
    rollout.flush()
    signal.signal(signal.SIGTERM, lambda number, frame: os._exit(143))
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    say(f"codex ready pid={os.getpid()} conversation={conversation}")
    line = b""
    armed = False
    try:
        while True:
            data = os.read(0, 1024)
            if not data:
                return 0
            for byte in data:
                char = bytes([byte])
                if char == b"\x03":
                    if line:
                        line, armed = b"", False
                        say("(cleared)")
                    elif armed:
                        say(f"To continue this session, run codex resume {conversation}")
                        return 0
                    else:
                        armed = True
                        say("Press Ctrl-C again to quit")
                    continue
                armed = False
                if char != b"\r":
                    line += char
                    continue
                command, _, rest = line.decode(errors="replace").partition(" ")
                line = b""
                rollout.write(json.dumps({"type": "user", "text": command + " " + rest}) + "\n")
                rollout.flush()
                if command == "echo":
                    say(f"echo: {rest}")
                elif command == "exit":
                    return int(rest or 0)
                elif command == "new":
                    rollout.close()
                    conversation = new_id()
                    rollout = open(new_rollout(conversation), "a")  # noqa: SIM115
                    say(f"codex new conversation={conversation}")
                elif command == "cpu":
                    end = time.monotonic() + float(rest)
                    while time.monotonic() < end:
                        pass
                    say("cpu done")
    finally:
        termios.tcsetattr(0, termios.TCSANOW, saved)


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--native"]:
        return session(args[1:])
    if "--version" in args or "-V" in args:
        print("codex-cli 0.171.0 (stand-in)")
        return 0
    words = [arg for arg in args if not arg.startswith("-")]
    if words[:1] == ["app-server"]:  # an editor's server: it waits on its editor until it is ended
        print("codex app-server: listening on stdio", flush=True)
        signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
        while True:
            signal.pause()
    if words[:1] and words[0] in SUBCOMMANDS:
        print(f"codex {words[0]}: done")
        return 0
    return launcher(args)


if __name__ == "__main__":
    sys.exit(main())
