#!/usr/bin/env python3
"""The benchmark's CLI: raw mode, says `echo-ready`, echoes every byte back until it reads Ctrl-] (0x1d)."""

import os
import tty

tty.setraw(0)
os.write(1, b"echo-ready")
while True:
    data = os.read(0, 1024)
    if not data or b"\x1d" in data:
        break
    os.write(1, data)
