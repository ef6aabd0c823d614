"""`csup watch` as a user service started by the system's own service manager: a systemd user unit on Linux, a
launchd agent on macOS — written, enabled, removed and asked about. No home-made daemoniser: the manager starts
it at login, restarts it if it dies, and stops it with SIGTERM. Side effects: one file, and systemctl/launchctl."""

from __future__ import annotations

import contextlib
import os
import plistlib
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from supervisor.core.errors import CsupError, ExitCode

UNIT = "csup-watch.service"
LABEL = "dev.csup.watch"


class ServiceError(CsupError):
    """The system's service manager is missing or refused: not a bug of csup's, and `csup watch` still runs."""

    exit_code = ExitCode.UNAVAILABLE


@dataclass(frozen=True)
class ServiceFile:
    path: Path
    content: bytes
    manager: str  # systemd or launchd


def service_file(csup: list[str], environ: Mapping[str, str], platform: str = sys.platform) -> ServiceFile:
    """The unit (Linux) or agent (macOS) that runs `csup watch` as this user."""
    home = Path(environ.get("HOME", os.path.expanduser("~")))
    if platform == "darwin":
        plist = {
            "Label": LABEL, "ProgramArguments": [*csup, "watch"], "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},  # restarted if it dies, not after a clean stop
            "ProcessType": "Background", "LowPriorityIO": True, "Nice": 5,
            "StandardErrorPath": str(home / "Library" / "Logs" / "csup-watch.log"),
        }
        return ServiceFile(home / "Library" / "LaunchAgents" / f"{LABEL}.plist", plistlib.dumps(plist), "launchd")
    config = environ.get("XDG_CONFIG_HOME")
    base = Path(config) if config and os.path.isabs(config) else home / ".config"
    unit = f"""[Unit]
Description=csup watch: end idle agent sessions outside csup's terminals

[Service]
Type=simple
ExecStart={shlex.join([*csup, "watch"])}
Restart=on-failure
RestartSec=30
Nice=5
IOSchedulingClass=idle

[Install]
WantedBy=default.target
"""
    return ServiceFile(base / "systemd" / "user" / UNIT, unit.encode(), "systemd")


def started_by_manager(environ: Mapping[str, str]) -> bool:
    """Whether this process runs as the service (systemd marks its services' environment, launchd its agents')."""
    return bool(environ.get("INVOCATION_ID")) or environ.get("XPC_SERVICE_NAME") == LABEL


def _manager(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ServiceError(f"{args[0]} is not installed here; csup watch can still run by hand or from cron",
                           hint="run it: csup watch (or csup watch --once from cron)") from None
    except subprocess.TimeoutExpired:
        raise ServiceError(f"{' '.join(args)} did not answer in 30s") from None


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ServiceError(f"{what} failed: {detail[-1] if detail else f'exit {result.returncode}'}")


CRON_LINE = "*/5 * * * * csup watch --once"


def _write_unit(unit: ServiceFile) -> None:
    """Write the file beside its final place under a fresh random name (exclusive creation: a symlink planted
    there is never followed), then rename it into place."""
    import tempfile

    try:
        unit.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=unit.path.parent, prefix=f".{unit.path.name}.", suffix=".tmp")
    except (OSError, ValueError) as err:
        raise ServiceError(f"cannot write {unit.path.parent}: {getattr(err, 'strerror', None) or err}",
                           hint=f"nothing was installed; from cron instead: {CRON_LINE}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(unit.content)
        os.chmod(temp, 0o644)
        os.replace(temp, unit.path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        what = "is a directory" if os.path.isdir(unit.path) else err.strerror
        raise ServiceError(f"cannot write {unit.path}: {what}",
                           hint=f"nothing was installed; from cron instead: {CRON_LINE}") from None


def _remove_unit(unit: ServiceFile) -> None:
    try:
        unit.path.unlink()
    except FileNotFoundError:
        pass
    except OSError as err:
        raise ServiceError(f"cannot remove {unit.path}: {err.strerror}") from None


def install(csup: list[str], environ: Mapping[str, str], platform: str = sys.platform) -> ServiceFile:
    """Write the unit and start it; if the manager refuses (no systemd user instance in a container or an SSH
    session, no launchd GUI domain), take the file back out, so that `service status` never calls a service
    installed that cannot run, and say what to do instead."""
    unit = service_file(csup, environ, platform)
    _write_unit(unit)
    try:
        if unit.manager == "launchd":
            domain = f"gui/{os.getuid()}"
            _manager(["launchctl", "bootout", domain, str(unit.path)])  # an older copy, if any
            _check(_manager(["launchctl", "bootstrap", domain, str(unit.path)]), "launchctl bootstrap")
        else:
            _check(_manager(["systemctl", "--user", "daemon-reload"]), "systemctl --user daemon-reload")
            _check(_manager(["systemctl", "--user", "enable", "--now", UNIT]), "systemctl --user enable")
    except ServiceError as err:
        with contextlib.suppress(ServiceError):
            _remove_unit(unit)
        raise ServiceError(f"{err.message}; {unit.path} was taken back out, nothing is installed",
                           hint=f"instead, from cron: {CRON_LINE} (or leave it to csup run, which starts a "
                                "watcher on demand)") from None
    return unit


def uninstall(environ: Mapping[str, str], platform: str = sys.platform) -> ServiceFile:
    """Stop the service and remove its file; the file goes even where the manager is missing or refuses."""
    unit = service_file(["csup"], environ, platform)
    with contextlib.suppress(ServiceError):
        if unit.manager == "launchd":
            _manager(["launchctl", "bootout", f"gui/{os.getuid()}", str(unit.path)])
        else:
            _manager(["systemctl", "--user", "disable", "--now", UNIT])
    _remove_unit(unit)
    if unit.manager == "systemd":
        with contextlib.suppress(ServiceError):
            _manager(["systemctl", "--user", "daemon-reload"])
    return unit


def installed(environ: Mapping[str, str], platform: str = sys.platform) -> ServiceFile | None:
    unit = service_file(["csup"], environ, platform)
    try:
        return unit if unit.path.is_file() else None
    except OSError:
        return None
