#!/usr/bin/env python3
"""A stand-in for the Claude Code CLI that the tests drive through csup.

It announces `ready pid=… size=RxC`, reports every window size and signal it gets, and obeys commands typed as
lines (ended by Enter, i.e. `\\r` in raw mode):

  echo TEXT        prints `echo: TEXT`
  exit N           exits with status N
  die SIG          kills itself with signal number SIG
  hex N            reads exactly N raw bytes next and prints them as `rx HEX`
  emit N           prints EMIT-BEGIN, N bytes of every value, EMIT-END
  big N            prints N bytes then `TAIL-<N>` and exits at once (the tail must not be lost)
  modes-die        turns terminal modes on and SIGKILLs itself
  grandchild       starts a grandchild in its own session that ignores SIGTERM; prints its pid
  cpu S            burns CPU silently for S seconds, then prints `cpu done`
  status STATE     writes STATE (busy, idle, waiting) into its registry file
  transcript       creates its transcript file, as Claude Code does at the first prompt
  spin S           prints a dot every 0.2 s for S seconds (a tool repainting)
  connect PORT N   opens N TCP connections to 127.0.0.1:PORT and keeps them
  size             prints its window size
  out HEX          prints `OUT <length>` and then exactly those bytes, raw
  background       like `/background`: starts a background session (standin_bg.py) and exits 0
  Ctrl-Z (0x1a)    like Claude Code: cooked mode, SIGTCSTP to its own group, waits for SIGCONT; under
                   `attach` it detaches instead (exit 0)

`--bg`, `stop SHORT` and the daemon's processes are modelled in standin_bg.py.

Flags: --ignore-term (SIGTERM is reported, not obeyed), --ignore-hup, --survive-hangup, --exit-on-term N,
--allocate MB (holds that much memory of its own, every page touched, as a session's heap would),
and Claude Code's `--session-id ID` / `--resume ID`, which it records and uses for its registry and transcript files
(`--resume` of an ID with no transcript says "No conversation found…" and exits 1, as Claude Code does).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import termios
import time
import tty

OUT = 1
args = sys.argv[1:]
ignore_term = "--ignore-term" in args
ignore_hup = "--ignore-hup" in args


def say(text: str) -> None:
    data = (text + "\r\n").encode()
    try:
        while data:
            data = data[os.write(OUT, data):]
    except OSError:  # the terminal hung up; a survivor keeps going without it
        pass


def size() -> str:
    try:
        cols, rows = os.get_terminal_size(0)
    except OSError:
        return "none"
    return f"{rows}x{cols}"


def option(name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


# As Claude Code, a session always has an id: its own, when csup gave none.
SESSION_ID = option("--session-id") or option("--resume") \
    or f"{os.urandom(4).hex()}-0000-4000-8000-{os.urandom(6).hex()}"
CONFIG_DIR = os.environ.get("CLAUDE_CONFIG_DIR") or os.path.join(os.environ.get("HOME", "/tmp"), ".claude")
REGISTRY = os.path.join(CONFIG_DIR, "sessions", f"{os.getpid()}.json")


def write_registry(status: str) -> None:
    os.makedirs(os.path.dirname(REGISTRY), exist_ok=True)
    data = {"pid": os.getpid(), "sessionId": SESSION_ID, "cwd": os.getcwd(), "startedAt": int(time.time() * 1000),
            "kind": "interactive", "status": status, "updatedAt": int(time.time() * 1000)}
    with open(REGISTRY + ".tmp", "w") as handle:
        json.dump(data, handle)
    os.replace(REGISTRY + ".tmp", REGISTRY)


def transcript_path() -> str:
    return os.path.join(CONFIG_DIR, "projects", re.sub(r"[^A-Za-z0-9]", "-", os.getcwd()), f"{SESSION_ID}.jsonl")


def transcript() -> str:
    path = transcript_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps({"type": "user", "pid": os.getpid()}) + "\n")
    return path


def on_signal(signum: int, frame: object) -> None:
    name = signal.Signals(signum).name
    if signum == signal.SIGWINCH:
        say(f"winch {size()}")
        return
    say(f"signal {name}")
    if signum == signal.SIGTERM and not ignore_term:
        cleanup()
        os._exit(int(option("--exit-on-term") or 143))
    if signum == signal.SIGHUP and not ignore_hup:
        cleanup()
        os._exit(129)


def cleanup() -> None:
    if os.path.exists(REGISTRY):
        os.unlink(REGISTRY)


suspended = False
connections: list[socket.socket] = []  # kept open, as a session keeps its API connections


def on_cont(signum: int, frame: object) -> None:
    global suspended
    suspended = False
connections: list[socket.socket] = []  # kept open, as a session keeps its API connections


def main() -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import standin_bg

    if standin_bg.handles(args):
        return standin_bg.main(args)
    if not os.isatty(1):
        print(f"not-a-tty pid={os.getpid()} args={json.dumps(args)} csup_session={os.environ.get('CSUP_SESSION')}")
        return 0
    for signum in (signal.SIGWINCH, signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1):
        signal.signal(signum, on_signal)
    signal.signal(signal.SIGCONT, on_cont)
    raw = os.isatty(0)
    if raw:
        tty.setraw(0)
    if SESSION_ID and option("--session-id") is None and option("--resume") is not None:
        if not os.path.exists(transcript_path()):  # as Claude Code: nothing to resume is an error, at once
            say(f"No conversation found with session ID: {SESSION_ID}")
            return 1
        say(f"resumed {SESSION_ID}")
    held = bytearray(int(option("--allocate") or 0) << 20)
    for page in range(0, len(held), 4096):  # touched: resident and its own, as a real heap
        held[page] = 1
    write_registry("idle")
    if args[:1] == ["attach"]:
        say(f"attached {args[1] if len(args) > 1 else '?'}")
        watch_attached(args[1] if len(args) > 1 else "")
    say(f"ready pid={os.getpid()} size={size()} args={json.dumps(args)} ppid={os.getppid()} "
        f"csup_session={os.environ.get('CSUP_SESSION')}")
    line = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except InterruptedError:
            continue
        except OSError:
            if "--survive-hangup" in args:  # like old Claude Code on macOS: orphaned, running on
                while True:
                    time.sleep(1)
            break
        if not chunk:
            say("eof")
            break
        for byte in chunk:
            char = bytes([byte])
            if char == b"\x1a" and raw and args[:1] == ["attach"]:
                say("detached")  # Claude Code's attach: Ctrl+Z detaches, the session stays in the background
                cleanup()
                return 0
            if char == b"\x1a" and raw:
                suspend()
                continue
            if char in (b"\r", b"\n"):
                if line:
                    command(line.decode(errors="replace"))
                line = b""
            else:
                line += char
    cleanup()
    return 0


def watch_attached(short: str) -> None:
    """Claude Code's attach leaves when its session exits (`claude stop` from elsewhere): "Session X has exited."."""
    import threading

    import standin_bg

    def watch() -> None:
        seen = False
        while True:
            alive = standin_bg._registered(short) is not None
            seen = seen or alive
            if seen and not alive:
                say(f"Session {short} has exited.")
                cleanup()
                os._exit(0)
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()


def suspend() -> None:
    """What Claude Code does on Ctrl-Z: hand the terminal back and stop its group (discarded under a relay)."""
    global suspended
    attrs = termios.tcgetattr(0)
    attrs[3] |= termios.ICANON | termios.ECHO | termios.ISIG
    termios.tcsetattr(0, termios.TCSANOW, attrs)
    say("suspending")
    suspended = True
    os.killpg(os.getpgrp(), signal.SIGTSTP)
    while suspended:
        signal.pause()
    tty.setraw(0)
    say("resumed-after-stop")


def command(text: str) -> None:
    verb, _, rest = text.partition(" ")
    if verb == "echo":
        say(f"echo: {rest}")
    elif verb == "exit":
        cleanup()
        os._exit(int(rest or 0))
    elif verb == "die":
        cleanup()
        if int(rest) not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(int(rest), signal.SIG_DFL)
        os.kill(os.getpid(), int(rest))
        time.sleep(5)
    elif verb == "hex":
        count = int(rest)
        say("hex ready")
        got = b""
        while len(got) < count:
            got += os.read(0, count - len(got))
        say(f"rx {got.hex()}")
    elif verb == "emit":
        pattern = bytes(range(256)) * (int(rest) // 256 + 1)
        os.write(OUT, b"EMIT-BEGIN\r\n")
        data = pattern[: int(rest)]
        while data:
            data = data[os.write(OUT, data):]
        os.write(OUT, b"EMIT-END\r\n")
    elif verb == "big":
        count = int(rest)
        data = (b"x" * 79 + b"\n") * (count // 80) + f"TAIL-{count}\r\n".encode()
        while data:
            data = data[os.write(OUT, data):]
        os._exit(0)
    elif verb == "modes-die":
        os.write(OUT, b"\x1b[?1049h\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b[?1004h\x1b[?25l\x1b[>1u modes-on\r\n")
        os.kill(os.getpid(), signal.SIGKILL)
    elif verb == "grandchild":
        pid = os.fork()
        if pid == 0:
            os.setsid()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            while True:
                time.sleep(1)
        say(f"grandchild pid={pid}")
    elif verb == "cpu":
        end = time.monotonic() + float(rest)
        while time.monotonic() < end:
            pass
        say("cpu done")
    elif verb == "spin":
        end = time.monotonic() + float(rest)
        while time.monotonic() < end:
            os.write(OUT, b".")
            time.sleep(0.2)
        say("spin done")
    elif verb == "size":
        say(f"size {size()}")
    elif verb == "out":
        data = bytes.fromhex(rest)
        os.write(OUT, f"OUT {len(data)}\r\n".encode())
        while data:
            data = data[os.write(OUT, data):]
    elif verb == "connect":
        port, _, count = rest.partition(" ")
        for _ in range(int(count or 1)):
            connections.append(socket.create_connection(("127.0.0.1", int(port))))
        say(f"connected {len(connections)}")
    elif verb == "status":
        write_registry(rest)
        say(f"status {rest}")
    elif verb == "background":  # `/background`: the conversation moves to a new background session
        import standin_bg

        # The real CLI exits first; its background session registers 0.1-0.4 s later (CLAUDE_BG.md §6).
        standin_bg.launch(["--bg"], wait=False, delay=0.4, forked_from=transcript_path())
        cleanup()
        os._exit(0)
    elif verb == "transcript":
        say(f"transcript {transcript()}")
    else:
        say(f"unknown: {text}")


if __name__ == "__main__":
    sys.exit(main())
