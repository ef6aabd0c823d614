# csup: shell integration for zsh. Setup: eval "$(csup init zsh)" in ~/.zshrc
# Every interactive `claude` (and `codex`, when installed) goes through csup (one session per user by default, idle sessions sleep or end);
# `command claude` reaches the real CLI. Inside a session, a nested one passes straight through.
# Idle sessions outside any csup (background ones, forgotten terminals) end too with the
# watcher, which runs on demand or as a service of your user: csup service install
@ALIASES@
# click's completion needs compinit; load it quietly when the rc file has not.
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit -u; }
