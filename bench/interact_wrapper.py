#!/usr/bin/env python3
"""pexpect's interact() as a relay, for comparison: spawn the program, hand it the terminal, pass its status."""

import sys

import pexpect

child = pexpect.spawn(sys.argv[1], sys.argv[2:], echo=False)
child.interact(escape_character=None)
child.close()
sys.exit(child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0))
