# csup: shell integration for bash. Setup: eval "$(csup init bash)" in ~/.bashrc
# Every interactive `claude` goes through csup (one session per machine, idle sessions end themselves);
# `command claude` reaches the real CLI. Inside a session, a nested `claude` passes straight through.
alias claude='@CSUP@ run --'
