"""The face's side of the flows' Reporter port: the live line on stderr (rewritten in place on a terminal),
takeover notes, the session's last line, [y/N] questions and the words of notifications."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from supervisor.machine.clock import SYSTEM, Clock

if TYPE_CHECKING:  # the values it words; the words (face/text.py) are imported when first needed: start-up
    from supervisor.core.errors import CsupError
    from supervisor.core.notice import Notice
    from supervisor.flows.census import Census
    from supervisor.flows.reporting import (
        AsleepNote,
        Escalation,
        ResumeDecision,
        RoomMade,
        SessionEnd,
        WaitProgress,
        WatchEvent,
    )
    from supervisor.flows.sessions import AnySession


class TerminalReporter:
    """Words what the flows report, as of the clock's `now` (the same clock the flows were given)."""

    def __init__(self, clock: Clock = SYSTEM) -> None:
        import os

        self.clock = clock
        try:
            self._started_in = os.getcwd()  # csup moves only for a takeover's resume, later
        except OSError:
            self._started_in = ""
        self._here: str | None = None

    @property
    def here(self) -> str:
        """The shell's directory, where a resume command will be typed: the shell the user is back in (a
        subshell may have changed directory), else the directory csup started in. Looked up when first needed:
        a session's start pays nothing for it."""
        if self._here is None:
            from supervisor.machine.processes import returning_shell_dir

            self._here = returning_shell_dir() or self._started_in
        return self._here

    def waiting(self, progress: WaitProgress) -> None:
        from supervisor.face.text import waiting_line

        live_line(waiting_line(progress, self.clock.wall()))

    def escalation(self, step: Escalation) -> None:
        from supervisor.face.text import ESCALATION_LINES

        live_line(ESCALATION_LINES[step])

    def done_waiting(self) -> None:
        live_line("")

    def resume_decision(self, decision: ResumeDecision) -> None:
        from supervisor.face.text import resume_note

        sys.stderr.write(resume_note(decision) + "\n")

    def session_ended(self, end: SessionEnd) -> None:
        from supervisor.face.text import session_end_text

        words = session_end_text(end, self.here)
        if words:
            sys.stderr.write(words)
            sys.stderr.flush()

    def notice(self, notice: Notice) -> tuple[str, str]:
        from supervisor.face.text import notice_text

        return notice_text(notice)

    def countdown_title(self, left: float) -> str:
        from supervisor.face.text import countdown_title

        return countdown_title(left)

    def chosen(self, session: AnySession) -> None:
        from supervisor.face.text import chosen_line

        sys.stderr.write(chosen_line(session, self.clock.wall()) + "\n")

    def confirm_end(self, found: Census) -> bool:
        from supervisor.face.text import confirm_question

        live_line("")  # a live line (the waiting line, an escalation) must not run into the question
        return confirm(confirm_question(found, self.clock.wall()))

    def room_made(self, made: RoomMade) -> None:
        """Before the CLI's screen: which session was ended to make room, and how to bring it back."""
        from supervisor.face.text import room_line

        live_line("")
        sys.stderr.write(room_line(made, self.here) + "\n")
        sys.stderr.flush()

    def prepare_last_words(self) -> None:
        """The words a session's end needs, loaded while its CLI runs: after the exit, csup imports nothing."""
        import supervisor.face.text  # noqa: F401

    def asleep(self, note: AsleepNote) -> None:
        from supervisor.face.text import asleep_text

        live_line("")
        sys.stderr.write(asleep_text(note, self.here) + "\n")
        sys.stderr.flush()

    def wake_refused(self, refusal: CsupError) -> None:
        from supervisor.face.text import wake_refused_text

        sys.stderr.write(wake_refused_text(refusal, self.clock.wall()) + "\n")
        sys.stderr.flush()

    def watch_event(self, event: WatchEvent) -> None:
        """The watcher's account, on stdout: a terminal shows it, a service's journal keeps it."""
        from supervisor.face.status_text import watch_lines

        lines = watch_lines(event, self.clock.wall())
        try:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
        except OSError:
            pass  # a watcher whose output is gone (a closed terminal) goes on watching


def live_line(line: str) -> None:
    """One live line on a terminal (rewritten in place); nothing when stderr is not a terminal."""
    if sys.stderr.isatty():
        import shutil
        sys.stderr.write("\r\x1b[K" + line[: shutil.get_terminal_size((80, 24)).columns - 1])
        sys.stderr.flush()


def confirm(question: str) -> bool:
    """A [y/N] question on the terminal; no terminal means no."""
    if not sys.stdin.isatty():
        return False
    import click

    return bool(click.confirm(question, default=False, err=True))
