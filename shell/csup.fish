# csup: shell integration for fish. Setup: csup init fish | source   in ~/.config/fish/config.fish
# Every interactive `claude` goes through csup (one session per machine, idle sessions end themselves);
# `command claude` reaches the real CLI. Inside a session, a nested `claude` passes straight through.
# Idle sessions outside any csup (background ones, forgotten terminals) end too with the
# watcher, a user service: csup service install
function claude --description 'claude, supervised by csup'
    @CSUP@ run -- $argv
end
