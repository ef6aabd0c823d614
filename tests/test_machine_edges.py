"""Small things a person notices, each with a test: a notification leaves no zombie behind and names the
session it is about; the watcher csup starts shows in `ps` as `csup watch` when csup is installed as `csup`."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import psutil
import pytest

from supervisor.core.notice import Notice
from supervisor.face.text import notice_text
from supervisor.machine.myself import csup_argv
from supervisor.machine.notify import notify

from conftest import wait_for


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_notification_is_shown_and_leaves_no_zombie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said = tmp_path / "said"
    _executable(tmp_path / "bin" / "notify-send", f'#!/bin/sh\nprintf "%s|" "$@" > "{said}"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("DISPLAY", ":0")
    before = {child.pid for child in psutil.Process().children()}
    notify("Session idle in ~/src", "The session on pts/3 ends in 1m unless you press a key in its terminal.")
    wait_for(lambda: said.exists() and said.read_text(), what="the notifier to run")
    assert said.read_text().startswith("--app-name=csup|Session idle in ~/src|The session on pts/3")
    time.sleep(0.2)
    left = [child for child in psutil.Process().children() if child.pid not in before]
    assert not [child for child in left if child.status() == psutil.STATUS_ZOMBIE]  # reaped, or never ours


@pytest.mark.parametrize(("notice", "title", "body"), [
    (Notice("idle", 60.0, cwd="/home/me/src/app", tty="/dev/pts/3", sleeps=True),
     "Session idle in /home/me/src/app", "The session on pts/3 falls asleep (Enter wakes it) in 1m"),
    (Notice("waiting", 300.0, cwd="/home/me/src/app", tty="/dev/pts/4"),
     "A session is waiting for you in /home/me/src/app", "A permission prompt on pts/4 has been waiting 5m"),
    (Notice("stray", pid=4242), "A second agent session is running", "pid 4242 runs outside csup"),
])
def test_a_notification_names_the_session_it_is_about(notice: Notice, title: str, body: str) -> None:
    said_title, said_body = notice_text(notice)
    assert said_title.replace(os.path.expanduser("~"), "/home/me") == title or said_title == title
    assert said_body.startswith(body)


def test_the_watcher_runs_as_the_installed_csup_so_ps_shows_csup_watch(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    installed = _executable(tmp_path / "venv" / "bin" / "csup", "#!/bin/sh\n")
    assert csup_argv(str(installed)) == [str(installed)]  # `ps`: …/csup watch --on-demand
    assert csup_argv("/usr/lib/python3/site-packages/supervisor/__main__.py") == [sys.executable, "-m", "supervisor"]
    elsewhere = _executable(tmp_path / "path" / "csup", "#!/bin/sh\n")
    monkeypatch.setenv("PATH", f"{elsewhere.parent}:/usr/bin")
    assert csup_argv("python3", search_path=True) == [str(elsewhere)]  # a service unit runs with no PATH
