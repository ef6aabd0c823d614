"""What the user meets: the fast entry, click commands, the one error boundary, all user-facing text."""
