"""The shell integration in real bash, zsh and fish: `claude` goes through csup, `claude --version` and
`command claude` do not, and completion answers."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from conftest import TESTS, Env, alive, as_a_terminal_starts_it, kill_csup_on_the_alternate_screen, require, wait_for

SHELLS = ("bash", "zsh", "fish")



def _csup_on_path(env: Env) -> None:
    """A `csup` command on PATH, as an installed one would be, and the stand-in as `claude`."""
    wrapper = env.root / "bin" / "csup"
    env.program()  # bin/claude
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{TESTS.parent}" exec "{sys.executable}" -m supervisor "$@"\n')
    wrapper.chmod(0o755)
    env.vars["PATH"] = f"{wrapper.parent}:/usr/bin:/bin"


def _interactive(env: Env, shell: str) -> pexpect.spawn:
    rc = env.root / f"rc.{shell}"
    if shell == "bash":
        rc.write_text('eval "$(csup init bash)"\nPS1="$ "\n')
        argv = ["bash", "--noprofile", "--rcfile", str(rc), "-i"]
    elif shell == "zsh":
        (env.root / ".zshrc").write_text('eval "$(csup init zsh)"\nPS1="$ "\nunsetopt PROMPT_SP\n')
        env.vars["ZDOTDIR"] = str(env.root)
        argv = ["zsh", "-i"]
    else:
        rc.write_text("csup init fish | source\nfunction fish_prompt; echo -n '$ '; end\n"
                      "set -g fish_greeting ''\n")
        argv = ["fish", "--no-config", "-i", "-C", f"source {rc}"]
    child = pexpect.spawn(argv[0], argv[1:], env=env.vars, timeout=15, cwd=str(env.root), dimensions=(24, 200),
                          preexec_fn=as_a_terminal_starts_it)
    env.spawned.append(child)
    child.expect_exact("$ ")
    return child


@pytest.mark.parametrize("shell", SHELLS)
def test_claude_goes_through_csup_and_the_rest_passes_through(env: Env, shell: str) -> None:
    require(shutil.which(shell) is not None, f"{shell} is not installed (apt-get install {shell})")
    _csup_on_path(env)
    child = _interactive(env, shell)
    child.sendline("claude")
    child.expect(rb"ready pid=\d+ .*csup_session=([0-9a-f]{32})")  # supervised
    child.send(b"exit 3\r")
    child.expect_exact("$ ")
    child.sendline("echo rc=$status" if shell == "fish" else "echo rc=$?")
    child.expect(rb"rc=3")
    child.sendline("claude --version")
    child.expect(rb"ready pid=\d+ size=\S+ args=\[\"--version\"\] .*csup_session=None")  # exec'd, not supervised
    child.send(b"exit 0\r")
    child.expect_exact("$ ")
    child.sendline("command claude --plain")
    child.expect(rb"args=\[\"--plain\"\] .*csup_session=None")
    child.send(b"exit 0\r")
    child.expect_exact("$ ")
    child.sendline("exit")
    child.expect(pexpect.EOF)


@pytest.mark.parametrize("shell", SHELLS)
def test_codex_goes_through_csup_when_installed_and_the_aliases_setting_chooses(env: Env, shell: str) -> None:
    require(shutil.which(shell) is not None, f"{shell} is not installed (apt-get install {shell})")
    _csup_on_path(env)
    env.codex()  # bin/codex, on PATH
    child = _interactive(env, shell)
    child.sendline("codex")
    child.expect(rb"codex ready pid=\d+")  # supervised: its session is in csup's status
    child.send(b"exit 4\r")
    child.expect_exact("$ ")
    child.sendline("echo rc=$status" if shell == "fish" else "echo rc=$?")
    child.expect(rb"rc=4")
    child.sendline("codex --version")
    child.expect(rb"codex-cli 0.171.0")
    child.expect_exact("$ ")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    (env.root / "config.toml").write_text('aliases = ["claude"]\n')
    text = subprocess.run(["csup", "init", shell], env=env.vars, capture_output=True, text=True, timeout=20).stdout
    assert "alias codex=" not in text and "function codex" not in text
    assert "alias claude=" in text or "function claude" in text
    (env.root / "config.toml").write_text('cli = "codex"\n')  # what a bare `csup run` starts...
    text = subprocess.run(["csup", "init", shell], env=env.vars, capture_output=True, text=True, timeout=20).stdout
    assert "run --cli claude --" in text and "run --cli codex --" in text  # ...never what an alias starts
    (env.root / "config.toml").write_text('aliases = ["nope"]\n')
    text = subprocess.run(["csup", "init", shell], env=env.vars, capture_output=True, text=True, timeout=20).stdout
    assert "claude" in text  # a config gone bad never breaks a new shell: the default CLI is aliased


@pytest.mark.parametrize("shell", SHELLS)
def test_csup_killed_hands_the_terminal_back_before_the_shell_draws_its_prompt(env: Env, shell: str) -> None:
    """csup SIGKILLed (the relay: the pid its records name) with the CLI's alternate screen on: the shell waits
    for the guardian, which leaves only once the terminal is back — the prompt lands on the user's screen, every
    time, not on the CLI's."""
    require(shutil.which(shell) is not None, f"{shell} is not installed (apt-get install {shell})")
    _csup_on_path(env)
    child = _interactive(env, shell)
    for _ in range(3):
        child.sendline("claude")
        child.expect(rb"ready pid=(\d+)")
        kill_csup_on_the_alternate_screen(child, int(child.match.group(1)))
    child.sendline("echo still-here")
    child.expect(b"still-here")


@pytest.mark.parametrize("shell", SHELLS)
def test_a_restore_after_the_prompt_makes_the_shell_draw_it_again(env: Env, shell: str) -> None:
    """The guardian SIGKILLed (the pid the shell shows): the shell draws its prompt at once, on the CLI's
    alternate screen, and the relay's late restore then leaves that screen; it makes the shell draw the prompt
    again. The race is made certain: the test holds the guardian's end of its pipe open (as the guardian did)
    until the shell's prompt is there."""
    require(shutil.which(shell) is not None, f"{shell} is not installed (apt-get install {shell})")
    require(os.path.isdir("/proc/self/fdinfo"), "/proc, to hold the guardian's pipe open")
    import psutil

    _csup_on_path(env)
    child = _interactive(env, shell)
    child.sendline("claude")
    child.expect(rb"ready pid=(\d+)")
    cli = int(child.match.group(1))
    child.send(b"out 1b5b3f3130343968\r")  # the CLI turns the alternate screen on
    child.expect(rb"OUT 8")
    time.sleep(0.3)
    relay = psutil.Process(cli).parent()
    assert relay is not None
    guardian = relay.parent()
    assert guardian is not None

    def pipes(pid: int, writing: bool) -> dict[str, int]:
        found = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                flags = int(Path(f"/proc/{pid}/fdinfo/{fd}").read_text().split("flags:")[1].split()[0], 8)
                if target.startswith("pipe:") and bool(flags & os.O_WRONLY) == writing:
                    found[target] = int(fd)
        return found

    relay_reads = pipes(relay.pid, writing=False)
    [held] = [os.open(f"/proc/{guardian.pid}/fd/{fd}", os.O_WRONLY)
              for target, fd in pipes(guardian.pid, writing=True).items() if target in relay_reads]
    guardian.kill()
    child.expect_exact("$ ")  # the shell has the terminal back and drew its prompt
    os.close(held)
    child.expect_exact(b"\x1b[?1049l")  # the late restore leaves the alternate screen...
    if shell != "fish":  # fish 3.6 redraws on no resize (README, FAQ): Enter brings it back
        child.expect_exact("$ ")  # ...and the shell draws its prompt again, on the screen the user sees
    wait_for(lambda: not alive(cli) and not alive(relay.pid), what="the session to end")
    child.sendline("echo still-here")
    child.expect(b"still-here")


@pytest.mark.parametrize(("shell", "env_vars", "expected"), [
    ("bash", {"COMP_WORDS": "csup st", "COMP_CWORD": "1"}, ["plain,status", "plain,stop"]),
    ("zsh", {"COMP_WORDS": "csup st", "COMP_CWORD": "1"}, ["status", "stop"]),
    ("fish", {"COMP_WORDS": "csup st", "COMP_CWORD": "st"}, ["status", "stop"]),
])
def test_completion_answers_for_each_shell(env: Env, shell: str, env_vars: dict[str, str],
                                           expected: list[str]) -> None:
    require(shutil.which(shell) is not None, f"{shell} is not installed (apt-get install {shell})")
    _csup_on_path(env)
    result = subprocess.run(["csup"], env={**env.vars, **env_vars, "_CSUP_COMPLETE": f"{shell}_complete"},
                            capture_output=True, text=True, timeout=20)
    for word in expected:
        assert word in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_init_prints_the_alias_and_the_completion(env: Env, shell: str) -> None:
    _csup_on_path(env)
    text = subprocess.run(["csup", "init", shell], env=env.vars, capture_output=True, text=True, timeout=20).stdout
    assert "claude" in text and "run --" in text
    assert "_CSUP_COMPLETE" in text


def test_shell_files_are_what_init_prints() -> None:
    shell_dir = Path(__file__).resolve().parent.parent / "shell"
    for shell in SHELLS:
        assert (shell_dir / f"csup.{shell}").read_text().startswith("# csup: shell integration")
    assert os.access(shell_dir / "csup.bash", os.R_OK)


def test_after_an_idle_end_in_a_subshell_elsewhere_the_resume_line_says_where(env: Env) -> None:
    """`(cd sub && claude)` from an interactive shell: the shell the user is back in is not in `sub`, so the
    resume command starts with `cd …/sub &&` (a resume from elsewhere would open another tree's conversation)."""
    import pexpect

    sub = env.root / "sub"
    sub.mkdir()
    env.vars.update({"CSUP_IDLE_LIMIT": "2s", "CSUP_WARN_BEFORE": "1s", "CSUP_NOTIFY": "off",
                     "CSUP_IDLE_ACTION": "end", "PS1": "$ "})
    shell = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], env=env.vars, cwd=str(env.root),
                          timeout=15, dimensions=(24, 200))
    env.spawned.append(shell)
    shell.sendline(f"(cd sub && {env.csup_cmd()} run --claude {env.program()})")
    shell.expect(rb"ready pid=")
    shell.send(b"transcript\r")
    shell.expect(rb"Resume it: cd (\S+) && claude --resume [0-9a-f-]{36}")
    assert shell.match.group(1).decode() == str(sub)
