"""The session flows: admission, the waiting line, takeover, stop, the live session, status, doctor."""
