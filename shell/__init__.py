"""Shell integration snippets, installed as the data package `supervisor.shell` and printed by `csup init`."""
