"""The words of `csup config` and `csup log`: every setting as TOML that reads back as the same settings (written
by tomlkit, a maintained TOML library, imported only here), with where each value came from; and the log, one line
an event. Pure: values in, text out."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from supervisor.core.durations import format_duration
from supervisor.core.sizes import format_size, parse_size
from supervisor.face.text import clean, short_path

if TYPE_CHECKING:
    from supervisor.core.settings import Setting, Settings


def config_value(setting: Setting, value: object) -> object:
    """A setting's value as the config file takes it back: "off", a duration or a size as people type them (a
    size that does not read back exactly stays in bytes), true/false, lists, numbers, text."""
    if value is None:
        return "off"
    if setting.is_duration and isinstance(value, int | float):
        return format_duration(value)
    if setting.is_size and isinstance(value, int):
        shown = format_size(value).replace(" ", "")
        return shown if parse_size(shown) == value else value
    if isinstance(value, tuple):  # a pair reads back as NAME=N (cli_limits)
        return [f"{item[0]}={item[1]}" if isinstance(item, tuple) else item for item in value]
    return value


def render_config(settings: Settings, config_file: str, exists: bool, sleeps: bool = True) -> str:
    """Every setting as a line of TOML (paste any into the file as it is), with where its value came from."""
    import tomlkit

    from supervisor.clis.choose import cli_settings, configured_path, names
    from supervisor.core.settings import SETTINGS

    missing = "" if exists else " (no such file yet: every value here is a default or from the environment)"
    document = tomlkit.document()
    document.add(tomlkit.comment(clean(config_file) + missing))
    values = settings.values
    for setting in (*SETTINGS, *cli_settings()):
        source = settings.sources.get(setting.key, "default")
        if setting.key.endswith(("_names", "passthrough_commands")) and not values[setting.key]:
            source += ": the CLI's own"
        item = tomlkit.item(config_value(setting, values[setting.key]))
        item.comment(clean(source))
        document.add(setting.key, item)
    if settings.idle_action == "sleep" and not sleeps:
        program = configured_path(settings, settings.cli or names()[0])
        document.add(tomlkit.comment(f"idle_action: {clean(program)} names no conversation csup can resume: "
                                     "its sessions end at the idle limit instead of sleeping"))
    return tomlkit.dumps(document).rstrip("\n")


# Why a start was refused, as the log's `reason` says it.
REFUSED_WORDS = {"held": "every place held", "limit": "at the limit", "memory": "memory budget",
                 "line": "someone in line", "gate": "gate busy", "unmanaged": "sessions outside csup",
                 "declined": "declined", "gave-up-waiting": "gave up waiting", "wake": "wake at the limit",
                 "terminal-gone": "its terminal went back to the shell while it waited"}


def render_log(summary: dict[str, Any]) -> str:
    """Everything csup did, one line each in time order: when it began and ended, the session, what happened."""
    lines = []
    for entry in summary["entries"]:
        at, begun = entry["at"], entry["started"]
        end = time.strftime("%H:%M", time.localtime(at)) if at else "?"
        if begun:
            span = f"{time.strftime('%b %d %H:%M', time.localtime(begun))}–{end}"
            duration = format_duration(entry["duration"] if entry["duration"] is not None
                                       else max(0.0, (at or begun) - begun))
        else:
            span = time.strftime("%b %d %H:%M", time.localtime(at)) if at else "?"
            duration = ""
        if entry["kind"] == "refused":
            who, how = "start refused", REFUSED_WORDS.get(str(entry["how"]), clean(str(entry["how"])))
        else:
            who, how = f"{entry['kind']} {clean(str(entry['id'] or ''))[:8]}", clean(str(entry["how"]))
        where = f"  in {short_path(entry['cwd'])}" if entry["cwd"] else ""
        where += f"  ({clean(entry['cli'])})" if entry.get("cli") else ""
        reason = f"  {clean(entry['reason'])}" if entry["reason"] else ""
        resume = f"  → {clean(entry['resume'])}" if entry["resume"] else ""
        lines.append(f"{span:<18} {duration:>7}  {who:<19} {how:<10}{reason}{where}{resume}")
    if not lines:
        lines.append("nothing logged yet")
    ended = ", ".join(f"{clean(how)} {n}" for how, n in sorted(summary["ended_by"].items())) or "none"
    lines.append(f"{summary['total']} supervised session(s); ended: {ended}; refused {summary['refused']}; "
                 f"idle time the limit ended: {summary['idle_hours_ended']} h")
    return "\n".join(lines)
