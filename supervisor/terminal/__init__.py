"""The user's terminal: the pty relay, raw mode, the terminal-mode journal and the guardian."""
