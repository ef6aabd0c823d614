"""Claude Code's live-session registry, in every config dir csup knows: `sessions/<pid>.json` (interactive and
background sessions alike), the background jobs' `jobs/<short>/state.json`, and the attach journal. Entries are
kept only while their pid runs with the recorded start (`procStart`); spares are dropped; duplicates of one
conversation (a respawned session leaves its dead twin behind) merge. Reads Claude Code's files; runs nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from supervisor.machine import processes
from supervisor.machine.jsonfile import read_json

REGISTRY_LIMIT = 1 << 16
MAX_ENTRIES = 1000  # a sessions/ folder with more files than this is not read further


class RegistryEntry(NamedTuple):
    """One live Claude Code session as its own registry describes it."""

    pid: int
    session_id: str
    cwd: str
    kind: str  # "interactive" or "bg"
    config_dir: Path
    status: str = "unknown"  # idle, busy, waiting…
    status_since: float | None = None  # wall-clock seconds of the last status change
    started_at: float | None = None  # wall-clock seconds
    name: str = ""
    job: str = ""  # a background session's short id
    proc_start: object = None
    pid_domain: str | None = None  # the PID namespace the entry was written in (another one's pid is not ours)

    @property
    def is_background(self) -> bool:
        return self.kind == "bg"


class JobState(NamedTuple):
    """A background job's own account (`jobs/<short>/state.json`): state, what it needs, last change."""

    state: str = ""
    needs: str = ""
    updated_at: float | None = None


def config_dirs(environ: Mapping[str, str], extra: Iterable[str] = ()) -> list[Path]:
    """Every config dir csup knows: ~/.claude, $CLAUDE_CONFIG_DIR, and the ones named in csup's settings."""
    home = Path(environ.get("HOME", os.path.expanduser("~")))
    found = [home / ".claude"]
    if environ.get("CLAUDE_CONFIG_DIR"):
        found.append(Path(environ["CLAUDE_CONFIG_DIR"]))
    found += [Path(os.path.expanduser(item)) for item in extra]
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


_SHORT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")  # a daemon short id as `claude stop|attach` take it
_SESSION_ID = re.compile(r"[A-Za-z0-9_.-]{1,100}")


# Claude Code's registry says `shell` while a command the CLI sent to the background still runs (CLAUDE_CLI.md): work
# going on, as `busy` is — a session doing it is never ended or put to sleep, and its idle clock restarts after.
WORKING = {"shell": "busy"}


def working(status: str) -> str:
    """The CLI's status in the words the policy knows: a background command running is `busy`."""
    return WORKING.get(status, status)


def parse_entry(data: object, config_dir: Path) -> RegistryEntry | None:
    """A registry file's content as an entry, or None when it is not one (odd types, a spare, an unknown kind).
    Every field is checked before use: an id goes into a command line (`claude stop ID`) and a file name, so
    it must look like one; a directory must be absolute and free of NUL; a name is text, cut to length."""
    if not isinstance(data, dict) or data.get("spare") is True:
        return None
    pid, session_id, cwd, kind = data.get("pid"), data.get("sessionId"), data.get("cwd"), data.get("kind")
    if type(pid) is not int or not 1 < pid < 1 << 31 or not isinstance(session_id, str) \
            or not _SESSION_ID.fullmatch(session_id) or not _directory(cwd):
        return None
    if kind not in ("interactive", "bg"):
        return None
    job = data.get("jobId")
    if kind == "bg" and not (isinstance(job, str) and _SHORT_ID.fullmatch(job)):
        return None  # a background session csup could neither stop nor name
    status = data.get("status")
    name = data.get("name")
    return RegistryEntry(
        pid=pid, session_id=session_id, cwd=str(cwd), kind=kind, config_dir=config_dir,
        status=working(status[:32]) if isinstance(status, str) else "unknown",
        status_since=_millis(data.get("statusUpdatedAt", data.get("updatedAt"))),
        started_at=_millis(data.get("startedAt")),
        name=name.replace("\0", "")[:100] if isinstance(name, str) else "",
        job=str(job) if kind == "bg" else "",
        proc_start=data.get("procStart"),
        pid_domain=data["pidDomain"][:200] if isinstance(data.get("pidDomain"), str) else None,
    )


def _directory(value: object) -> bool:
    return isinstance(value, str) and value.startswith("/") and "\0" not in value and len(value) < 4096


def _millis(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e14:
        return value / 1000.0
    return None


def _alive(entry: RegistryEntry) -> bool:
    """The entry's pid runs with its recorded start — and was written in this PID namespace: the same number in
    another one (a container's) names another process here."""
    if entry.pid_domain is not None:
        ours = processes.pid_domain()
        if ours is not None and entry.pid_domain != ours:
            return False
    return processes.matches_start(entry.pid, entry.proc_start, entry.started_at)


def live_entries(dirs: Iterable[Path], alive: Callable[[RegistryEntry], bool] = _alive) -> list[RegistryEntry]:
    """The live sessions every registry lists, one per conversation (the live twin wins)."""
    by_conversation: dict[str, RegistryEntry] = {}
    for directory in dirs:
        folder = directory / "sessions"
        try:
            names = sorted(name for name in os.listdir(folder) if name.endswith(".json"))[:MAX_ENTRIES]
        except OSError:
            continue
        for name in names:
            entry = parse_entry(read_json(folder / name, limit=REGISTRY_LIMIT), directory)
            if entry is None or name != f"{entry.pid}.json" or not alive(entry):
                continue
            by_conversation.setdefault(entry.session_id, entry)
    return list(by_conversation.values())


def daemon_alive(config_dir: Path) -> bool:
    """Whether Claude Code's daemon runs for this config dir: `daemon.lock` names a live pid with its start
    (a lock left behind by a killed daemon names a dead one)."""
    data = read_json(config_dir / "daemon.lock", limit=REGISTRY_LIMIT)
    if not isinstance(data, dict) or type(data.get("pid")) is not int or data["pid"] <= 1:
        return False
    return processes.matches_start(data["pid"], data.get("procStart"), _millis(data.get("startedAt")))


def job_state(entry: RegistryEntry) -> JobState:
    if not entry.job or "/" in entry.job or entry.job.startswith("."):
        return JobState()
    data = read_json(entry.config_dir / "jobs" / entry.job / "state.json", limit=REGISTRY_LIMIT)
    if not isinstance(data, dict):
        return JobState()
    state, needs = data.get("state"), data.get("needs")
    return JobState(state if isinstance(state, str) else "", needs if isinstance(needs, str) else "",
                    _iso_time(data.get("updatedAt")))


def _iso_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        from datetime import datetime  # lazily: only a background job's state has such times

        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


ROSTER_LIMIT = 1 << 20


def forked_from(config_dir: Path) -> dict[str, tuple[str, float | None]]:
    """Which conversation each background session came from, and when it was made, by its short id: the
    daemon's roster records the transcript a `/background` fork (or a resume) was launched from
    (`dispatch.launch.sessionId`, a path or an id) and when (`dispatch.createdAt`, ms). The roster keeps entries
    of sessions a killed daemon left: only one made since a CLI started is that CLI's. Measured on 2.1.330; an
    odd roster says nothing."""
    data = read_json(config_dir / "daemon" / "roster.json", limit=ROSTER_LIMIT)
    workers = data.get("workers") if isinstance(data, dict) else None
    found: dict[str, tuple[str, float | None]] = {}
    for short, worker in (workers.items() if isinstance(workers, dict) else ()):
        dispatch = worker.get("dispatch") if isinstance(worker, dict) else None
        launch = dispatch.get("launch") if isinstance(dispatch, dict) else None
        source = launch.get("sessionId") if isinstance(launch, dict) else None
        if isinstance(short, str) and isinstance(source, str) and isinstance(dispatch, dict):
            conversation = Path(source).name.removesuffix(".jsonl")
            if _SESSION_ID.fullmatch(conversation):
                found[short] = (conversation, _millis(dispatch.get("createdAt")))
    return found


def pinned(config_dir: Path) -> frozenset[str]:
    """Background sessions pinned in the agent view (`jobs/pins.json`, a list of short ids)."""
    data = read_json(config_dir / "jobs" / "pins.json", limit=REGISTRY_LIMIT)
    if isinstance(data, dict):  # undocumented: a map keyed by short id, or {"pins": [...]}
        items = [*data.keys(), *(data["pins"] if isinstance(data.get("pins"), list) else [])]
    else:
        items = data if isinstance(data, list) else []
    return frozenset(item for item in items if isinstance(item, str))


def attached_clients(config_dir: Path, short: str, name: str) -> int:
    """Live `claude attach` clients of one background session: the daemon's attach journal lists every client
    (pid and start checked) but not the session, which each client's command line names (id or name)."""
    folder = config_dir / "daemon" / "attach-journal"
    try:
        names = [name for name in os.listdir(folder) if name.endswith(".json")][:MAX_ENTRIES]
    except OSError:
        return 0
    count = 0
    for name in names:
        data = read_json(folder / name, limit=REGISTRY_LIMIT)
        if not isinstance(data, dict) or type(data.get("pid")) is not int or not processes.matches_start(
                data["pid"], data.get("procStart"), _millis(data.get("startedAtEpochMs"))):
            continue
        args = list(processes.cmdline_of(data["pid"]))
        target = args[args.index("attach") + 1] if "attach" in args[:-1] else ""
        if target and (target == short or target in name):
            count += 1
    return count
