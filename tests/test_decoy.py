"""Under CI a decoy interactive `claude` of the same user runs on a pty for the whole suite (.ci/run starts it;
.ci/decoy.py): the suite must pass beside it, as it must on the machine of anyone who uses csup. This checks the
decoy is really there, and is really a claude session csup would count — so a green run proves something."""

from __future__ import annotations

import os

import psutil
import pytest

from supervisor.clis.claude_code import ClaudeCode
from supervisor.core.identity import ProcessView
from supervisor.core.settings import resolve

DECOY = os.environ.get("CI_DECOY_CLAUDE_PID", "")


def test_the_decoy_claude_runs_and_is_a_session_csup_would_count() -> None:
    if not DECOY:
        if os.environ.get("CI"):
            pytest.fail(".ci/run must start the decoy claude (CI_DECOY_CLAUDE_PID)")
        pytest.skip("no decoy claude (.ci/run starts one); CI runs this test")
    proc = psutil.Process(int(DECOY))
    assert proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    assert proc.terminal() is not None  # interactive: on a pty of its own
    assert proc.uids().real == os.getuid()
    adapter = ClaudeCode(resolve({}, "", {}), dict(os.environ))
    view = ProcessView(proc.pid, proc.ppid(), os.getuid(), proc.create_time(), tuple(proc.cmdline()))
    assert adapter.is_session_process(view)  # the census, with its default names, would count it
