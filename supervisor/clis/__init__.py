"""The adapter: everything csup knows about Claude Code, behind one interface the flows use."""
