# csup: shell integration for fish. Setup: csup init fish | source   in ~/.config/fish/config.fish
# Every interactive `claude` (and `codex`, when installed) goes through csup (one session per user by default, idle sessions sleep or end);
# `command claude` reaches the real CLI. Inside a session, a nested one passes straight through.
# Idle sessions outside any csup (background ones, forgotten terminals) end too with the
# watcher, which runs on demand or as a service of your user: csup service install
@ALIASES@
