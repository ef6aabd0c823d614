"""The stand-in's model of Claude Code's background sessions (CLAUDE_BG.md), small enough to keep the suite fast:

  claude --bg [-n NAME]   starts a session in the "daemon" and leaves at once, printing `backgrounded · SHORT`
  claude stop SHORT       ends it the daemon's way (the REPL gets SIGTERM, nothing respawns it); `stopped SHORT`
  _bg-host / _bg-repl     the daemon's part for one session and the session's REPL (internal)

What it reproduces: the REPL writes `sessions/<pid>.json` with kind `bg`, `jobId`, `procStart` (field 22 of
/proc/PID/stat) and removes it when it ends gracefully; `jobs/<short>/state.json`; a spare process whose command
line says `bg-spare` and which has no registry file; and the trap — a REPL that dies without `claude stop` (a
signal) is started again by its host under a new pid, as the daemon does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin.py")
CONFIG_DIR = os.environ.get("CLAUDE_CONFIG_DIR") or os.path.join(os.environ.get("HOME", "/tmp"), ".claude")


def _proc_start(pid: int) -> str:
    """Field 22 of /proc/PID/stat, as Claude Code records it; "" where there is no /proc (macOS)."""
    if not os.path.exists(f"/proc/{pid}/stat"):
        return ""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        data = handle.read()
    return data[data.rindex(b")") + 2:].split()[19].decode()


def _job_dir(short: str) -> str:
    return os.path.join(CONFIG_DIR, "jobs", short)


def _write_json(path: str, data: object) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as handle:
        json.dump(data, handle)
    os.replace(path + ".tmp", path)


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args[:-1] else None


def _detach(argv: list[str]) -> None:
    """Start `argv` as the daemon would: in a session of its own, with no terminal, outliving its launcher."""
    devnull = os.open(os.devnull, os.O_RDWR)
    subprocess.Popen(argv, stdin=devnull, stdout=devnull, stderr=devnull, start_new_session=True,
                     close_fds=True, cwd=os.getcwd())


def launch(args: list[str], wait: bool = True, delay: float = 0.0, forked_from: str | None = None) -> int:
    """`claude --bg`: a new background session; returns once its REPL has registered (`wait`). `/background`
    leaves at once instead, and its REPL registers `delay` seconds later, as the real CLI's does; the daemon's
    roster records the transcript it was forked from (`dispatch.launch.sessionId`, measured on 2.1.330)."""
    short = os.urandom(4).hex()
    session = f"{short}-{os.urandom(2).hex()}-4{os.urandom(2).hex()[1:]}-8{os.urandom(2).hex()[1:]}-" \
              f"{os.urandom(6).hex()}"
    name = _option(args, "-n") or short
    _write_json(os.path.join(_job_dir(short), "state.json"), {
        "state": "working", "tempo": "blocked", "needs": "send a prompt to start", "name": name,
        "sessionId": session, "daemonShort": short, "cwd": os.getcwd(),
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "updatedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())})
    if forked_from is not None:
        roster_path = os.path.join(CONFIG_DIR, "daemon", "roster.json")
        try:
            with open(roster_path) as handle:
                roster = json.load(handle)
        except (OSError, ValueError):
            roster = {"proto": 1, "workers": {}}
        roster["workers"][short] = {"sessionId": session, "dispatch": {
            "source": "slash", "createdAt": int(time.time() * 1000),
            "launch": {"mode": "resume", "sessionId": forked_from, "fork": True}}}
        _write_json(roster_path, roster)
    _detach([sys.executable, STANDIN, "_bg-host", short, session, name, str(delay)])
    deadline = time.monotonic() + 10
    if not wait:  # the CLI hands its conversation to the running daemon, then leaves
        while not os.path.exists(os.path.join(CONFIG_DIR, "daemon.lock")) and time.monotonic() < deadline:
            time.sleep(0.02)
        return 0
    while time.monotonic() < deadline:
        if _registered(short) is not None:
            print(f"backgrounded · {short} · {name}", flush=True)
            return 0
        time.sleep(0.05)
    print("the background session did not start", file=sys.stderr)
    return 1


def _registered(short: str) -> dict[str, object] | None:
    folder = os.path.join(CONFIG_DIR, "sessions")
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for name in names:
        try:
            with open(os.path.join(folder, name)) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if data.get("jobId") == short:
            try:
                os.kill(int(data["pid"]), 0)
            except OSError:
                continue
            return dict(data)
    return None


def host(short: str, session: str, name: str, delay: str = "0") -> int:
    """The daemon's part: keep the REPL running until `claude stop` says otherwise (a crash is respawned). It
    holds `daemon.lock` as Claude Code's daemon does (pid and procStart) while it runs."""
    lock = os.path.join(CONFIG_DIR, "daemon.lock")
    _write_json(lock, {"pid": os.getpid(), "procStart": _proc_start(os.getpid()), "origin": "transient",
                       "startedAt": int(time.time() * 1000)})
    # A pre-started spare: its command line reads `<claude> bg-spare …` (python runs the file `bg-spare`
    # beside it), it has no registry file, and it is not a session.
    spare_name = (os.environ.get("CSUP_CLAUDE_NAMES") or "claude").split(",")[0].strip()
    with open(os.path.join(_job_dir(short), "bg-spare"), "w") as handle:
        handle.write("import time\nwhile True:\n    time.sleep(60)\n")
    # Its title is one word with a space, as Claude Code's helpers set theirs ("claude bg-spare").
    spare = subprocess.Popen([f"{spare_name} bg-spare", "bg-spare", "--bg-spare", f"/tmp/spare-{short}.claim.sock"],
                             executable=sys.executable, cwd=_job_dir(short), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(_job_dir(short), "host.pid"), "w") as handle:
        handle.write(str(os.getpid()))  # for the tests' teardown: the daemon's processes outlive their launcher
    stopped = os.path.join(_job_dir(short), "stopped")
    attempt = 0
    try:
        while not os.path.exists(stopped) and attempt < 20:
            attempt += 1
            repl = subprocess.Popen([sys.executable, STANDIN, "_bg-repl", short, session, name, str(attempt),
                                     delay if attempt == 1 else "0"])
            repl.wait()
            if not os.path.exists(stopped):
                time.sleep(0.3)  # a crash: the daemon starts the session again
    finally:
        spare.kill()
        spare.wait()
        try:
            with open(lock) as handle:
                if json.load(handle).get("pid") == os.getpid():
                    os.unlink(lock)
        except (OSError, ValueError):
            pass
    return 0


def repl(short: str, session: str, name: str, attempt: str, delay: str = "0") -> int:
    registry = os.path.join(CONFIG_DIR, "sessions", f"{os.getpid()}.json")
    time.sleep(float(delay))
    now = int(time.time() * 1000)

    def leave(signum: int, frame: object) -> None:
        if os.path.exists(registry):
            os.unlink(registry)
        os._exit(143)

    signal.signal(signal.SIGTERM, leave)
    _write_json(registry, {"pid": os.getpid(), "sessionId": session, "cwd": os.getcwd(), "startedAt": now,
                           "procStart": _proc_start(os.getpid()), "kind": "bg", "name": name, "jobId": short,
                           "status": "idle", "updatedAt": now, "statusUpdatedAt": now, "attempt": int(attempt)})
    while True:
        time.sleep(60)


def stop(short: str) -> int:
    """`claude stop SHORT`: the daemon's way — no respawn, the REPL leaves gracefully."""
    if not os.path.isdir(_job_dir(short)):
        print(f"No session matching '{short}'", file=sys.stderr)
        return 1
    if os.environ.get("STANDIN_STOP_REFUSED"):  # a daemon that will not (or cannot) end it
        print(f"Couldn't stop {short}", file=sys.stderr, flush=True)
        return 1
    with open(os.path.join(_job_dir(short), "stopped"), "w"):
        pass
    entry = _registered(short)
    if entry is not None:
        os.kill(int(str(entry["pid"])), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _registered(short) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
    print(f"stopped {short}", flush=True)
    return 0


def main(args: list[str]) -> int:
    if args[:1] == ["stop"]:
        return stop(args[1])
    if args[:1] == ["_bg-host"]:
        return host(*args[1:5])
    if args[:1] == ["_bg-repl"]:
        return repl(*args[1:6])
    if "--register-late" in args:  # as the real CLI: it leaves first, and its session registers a moment later
        launch(args, wait=False, delay=0.5)
        print("backgrounded · (registering)", flush=True)
        return 0
    return launch(args)


def handles(args: list[str]) -> bool:
    return "--bg" in args or args[:1] in (["stop"], ["_bg-host"], ["_bg-repl"])
