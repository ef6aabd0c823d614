"""The terminal-mode journal: which modes the CLI turned on and left on, and the exact bytes that undo them.
Pure: fed the CLI's output, it scans for `ESC [` and keeps a few flags."""

from __future__ import annotations

import re

# DEC private modes that are off by default: the CLI turning one on must be undone with `l`.
_DEFAULT_OFF = {
    1: "application cursor keys", 47: "alternate screen", 1047: "alternate screen", 1049: "alternate screen",
    1000: "mouse", 1002: "mouse", 1003: "mouse", 1005: "mouse", 1006: "mouse", 1015: "mouse",
    1004: "focus reports", 2004: "bracketed paste",
}
# DEC private modes that are on by default: the CLI turning one off must be undone with `h`.
_DEFAULT_ON = {25: "cursor", 7: "autowrap"}
# Leave the alternate screen first so the undo of the rest, and csup's own last line, land on the main screen.
_UNDO_ORDER = (1049, 1047, 47, 1000, 1002, 1003, 1005, 1006, 1015, 1004, 2004, 1, 7, 25)
_SEQUENCE = re.compile(rb"\x1b\[([?<>=])([0-9;]*)([hlum])")
_MAX_TAIL = 32  # longest sequence we track, with room for parameters
_PREFIXES = b"?<>="
_UNFINISHED = re.compile(rb"\x1b\[[?<>=][0-9;]*")
# A complete escape sequence of any kind: CSI, OSC/DCS/APC strings (ended by BEL or ST), or ESC + one byte.
_COMPLETE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|[\]P_^][^\x07\x1b]*(?:\x07|\x1b\\)|(?![\[\]P_^])[ -/]*[0-~])")


class ModeJournal:
    def __init__(self) -> None:
        self._changed: set[int] = set()  # DEC modes now away from their default
        self.version = 0  # bumped at every tracked sequence, so watchers notice a change without comparing
        self._kitty_pushes = 0
        self._modify_other_keys = False
        self._tail = b""  # an unfinished tracked sequence at the end of the last chunk
        self._previous = b""  # the last two chunks, by reference (no copy): `mid_sequence` looks at their end
        self._last = b""

    def feed(self, chunk: bytes) -> None:
        """Called for every chunk the CLI prints: a few C-speed searches; a regex only where a tracked
        sequence (`ESC [ ?`, `ESC [ >`, `ESC [ <`, `ESC [ =`) may appear. Colours and cursor moves skip it."""
        self._previous, self._last = self._last, chunk
        if self._tail:
            chunk = self._tail + chunk
            self._tail = b""
        elif b"\x1b" not in chunk:
            return
        # Single-byte searches are memchr-fast; a multi-byte needle starting with the frequent ESC is not.
        if b"?" in chunk or b">" in chunk or b"<" in chunk or b"=" in chunk:
            for match in _SEQUENCE.finditer(chunk):
                self._apply(match.group(1), match.group(2), match.group(3))
        escape = chunk.rfind(b"\x1b", len(chunk) - _MAX_TAIL)
        if escape < 0:
            return
        fragment = chunk[escape:]
        # Keep only what may still become a tracked sequence: a lone ESC, `ESC [`, or `ESC [ ?`… unterminated.
        if len(fragment) == 1 or fragment == b"\x1b[" or (
                fragment[1] == 0x5B and fragment[2] in _PREFIXES and _UNFINISHED.fullmatch(fragment)):
            self._tail = fragment

    def _apply(self, prefix: bytes, params: bytes, final: bytes) -> None:
        self.version += 1
        numbers = [int(p) for p in params.split(b";") if p.isdigit()]
        if prefix == b"?" and final in (b"h", b"l"):
            for mode in numbers:
                away = (final == b"h") if mode in _DEFAULT_OFF else (final == b"l") if mode in _DEFAULT_ON else None
                if away is True:
                    self._changed.add(mode)
                elif away is False:
                    self._changed.discard(mode)
        elif prefix == b">" and final == b"u":
            self._kitty_pushes += 1
        elif prefix == b"<" and final == b"u":
            self._kitty_pushes = max(0, self._kitty_pushes - (numbers[0] if numbers else 1))
        elif prefix == b">" and final == b"m" and numbers[:1] == [4]:
            self._modify_other_keys = len(numbers) > 1 and numbers[1] > 0

    @property
    def mid_sequence(self) -> bool:
        """The output so far ends inside an escape sequence or a UTF-8 character: nothing may be written between
        its halves. Computed on demand (csup writes its own bytes rarely), not per chunk."""
        tail = (self._previous + self._last)[-_MAX_TAIL:] if len(self._last) < _MAX_TAIL else self._last[-_MAX_TAIL:]
        escape = tail.rfind(b"\x1b")
        if escape >= 0 and not _COMPLETE.match(tail, escape):
            return True
        return _ends_mid_character(tail)

    @property
    def active(self) -> list[str]:
        names = {(_DEFAULT_OFF | _DEFAULT_ON)[mode] for mode in self._changed}
        if self._kitty_pushes:
            names.add("kitty keyboard")
        if self._modify_other_keys:
            names.add("modifyOtherKeys")
        return sorted(names)

    def undo(self) -> bytes:
        """The exact inverse of what is left on; empty when the CLI cleaned up after itself."""
        out = []
        for mode in _UNDO_ORDER:
            if mode in self._changed:
                out.append(b"\x1b[?%d%s" % (mode, b"l" if mode in _DEFAULT_OFF else b"h"))
        if self._kitty_pushes:
            out.append(b"\x1b[<%du" % self._kitty_pushes)
        if self._modify_other_keys:
            out.append(b"\x1b[>4;0m")
        return b"".join(out)

    def redo(self) -> bytes:
        """Put back what `undo` took away (after a suspend), so the CLI finds its terminal as it left it."""
        out = []
        for mode in reversed(_UNDO_ORDER):
            if mode in self._changed:
                out.append(b"\x1b[?%d%s" % (mode, b"h" if mode in _DEFAULT_OFF else b"l"))
        out.extend(b"\x1b[>1u" for _ in range(self._kitty_pushes))
        if self._modify_other_keys:
            out.append(b"\x1b[>4;2m")
        return b"".join(out)


def _ends_mid_character(data: bytes) -> bool:
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return False
        if byte >= 0xC0:  # a lead byte: how many bytes its character needs
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back < need
    return False
