# csup: shell integration for zsh. Setup: eval "$(csup init zsh)" in ~/.zshrc
# Every interactive `claude` goes through csup (one session per machine, idle sessions end themselves);
# `command claude` reaches the real CLI. Inside a session, a nested `claude` passes straight through.
# Idle sessions outside any csup (background ones, forgotten terminals) end too with the
# watcher, a user service: csup service install
alias claude='@CSUP@ run --'
# click's completion needs compinit; load it quietly when the rc file has not.
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit -u; }
