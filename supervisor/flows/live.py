"""One supervised session, from spawn to cleanup: the session record, the terminal's guardian, the pty relay
and the session policy that decides, then the report of how it ended. Imported only once the session lock is
held, so a refused `run` never pays for it. Side effects: everything a session does."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, NamedTuple, cast

from supervisor.clis.adapter import Conversation, Launcher, LiveSession, SessionSource
from supervisor.core.errors import ExitCode
from supervisor.core.identity import ProcessIdentity
from supervisor.core.notice import Notice
from supervisor.core.settings import SESSION_ENV, Settings
from supervisor.flows.census import names, resolve_target
from supervisor.machine import processes
from supervisor.machine.clock import SYSTEM, Clock, wait_until
from supervisor.machine.events import log_event
from supervisor.machine.ids import new_uuid
from supervisor.machine.paths import Paths, Slot
from supervisor.machine.record import SessionRecord, remove_record, write_record
from supervisor.machine.trace import cli_exited, mark, write_startup_marks
from supervisor.terminal import rawmode
from supervisor.terminal.guardian import Guardian
from supervisor.terminal.relay import PtyRelay, Terminal
from supervisor.terminal.spawn import spawn

if TYPE_CHECKING:  # imported where used: nothing before the spawn may delay the CLI's first screen
    from supervisor.core.session_policy import Actions, Published, RelayHandle, SessionPolicy
    from supervisor.core.sleep import Freed
    from supervisor.flows.reporting import Reporter

FIRST_LOOK = 5.0  # what waits for the CLI's first screen (the enforcer on demand) is done this long after start
BACKGROUND_NOTICE = 2.0  # `/background`: how long the new background session may take to register after the exit
NOTICE_POLL = 0.1


class Asleep(NamedTuple):
    """A session whose CLI's tree was ended at its idle limit (or to make room, or for the memory budget) while its
    terminal keeps its place: what a wake needs, and what status and the log say of it."""

    session_id: str  # csup's, the same across sleeps and wakes
    conversation_id: str
    cwd: str
    args: tuple[str, ...]  # the user's own arguments, without the conversation csup chose
    tty: str
    started_at: float  # when the session first started (wall)
    reason: str  # why it fell asleep ("idle for 30m (limit 30m)")
    idle: float
    freed: Freed
    resume: str  # the command that reopens the conversation by hand
    cli: str = ""  # which CLI it ran (clis/choose.py's names)


class Outcome(NamedTuple):
    code: int  # the exit status csup leaves with, unless the session is asleep
    asleep: Asleep | None = None
    resume_failed: bool = False  # a wake's resume ended at once with an error: the conversation did not come back


def supervise(launcher: Launcher, census: SessionSource, args: list[str], settings: Settings, paths: Paths,
              slot: Slot, environ: Mapping[str, str], reporter: Reporter, clock: Clock = SYSTEM, *,
              session_id: str | None = None, started: float | None = None, draft: bytes = b"",
              woke_at: float | None = None, release_place: Callable[[], None] = lambda: None,
              guardian: Guardian | None = None) -> Outcome:
    """Run one CLI on a pty until it ends; a woken session (`woke_at`, the monotonic moment of its Enter) keeps
    its `session_id` and `started` time, and its CLI gets `draft` as typed input it has not sent. The place is
    given back (`release_place`) the moment the CLI is gone and the terminal restored: a waiter starts then,
    not once csup has said and logged its last."""
    user_args = tuple(args)
    session_id = session_id or new_uuid().replace("-", "")
    args, conversation_id = launcher.prepare(args)
    # A background session attached here, by its short id (a name fragment resolved to the one it names).
    live = census.live_sessions()
    target = launcher.foreground_target(args, live)
    bringing_here = resolve_target(live, target) if target else None
    tty_fd = rawmode.terminal_fd(0, 1)
    started_wall, started_mono = clock.both()
    record = SessionRecord(
        session_id=session_id, csup=ProcessIdentity(os.getpid(), 0.0), cli=None, tty=_tty_name(tty_fd),
        cwd=os.getcwd(), argv=(launcher.path, *args), started_at=started or started_wall,
        last_activity_at=started_wall,
        idle_limit=settings.idle_limit, warn_before=settings.warn_before, conversation_id=conversation_id,
        last_activity_mono=started_mono, attached=bringing_here, cli_name=launcher.name,
    )
    env = dict(environ)
    env[SESSION_ENV] = session_id
    log = partial(log_event, paths.log_file, session=session_id)
    if guardian is not None:
        guardian.guard()  # before raw mode: from then on, even csup's SIGKILL leaves the terminal as it was
    with rawmode.raw_mode(tty_fd) as saved:
        mark("prepared")
        child = spawn([launcher.path, *args], env=env, size=rawmode.get_size(tty_fd))
        mark("spawn")
        # Only now: the CLI boots while csup builds what decides (and imports it).
        record = record.with_changes(csup=processes.identity_of(os.getpid()) or record.csup,
                                     cli=processes.identity_of(child.pid), state="active")
        measured: list[tuple[int | None, list[ProcessIdentity]]] = []  # the tree before its end, and its memory
        # A CLI that takes no id up front says which conversation it opened while it runs: learnt then.
        learnt = _Learnt(conversation_id)
        actions = _live_actions(child.pid, census, paths, slot, record, settings, environ, log, reporter,
                                clock, measured, learnt, launcher.name)
        exit_keys = settings.exit_keys.encode() if settings.sources.get("exit_keys", "default") != "default" \
            else launcher.exit_keys
        decides = partial(_policy, settings, started_mono, actions, draft, woke_at, exit_keys)
        relay = PtyRelay(child, Terminal(0, 1, tty_fd), decides, saved_attrs=saved, keeper=guardian)
        policy = cast("SessionPolicy", relay.listener)
        try:
            # After the spawn: psutil's import and the record write must not delay the CLI's first screen.
            write_record(slot.record_file, record)
            if guardian is not None and record.cli is not None:
                guardian.watch_cli(record.cli, settings.term_wait)
            if woke_at is None:
                log("started", cli_pid=child.pid, cwd=record.cwd, tty=record.tty, idle_limit=settings.idle_limit,
                    attached=bringing_here, cli=launcher.name or None)
            mark("relaying")
            # While the CLI runs (after its spawn, so its first screen waits for none of it): what the end needs,
            # so that the way out imports nothing.
            from supervisor.core.sleep import RESUME_GRACE, why_not_asleep
            from supervisor.flows.reporting import SessionEnd

            reporter.prepare_last_words()
            code = relay.run()
            cli_exited()
            policy.log_wake()  # a CLI that ended within its first seconds: the wake is logged all the same
        finally:
            relay.write_terminal(relay.journal.undo())
            child.close()
            remove_record(slot.record_file, session_id)
            with contextlib.suppress(OSError):
                os.unlink(slot.declined_file)  # an answer nobody came to read: nothing of csup's stays behind
            release_place()
            write_startup_marks(environ)  # for the benchmark, now that no one waits on the session
    if guardian is not None:
        guardian.dismiss()  # the terminal is restored: nothing for it to do
    processes.terminate(policy.leftover_descendants(), settings.tree_wait)
    conversation_id = learnt.conversation_id
    # After a takeover the conversation lives on in the other terminal: resuming it here too would corrupt it.
    resume = None
    if conversation_id and census.can_resume(Conversation(conversation_id, record.cwd, launcher.name)):
        resume = census.resume_command(Conversation(conversation_id, record.cwd, launcher.name))
    ran = clock.mono() - started_mono
    stays = why_not_asleep(settings.idle_action, policy.end_kind, resumable=resume is not None,
                           attached=bringing_here is not None, suspended=relay.in_background,
                           terminal_gone=relay.terminal_gone)
    if stays is None and conversation_id is not None and resume is not None:
        freed = _freed(measured)
        log("slept", reason=policy.end_reason, idle=round(policy.idle_at_end, 1), freed=freed.bytes,
            measured=freed.held, survivors=list(freed.survivors), steps=policy.shutdown.taken if policy.shutdown
            else [], cwd=record.cwd, resume=resume, conversation=conversation_id)
        return Outcome(int(ExitCode.IDLE_TIMEOUT), Asleep(
            session_id, conversation_id, record.cwd, tuple(launcher.without_conversation(user_args)), record.tty,
            record.started_at,
            policy.end_reason or "idle", policy.idle_at_end, freed, resume, launcher.name))
    resume_failed = woke_at is not None and policy.end_kind is None and code != 0 and ran < RESUME_GRACE \
        and not relay.terminal_gone
    if resume_failed:
        log("resume-failed", code=code, ran=round(ran, 1), conversation=conversation_id, cwd=record.cwd)
        return Outcome(code, None, resume_failed=True)
    # One status per reason, whichever way out the CLI took (SIGTERM, or its own keys and a clean exit).
    final = int(ExitCode.IDLE_TIMEOUT) if policy.end_kind == "idle" \
        else int(ExitCode.ENDED) if policy.end_kind in ("stop", "takeover", "replaced") else code
    log("ended", reason=policy.end_reason or f"the CLI exited ({code})",
        how=policy.end_kind or ("detached" if bringing_here and code == 0 else "exit"),
        code=final, duration=round(clock.mono() - started_mono, 1), idle=round(policy.idle_at_end, 1),
        steps=policy.shutdown.taken if policy.shutdown else [], cwd=record.cwd, started=started_wall,
        resume=None if policy.end_kind == "takeover" else resume)
    # `/background` leaves the CLI first and registers the background session a moment later: give it that
    # moment, but only where it can happen (the CLI left by itself, and its daemon runs).
    may_have_moved = bringing_here is None and policy.end_kind is None and code == 0 \
        and census.background_daemon_running()
    moved = None
    if bringing_here is not None or (may_have_moved and conversation_id is not None):
        moved = _gone_to_background(census, bringing_here, conversation_id, started_wall,
                                    BACKGROUND_NOTICE if may_have_moved else 0.0, clock)
    if moved is not None:  # the conversation lives on in its CLI's daemon, and counts there from now on
        log("detached" if bringing_here else "backgrounded", short=moved.short, name=moved.name,
            resume=census.bring_back_command(moved), cwd=moved.conversation.cwd)
        from supervisor.flows.watch import ensure_watcher

        ensure_watcher(paths, settings, environ)  # the enforcer looks after it from here
    if not relay.terminal_gone:
        took_over = policy.end_kind == "takeover"
        reporter.session_ended(SessionEnd(
            reason=policy.end_reason, resume=None if took_over or moved else resume, code=code,
            at_line_start=relay.at_line_start, continued_elsewhere=policy.end_reason if took_over else None,
            in_background=census.bring_back_command(moved) if moved is not None and not took_over else None,
            cwd=record.cwd))
    return Outcome(final)


def _freed(measured: list[tuple[int | None, list[ProcessIdentity]]]) -> Freed:
    """What the sleep gave back: the tree's memory measured before the end, less what its survivors hold (each
    proven by pid and start time: a reused pid is no survivor)."""
    from supervisor.core.sleep import Freed  # loaded with the rest of the end's code, while the CLI ran
    if not measured:
        return Freed(None)
    held, tree = measured[0]
    alive = [member for member in tree if processes.is_running(member)]
    if not alive:
        return Freed(held)
    from supervisor.machine.memory import of_process

    return Freed(held, sum(of_process(member.pid) or 0 for member in alive), tuple(m.pid for m in alive))


def _gone_to_background(census: SessionSource, bringing_here: str | None, conversation_id: str | None,
                        started_wall: float, wait: float, clock: Clock) -> LiveSession | None:
    """Where the conversation went when the CLI left: the background session an attach showed (detached with
    Ctrl+Z, still running), or the one the CLI moved this very conversation into (`/background`: the daemon
    records the conversation a fork came from) — looked for until `wait` has passed. Another session's
    `/background` in the same directory is no part of this one: nothing is guessed where the resume line goes."""
    if bringing_here is None:
        # The daemon records the fork (its roster) as it starts it; the session registers a moment later. The
        # record is enough to say where the conversation went; its registry entry, when there, names it too.
        if not conversation_id:
            return None
        forked: list[str] = []

        def recorded() -> bool:
            short = census.fork_of(conversation_id, started_wall)
            if short:
                forked.append(short)
            return bool(short)

        if not wait_until(recorded, wait, clock, NOTICE_POLL):
            return None
        short = forked[-1]
        live = next((s for s in census.live_sessions() if s.kind == "background" and s.short == short), None)
        return live or LiveSession(0, Conversation("", ""), "background", short=short)
    shown = [s for s in census.live_sessions() if s.kind == "background" and names(s, bringing_here)]
    return shown[0] if shown else None


def _policy(settings: Settings, started_mono: float, actions: Actions, draft: bytes, woke_at: float | None,
            exit_keys: bytes, relay: RelayHandle) -> SessionPolicy:
    from supervisor.core.idle import IdleClock
    from supervisor.core.session_policy import IdleRules, SessionPolicy
    from supervisor.core.shutdown import default_steps

    return SessionPolicy(
        steps=default_steps(settings, exit_keys=bool(exit_keys)), exit_keys=exit_keys,
        rules=IdleRules(limit=settings.idle_limit, warn_before=settings.warn_before or 0.0,
                        count_output=settings.activity == "input+output", cpu_threshold=settings.cpu_threshold,
                        waiting_limit=settings.waiting_limit),
        clock=IdleClock(settings.idle_limit, settings.warn_before or 0.0, started_mono),
        relay=relay, actions=actions, stray_every=settings.stray_check, start_tasks_at=started_mono + FIRST_LOOK,
        draft=draft, woke_at=woke_at,
    )


class _Learnt:
    """The conversation's id: given up front (as a CLI that takes one at its start), or read from the running CLI."""

    def __init__(self, conversation_id: str | None) -> None:
        self.conversation_id = conversation_id
        self.given = conversation_id is not None


def _live_actions(cli_pid: int, census: SessionSource, paths: Paths, slot: Slot,
                  record: SessionRecord, settings: Settings, environ: Mapping[str, str], log: Callable[..., None],
                  reporter: Reporter, clock: Clock, measured: list[tuple[int | None, list[ProcessIdentity]]],
                  learnt: _Learnt, launcher_name: str) -> Actions:
    """The policy's window on the running CLI (its process tree, its CPU, its own state), the record, requests
    from other terminals, and what waits until the first screen is drawn."""
    from supervisor.core.session_policy import Actions, CliState

    def cli_state() -> CliState | None:
        status = census.live_state(cli_pid)
        if status is None:
            return None
        changed = None
        if status.changed_wall is not None:
            now_wall, now_mono = clock.both()
            changed = now_mono - (now_wall - status.changed_wall)
        return CliState(status.status, changed)

    def learn() -> None:
        """A CLI that took no id up front says which conversation it has open now (one it switched to since, by
        its own /new or /resume, too); only this session's CLI is asked — a tool's own CLI run inside it is
        no part of it."""
        if learnt.given or not launcher_name:  # a program csup does not know says nothing of conversations
            return
        found = census.conversation_of(cli_pid)
        if found is not None and found.cli in ("", launcher_name) and found.id != learnt.conversation_id:
            learnt.conversation_id = found.id
            log("conversation", conversation=found.id)

    def publish(published: Published) -> None:
        now_wall, now_mono = clock.both()
        wall = now_wall - (now_mono - published.last_activity)
        learn()
        write_record(slot.record_file, record.with_changes(
            state=published.state, last_activity_at=wall, last_activity_mono=published.last_activity,
            end_reason=published.reason, conversation_id=learnt.conversation_id))

    def find_strays() -> list[ProcessIdentity]:
        """Unmanaged sessions, as the one snapshot sees them: every supervised CLI (this one's siblings under
        max_sessions too) is managed, never a stray."""
        from supervisor.flows.sessions import take_snapshot

        snapshot = take_snapshot(paths, settings.places, census, clock=clock)
        return [s.unmanaged.view.identity for s in snapshot.sessions if s.unmanaged is not None]

    def take_request() -> tuple[str, str, float | None] | None:
        from supervisor.flows import ending

        request = ending.take_request(slot)
        if request is None:
            return None
        log("request", kind=request.kind, by_pid=request.by_pid, by_tty=request.by_tty, min_idle=request.min_idle)
        return request.describe(), request.kind, request.min_idle

    def decline(why: str) -> None:
        from supervisor.flows import ending

        log("declined", reason=why)
        ending.decline(slot, why)

    def after_start() -> None:
        from supervisor.flows.watch import ensure_watcher

        ensure_watcher(paths, settings, environ)  # the one enforcer outside the ptys, on demand

    def snapshot_tree() -> list[ProcessIdentity]:
        """Before the first signal: the CLI's tree (its tool children left its group) and, where the end may be a
        sleep, what the tree holds — the memory a sleep gives back is measured, not guessed."""
        tree = processes.descendants(cli_pid)
        learn()  # the last moment its open files tell
        if settings.idle_action == "sleep":
            from supervisor.machine.memory import of_trees

            held = of_trees([cli_pid]).get(cli_pid)
            cli = processes.identity_of(cli_pid)
            measured.append((held.total if held is not None else None, [*([cli] if cli else []), *tree]))
        return tree

    return Actions(snapshot_tree=snapshot_tree, signal_verified=processes.signal_verified,
                   cpu_seconds=lambda: processes.tree_cpu_seconds(cli_pid), cli_state=cli_state, publish=publish,
                   find_strays=find_strays, take_request=take_request, decline=decline, after_start=after_start,
                   event=log,
                   notify=partial(_notify, reporter, record.cwd, record.tty, settings.idle_action == "sleep")
                   if settings.notify else lambda notice: None,
                   countdown_title=reporter.countdown_title)


def _notify(reporter: Reporter, cwd: str, tty: str, sleeps: bool, notice: Notice) -> None:
    """A notification about this session names it: its directory and terminal."""
    from supervisor.machine.notify import notify  # lazily: most sessions never warn

    notify(*reporter.notice(notice._replace(cwd=cwd, tty=tty, sleeps=sleeps)))


def _tty_name(fd: int | None) -> str:
    if fd is None:
        return ""
    try:
        return os.ttyname(fd)
    except OSError:
        return ""
